from __future__ import annotations

from tritonops.api_reference import README, current_crd, reference, with_reference


def test_the_readme_api_reference_is_current() -> None:
    readme = README.read_text()
    assert with_reference(readme, reference(current_crd())) == readme, "run: python -m tritonops.api_reference"


def test_every_field_is_listed_with_its_default() -> None:
    generated = reference(current_crd())
    assert "| `spec.rollout.analysis.failureLimit` | integer | `2` |" in generated
    assert "| `spec.rollout.strategy` | Canary \\| Immediate | `\"Canary\"` |" in generated
    assert "`status.failedRevision`" in generated

"""The demo's pure parts: its lines from ModelDeployment statuses, its package commands, its outcome and its request."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pytest

from tests.harness.specs import model_deployment, model_deployment_body
from tritonops.demo import display, scenario
from tritonops.devcluster import images, nodes

STEPS = [33, 67]


def body(status: dict[str, Any], *, generation: int = 2, steps: list[int] = STEPS) -> dict[str, Any]:
    document = model_deployment_body({"rollout": {"steps": steps}}, name="classifier", namespace="demo", status={"observedGeneration": generation, **status})
    document["metadata"]["generation"] = generation
    return document


CANARY = body(
    {
        "phase": "Canary",
        "message": "version 2 at step 1",
        "stableRevision": {"hash": "aaa", "version": "1"},
        "canaryRevision": {"hash": "bbb", "version": "2"},
        "canaryWeight": 33,
        "currentStep": 0,
        "failedAnalyses": 1,
        "replicas": 3,
        "readyReplicas": 3,
        "lastAnalysis": {
            "at": "2026-01-02T03:04:05Z",
            "result": "Failed",
            "reason": "successRate 0 not >= 0.95",
            "requests": {"canary": 31, "stable": 62},
            "measurements": [
                {"check": "successRate", "revision": "canary", "value": 0.0, "threshold": ">= 0.95", "passed": False},
                {"check": "latencyMs", "revision": "canary", "value": None, "threshold": "<= 250", "passed": None},
                {"check": "successRate", "revision": "stable", "value": 1.0},
            ],
        },
    }
)


def test_a_canary_line_names_versions_weight_step_failures_and_readiness() -> None:
    view = display.view(CANARY)
    assert view == display.RolloutView("Canary", "1", "2", 33, "step 1/2 (33%)", "3/3", 1)
    line = display.view_line(view)
    assert line.splitlines()[0] == "Canary        stable v1  canary v2 weight 33%  step 1/2 (33%)  1 failed analysis  ready 3/3"
    # The message comes with a new phase only.
    assert line.splitlines()[1].strip() == "version 2 at step 1"
    assert display.view_line(view, view) == line.splitlines()[0]


def test_the_message_does_not_make_a_new_view() -> None:
    other = body({**CANARY["status"], "message": "something else"})
    assert display.view(other) == display.view(CANARY)


def test_without_a_canary_there_is_no_weight_or_step() -> None:
    ready = body({"phase": "Ready", "stableRevision": {"hash": "aaa", "version": "1"}, "canaryWeight": 0, "currentStep": 1, "readyText": "3/3"})
    view = display.view(ready)
    assert (view.canary, view.weight, view.step, view.ready) == (None, None, None, "3/3")
    assert display.view_line(view).startswith("Ready         stable v1  ready 3/3")
    assert display.view_line(display.view({})).startswith("no status yet")


def test_an_analysis_line_shows_each_check_and_its_verdict() -> None:
    assert display.analysis_key(CANARY) == ("2026-01-02T03:04:05Z", "Failed")
    assert display.analysis_line(CANARY) == (
        "analysis Failed       canary 31 / stable 62 requests: successRate 0 (>= 0.95) FAILED, latencyMs no data (<= 250) n/a,"
        " stable successRate 1"
    )
    inconclusive = body({"lastAnalysis": {"at": "t", "result": "Inconclusive", "reason": "5 canary requests in the window, fewer than minRequests 10"}})
    assert display.analysis_line(inconclusive) == "analysis Inconclusive: 5 canary requests in the window, fewer than minRequests 10"
    assert display.analysis_key(body({})) is None and display.analysis_line(body({})) is None


def test_revisions_map_every_named_hash_to_its_version() -> None:
    status = {
        "stableRevision": {"hash": "ccc", "version": "3"},
        "failedRevision": {"hash": "bbb", "version": "2"},
        "history": [{"hash": "aaa", "version": "1", "outcome": "Promoted"}, {"hash": "bbb", "version": "2"}, "junk"],
    }
    assert display.revisions(body(status)) == {"ccc": "3", "bbb": "2", "aaa": "1"}


def test_load_line() -> None:
    assert display.load_line({}) == "load: no request answered yet"
    assert display.load_line({"2": (0, 96), "1": (812, 0)}) == "load: v1 812 ok / 0 failed, v2 0 ok / 96 failed"


def test_package_steps_write_versions_1_and_3_in_place_and_2_and_4_aside(tmp_path: pathlib.Path) -> None:
    steps = scenario.package_steps(tmp_path / "repository", tmp_path / "staging")
    assert [step.arguments[step.arguments.index("--version") + 1] for step in steps] == ["1", "2", "3", "4"]
    assert [step.arguments[step.arguments.index("-o") + 1] for step in steps] == [
        str(tmp_path / "repository"), str(tmp_path / "staging"), str(tmp_path / "repository"), str(tmp_path / "staging")
    ]
    assert steps[3].arguments[1] == "tritonops.demo.model:classifier_misquantized"
    for step in steps:
        assert step.arguments[:2] == ("package", step.arguments[1]) and step.arguments[1].startswith("tritonops.demo.model:")
        assert ("--format", "python") == step.arguments[step.arguments.index("--format") : step.arguments.index("--format") + 2]
        assert ("--name", scenario.NAME) == step.arguments[step.arguments.index("--name") : step.arguments.index("--name") + 2]
    assert steps[0].shown().startswith("tritonops package tritonops.demo.model:classifier -e float32:1x4")
    assert "float32:1x5" in steps[1].arguments


def _settled(phase: str, *, stable: str, failed: dict[str, Any] | None = None, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "stableRevision": {"hash": f"h{stable}", "version": stable}, "history": history or []}
    if failed is not None:
        status["failedRevision"] = failed
    return status


ROLLED_BACK = _settled("RolledBack", stable="1", failed={"version": "2"})
PROMOTED = _settled("Ready", stable="3", history=[{"version": "3", "outcome": "Promoted"}])
GATED = _settled("RolledBack", stable="3", failed={"version": "4", "reason": "GoldenGateFailed"})


@pytest.mark.parametrize(
    ("rolled_back", "promoted", "gated", "expected"),
    [
        (ROLLED_BACK, PROMOTED, GATED, (True, True, True)),
        (_settled("Ready", stable="2", history=[{"version": "2", "outcome": "Promoted"}]), PROMOTED, GATED, (False, True, True)),
        (ROLLED_BACK, _settled("RolledBack", stable="1", failed={"version": "3"}), GATED, (True, False, True)),
        # Rolled back, but by the metrics after it took traffic: not the golden gate's catch.
        (ROLLED_BACK, PROMOTED, _settled("RolledBack", stable="3", failed={"version": "4", "reason": "AnalysisFailed"}), (True, True, False)),
        (ROLLED_BACK, PROMOTED, _settled("Ready", stable="4", history=[{"version": "4", "outcome": "Promoted"}]), (True, True, False)),
        (None, None, None, (False, False, False)),
    ],
)
def test_the_outcome_needs_version_2_rolled_back_version_3_promoted_and_version_4_stopped_by_the_gate(
    rolled_back: Any, promoted: Any, gated: Any, expected: tuple[bool, bool, bool],
) -> None:
    outcome = scenario.Outcome(rolled_back=rolled_back, promoted=promoted, gated=gated, load={"1": (10, 0)})
    assert (outcome.version_2_rolled_back, outcome.version_3_promoted, outcome.version_4_stopped_by_the_golden_gate) == expected
    assert outcome.succeeded == all(expected)
    document = outcome.as_json()
    assert document["succeeded"] == all(expected) and document["load"] == {"1": {"success": 10, "failure": 0}}


def test_the_model_deployment_lands_on_real_nodes_with_torch_mounted_and_short_steps(tmp_path: pathlib.Path) -> None:
    site_packages = tmp_path / "site-packages"
    manifest = scenario.model_deployment(tmp_path, site_packages=site_packages)
    spec = manifest["spec"]
    server = spec["server"]
    assert spec["model"] == {"repository": f"file://{tmp_path}", "version": "1"}
    assert server["image"] == images.TRITON
    assert server["gpu"] == {"count": 1, "products": ["NVIDIA-L4"]}
    assert server["tolerations"] == [dict(nodes.REAL_NODE_TOLERATION)]
    # model.py finds torch where the volume mounts this environment's site-packages, read-only.
    (volume,) = server["volumes"]
    (mount,) = server["volumeMounts"]
    assert volume["hostPath"]["path"] == str(site_packages) and mount["name"] == volume["name"] and mount["readOnly"] is True
    assert server["env"] == [{"name": "TRITONOPS_MODEL_PYTHONPATH", "value": mount["mountPath"]}]
    assert spec["rollout"]["stepSeconds"] <= 10 and spec["rollout"]["analysis"]["intervalSeconds"] <= 5
    # The spec is one the operator can parse.
    assert model_deployment(spec).spec.server.volume_mounts[0]["mountPath"] == scenario.TORCH_MOUNT


def test_torch_is_found_in_the_site_packages_the_pods_mount() -> None:
    assert (scenario.torch_site_packages() / "torch" / "__init__.py").is_file()


def test_the_request_accepts_probabilities_only() -> None:
    request = scenario.classifier_request()
    assert (request.input_name, request.output_name, request.values.shape, request.datatype) == ("INPUT__0", "OUTPUT__0", (1, 4), "FP32")
    assert request.check(np.array([[0.2, 0.3, 0.5]], dtype=np.float32))
    assert not request.check(np.array([[0.2, 0.3, 0.6]], dtype=np.float32))
    assert not request.check(np.array([[0.5, 0.5]], dtype=np.float32))
    assert not request.check(np.array([[np.nan, 0.5, 0.5]], dtype=np.float32))

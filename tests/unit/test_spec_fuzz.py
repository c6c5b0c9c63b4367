"""The spec fuzzer's generator against the pure core: a body the schema lets through, defaulted as the API
server defaults it, parses and plans, or raises InvalidSpecError naming the broken field; nothing else.

What only the API server can judge (the schema's types, bounds and CEL rules) is the integration tier's
tests/integration/test_spec_fuzz.py; here the schema-level breaks are left out.
"""

from __future__ import annotations

import datetime

from hypothesis import HealthCheck, given, settings

from tests.harness.spec_fuzz import Case, cases
from tests.harness.specs import model_deployment_body
from tritonops.engine import reconcile
from tritonops.errors import InvalidSpecError
from tritonops.observe import observations_from
from tritonops.resource import ModelDeployment

_NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def _plan(spec: dict[str, object]) -> None:
    """Parse a body and plan its first pass: what the operator does with a new object."""
    resource = ModelDeployment.from_body(model_deployment_body(spec))
    reconcile.plan(resource, observations_from(deployments=[], pods=[], autoscaler_exists=False), now=_NOW)


@settings(max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(levels=("operator", "cluster")))
def test_a_spec_the_schema_admits_plans_or_is_invalid_naming_its_field(case: Case) -> None:
    try:
        _plan(case.spec)
    except InvalidSpecError as error:
        assert case.mode != "valid", f"a valid spec was refused: {error}\n{case.spec}"
        assert error.field.startswith("spec."), error.field
        if case.broken is not None:
            assert case.broken.level == "operator", f"{case.broken}: refused by the operator: {error}"
            assert error.field.startswith(case.broken.names), f"{error} does not name {case.broken.names}"
    else:
        broken = case.broken
        assert broken is None or broken.level != "operator", f"{broken.names} was not refused: {case.spec}"

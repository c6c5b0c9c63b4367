"""The golden gate end to end: the operator probes real Triton pods on the real nodes with a golden set from a
ConfigMap before the canary takes any traffic, while load goes through the Service's own selector.

- a version whose answers are wrong but fast and error-free is rolled back by the gate, and no request of
  the load reaches it;
- a version that puts an error inside every response (Triton counts a success) is rolled back by the probe;
- a version whose answers differ within tolerance (like fp16 against fp32) is promoted.
"""

from __future__ import annotations

import pathlib
import time

import pytest
from kubernetes import client

from tests.e2e.test_canary import ANALYSIS, NAME, ROLLOUT, deploy, wait_settled, write_versions
from tests.harness.load import LoadGenerator
from tests.harness.models import Faults
from tests.harness.resources import deployment_replicas, event_reasons_once, patch_spec
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until
from tritonops.golden.golden_set import Case, GoldenSet, Tensor, render

pytestmark = pytest.mark.usefixtures("operator")

GOLDEN_SET = GoldenSet(model=NAME, version=2, cases=(
    Case(name="small", inputs={"INPUT": Tensor("FP32", (3,), (1.0, 2.5, -4.0))}, outputs={"OUTPUT": Tensor("FP32", (3,), (2.0, 5.0, -8.0))}),
    Case(name="large", inputs={"INPUT": Tensor("FP32", (2,), (100.0, 0.125))}, outputs={"OUTPUT": Tensor("FP32", (2,), (200.0, 0.25))}),
))
GOLDEN = {"configMapRef": {"name": f"{NAME}-golden"}, "atol": 1e-4, "rtol": 1e-3, "timeoutSeconds": 3}


def golden_config_map(kube_client: client.ApiClient, namespace: str) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"{NAME}-golden"), data={"golden.json": render(GOLDEN_SET)})
    client.CoreV1Api(kube_client).create_namespaced_config_map(namespace, body)


@pytest.mark.parametrize(
    ("fault", "check", "value"),
    [
        (Faults(factor=2.5), "golden:OUTPUT", 50.0),  # 2.5 x 100 against the expected 200
        (Faults(error_responses=True), "goldenErrorRate", 1.0),
    ],
    ids=["wrong-but-fast", "error-responses"],
)
def test_a_version_that_answers_wrongly_is_rolled_back_before_it_takes_traffic(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, operator: OperatorProcess,
    fault: Faults, check: str, value: float,
) -> None:
    write_versions(model_repository, fault)
    golden_config_map(kube_client, namespace)
    old = deploy(kube_client, namespace, model_repository, rollout={"analysis": {**ANALYSIS, "golden": GOLDEN}})
    rollbacks = operator.metric("tritonops_rollbacks_total", reason="GoldenGateFailed")
    with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=240, service=NAME) as load:
        started = time.monotonic()
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        final = wait_settled(kube_client, namespace)
    # A figure for the report (run with -s), not an assertion.
    print(f"\n{fault}: spec change to RolledBack in {time.monotonic() - started:.1f} s")
    status = final["status"]
    assert status["phase"] == "RolledBack", status.get("message")
    failed = status["failedRevision"]
    assert failed["version"] == "2" and failed["reason"] == "GoldenGateFailed", failed
    assert "before the canary took any traffic" in failed["message"]
    measured = [m for m in failed["measurements"] if m["check"] == check and m["revision"] == "canary"]
    assert measured and measured[0]["passed"] is False and measured[0]["value"] == pytest.approx(value), failed["measurements"]
    # Not one request of the load reached the canary, and the stable served it all.
    counts = load.snapshot()
    assert failed["hash"] not in counts or counts[failed["hash"]].total == 0, counts
    assert counts[old].success > 0
    wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {old: 3}, description="the canary removed", timeout_seconds=30)
    assert "RolledBack" in event_reasons_once(kube_client, namespace, NAME, "RolledBack")
    assert operator.metric("tritonops_rollbacks_total", reason="GoldenGateFailed") == rollbacks + 1


def test_a_version_within_tolerance_passes_the_gate_and_is_promoted(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path,
) -> None:
    write_versions(model_repository, Faults(factor=2.0001))  # relative difference 5e-5: fp16 against fp32
    golden_config_map(kube_client, namespace)
    deploy(kube_client, namespace, model_repository, rollout={**ROLLOUT, "analysis": {**ANALYSIS, "golden": GOLDEN}})
    with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=240, service=NAME) as load:
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        final = wait_settled(kube_client, namespace)
    status = final["status"]
    assert status["phase"] == "Ready", status.get("message")
    assert status["stableRevision"]["version"] == "2" and status["history"][-1]["outcome"] == "Promoted"
    measured = [m for m in status["lastAnalysis"]["measurements"] if m["check"] == "golden:OUTPUT" and m["revision"] == "canary"]
    assert measured and measured[0]["passed"] is True and 0 < measured[0]["value"] < 0.05, status["lastAnalysis"]
    reasons = event_reasons_once(kube_client, namespace, NAME, "Promoted")
    assert "GoldenGatePassed" in reasons and "RolledBack" not in reasons
    # It took traffic once through the gate (the load counts its answers as failures: they are not exactly 2 x INPUT).
    assert load.snapshot()[status["stableRevision"]["hash"]].total > 0

"""Canary rollouts end to end: the operator, real Triton pods run by real kubelets, real load, real metrics.

Each test deploys version 1 of the `doubler` model on three Triton pods on the real nodes, sends bounded load through
the Ready pods (so traffic follows the replica split, as with the `replicas` router), rolls out
version 2 and asserts the final state: status, children, events and the operator's metrics.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import pytest
from kubernetes import client

from tests.harness.canary import ANALYSIS, NAME, ROLLOUT, deploy, wait_settled, write_versions
from tests.harness.load import LoadGenerator
from tests.harness.models import Faults, write_model
from tests.harness.pod_discovery import PodDiscovery
from tests.harness.real_node import real_node_server_spec
from tests.harness.resources import create, deployment_replicas, event_reasons_once, model_deployment, patch_spec, read, wait_phase
from tritonops.cli import main as tritonops
from tritonops.devcluster import nodes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until
from tritonops.devcluster.prometheus import PrometheusServer, ScrapeJob

pytestmark = pytest.mark.usefixtures("operator")


def test_a_healthy_version_goes_through_every_step_and_is_promoted(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, operator: OperatorProcess
) -> None:
    write_versions(model_repository, Faults())
    old = deploy(kube_client, namespace, model_repository)
    promotions = operator.metric("tritonops_promotions_total")
    with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=240) as load:
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        final = wait_settled(kube_client, namespace)
    status = final["status"]
    assert status["phase"] == "Ready", status.get("message")
    assert status["stableRevision"]["version"] == "2" and "canaryRevision" not in status
    new = status["stableRevision"]["hash"]
    assert status["history"][-1]["outcome"] == "Promoted"
    assert status["lastAnalysis"]["result"] == "Passed"
    wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {new: 3}, description="the old Deployment gone", timeout_seconds=30)
    reasons = event_reasons_once(kube_client, namespace, NAME, "Promoted")
    assert reasons.count("StepAdvanced") == 1 and reasons.count("Promoted") == 1 and "RolledBack" not in reasons
    assert operator.metric("tritonops_promotions_total") == promotions + 1
    counts = load.snapshot()
    assert counts[old].success > 0 and counts[new].success > 0


@pytest.mark.parametrize(
    ("fault", "reason", "check"),
    [
        (Faults(failure_rate=0.5), "AnalysisFailed", "successRate"),
        # One model instance: 120 ms a request still serves about 8 a second, enough for minRequests.
        (Faults(delay_ms=120), "AnalysisFailed", "latencyMs"),
        (Faults(fail_load=True), "ModelLoadFailed", None),
        (Faults(crash_after_requests=25), "CanaryCrashed", None),
    ],
    ids=["errors", "too-slow", "fails-to-load", "crashes-mid-canary"],
)
def test_a_bad_version_is_rolled_back(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, operator: OperatorProcess,
    fault: Faults, reason: str, check: str | None,
) -> None:
    write_versions(model_repository, fault)
    old = deploy(kube_client, namespace, model_repository)
    rollbacks = operator.metric("tritonops_rollbacks_total", reason=reason)
    with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=240):
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        final = wait_settled(kube_client, namespace)
    status = final["status"]
    assert status["phase"] == "RolledBack", status.get("message")
    assert status["stableRevision"]["hash"] == old and status["canaryWeight"] == 0
    failed = status["failedRevision"]
    assert failed["version"] == "2" and failed["reason"] == reason, failed
    if check is not None:
        failing = [m for m in failed["measurements"] if m["check"] == check]
        assert failing and failing[0]["passed"] is False, failed["measurements"]
    assert status["history"][-1]["outcome"] == "RolledBack"
    wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {old: 3}, description="the canary removed", timeout_seconds=30)
    assert "RolledBack" in event_reasons_once(kube_client, namespace, NAME, "RolledBack")
    assert operator.metric("tritonops_rollbacks_total", reason=reason) == rollbacks + 1
    # Not retried while the spec still asks for it.
    time.sleep(4)
    assert read(kube_client, namespace, NAME)["status"]["phase"] == "RolledBack"
    assert deployment_replicas(kube_client, namespace, NAME) == {old: 3}


@pytest.mark.parametrize(
    ("second", "change", "reason"),
    [
        (Faults(), {"server": {"image": "localhost/tritonops/absent:2"}}, "ImageUnavailable"),
        # Both versions run under 150 MiB; version 2 writes 300 MiB as it loads.
        (Faults(allocate_mb=300), {"model": {"version": "2"}}, "OutOfMemory"),
    ],
    ids=["image-cannot-be-pulled", "oom-killed"],
)
def test_a_canary_the_kubelet_cannot_run_is_rolled_back_without_waiting_for_the_deadline(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, second: Faults, change: dict[str, Any], reason: str
) -> None:
    write_versions(model_repository, second)
    old = deploy(kube_client, namespace, model_repository, server={"resources": {"limits": {"memory": "150Mi"}}})
    patch_spec(kube_client, namespace, NAME, change)
    status = wait_phase(kube_client, namespace, NAME, "RolledBack", timeout=ROLLOUT["progressDeadlineSeconds"])["status"]
    # A rollback by the deadline would name the deadline; this one names what the kubelet reported.
    assert status["failedRevision"]["reason"] == reason, status["failedRevision"]
    assert status["stableRevision"]["hash"] == old
    wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {old: 3}, description="the canary removed", timeout_seconds=60)


def test_too_little_traffic_neither_promotes_nor_rolls_back(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path
) -> None:
    write_versions(model_repository, Faults(failure_rate=0.5))
    deploy(kube_client, namespace, model_repository)
    with LoadGenerator(kube_client, namespace, NAME, rate=2, max_seconds=60):
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        wait_phase(kube_client, namespace, NAME, "Canary")
        # Three step lengths: enough to promote or to roll back twice over, if windows counted.
        time.sleep(3 * ROLLOUT["stepSeconds"])
        status = read(kube_client, namespace, NAME)["status"]
    assert (status["phase"], status["currentStep"], status["failedAnalyses"]) == ("Canary", 0, 0)
    assert status["lastAnalysis"]["result"] == "Inconclusive"
    assert "fewer than minRequests" in status["lastAnalysis"]["reason"]
    assert "failedRevision" not in status


def test_an_operator_killed_mid_canary_resumes_at_the_same_step(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, operator: OperatorProcess
) -> None:
    write_versions(model_repository, Faults())
    deploy(kube_client, namespace, model_repository, rollout={"stepSeconds": 12})
    with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=240):
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        wait_until(lambda: read(kube_client, namespace, NAME)["status"].get("currentStep") == 1,
                   description="the second step", timeout_seconds=90)
        # A transition's event goes out before the status write that records it (tests/unit/test_controller.py).
        event_reasons_once(kube_client, namespace, NAME, "StepAdvanced")
        operator.kill()
        try:
            before = read(kube_client, namespace, NAME)["status"]
            time.sleep(3)
            assert read(kube_client, namespace, NAME)["status"] == before  # nothing acts while it is down
        finally:
            operator.start()
        after_restart = read(kube_client, namespace, NAME)["status"]
        assert after_restart["currentStep"] == 1 and after_restart["stepStartedAt"] == before["stepStartedAt"]
        final = wait_settled(kube_client, namespace)
    status = final["status"]
    assert status["phase"] == "Ready" and status["stableRevision"]["version"] == "2"
    assert [entry["outcome"] for entry in status["history"]].count("Promoted") == 1
    reasons = event_reasons_once(kube_client, namespace, NAME, "Promoted")
    assert reasons.count("Promoted") == 1 and reasons.count("RolloutStarted") == 1 and reasons.count("StepAdvanced") == 1


def test_the_prometheus_provider_rolls_back_a_bad_version(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, prometheus: PrometheusServer, tmp_path: pathlib.Path
) -> None:
    targets = tmp_path / "triton-pods.json"
    with PodDiscovery(kube_client, namespace, NAME, path=targets):
        prometheus.start(jobs=[ScrapeJob(name="triton", targets=[], target_files=[targets])], interval_seconds=1)
        write_versions(model_repository, Faults(failure_rate=0.5))
        analysis = {**ANALYSIS, "provider": "prometheus", "prometheus": {"url": prometheus.url}, "intervalSeconds": 4}
        old = deploy(kube_client, namespace, model_repository, rollout={"analysis": analysis})
        with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=240):
            patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
            final = wait_settled(kube_client, namespace)
    status = final["status"]
    assert status["phase"] == "RolledBack", status.get("message")
    assert status["failedRevision"]["reason"] == "AnalysisFailed"
    success = next(m for m in status["failedRevision"]["measurements"] if m["check"] == "successRate")
    assert success["value"] < 0.95 and status["lastAnalysis"]["requests"]["canary"] >= 20
    assert status["stableRevision"]["hash"] == old


def test_a_canary_that_cannot_fit_on_the_gpus_waits(kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path) -> None:
    write_versions(model_repository, Faults())
    old = deploy(kube_client, namespace, model_repository)
    # A canary pod asking for one GPU more than any real node has fits nowhere.
    too_many = max(node.gpus for node in nodes.REAL_NODES) + 1
    patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}, "server": {"gpu": {"count": too_many}}})
    status = wait_phase(kube_client, namespace, NAME, "WaitingForCapacity")["status"]
    assert f"the cluster has room for 0 ({too_many} nvidia.com/gpu of product NVIDIA-L4 per pod" in status["message"], status["message"]
    # Giving back stable pods frees one GPU each: no swap makes room, so the stable keeps all of them.
    assert "giving back stable pods would not make room either" in status["message"], status["message"]
    assert deployment_replicas(kube_client, namespace, NAME) == {old: 3}
    time.sleep(3)
    assert read(kube_client, namespace, NAME)["status"]["phase"] == "WaitingForCapacity"
    assert "InsufficientGPU" in event_reasons_once(kube_client, namespace, NAME, "InsufficientGPU")



def test_pause_resume_promote_abort_and_retry_on_real_triton(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, cluster: LocalCluster, operator: OperatorProcess
) -> None:
    def cli(*arguments: str) -> int:
        return tritonops([*arguments, NAME, "-n", namespace, f"--kubeconfig={cluster.kubeconfig}"])

    write_versions(model_repository, Faults())
    write_model(model_repository, name=NAME, version=3, version_faults=Faults())
    deploy(kube_client, namespace, model_repository, rollout={"paused": True})
    with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=240):
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        wait_until(lambda: (read(kube_client, namespace, NAME)["status"].get("lastAnalysis") or {}).get("result") == "Passed",
                   description="a passed analysis while paused", timeout_seconds=60)
        time.sleep(ROLLOUT["stepSeconds"] + 2)
        status = read(kube_client, namespace, NAME)["status"]
        assert (status["phase"], status["currentStep"]) == ("Canary", 0) and status["message"].startswith("paused")
        assert cli("resume") == 0
        wait_until(lambda: read(kube_client, namespace, NAME)["status"].get("currentStep") == 1, description="the next step", timeout_seconds=60)
        assert cli("promote") == 0
        wait_until(lambda: read(kube_client, namespace, NAME)["status"]["stableRevision"]["version"] == "2",
                   description="version 2 promoted", timeout_seconds=60)
        wait_phase(kube_client, namespace, NAME, "Ready")

        patch_spec(kube_client, namespace, NAME, {"model": {"version": "3"}})
        wait_phase(kube_client, namespace, NAME, "Canary")
        assert cli("abort") == 0
        status = wait_phase(kube_client, namespace, NAME, "RolledBack")["status"]
        assert status["failedRevision"]["version"] == "3" and status["failedRevision"]["reason"] == "Aborted"
        assert cli("retry") == 0
        status = wait_phase(kube_client, namespace, NAME, "Canary")["status"]
        assert status["canaryRevision"]["version"] == "3" and "failedRevision" not in status
    reasons = event_reasons_once(kube_client, namespace, NAME, "RetryRequested")
    assert reasons.count("Promoted") == 1 and reasons.count("RolledBack") == 1 and reasons.count("RetryRequested") == 1


def test_a_first_revision_that_crash_loops_is_failed_and_a_good_spec_replaces_it_directly(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, operator: OperatorProcess
) -> None:
    # Nothing serves yet, so there is nothing to roll back to: the phase must say Failed, not Progressing forever.
    write_model(model_repository, name=NAME, version=1, version_faults=Faults(fail_load=True))
    write_model(model_repository, name=NAME, version=2, version_faults=Faults())
    create(kube_client, namespace, model_deployment(
        NAME, replicas=1, model={"repository": f"file://{model_repository}", "version": "1"},
        server={**real_node_server_spec(), "startupTimeoutSeconds": 60}, rollout=ROLLOUT,
    ))
    failed = wait_phase(kube_client, namespace, NAME, "Failed", timeout=150)
    status = failed["status"]
    assert status["observedGeneration"] == failed["metadata"]["generation"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ModelLoadFailed", ready
    assert "ModelLoadFailed" in event_reasons_once(kube_client, namespace, NAME, "ModelLoadFailed")

    # A failed first revision protects nothing: the next spec is deployed directly, with no canary.
    patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
    settled = wait_phase(kube_client, namespace, NAME, "Ready", timeout=150)
    assert settled["status"]["stableRevision"]["version"] == "2"
    assert "canaryRevision" not in settled["status"]
    assert set(deployment_replicas(kube_client, namespace, NAME).values()) == {1}

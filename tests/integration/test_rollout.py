"""Canary rollouts on simulated (kwok) pods: the state machine's wiring, manual controls and GPU capacity.

kwok pods run no Triton, so every analysis window here is inconclusive: these tests cover what does not
need real metrics. Analysis against real Triton is in tests/e2e.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.harness.resources import create, deployment_replicas, event_reasons_once, model_deployment, patch_spec, read, wait_phase
from tritonops.cli import main as tritonops
from tritonops.devcluster import nodes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

ROLLOUT = {"steps": [25, 50], "stepSeconds": 600, "analysis": {"intervalSeconds": 3, "minRequests": 20, "successRate": {"min": 0.99}}}


def cli(cluster: LocalCluster, namespace: str, *arguments: str) -> int:
    return tritonops([*arguments, "-n", namespace, f"--kubeconfig={cluster.kubeconfig}"])


def test_manual_controls_drive_a_canary(kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess) -> None:
    create(kube_client, namespace, model_deployment("m", replicas=4, rollout=ROLLOUT))
    stable = wait_phase(kube_client, namespace, "m", "Ready")["status"]["stableRevision"]["hash"]
    patch_spec(kube_client, namespace, "m", {"model": {"version": "2"}})
    canary = wait_phase(kube_client, namespace, "m", "Canary")["status"]["canaryRevision"]["hash"]
    # The reported weight is the share of Ready pods that serve: 0 until the canary's pod is Ready, then 25.
    wait_until(lambda: read(kube_client, namespace, "m")["status"].get("canaryWeight") == 25, description="weight 25", timeout_seconds=30)
    assert read(kube_client, namespace, "m")["status"]["currentStep"] == 0
    wait_until(lambda: deployment_replicas(kube_client, namespace, "m") == {stable: 3, canary: 1}, description="a 3+1 split", timeout_seconds=30)
    # With no Triton behind kwok's pods there are no requests: windows are inconclusive, never a pass.
    wait_until(lambda: (read(kube_client, namespace, "m")["status"].get("lastAnalysis") or {}).get("result") == "Inconclusive",
               description="an inconclusive analysis", timeout_seconds=30)
    assert read(kube_client, namespace, "m")["status"]["currentStep"] == 0

    assert cli(cluster, namespace, "pause", "m") == 0
    wait_until(lambda: read(kube_client, namespace, "m")["status"]["message"].startswith("paused"), description="paused", timeout_seconds=30)

    rollbacks_before = operator.metric("tritonops_rollbacks_total", reason="Aborted")
    assert cli(cluster, namespace, "abort", "m") == 0
    status = wait_phase(kube_client, namespace, "m", "RolledBack")["status"]
    assert (status["failedRevision"]["hash"], status["failedRevision"]["reason"]) == (canary, "Aborted")
    assert status["stableRevision"]["hash"] == stable and status["canaryWeight"] == 0
    wait_until(lambda: deployment_replicas(kube_client, namespace, "m") == {stable: 4}, description="the canary removed", timeout_seconds=30)
    assert "inference.tritonops.dev/abort" not in (read(kube_client, namespace, "m")["metadata"].get("annotations") or {})
    assert "RolledBack" in event_reasons_once(kube_client, namespace, "m", "RolledBack")
    wait_until(lambda: operator.metric("tritonops_rollbacks_total", reason="Aborted") == rollbacks_before + 1,
               description="the rollback counted", timeout_seconds=10)

    assert cli(cluster, namespace, "retry", "m") == 0
    status = wait_phase(kube_client, namespace, "m", "Canary")["status"]
    assert "failedRevision" not in status and status["canaryRevision"]["hash"] == canary

    promotions_before = operator.metric("tritonops_promotions_total")
    assert cli(cluster, namespace, "promote", "m") == 0
    wait_until(lambda: read(kube_client, namespace, "m")["status"]["stableRevision"]["hash"] == canary,
               description="the canary promoted", timeout_seconds=60)
    status = wait_phase(kube_client, namespace, "m", "Ready")["status"]
    assert "canaryRevision" not in status
    assert [entry["outcome"] for entry in status["history"]] == ["RolledBack", "Promoted"]
    wait_until(lambda: deployment_replicas(kube_client, namespace, "m") == {canary: 4}, description="the old revision removed", timeout_seconds=30)
    reasons = event_reasons_once(kube_client, namespace, "m", "Promoted")
    assert reasons.count("RolloutStarted") == 2 and reasons.count("Promoted") == 1
    assert operator.metric("tritonops_promotions_total") == promotions_before + 1


def test_a_canary_that_stays_inconclusive_is_rolled_back_at_the_inconclusive_limit(
    kube_client: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    # No Triton behind kwok's pods: no requests, every window inconclusive, the canary's GPUs held until the limit.
    rollout = {**ROLLOUT, "analysis": {**ROLLOUT["analysis"], "intervalSeconds": 2, "inconclusiveLimit": 3}}
    create(kube_client, namespace, model_deployment("m", replicas=2, rollout=rollout))
    stable = wait_phase(kube_client, namespace, "m", "Ready")["status"]["stableRevision"]["hash"]
    rollbacks_before = operator.metric("tritonops_rollbacks_total", reason="AnalysisInconclusive")
    patch_spec(kube_client, namespace, "m", {"model": {"version": "2"}})
    canary = wait_phase(kube_client, namespace, "m", "Canary")["status"]["canaryRevision"]["hash"]
    wait_until(lambda: (read(kube_client, namespace, "m").get("status") or {}).get("inconclusiveAnalyses", 0) >= 1,
               description="an inconclusive analysis counted in status", timeout_seconds=30)
    status = wait_phase(kube_client, namespace, "m", "RolledBack", timeout=60)["status"]
    failed = status["failedRevision"]
    assert (failed["hash"], failed["reason"]) == (canary, "AnalysisInconclusive"), failed
    assert failed["message"].startswith("3 inconclusive analyses in a row (inconclusiveLimit 3); last: "), failed
    assert "inconclusiveAnalyses" not in status and status["stableRevision"]["hash"] == stable
    wait_until(lambda: deployment_replicas(kube_client, namespace, "m") == {stable: 2}, description="the canary removed", timeout_seconds=30)
    wait_until(lambda: operator.metric("tritonops_rollbacks_total", reason="AnalysisInconclusive") == rollbacks_before + 1,
               description="the rollback counted", timeout_seconds=10)


def _mig_node_is_free(kube_client: client.ApiClient) -> bool:
    pods = client.CoreV1Api(kube_client).list_pod_for_all_namespaces(field_selector="spec.nodeName=gpu-mig-0").items
    return not pods


@pytest.mark.usefixtures("operator")
def test_a_canary_that_cannot_fit_waits_for_capacity(kube_client: client.ApiClient, namespace: str) -> None:
    wait_until(lambda: _mig_node_is_free(kube_client), description="the MIG node free of earlier tests' pods", timeout_seconds=60)
    mig = {"count": 4, "resourceName": nodes.MIG_RESOURCE}
    create(kube_client, namespace, model_deployment("m", replicas=1, server={"gpu": mig}, rollout=ROLLOUT))
    stable = wait_phase(kube_client, namespace, "m", "Ready")["status"]["stableRevision"]["hash"]
    # 4 of the node's 7 MIG slices are taken: a canary of 4 more cannot fit, and nothing is evicted.
    patch_spec(kube_client, namespace, "m", {"model": {"version": "2"}})
    status = wait_phase(kube_client, namespace, "m", "WaitingForCapacity")["status"]
    assert f"1 more canary pod(s) need GPUs and the cluster has room for 0 (4 {nodes.MIG_RESOURCE} per pod" in status["message"]
    # One replica: swapping it would leave nothing serving, which Auto never does.
    assert "Auto does not give back the last serving pod" in status["message"], status["message"]
    assert "gpu-mig-0 3/7" in status["message"]
    assert deployment_replicas(kube_client, namespace, "m") == {stable: 1}
    assert "InsufficientGPU" in event_reasons_once(kube_client, namespace, "m", "InsufficientGPU")
    # A canary that asks for what is free starts.
    patch_spec(kube_client, namespace, "m", {"server": {"gpu": {**mig, "count": 3}}})
    status = wait_phase(kube_client, namespace, "m", "Canary")["status"]
    wait_until(lambda: len(deployment_replicas(kube_client, namespace, "m")) == 2, description="the canary Deployment", timeout_seconds=30)

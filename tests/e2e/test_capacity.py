"""Rollouts on a packed GPU cluster: every GPU of the real nodes is in use by the stable revision.

Version 1 runs on four Triton pods of two GPUs each, which fills both real nodes (4 GPUs each).
A new version can only start on GPUs that the stable gives back: with the default capacity mode
(Auto, maxUnavailable 1) the rollout swaps one pod at a time. A sampler reads the pods (and the
routes) every quarter second throughout and the tests assert the bounds users rely on: never fewer
than `replicas - maxUnavailable` Ready pods serving, and route weights never above the share of
Ready pods the canary has.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from kubernetes import client

from tests.harness.capacity import Sample, Sampler, gpus_in_use_on_real_nodes
from tests.harness.load import LoadGenerator
from tests.harness.models import Faults, write_model
from tests.harness.real_node import real_node_server_spec
from tests.harness.resources import create, deployment_replicas, install_gateway_api_crds, model_deployment, patch_spec, read, wait_phase
from tritonops.devcluster import nodes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import wait_until

pytestmark = pytest.mark.usefixtures("operator")

NAME = "packed"
REPLICAS = 4
MAX_UNAVAILABLE = 1
GPUS_PER_POD = sum(node.gpus for node in nodes.REAL_NODES) // REPLICAS
ANALYSIS = {"intervalSeconds": 3, "failureLimit": 2, "minRequests": 20, "successRate": {"min": 0.95}, "maxErrorRateIncrease": 0.05}
ROLLOUT = {"steps": [25, 50], "stepSeconds": 8, "progressDeadlineSeconds": 180, "analysis": ANALYSIS}


@pytest.fixture
def packed(kube_client: client.ApiClient) -> None:
    """Wait for every GPU of the real nodes to be free: pods of earlier tests may still be terminating."""
    wait_until(lambda: gpus_in_use_on_real_nodes(kube_client) == 0, description="the real nodes' GPUs free", timeout_seconds=180)


def _deploy(kube_client: client.ApiClient, namespace: str, repository: pathlib.Path, *, traffic: dict[str, Any] | None = None) -> str:
    server = {**real_node_server_spec(), "startupTimeoutSeconds": 60}
    server["gpu"] = {**server["gpu"], "count": GPUS_PER_POD}
    body = model_deployment(
        NAME, replicas=REPLICAS, model={"repository": f"file://{repository}", "version": "1"}, server=server,
        rollout={**ROLLOUT, "capacity": {"mode": "Auto", "maxUnavailable": MAX_UNAVAILABLE}}, **({"traffic": traffic} if traffic else {}),
        # The replicas stay at 4: an HPA scale-out under the load would ask for GPUs the packed cluster does not have.
        autoscaling={"enabled": False},
    )
    create(kube_client, namespace, body)
    stable = str(wait_phase(kube_client, namespace, NAME, "Ready", timeout=180)["status"]["stableRevision"]["hash"])
    assert gpus_in_use_on_real_nodes(kube_client) == sum(node.gpus for node in nodes.REAL_NODES), "the cluster is not packed"
    return stable


def _settle(kube_client: client.ApiClient, namespace: str, *, timeout: float = 360) -> dict[str, Any]:
    def settled() -> bool:
        status = read(kube_client, namespace, NAME).get("status") or {}
        return status.get("phase") == "RolledBack" or (status.get("phase") == "Ready" and status.get("stableRevision", {}).get("version") == "2")

    try:
        wait_until(settled, description="the rollout of version 2 to settle", timeout_seconds=timeout)
    except TimeoutError as error:
        status = read(kube_client, namespace, NAME).get("status") or {}
        shown = {key: status.get(key) for key in ("phase", "message", "currentStep", "canaryWeight", "capacityMode", "progressAt", "lastAnalysis")}
        raise AssertionError(f"{error}: status {shown}, Deployments {deployment_replicas(kube_client, namespace, NAME)}") from None
    return read(kube_client, namespace, NAME)


def _assert_floor(samples: list[Sample]) -> None:
    assert len(samples) > 100, f"only {len(samples)} samples"
    lowest = min(samples, key=lambda sample: sum(sample.ready.values()))
    assert sum(lowest.ready.values()) >= REPLICAS - MAX_UNAVAILABLE, f"Ready pods serving fell to {lowest.ready} ({lowest.phase})"
    assert all(sample.phase != "WaitingForCapacity" for sample in samples), "a swap that can free the GPUs it needs never waits"


@pytest.mark.usefixtures("packed")
def test_a_version_change_on_a_packed_cluster_swaps_pods_and_is_promoted(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path
) -> None:
    write_model(model_repository, name=NAME, version=1, version_faults=Faults())
    write_model(model_repository, name=NAME, version=2, version_faults=Faults())
    old = _deploy(kube_client, namespace, model_repository)
    with LoadGenerator(kube_client, namespace, NAME, model=NAME, rate=40, max_seconds=420), Sampler(kube_client, namespace, NAME) as sampler:
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        wait_until(lambda: read(kube_client, namespace, NAME)["status"].get("capacityMode") == "Swap",
                   description="Auto to choose Swap", timeout_seconds=60)
        final = _settle(kube_client, namespace)
    status = final["status"]
    assert status["phase"] == "Ready" and status["history"][-1]["outcome"] == "Promoted", status.get("message")
    new = status["stableRevision"]["hash"]
    wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {new: REPLICAS}, description="the old Deployment gone", timeout_seconds=60)
    _assert_floor(sampler.samples)
    assert any(sample.ready.get(old) and sample.ready.get(new) for sample in sampler.samples), "both revisions served together"


@pytest.mark.usefixtures("packed")
def test_a_bad_version_on_a_packed_cluster_is_rolled_back_without_dropping_below_the_floor(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path
) -> None:
    write_model(model_repository, name=NAME, version=1, version_faults=Faults())
    write_model(model_repository, name=NAME, version=2, version_faults=Faults(failure_rate=0.5))
    old = _deploy(kube_client, namespace, model_repository)
    with LoadGenerator(kube_client, namespace, NAME, model=NAME, rate=40, max_seconds=420), Sampler(kube_client, namespace, NAME) as sampler:
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        final = _settle(kube_client, namespace)
        assert final["status"]["phase"] == "RolledBack", final["status"].get("message")
        # The stable gets back every GPU the canary held.
        wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {old: REPLICAS}, description="the canary removed",
                   timeout_seconds=120)
        wait_until(lambda: sampler.samples[-1].ready == {old: REPLICAS}, description="every stable pod Ready again", timeout_seconds=120)
    assert final["status"]["failedRevision"]["reason"] == "AnalysisFailed"
    _assert_floor(sampler.samples)


@pytest.mark.usefixtures("packed")
def test_gateway_api_route_weights_never_exceed_the_ready_share_on_a_packed_cluster(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, cluster: LocalCluster
) -> None:
    install_gateway_api_crds(cluster.kubeconfig, kube_client)
    write_model(model_repository, name=NAME, version=1, version_faults=Faults())
    write_model(model_repository, name=NAME, version=2, version_faults=Faults())
    _deploy(kube_client, namespace, model_repository, traffic={"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference"}]}})
    with LoadGenerator(kube_client, namespace, NAME, model=NAME, rate=40, max_seconds=420), Sampler(kube_client, namespace, NAME, routes=True) as sampler:
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        final = _settle(kube_client, namespace)
    assert final["status"]["phase"] == "Ready", final["status"].get("message")
    changes = [sample for previous, sample in zip(sampler.samples, sampler.samples[1:]) if sample.route_weight != previous.route_weight]
    assert len(changes) >= 3, [sample.route_weight for sample in changes]  # each step, and promotion
    for sample in sampler.samples:
        if sample.route_weight and sample.route_canary:
            serving = sum(sample.ready.values())
            share = 100 * sample.ready.get(sample.route_canary, 0) / serving if serving else 0
            assert sample.route_weight <= share + 0.5, f"route weight {sample.route_weight} above the Ready share {share:.0f} ({sample.ready})"
    _assert_floor(sampler.samples)

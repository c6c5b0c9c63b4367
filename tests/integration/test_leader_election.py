"""Two operator replicas with leader election: exactly one acts; when it dies, the other takes over."""

from __future__ import annotations

import pathlib

from kubernetes import client

from tests.harness.resources import create, model_deployment
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

LEASE = "tritonops-leader-test"


def replica(cluster: LocalCluster, namespace: str, log: pathlib.Path) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig=cluster.kubeconfig, log=log,
        extra_arguments=("--leader-elect", f"--leader-election-namespace={namespace}", f"--leader-election-name={LEASE}", f"--namespace={namespace}"),
    )


def reconciles(process: OperatorProcess) -> float:
    return process.metric("tritonops_reconcile_total")


def test_exactly_one_replica_acts_and_the_other_takes_over(
    cluster: LocalCluster, kube_client: client.ApiClient, namespace: str, crd_installed: None, tmp_path: pathlib.Path
) -> None:
    first, second = replica(cluster, namespace, tmp_path / "first.log"), replica(cluster, namespace, tmp_path / "second.log")
    first.start()
    coordination = client.CoordinationV1Api(kube_client)
    try:
        wait_until(lambda: coordination.read_namespaced_lease(LEASE, namespace).spec.holder_identity is not None,
                   description="the first replica to take the Lease", timeout_seconds=30)
        second.start()
        leader_identity = coordination.read_namespaced_lease(LEASE, namespace).spec.holder_identity
        for index in range(3):
            create(kube_client, namespace, model_deployment(f"m{index}", server={"gpu": {"count": 0}}))
        wait_until(lambda: reconciles(first) >= 3, description="the leader to reconcile", timeout_seconds=30)
        assert reconciles(second) == 0
        assert coordination.read_namespaced_lease(LEASE, namespace).spec.holder_identity == leader_identity

        first.kill()
        wait_until(lambda: coordination.read_namespaced_lease(LEASE, namespace).spec.holder_identity != leader_identity,
                   description="the standby to take the Lease over", timeout_seconds=40)
        # Taking over, the new leader resyncs everything it already watches.
        wait_until(lambda: reconciles(second) >= 3, description="the new leader to reconcile", timeout_seconds=30)
        assert coordination.read_namespaced_lease(LEASE, namespace).spec.lease_transitions == 1
    finally:
        first.stop()
        second.stop()

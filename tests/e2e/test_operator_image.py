"""The operator as users run it: its image, built from the Containerfile, installed with `helm install`
on a real node, driving a canary of real Triton pods to promotion and a bad one to rollback.

There is no kube-proxy here, so the operator's pod uses the node's network (the loopback-only sandbox)
and reaches the apiserver at its loopback address, with its ServiceAccount's token. The session's own
operator process is stopped meanwhile, so that only the one in the pod acts.
"""

from __future__ import annotations

import pathlib
import re
import urllib.request
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.harness.load import LoadGenerator
from tests.harness.models import Faults, write_model
from tests.harness.real_node import real_node_server_spec
from tests.harness.resources import create, deployment_replicas, model_deployment, patch_spec, read, wait_phase
from tritonops.devcluster import images, nodes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.operator_release import HelmOperator, OperatorRelease
from tritonops.devcluster.processes import wait_until

NAME = "doubler"
ANALYSIS = {"intervalSeconds": 3, "failureLimit": 2, "minRequests": 20, "successRate": {"min": 0.95}}
ROLLOUT = {"steps": [50], "stepSeconds": 6, "progressDeadlineSeconds": 90, "analysis": ANALYSIS}


@pytest.fixture
def installed_operator(
    cluster: LocalCluster, namespace: str, operator: OperatorProcess, tmp_path: pathlib.Path
) -> Iterator[OperatorRelease]:
    """`helm install` of the chart watching the test's namespace, with the session's operator stopped meanwhile."""
    release = HelmOperator(cluster=cluster, home=tmp_path / "helm", watch_namespaces=[namespace])
    operator.stop()
    try:
        yield release.install()
    finally:
        release.uninstall()
        operator.start()


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(float(value) for value in re.findall(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", text, re.M))


def test_the_operator_image_installed_by_helm_promotes_and_rolls_back_on_real_nodes(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, installed_operator: OperatorRelease
) -> None:
    pod = client.CoreV1Api(kube_client).read_namespaced_pod(installed_operator.pod_name, installed_operator.namespace)
    (container,) = pod.status.container_statuses
    assert container.image == images.OPERATOR and container.ready and container.state.running is not None
    assert pod.spec.node_name in {node.name for node in nodes.REAL_NODES}
    assert pod.spec.containers[0].security_context.read_only_root_filesystem is True

    write_model(model_repository, name=NAME, version=1, version_faults=Faults())
    write_model(model_repository, name=NAME, version=2, version_faults=Faults())
    write_model(model_repository, name=NAME, version=3, version_faults=Faults(failure_rate=0.5))
    body = model_deployment(
        NAME,
        replicas=2,
        model={"repository": f"file://{model_repository}", "version": "1"},
        server={**real_node_server_spec(), "startupTimeoutSeconds": 60},
        rollout=ROLLOUT,
    )
    create(kube_client, namespace, body)
    wait_phase(kube_client, namespace, NAME, "Ready", timeout=120)
    with LoadGenerator(kube_client, namespace, NAME, rate=30, max_seconds=300):
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        wait_until(
            lambda: (read(kube_client, namespace, NAME).get("status") or {}).get("stableRevision", {}).get("version") == "2",
            description="version 2 promoted by the operator in its pod",
            timeout_seconds=150,
        )
        promoted = wait_phase(kube_client, namespace, NAME, "Ready", timeout=60)["status"]
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "3"}})
        status = wait_phase(kube_client, namespace, NAME, "RolledBack", timeout=150)["status"]
    assert status["failedRevision"]["version"] == "3" and status["failedRevision"]["reason"] == "AnalysisFailed"
    assert status["stableRevision"]["hash"] == promoted["stableRevision"]["hash"]
    wait_until(
        lambda: deployment_replicas(kube_client, namespace, NAME) == {promoted["stableRevision"]["hash"]: 2},
        description="the failed canary removed",
        timeout_seconds=60,
    )
    # The pod's own metrics endpoint counted both outcomes.
    assert _metric(installed_operator.metrics_url, "tritonops_promotions_total") >= 1
    assert _metric(installed_operator.metrics_url, "tritonops_rollbacks_total") >= 1
    # It never restarted: one container, from the image, the whole time.
    (running,) = client.CoreV1Api(kube_client).read_namespaced_pod(pod.metadata.name, installed_operator.namespace).status.container_statuses
    assert running.restart_count == 0

"""The operator against the real control plane: GPU scheduling, status, scaling, in-place changes, GC, writes."""

from __future__ import annotations

import copy
import json
import pathlib
import time
from typing import Any

import pytest
from kubernetes import client

from tests.harness.kubectl import kubectl
from tests.harness.resources import GROUP, PLURAL, VERSION, create, model_deployment, patch_spec, pods_of, read, wait_phase
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster import nodes
from tritonops.devcluster.apiserver_metrics import count_writes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import wait_until

pytestmark = pytest.mark.usefixtures("operator")


def test_gpu_model_becomes_ready_on_nodes_of_the_requested_product(kube_client: client.ApiClient, namespace: str, cluster: LocalCluster) -> None:
    create(kube_client, namespace, model_deployment("resnet", replicas=3, server={"gpu": {"count": 2, "products": [nodes.A100]}}))
    kubectl(cluster.kubeconfig, "wait", "--for=condition=Ready", "md/resnet", "-n", namespace, "--timeout=60s")
    status = read(kube_client, namespace, "resnet")["status"]
    assert (status["phase"], status["readyReplicas"], status["replicas"], status["readyText"]) == ("Ready", 3, 3, "3/3")
    assert status["stableRevision"]["version"] == "1"
    assert status["endpoints"]["http"] == f"resnet.{namespace}.svc:8000"
    a100_nodes = {n.name for n in nodes.DEFAULT_NODES if n.product == nodes.A100}
    assert {pod.spec.node_name for pod in pods_of(kube_client, namespace, "resnet")} <= a100_nodes
    service = client.CoreV1Api(kube_client).read_namespaced_service("resnet", namespace)
    assert sorted(port.port for port in service.spec.ports) == [8000, 8001, 8002]
    assert service.metadata.owner_references[0].kind == "ModelDeployment"

    table = kubectl(cluster.kubeconfig, "get", "md", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "MODEL", "VERSION", "PHASE", "CANARY", "READY", "AGE"]
    assert row.split()[:6] == ["resnet", "resnet", "1", "Ready", "0", "3/3"]
    reasons = {event.reason for event in client.CoreV1Api(kube_client).list_namespaced_event(namespace, field_selector="involvedObject.name=resnet").items}
    assert "Deployed" in reasons


def test_mig_resource_lands_on_the_mig_node(kube_client: client.ApiClient, namespace: str) -> None:
    create(kube_client, namespace, model_deployment("small", server={"gpu": {"count": 1, "resourceName": nodes.MIG_RESOURCE}}))
    wait_phase(kube_client, namespace, "small", "Ready")
    assert [pod.spec.node_name for pod in pods_of(kube_client, namespace, "small")] == ["gpu-mig-0"]


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        ({"count": 16}, "Insufficient nvidia.com/gpu"),
        ({"count": 1, "products": ["NVIDIA-B200"]}, "NVIDIA-B200"),
    ],
    ids=["too-many-gpus", "missing-product"],
)
def test_impossible_request_reports_why_while_others_stay_ready(
    kube_client: client.ApiClient, namespace: str, gpu: dict[str, Any], expected: str
) -> None:
    create(kube_client, namespace, model_deployment("healthy", server={"gpu": {"count": 1}}))
    create(kube_client, namespace, model_deployment("impossible", server={"gpu": gpu}))
    stuck = wait_phase(kube_client, namespace, "impossible", "WaitingForCapacity")
    ready = next(c for c in stuck["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InsufficientGPU")
    assert expected in ready["message"]
    events = client.CoreV1Api(kube_client).list_namespaced_event(namespace, field_selector="involvedObject.name=impossible").items
    warnings = [event for event in events if event.reason == "InsufficientGPU"]
    assert warnings and warnings[0].type == "Warning" and expected in warnings[0].message
    wait_phase(kube_client, namespace, "healthy", "Ready")


def test_kubectl_scale_scales_the_model_deployment(kube_client: client.ApiClient, namespace: str, cluster: LocalCluster) -> None:
    create(kube_client, namespace, model_deployment("scaled", server={"gpu": {"count": 0}}))
    wait_phase(kube_client, namespace, "scaled", "Ready")
    kubectl(cluster.kubeconfig, "scale", "md/scaled", "--replicas=3", "-n", namespace)
    status = wait_phase(kube_client, namespace, "scaled", "Ready")["status"]
    assert status["readyText"] == "3/3"
    assert len(pods_of(kube_client, namespace, "scaled")) == 3
    scale = json.loads(kubectl(cluster.kubeconfig, "get", "--raw", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/scaled/scale"))
    assert scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == "app.kubernetes.io/name=triton,app.kubernetes.io/instance=scaled"


def test_hpa_scales_the_model_deployment_and_the_operator_follows(kube_client: client.ApiClient, namespace: str) -> None:
    create(
        kube_client,
        namespace,
        model_deployment(
            "autoscaled",
            server={"gpu": {"count": 0}, "resources": {"requests": {"cpu": "100m"}}},
            autoscaling={"enabled": True, "minReplicas": 1, "maxReplicas": 3, "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
            ]},
        ),
    )
    wait_phase(kube_client, namespace, "autoscaled", "Ready")
    autoscaling = client.AutoscalingV2Api(kube_client)
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("autoscaled", namespace)
    assert (hpa.spec.scale_target_ref.kind, hpa.spec.scale_target_ref.name) == ("ModelDeployment", "autoscaled")
    core = client.CoreV1Api(kube_client)
    # Simulated load: kwok reports the CPU usage written in the pod's annotation.
    for pod in pods_of(kube_client, namespace, "autoscaled"):
        core.patch_namespaced_pod(pod.metadata.name, namespace, {"metadata": {"annotations": {"kwok.x-k8s.io/usage-cpu": "300m"}}})
    wait_until(
        lambda: read(kube_client, namespace, "autoscaled")["spec"]["replicas"] > 1,
        description="the HPA to raise spec.replicas",
        timeout_seconds=150,
        interval_seconds=1,
    )
    wanted = read(kube_client, namespace, "autoscaled")["spec"]["replicas"]
    wait_until(
        lambda: (read(kube_client, namespace, "autoscaled").get("status") or {}).get("readyReplicas", 0) >= wanted,
        description="the operator to follow the HPA",
        timeout_seconds=60,
    )


def test_a_failing_reconcile_is_retried_with_backoff_shown_and_fixed_while_others_reconcile(
    kube_client: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    """A spec the CRD lets through but the API server refuses in a child (requests above limits): a 422."""
    core = client.CoreV1Api(kube_client)
    refused = {"gpu": {"count": 0}, "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}
    errors = operator.metric("tritonops_reconcile_total", result="error")
    create(kube_client, namespace, model_deployment("refused", server=refused))
    created = time.monotonic()
    create(kube_client, namespace, model_deployment("healthy", server={"gpu": {"count": 0}}))

    def warnings() -> list[Any]:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=refused").items
        return [event for event in events if event.reason == "ChildRejected"]

    wait_until(lambda: bool(warnings()), description="a ChildRejected event for refused", timeout_seconds=30)
    [warning] = warnings()
    assert warning.type == "Warning" and "must be less than or equal to memory limit" in warning.message, warning.message
    # Retried by itself, at 1, 1, 2, 3 ... s: the operator's 60 s resync alone would try once or twice by now.
    wait_until(lambda: operator.metric("tritonops_reconcile_total", result="error") >= errors + 5,
               description="five failed reconciles", timeout_seconds=40)
    retries = [line for line in operator.log.read_text().splitlines() if "retrying" in line and f"{namespace}/refused" in line]
    assert len(retries) >= 4 and time.monotonic() - created < 45, retries
    status = read(kube_client, namespace, "refused")["status"]
    reconciled = next(c for c in status["conditions"] if c["type"] == "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "ChildRejected")
    assert "must be less than or equal to memory limit" in reconciled["message"]
    # The cluster cannot carry out this generation as it stands: reported for it (Argo CD: Degraded), still retried.
    assert status["phase"] == "Failed" and status["observedGeneration"] == 1
    assert len(warnings()) == 1, "one event for the failure, not one per retry"
    wait_phase(kube_client, namespace, "healthy", "Ready")

    # The fix is an event of its own: reconciled at once, whatever the backoff had reached.
    patch_spec(kube_client, namespace, "refused", {"server": {"resources": {"limits": {"memory": "2Gi"}}}})
    fixed = wait_phase(kube_client, namespace, "refused", "Ready", timeout=30)["status"]
    reconciled = next(c for c in fixed["conditions"] if c["type"] == "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("True", "ReconcileSucceeded")


def test_change_that_keeps_the_revision_applies_in_place(kube_client: client.ApiClient, namespace: str) -> None:
    create(kube_client, namespace, model_deployment("inplace", replicas=2, server={"gpu": {"count": 0}}))
    before = wait_phase(kube_client, namespace, "inplace", "Ready")
    pod_uids = {pod.metadata.uid for pod in pods_of(kube_client, namespace, "inplace")}
    patch_spec(kube_client, namespace, "inplace", {"service": {"type": "NodePort"}, "rollout": {"stepSeconds": 5}, "autoscaling": {"maxReplicas": 6}})
    after = wait_phase(kube_client, namespace, "inplace", "Ready")
    assert after["status"]["stableRevision"] == before["status"]["stableRevision"]
    wait_until(
        lambda: client.CoreV1Api(kube_client).read_namespaced_service("inplace", namespace).spec.type == "NodePort",
        description="the Service type to change",
        timeout_seconds=30,
    )
    assert {pod.metadata.uid for pod in pods_of(kube_client, namespace, "inplace")} == pod_uids


def test_immediate_revision_change_replaces_the_old_deployment_once_ready(kube_client: client.ApiClient, namespace: str) -> None:
    create(kube_client, namespace, model_deployment("swap", replicas=2, server={"gpu": {"count": 0}}, rollout={"strategy": "Immediate"}))
    first = wait_phase(kube_client, namespace, "swap", "Ready")["status"]["stableRevision"]
    patch_spec(kube_client, namespace, "swap", {"model": {"version": "2"}})
    apps = client.AppsV1Api(kube_client)

    def replaced() -> bool:
        status = read(kube_client, namespace, "swap").get("status") or {}
        names = {d.metadata.name for d in apps.list_namespaced_deployment(namespace).items}
        return status.get("phase") == "Ready" and status["stableRevision"]["version"] == "2" and names == {f"swap-{status['stableRevision']['hash']}"}

    wait_until(replaced, description="revision 2 to replace revision 1", timeout_seconds=60)
    status = read(kube_client, namespace, "swap")["status"]
    assert status["stableRevision"]["hash"] != first["hash"]
    assert status["history"][-1]["outcome"] == "Promoted"
    reasons = {event.reason for event in client.CoreV1Api(kube_client).list_namespaced_event(namespace, field_selector="involvedObject.name=swap").items}
    assert {"RolloutStarted", "Promoted"} <= reasons


def test_deleting_a_model_deployment_removes_its_children(kube_client: client.ApiClient, namespace: str) -> None:
    create(kube_client, namespace, model_deployment("doomed", server={"gpu": {"count": 0}}, autoscaling={"enabled": True}))
    wait_phase(kube_client, namespace, "doomed", "Ready")
    client.CustomObjectsApi(kube_client).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "doomed")
    apps, core, autoscaling = client.AppsV1Api(kube_client), client.CoreV1Api(kube_client), client.AutoscalingV2Api(kube_client)

    def children() -> int:
        return (
            len(apps.list_namespaced_deployment(namespace).items)
            + len(core.list_namespaced_service(namespace).items)
            + len(autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace).items)
            + len(pods_of(kube_client, namespace, "doomed"))
        )

    wait_until(lambda: children() == 0, description="the garbage collector to remove every child", timeout_seconds=90)


def _apiserver_writes(cluster: LocalCluster) -> int:
    return count_writes(cluster.apiserver_get("/metrics"))


def test_resync_of_converged_objects_makes_zero_writes(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess, tmp_path: pathlib.Path
) -> None:
    """About the resync itself, so an operator of its own with a short one stands in for the session's."""
    operator.stop()
    short = OperatorProcess(kubeconfig=cluster.kubeconfig, log=tmp_path / "short-resync.log", resync_seconds=3.0)
    short.start()
    try:
        _converged_objects_resync_without_writes(kube_client, namespace, cluster, short)
    finally:
        short.stop()
        operator.start()


def _converged_objects_resync_without_writes(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess
) -> None:
    for index in range(5):
        create(kube_client, namespace, model_deployment(f"idle-{index}", server={"gpu": {"count": 0}}, autoscaling={"enabled": index % 2 == 0}))
    for index in range(5):
        wait_phase(kube_client, namespace, f"idle-{index}", "Ready")
    # Namespaces of earlier tests being deleted would show up as DELETE writes; wait them out.
    wait_until(
        lambda: all(ns.status.phase != "Terminating" for ns in client.CoreV1Api(kube_client).list_namespace().items),
        description="earlier test namespaces to finish terminating",
        timeout_seconds=120,
    )
    time.sleep(2)  # let the last status writes and watch events settle
    reconciles_before = operator.metric("tritonops_reconcile_total")
    writes_before, operator_writes_before = _apiserver_writes(cluster), operator.metric("tritonops_api_writes_total")
    time.sleep(operator.resync_seconds * 3 + 1)
    assert operator.metric("tritonops_reconcile_total") >= reconciles_before + 5 * 2, "the resync did run"
    assert operator.metric("tritonops_api_writes_total") - operator_writes_before == 0
    assert _apiserver_writes(cluster) - writes_before == 0


def test_operator_metrics_and_liveness(kube_client: client.ApiClient, namespace: str, operator: OperatorProcess) -> None:
    # An object of its own: the operator may have just been restarted by another test, with nothing to do.
    create(kube_client, namespace, model_deployment("counted", server={"gpu": {"count": 0}}))
    wait_phase(kube_client, namespace, "counted", "Ready")
    assert operator.alive()
    text = operator.metrics_text()
    assert operator.metric("tritonops_reconcile_total", result="success") > 0
    assert "tritonops_reconcile_duration_seconds_bucket" in text
    assert "tritonops_rollout_phase{" in text
    assert "tritonops_canary_weight{" in text


def test_namespace_selection_and_resume_after_restart(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess, tmp_path: pathlib.Path
) -> None:
    core, apps = client.CoreV1Api(kube_client), client.AppsV1Api(kube_client)
    ignored = f"{namespace}-other"
    core.create_namespace(body={"metadata": {"name": ignored}})
    wait_until(lambda: core.read_namespaced_service_account("default", ignored) is not None, description="default ServiceAccount", timeout_seconds=30)
    try:
        operator.stop()
        scoped = OperatorProcess(kubeconfig=cluster.kubeconfig, log=tmp_path / "scoped.log", extra_arguments=(f"--namespace={namespace}",))
        scoped.start()
        try:
            create(kube_client, namespace, model_deployment("watched", server={"gpu": {"count": 0}}))
            create(kube_client, ignored, model_deployment("unwatched", server={"gpu": {"count": 0}}))
            wait_phase(kube_client, namespace, "watched", "Ready")
            time.sleep(3)
            assert "status" not in read(kube_client, ignored, "unwatched")
            assert apps.list_namespaced_deployment(ignored).items == []
        finally:
            scoped.stop()
        converged = read(kube_client, namespace, "watched")
        deployment_versions = {d.metadata.name: d.metadata.resource_version for d in apps.list_namespaced_deployment(namespace).items}

        # The cluster-wide operator starts again: it picks up the new object and writes nothing to the
        # one that is already converged, neither its children nor its status.
        operator.start()
        wait_phase(kube_client, ignored, "unwatched", "Ready")
        # The restart's first pass over every object comes at once, not at the resync.
        time.sleep(6)
        assert read(kube_client, namespace, "watched")["metadata"]["resourceVersion"] == converged["metadata"]["resourceVersion"]
        assert {d.metadata.name: d.metadata.resource_version for d in apps.list_namespaced_deployment(namespace).items} == deployment_versions
    finally:
        if operator.process is None:
            operator.start()
        core.delete_namespace(name=ignored)

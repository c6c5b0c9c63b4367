"""The local control plane is the real thing: version, CRDs with CEL, scheduling of GPUs, GC and the HPA."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tritonops.devcluster import nodes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import wait_until


def test_apiserver_reports_kubernetes_1_36(cluster: LocalCluster) -> None:
    version = json.loads(cluster.apiserver_get("/version"))
    assert version["gitVersion"].startswith("v1.36.")
    assert (version["major"], version["minor"]) == ("1", "36")


def test_crd_with_cel_rule_rejects_a_bad_object(kube_client: client.ApiClient, namespace: str) -> None:
    group = f"t{uuid.uuid4().hex[:6]}.example.dev"
    extensions = client.ApiextensionsV1Api(kube_client)
    extensions.create_custom_resource_definition(
        body={
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                                        "x-kubernetes-validations": [
                                            {"rule": "self.max >= self.min", "message": "spec.max must be at least spec.min"}
                                        ],
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    )
    custom = client.CustomObjectsApi(kube_client)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(f"widgets.{group}")
        return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))

    wait_until(established, description="the CRD to be established", timeout_seconds=30)
    good = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "good"}, "spec": {"min": 1, "max": 2}}
    wait_until(
        lambda: bool(custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", good)),
        description="the CRD to be served",
        timeout_seconds=30,
    )
    bad = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": {"min": 3, "max": 2}}
    with pytest.raises(ApiException) as rejected:
        custom.create_namespaced_custom_object(group, "v1", namespace, "widgets", bad)
    assert rejected.value.status == 422
    assert "spec.max must be at least spec.min" in str(rejected.value.body)
    extensions.delete_custom_resource_definition(f"widgets.{group}")


def _gpu_deployment(name: str, *, gpus: int, product: str, replicas: int) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {"matchExpressions": [{"key": nodes.PRODUCT_LABEL, "operator": "In", "values": [product]}]}
                                ]
                            }
                        }
                    },
                    "containers": [
                        {
                            "name": "triton",
                            "image": "nvcr.io/nvidia/tritonserver:25.08-py3",
                            "resources": {"limits": {nodes.GPU_RESOURCE: str(gpus)}},
                        }
                    ],
                },
            },
        },
    }


def test_gpu_pods_land_on_nodes_of_the_requested_product(kube_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(kube_client)
    core = client.CoreV1Api(kube_client)
    apps.create_namespaced_deployment(namespace, _gpu_deployment("h100", gpus=2, product=nodes.H100, replicas=3))

    def available() -> bool:
        deployment = apps.read_namespaced_deployment("h100", namespace)
        return any(c.type == "Available" and c.status == "True" for c in (deployment.status.conditions or [])) and (
            deployment.status.ready_replicas == 3
        )

    wait_until(available, description="the GPU Deployment to be Available", timeout_seconds=60)
    h100_nodes = {n.name for n in nodes.DEFAULT_NODES if n.product == nodes.H100}
    pods = core.list_namespaced_pod(namespace, label_selector="app=h100").items
    assert len(pods) == 3
    assert {pod.spec.node_name for pod in pods} <= h100_nodes


def test_pod_asking_for_too_many_gpus_stays_pending(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "greedy"},
            "spec": {
                "containers": [
                    {"name": "triton", "image": "tritonserver", "resources": {"limits": {nodes.GPU_RESOURCE: "16"}}}
                ]
            },
        },
    )

    def failed_scheduling_message() -> str:
        events = core.list_namespaced_event(namespace, field_selector="involvedObject.name=greedy").items
        return " ".join(event.message for event in events if event.reason == "FailedScheduling")

    wait_until(lambda: bool(failed_scheduling_message()), description="a FailedScheduling event", timeout_seconds=30)
    assert f"Insufficient {nodes.GPU_RESOURCE}" in failed_scheduling_message()
    pod = core.read_namespaced_pod("greedy", namespace)
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name is None


def test_deleting_an_owner_garbage_collects_what_it_owns(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}, "data": {"a": "b"}})
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for index in range(3):
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"owned-{index}", "ownerReferences": [reference]}, "data": {}}
        )
    core.delete_namespaced_config_map("owner", namespace)

    def owned_left() -> int:
        return len([item for item in core.list_namespaced_config_map(namespace).items if item.metadata.name.startswith("owned-")])

    wait_until(lambda: owned_left() == 0, description="the garbage collector to remove owned objects", timeout_seconds=60)


def _cpu_cores(quantity: str) -> float:
    units = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
    return float(quantity[:-1]) * units[quantity[-1]] if quantity[-1] in units else float(quantity)


def test_metrics_api_serves_simulated_usage_from_kwok(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    custom = client.CustomObjectsApi(kube_client)
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "worker", "annotations": {"kwok.x-k8s.io/usage-cpu": "250m"}},
            "spec": {
                "nodeSelector": {"kubernetes.io/hostname": "cpu-0"},
                "containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": "500m"}}}],
            },
        },
    )

    def pod_cpu() -> float:
        metrics = custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods", "worker")
        return sum(_cpu_cores(container["usage"]["cpu"]) for container in metrics["containers"])

    wait_until(lambda: pod_cpu() > 0, description="pod metrics for the worker", timeout_seconds=90, interval_seconds=1)
    assert pod_cpu() == pytest.approx(0.25, rel=0.1)
    # metrics-server reports a node only once its cumulative CPU is non-zero, i.e. when a pod runs there.
    node = custom.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", "cpu-0")
    assert _cpu_cores(node["usage"]["cpu"]) > 0


def test_hpa_scales_up_when_simulated_cpu_usage_rises(kube_client: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(kube_client)
    core = client.CoreV1Api(kube_client)
    autoscaling = client.AutoscalingV2Api(kube_client)
    labels = {"app": "busy"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "busy"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": {"kwok.x-k8s.io/usage-cpu": "10m"}},
                    "spec": {
                        "nodeSelector": {"kubernetes.io/hostname": "cpu-0"},
                        "containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": "100m"}}}],
                    },
                },
            },
        },
    )
    autoscaling.create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "busy"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
                "minReplicas": 1,
                "maxReplicas": 4,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
                ],
            },
        },
    )

    def hpa_reads_metrics() -> bool:
        status = autoscaling.read_namespaced_horizontal_pod_autoscaler("busy", namespace).status
        current = status.current_metrics or []
        return bool(current) and current[0].resource.current.average_utilization is not None

    wait_until(hpa_reads_metrics, description="the HPA to read pod CPU from metrics-server", timeout_seconds=90, interval_seconds=1)
    assert apps.read_namespaced_deployment("busy", namespace).spec.replicas == 1

    # Simulated usage rises: kwok reports what the pod's annotation says, 300% of its request.
    for pod in core.list_namespaced_pod(namespace, label_selector="app=busy").items:
        core.patch_namespaced_pod(pod.metadata.name, namespace, {"metadata": {"annotations": {"kwok.x-k8s.io/usage-cpu": "300m"}}})
    started = time.monotonic()
    wait_until(
        lambda: apps.read_namespaced_deployment("busy", namespace).spec.replicas > 1,
        description="the HPA to scale the Deployment up",
        timeout_seconds=120,
        interval_seconds=1,
    )
    print(f"HPA scaled up {time.monotonic() - started:.1f}s after usage rose")

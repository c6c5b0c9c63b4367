"""Every example in manifests/examples is accepted by the real API server (schema and CEL rules) when
applied with kubectl, and reconciled by the operator to Ready on kwok's simulated nodes, with the
children its spec asks for; Argo CD's health check (manifests/argocd/health.lua) calls it Healthy."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml
from kubernetes import client
from lupa import lua51

from tests.harness.kubectl import kubectl
from tests.harness.resources import install_gateway_api_crds, pods_of, read, wait_phase
from tritonops.devcluster import nodes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

ROOT = pathlib.Path(__file__).parents[2]
EXAMPLES = ROOT / "manifests" / "examples"
HEALTH_LUA = ROOT / "manifests" / "argocd" / "health.lua"
GATEWAY = ("gateway.networking.k8s.io", "v1")


def _examples() -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(EXAMPLES.glob("*.yaml"))}


def test_the_examples_cover_cpu_gpu_autoscaling_and_both_canaries() -> None:
    bodies = list(_examples().values())
    assert all(body["kind"] == "ModelDeployment" and "namespace" not in body["metadata"] for body in bodies)

    def spec(body: dict[str, Any], *path: str) -> Any:
        node: Any = body["spec"]
        for key in path:
            node = (node or {}).get(key)
        return node

    assert any(spec(body, "server", "gpu", "count") == 0 for body in bodies), "a CPU-only example"
    assert any((spec(body, "server", "gpu", "count") or 0) > 0 and spec(body, "autoscaling", "enabled") for body in bodies), "a GPU example with autoscaling"
    assert any(spec(body, "rollout", "analysis", "provider") == "triton" and spec(body, "traffic", "router") in (None, "replicas")
               for body in bodies), "a canary judged by the triton provider"
    assert any(spec(body, "rollout", "analysis", "provider") == "prometheus" and spec(body, "traffic", "router") == "gatewayAPI"
               and spec(body, "traffic", "gatewayAPI", "parentRefs") for body in bodies), "a Gateway API canary judged by prometheus"


@pytest.fixture(scope="module")
def gateway_api_installed(cluster: LocalCluster, kube_client: client.ApiClient) -> None:
    """The standard-channel Gateway API CRDs from the sigs.k8s.io/gateway-api module (as test_gateway_api_routes)."""
    install_gateway_api_crds(cluster.kubeconfig, kube_client)


def contains(actual: Any, expected: Any) -> bool:
    """Whether `actual` has everything `expected` has (objects may hold more keys: defaults)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(key in actual and contains(actual[key], value) for key, value in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(contains, actual, expected))
    return bool(actual == expected)


def test_contains_compares_as_intended() -> None:
    assert contains({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 1}, "d": [1]})
    assert not contains({"a": {"b": 1}}, {"a": {"b": 2}})
    assert not contains({"a": [1, 2]}, {"a": [1]})
    assert not contains({}, {"a": None})


def argo_health(body: dict[str, Any]) -> dict[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(body, recursive=True)
    result = lua.execute(HEALTH_LUA.read_text())
    return {str(key): str(value) for key, value in result.items()}


@pytest.mark.parametrize("example", sorted(_examples()))
def test_example_is_accepted_and_reconciled(
    example: str, cluster: LocalCluster, kube_client: client.ApiClient, namespace: str, operator: OperatorProcess,
    gateway_api_installed: None,
) -> None:
    body = _examples()[example]
    name, spec = body["metadata"]["name"], body["spec"]
    output = kubectl(cluster.kubeconfig, "apply", "-n", namespace, "-f", str(EXAMPLES / example))
    assert output.strip() == f"modeldeployment.inference.tritonops.dev/{name} created"

    live = wait_phase(kube_client, namespace, name, "Ready", timeout=90)
    status = live["status"]
    assert status["stableRevision"]["version"] == spec["model"]["version"]
    assert status["readyReplicas"] == status["replicas"] >= 1
    assert argo_health(live) == {"status": "Healthy", "message": f"Ready: {status['message']}" if status.get("message") else "Ready"}

    # What the example asks of its pods is what the pods got.
    gpus = spec["server"]["gpu"]["count"]
    pods = pods_of(kube_client, namespace, name)
    assert pods and all(pod.status.phase == "Running" for pod in pods)
    for pod in pods:
        limits = pod.spec.containers[0].resources.limits or {}
        assert limits.get("nvidia.com/gpu") == (str(gpus) if gpus else None)
        node = client.CoreV1Api(kube_client).read_node(pod.spec.node_name)
        if spec["server"]["gpu"].get("products"):
            assert node.metadata.labels.get(nodes.PRODUCT_LABEL) in spec["server"]["gpu"]["products"]

    autoscaling = spec.get("autoscaling") or {}
    autoscalers = client.AutoscalingV2Api(kube_client).list_namespaced_horizontal_pod_autoscaler(namespace).items
    if autoscaling.get("enabled"):
        [hpa] = autoscalers
        target = hpa.spec.scale_target_ref
        assert (target.api_version, target.kind, target.name) == ("inference.tritonops.dev/v1alpha1", "ModelDeployment", name)
        assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (autoscaling["minReplicas"], autoscaling["maxReplicas"])
        # The example's metrics (the adapter's triton_queue_compute_ratio among them) reach the HPA as written.
        assert contains(kube_client.sanitize_for_serialization(hpa.spec.metrics), autoscaling["metrics"])
    else:
        assert autoscalers == []

    traffic = spec.get("traffic") or {}
    custom = client.CustomObjectsApi(kube_client)
    if traffic.get("router") == "gatewayAPI":
        stable = status["stableRevision"]["hash"]
        for plural, route_name in (("httproutes", f"{name}-http"), ("grpcroutes", f"{name}-grpc")):
            wait_until(lambda: bool(custom.list_namespaced_custom_object(*GATEWAY, namespace, plural)["items"]),
                       description=f"the {plural} of {name}", timeout_seconds=30)
            route = custom.get_namespaced_custom_object(*GATEWAY, namespace, plural, route_name)
            assert route["spec"]["parentRefs"] == traffic["gatewayAPI"]["parentRefs"]
            assert route["spec"]["hostnames"] == traffic["gatewayAPI"]["hostnames"]
            assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [(f"{name}-{stable}", 100)]
            assert route["metadata"]["ownerReferences"][0]["name"] == name
        client.CoreV1Api(kube_client).read_namespaced_service(f"{name}-{stable}", namespace)
    else:
        assert custom.list_namespaced_custom_object(*GATEWAY, namespace, "httproutes")["items"] == []

    if (spec.get("monitoring") or {}).get("serviceMonitor"):
        # This cluster has no prometheus-operator: the operator says so instead of failing.
        condition = next(c for c in status["conditions"] if c["type"] == "ServiceMonitor")
        assert (condition["status"], condition["reason"]) == ("False", "CRDNotInstalled")

    # Every setting is stored as written: the schema pruned no field of the example.
    assert contains(read(kube_client, namespace, name)["spec"], spec)

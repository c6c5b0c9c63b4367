"""The gatewayAPI router's routes are accepted by the real Gateway API CRDs (from the Go module)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.harness.resources import install_gateway_api_crds
from tests.harness.specs import model_deployment
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import wait_until
from tritonops.routers.gateway_api import build_routes


def test_routes_are_valid_gateway_api_objects(cluster: LocalCluster, kube_client: client.ApiClient, namespace: str) -> None:
    crds = install_gateway_api_crds(cluster.kubeconfig, kube_client)
    assert {path.name for path in crds} >= {"gateway.networking.k8s.io_httproutes.yaml", "gateway.networking.k8s.io_grpcroutes.yaml"}
    resource = model_deployment(
        {"traffic": {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference"}], "hostnames": ["models.example.com"]}}},
        namespace=namespace,
    )
    custom = client.CustomObjectsApi(kube_client)
    for route in build_routes(resource, stable="aaaa1111", canary="bbbb2222", weight=25):
        route["metadata"].pop("ownerReferences")  # the owner is not in this cluster; the schema is what is tested
        plural = {"HTTPRoute": "httproutes", "GRPCRoute": "grpcroutes"}[route["kind"]]

        def create(body: dict[str, Any] = route, plural: str = plural) -> bool:
            return bool(custom.create_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, plural, body))

        wait_until(create, description=f"the {route['kind']} to be accepted", timeout_seconds=30)
        stored = custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, plural, route["metadata"]["name"])
        assert [b["weight"] for b in stored["spec"]["rules"][0]["backendRefs"]] == [75, 25]

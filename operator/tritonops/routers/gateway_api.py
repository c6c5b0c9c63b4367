"""The gatewayAPI router: an HTTPRoute for port 8000 and a GRPCRoute for 8001 with exact weights. Pure.

Each revision gets a Service of its own to be a weighted backend, since a route splits traffic
between Services, not between the pods behind one.
"""

from __future__ import annotations

from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.resource import ModelDeployment
from tritonops.spec import thaw

GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"


def revision_service_name(resource: ModelDeployment, revision: str) -> str:
    return f"{resource.name}-{revision}"


def build_revision_service(resource: ModelDeployment, revision: str) -> dict[str, Any]:
    """A Service that selects only one revision's pods: a backend the routes can weigh."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": labels.child_metadata(resource, name=revision_service_name(resource, revision)),
        "spec": {
            "type": "ClusterIP",
            "selector": {**labels.selector_labels(resource), constants.LABEL_REVISION: revision},
            "ports": [
                {"name": "http", "port": constants.HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "grpc", "port": constants.GRPC_PORT, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
            ],
        },
    }


def _backends(resource: ModelDeployment, *, stable: str, canary: str | None, weight: int, port: int) -> list[dict[str, Any]]:
    backends = [{"name": revision_service_name(resource, stable), "port": port, "weight": 100 - (weight if canary else 0)}]
    if canary:
        backends.append({"name": revision_service_name(resource, canary), "port": port, "weight": weight})
    return backends


def _route(resource: ModelDeployment, *, kind: str, name: str, backends: list[dict[str, Any]]) -> dict[str, Any]:
    settings = resource.spec.traffic.gateway_api
    spec: dict[str, Any] = {"parentRefs": thaw(settings.parent_refs), "rules": [{"backendRefs": backends}]}
    if settings.hostnames:
        spec["hostnames"] = list(settings.hostnames)
    return {"apiVersion": GATEWAY_API_VERSION, "kind": kind, "metadata": labels.child_metadata(resource, name=name), "spec": spec}


def build_routes(resource: ModelDeployment, *, stable: str, canary: str | None, weight: int) -> list[dict[str, Any]]:
    """HTTPRoute (HTTP, port 8000) and GRPCRoute (gRPC, port 8001) splitting stable and canary by `weight`."""
    if not 0 <= weight <= 100:
        raise ValueError(f"a canary weight is a percentage, not {weight}")
    return [
        _route(resource, kind="HTTPRoute", name=f"{resource.name}-http",
               backends=_backends(resource, stable=stable, canary=canary, weight=weight, port=constants.HTTP_PORT)),
        _route(resource, kind="GRPCRoute", name=f"{resource.name}-grpc",
               backends=_backends(resource, stable=stable, canary=canary, weight=weight, port=constants.GRPC_PORT)),
    ]


class GatewayRouter:
    weighs_routes = True

    def manifests(self, resource: ModelDeployment, *, stable: str, canary: str | None, weight: int) -> list[dict[str, Any]]:
        """Each live revision's Service and the two routes that weigh them."""
        manifests = [build_revision_service(resource, stable)]
        if canary is not None:
            manifests.append(build_revision_service(resource, canary))
        manifests.extend(build_routes(resource, stable=stable, canary=canary, weight=weight if canary else 0))
        return manifests


ROUTER = GatewayRouter()

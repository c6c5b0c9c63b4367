"""The Service in front of every Triton pod of one ModelDeployment, whatever its revision."""

from __future__ import annotations

from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.resource import ModelDeployment
from tritonops.spec import thaw


def service_name(resource: ModelDeployment) -> str:
    return resource.name


def build_service(resource: ModelDeployment, *, only_revision: str | None = None) -> dict[str, Any]:
    """The Service; `only_revision` narrows it to one revision's pods (the stable's, while the canary's
    Ready pods wait for the golden gate: a Ready pod behind the Service would take user requests)."""
    settings = resource.spec.service
    metadata = labels.child_metadata(resource, name=service_name(resource))
    if settings.annotations:
        metadata["annotations"] = thaw(settings.annotations)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": settings.type,
            "selector": {**labels.selector_labels(resource), **({constants.LABEL_REVISION: only_revision} if only_revision else {})},
            "ports": [
                {"name": "http", "port": constants.HTTP_PORT, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
                {
                    "name": "grpc",
                    "port": constants.GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
                {"name": "metrics", "port": constants.METRICS_PORT, "targetPort": "metrics", "protocol": "TCP", "appProtocol": "http"},
            ],
        },
    }


def endpoints(resource: ModelDeployment) -> dict[str, str]:
    host = f"{service_name(resource)}.{resource.namespace}.svc"
    return {
        "http": f"{host}:{constants.HTTP_PORT}",
        "grpc": f"{host}:{constants.GRPC_PORT}",
        "metrics": f"{host}:{constants.METRICS_PORT}",
    }

"""The Service in front of every Triton pod of one ModelDeployment, whatever its revision."""

from __future__ import annotations

from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.resource import ModelDeployment
from tritonops.spec import thaw


def service_name(resource: ModelDeployment) -> str:
    return resource.name


def build_service(resource: ModelDeployment) -> dict[str, Any]:
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
            "selector": labels.selector_labels(resource),
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

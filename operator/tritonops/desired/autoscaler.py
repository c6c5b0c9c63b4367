"""The HorizontalPodAutoscaler that drives spec.replicas through the ModelDeployment's /scale."""

from __future__ import annotations

import copy
from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.resource import ModelDeployment
from tritonops.spec import thaw

DEFAULT_METRICS = [
    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
]


def autoscaler_name(resource: ModelDeployment) -> str:
    return resource.name


def build_autoscaler(resource: ModelDeployment) -> dict[str, Any] | None:
    """The HPA, or None when autoscaling is off (the caller then removes any existing one)."""
    settings = resource.spec.autoscaling
    if not settings.enabled:
        return None
    spec: dict[str, Any] = {
        # Targeting the ModelDeployment rather than a Deployment lets one HPA size stable and canary
        # together; the operator splits the total between revisions.
        "scaleTargetRef": {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "name": resource.name},
        "minReplicas": settings.min_replicas,
        "maxReplicas": settings.max_replicas,
        "metrics": thaw(settings.metrics) or copy.deepcopy(DEFAULT_METRICS),
    }
    if settings.behavior:
        spec["behavior"] = thaw(settings.behavior)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": labels.child_metadata(resource, name=autoscaler_name(resource)),
        "spec": spec,
    }

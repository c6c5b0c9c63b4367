"""The HorizontalPodAutoscaler that drives spec.replicas through the ModelDeployment's /scale."""

from __future__ import annotations

import copy
from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.resource import ModelDeployment

DEFAULT_METRICS = [
    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
]


def autoscaler_name(resource: ModelDeployment) -> str:
    return resource.name


def build_autoscaler(resource: ModelDeployment) -> dict[str, Any] | None:
    """The HPA, or None when autoscaling is off (the caller then removes any existing one)."""
    settings = resource.section("autoscaling")
    if not settings.get("enabled"):
        return None
    spec: dict[str, Any] = {
        # Targeting the ModelDeployment rather than a Deployment lets one HPA size stable and canary
        # together; the operator splits the total between revisions.
        "scaleTargetRef": {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "name": resource.name},
        "minReplicas": int(settings.get("minReplicas", 1)),
        "maxReplicas": int(settings.get("maxReplicas", 4)),
        "metrics": copy.deepcopy(list(settings.get("metrics") or DEFAULT_METRICS)),
    }
    if settings.get("behavior"):
        spec["behavior"] = copy.deepcopy(dict(settings["behavior"]))
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": labels.child_metadata(resource, name=autoscaler_name(resource)),
        "spec": spec,
    }

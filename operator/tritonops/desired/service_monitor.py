"""The prometheus-operator ServiceMonitor that scrapes every Triton pod's metrics port, when asked for."""

from __future__ import annotations

from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.resource import ModelDeployment

SERVICE_MONITOR_API_VERSION = "monitoring.coreos.com/v1"


def wants_service_monitor(resource: ModelDeployment) -> bool:
    return resource.spec.monitoring.service_monitor


def build_service_monitor(resource: ModelDeployment) -> dict[str, Any]:
    """Scrapes port `metrics` of the Service's pods and copies each pod's revision label onto its series.

    The prometheus provider tells revisions apart by that label (`inference_tritonops_dev_revision`).
    """
    return {
        "apiVersion": SERVICE_MONITOR_API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": labels.child_metadata(resource, name=resource.name),
        "spec": {
            "selector": {"matchLabels": labels.selector_labels(resource)},
            "namespaceSelector": {"matchNames": [resource.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
            "podTargetLabels": [constants.LABEL_REVISION],
        },
    }

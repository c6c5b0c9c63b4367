"""Read the apiserver's own request counters, to count writes without trusting the client."""

from __future__ import annotations

import re
from collections.abc import Iterable

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"})
# The kinds tritonops writes: every subresource of its own resource, the main object of its children.
OPERATOR_RESOURCES = ("modeldeployments",)
OPERATOR_CHILD_RESOURCES = ("deployments", "services", "horizontalpodautoscalers", "httproutes", "grpcroutes")


def count_writes(
    metrics_text: str,
    *,
    resources: Iterable[str] = OPERATOR_RESOURCES,
    main_object_resources: Iterable[str] = OPERATOR_CHILD_RESOURCES,
) -> int:
    """Sum apiserver_request_total over write verbs for the given resources.

    `resources` count with any subresource; `main_object_resources` only without one, because the
    controllers of the control plane write those kinds' status subresources on their own.
    """
    any_subresource, main_only = set(resources), set(main_object_resources)
    total = 0
    for line in metrics_text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if labels.get("verb") not in WRITE_VERBS:
            continue
        resource = labels.get("resource")
        if resource in any_subresource or (resource in main_only and not labels.get("subresource")):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total

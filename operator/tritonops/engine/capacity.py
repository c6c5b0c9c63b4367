"""Can the cluster hold a canary's GPU pods right now? Pure, from nodes and the pods placed on them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tritonops import constants
from tritonops.spec import ServerSpec

_LISTED_NODES = 6


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _tolerated(taint: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]]) -> bool:
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", taint.get("key")):
            return True
        if toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def shortfall(
    *,
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    server: ServerSpec,
    pods_needed: int,
) -> str | None:
    """A message naming the shortfall, or None when `pods_needed` pods of this server spec fit.

    Counts allocatable GPUs of the required resource on nodes whose product, nodeSelector and taints
    admit the pod, minus what running and pending pods already request there. Nothing is evicted to
    make room, so a full cluster waits.
    """
    per_pod = server.gpu.count
    if per_pod <= 0 or pods_needed <= 0:
        return None
    resource_name = server.gpu.resource_name
    products = list(server.gpu.products or ())
    selector = server.node_selector
    tolerations = [*server.tolerations, {"key": constants.GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    requested: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            requests = (container.get("resources") or {}).get("requests") or {}
            requested[node] = requested.get(node, 0) + _quantity(requests.get(resource_name, 0))
    free: dict[str, tuple[int, int]] = {}
    for node in nodes:
        metadata, spec = node.get("metadata") or {}, node.get("spec") or {}
        labels = metadata.get("labels") or {}
        if spec.get("unschedulable") or any(labels.get(k) != v for k, v in selector.items()):
            continue
        if products and labels.get(constants.GPU_PRODUCT_LABEL) not in products:
            continue
        if not all(_tolerated(taint, tolerations) for taint in spec.get("taints") or []):
            continue
        allocatable = _quantity(((node.get("status") or {}).get("allocatable") or {}).get(resource_name, 0))
        if allocatable:
            free[str(metadata.get("name"))] = (max(0, allocatable - requested.get(str(metadata.get("name")), 0)), allocatable)
    fits = sum(available // per_pod for available, _ in free.values())
    if fits >= pods_needed:
        return None
    product_text = f" of product {' or '.join(products)}" if products else ""
    listed = ", ".join(f"{name} {available}/{total}" for name, (available, total) in sorted(free.items())[:_LISTED_NODES])
    return (
        f"the canary needs {pods_needed} pod(s) with {per_pod} {resource_name}{product_text} each, but the cluster has room for {fits}"
        f" (free {resource_name} per matching node: {listed or 'no matching node'}); nothing is evicted to make room"
    )

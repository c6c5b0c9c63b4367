"""How many more of a revision's GPU pods the cluster holds right now. Pure, from nodes and the pods bound to them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tritonops import constants
from tritonops.engine.observations import Room
from tritonops.spec import ServerSpec

_LISTED_NODES = 6
# Pods that need no GPU are never held back by GPUs.
_UNLIMITED = 1_000_000


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


def room(
    *,
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    server: ServerSpec,
    releasing: Callable[[Mapping[str, Any]], bool] = lambda pod: False,
    placing: Callable[[Mapping[str, Any]], bool] = lambda pod: False,
) -> Room:
    """How many more pods of this server spec the cluster's free GPUs hold right now.

    Counts allocatable GPUs of the required resource on nodes whose product, nodeSelector and taints
    admit the pod, minus what bound pods request there; a pod being deleted still holds its GPUs
    until it is gone. Nothing is evicted to make room. `releasing` picks the pods (the stable
    revision's) whose GPUs a swap could free, for `Room.pods_if_released`; `placing` picks the pods
    (the canary's) counted in `Room.unplaced` when they have no node yet.
    """
    per_pod = server.gpu.count
    if per_pod <= 0:
        return Room(pods=_UNLIMITED, pods_if_released=_UNLIMITED, detail="no GPUs requested")
    resource_name = server.gpu.resource_name
    products = list(server.gpu.products or ())
    selector = server.node_selector
    tolerations = [*server.tolerations, {"key": constants.GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    requested: dict[str, int] = {}
    released: dict[str, int] = {}
    releasing_pods = 0
    unplaced = sum(1 for pod in pods if placing(pod) and not (pod.get("spec") or {}).get("nodeName"))
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        releasing_pods += 1 if releasing(pod) else 0
        for container in (pod.get("spec") or {}).get("containers") or []:
            requests = (container.get("resources") or {}).get("requests") or {}
            requested[node] = requested.get(node, 0) + _quantity(requests.get(resource_name, 0))
            if releasing(pod):
                released[node] = released.get(node, 0) + _quantity(requests.get(resource_name, 0))
    free: dict[str, tuple[int, int]] = {}
    freed: dict[str, int] = {}
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
            name = str(metadata.get("name"))
            free[name] = (max(0, allocatable - requested.get(name, 0)), allocatable)
            freed[name] = max(0, allocatable - requested.get(name, 0) + released.get(name, 0))
    fits = sum(available // per_pod for available, _ in free.values())
    product_text = f" of product {' or '.join(products)}" if products else ""
    listed = ", ".join(f"{name} {available}/{total}" for name, (available, total) in sorted(free.items())[:_LISTED_NODES])
    return Room(
        pods=fits,
        pods_if_released=sum(available // per_pod for available in freed.values()),
        unplaced=unplaced,
        releasing_pods=releasing_pods,
        detail=f"{per_pod} {resource_name}{product_text} per pod; free {resource_name} per matching node: {listed or 'no matching node'}",
    )

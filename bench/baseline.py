"""The baseline `make bench-scale` divides by: a plain client that creates the same children itself.

Each object's children are exactly what the operator's first pass applies (the pure planner's output for
a new object), created with the same client library at the operator's own concurrency, without owner
references (there is no owner: the garbage collector would delete them). The time until every
Deployment has a Ready pod is what the control plane needs for that work, whatever the machine: the
ratio of the operator's convergence to it is the operator's own overhead.
"""

from __future__ import annotations

import concurrent.futures
import copy
import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes import client

from tritonops.engine import reconcile
from tritonops.engine.observations import Observations
from tritonops.resource import ModelDeployment

Manifest = Mapping[str, Any]


def children_of(defaulted_body: Mapping[str, Any], *, name: str, namespace: str) -> list[dict[str, Any]]:
    """The children the operator's first pass writes for an object `name` of this defaulted body, unowned."""
    body = copy.deepcopy(dict(defaulted_body))
    body["metadata"] = {**body.get("metadata", {}), "name": name, "namespace": namespace, "uid": "", "generation": 1}
    body.pop("status", None)
    resource = ModelDeployment.from_body(body)
    plan = reconcile.plan(resource, Observations(), now=datetime.datetime.now(datetime.timezone.utc))
    children = []
    for manifest in plan.apply:
        child = copy.deepcopy(dict(manifest))
        child["metadata"] = {key: value for key, value in child["metadata"].items() if key != "ownerReferences"}
        children.append(child)
    return children


def _creator(api_client: client.ApiClient, kind: str) -> Callable[[str, Manifest], Any]:
    creators: dict[str, Callable[[str, Manifest], Any]] = {
        "Service": client.CoreV1Api(api_client).create_namespaced_service,
        "Deployment": client.AppsV1Api(api_client).create_namespaced_deployment,
        "HorizontalPodAutoscaler": client.AutoscalingV2Api(api_client).create_namespaced_horizontal_pod_autoscaler,
    }
    if kind not in creators:
        raise ValueError(f"the baseline cannot create a {kind}")
    return creators[kind]


def create_all(api_client: client.ApiClient, *, objects: Sequence[Sequence[Manifest]], concurrency: int) -> int:
    """Create every object's children, each in its own namespace, one object per task; returns the number of API writes."""

    def create(children: Sequence[Manifest]) -> int:
        for child in children:
            _creator(api_client, str(child["kind"]))(str(child["metadata"]["namespace"]), child)
        return len(children)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        return sum(pool.map(create, objects))


def wait_for_pods_gone(api_client: client.ApiClient, *, namespace: str, timeout_seconds: float) -> float:
    """After the namespace is deleted: wait until none of its pods is left, so the next phase starts clean."""
    core = client.CoreV1Api(api_client)
    started = time.monotonic()
    while time.monotonic() - started < timeout_seconds:
        try:
            core.read_namespace(namespace)
        except client.ApiException as error:
            if error.status == 404:
                return time.monotonic() - started
            raise
        time.sleep(2)
    raise TimeoutError(f"namespace {namespace} still exists after {timeout_seconds:.0f}s")

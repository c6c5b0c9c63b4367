"""Watching a rollout's serving capacity: the Ready pods per revision, the phase and the route weight,
sampled in a bounded loop; and the GPUs that pods hold on the real nodes."""

from __future__ import annotations

import dataclasses
import threading
import time

from kubernetes import client

from tests.harness.resources import read
from tritonops import constants
from tritonops.devcluster import nodes

SAMPLE_SECONDS = 0.25


@dataclasses.dataclass(frozen=True)
class Sample:
    at: float
    ready: dict[str, int]  # Ready pods serving, by revision hash
    phase: str
    # The canary backend's weight in the HTTPRoute and the canary's revision, when there is a route.
    route_weight: int | None = None
    route_canary: str | None = None
    # status.canaryWeight: the share of Ready pods the canary serves.
    canary_weight: int = 0
    message: str = ""


class Sampler:
    """Reads the object, its pods and its HTTPRoute in a loop, bounded in time and count."""

    def __init__(self, kube_client: client.ApiClient, namespace: str, name: str, *, routes: bool = False, max_seconds: float = 420) -> None:
        self.core = client.CoreV1Api(kube_client)
        self.custom = client.CustomObjectsApi(kube_client)
        self.kube_client, self.namespace, self.name, self.routes = kube_client, namespace, name, routes
        self.max_seconds = max_seconds
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _route(self) -> tuple[int | None, str | None]:
        try:
            route = self.custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", self.namespace, "httproutes", f"{self.name}-http")
        except client.ApiException:
            return None, None
        backends = route["spec"]["rules"][0]["backendRefs"]
        if len(backends) < 2:
            return 0, None
        return int(backends[1]["weight"]), str(backends[1]["name"]).removeprefix(f"{self.name}-")

    def _ready(self) -> dict[str, int]:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"{constants.LABEL_MODEL_DEPLOYMENT}={self.name}").items
        ready: dict[str, int] = {}
        for pod in pods:
            serving = pod.metadata.deletion_timestamp is None and any(
                condition.type == "Ready" and condition.status == "True" for condition in pod.status.conditions or []
            )
            if serving:
                revision = pod.metadata.labels[constants.LABEL_REVISION]
                ready[revision] = ready.get(revision, 0) + 1
        return ready

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
            # The route first: a canary pod that turns Ready after it only raises the share it is judged by.
            weight, canary = self._route() if self.routes else (None, None)
            ready = self._ready()
            status = read(self.kube_client, self.namespace, self.name).get("status") or {}
            self.samples.append(Sample(at=time.monotonic(), ready=ready, phase=str(status.get("phase")), route_weight=weight,
                                       route_canary=canary, canary_weight=int(status.get("canaryWeight") or 0),
                                       message=str(status.get("message") or "")))
            self._stop.wait(SAMPLE_SECONDS)


def gpus_in_use_on_real_nodes(kube_client: client.ApiClient) -> int:
    names = {node.name for node in nodes.REAL_NODES}
    used = 0
    for pod in client.CoreV1Api(kube_client).list_pod_for_all_namespaces().items:
        if pod.spec.node_name in names and pod.status.phase not in ("Succeeded", "Failed"):
            for container in pod.spec.containers:
                used += int(((container.resources.requests or {}) if container.resources else {}).get("nvidia.com/gpu", 0))
    return used

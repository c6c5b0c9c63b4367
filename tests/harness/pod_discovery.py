"""Prometheus target discovery for Triton pods, as a PodMonitor would do it: a file_sd file kept current.

Each Ready pod of a ModelDeployment becomes a target at its pod IP's metrics port, labelled with its
revision under the name that a ServiceMonitor's podTargetLabels gives it, its pod and its namespace (as a
PodMonitor labels them). Loopback IPs only.
"""

from __future__ import annotations

import ipaddress
import json
import pathlib
import threading
import time

from kubernetes import client

from tritonops import constants
from tritonops.providers.prometheus import REVISION_LABEL


class PodDiscovery:
    def __init__(self, api_client: client.ApiClient, namespace: str, name: str, *, path: pathlib.Path, max_seconds: float = 600.0) -> None:
        self.core = client.CoreV1Api(api_client)
        self.namespace, self.name, self.path, self.max_seconds = namespace, name, path, max_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-discovery", daemon=True)
        self.path.write_text("[]")

    def write_once(self) -> None:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"{constants.LABEL_MODEL_DEPLOYMENT}={self.name}").items
        groups = []
        for pod in pods:
            address = pod.status.pod_ip
            ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
            if not address or not ready or not ipaddress.ip_address(address).is_loopback:
                continue
            labels = {REVISION_LABEL: pod.metadata.labels.get(constants.LABEL_REVISION, ""), "pod": pod.metadata.name, "namespace": self.namespace}
            groups.append({"targets": [f"{address}:{constants.METRICS_PORT}"], "labels": labels})
        staging = self.path.with_name(f".{self.path.name}.tmp")
        staging.write_text(json.dumps(groups))
        staging.replace(self.path)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self.write_once()
            except client.ApiException:
                pass
            self._stop.wait(0.5)

    def __enter__(self) -> PodDiscovery:
        self._thread.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self._stop.set()
        self._thread.join(5)

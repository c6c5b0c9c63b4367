"""bench-scale's watched counts against the real API server: a count follows creates, updates and deletes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client

from bench.watched_count import WatchedCount
from tritonops.devcluster.processes import wait_until


def _ready(config_map: Mapping[str, Any]) -> bool:
    return (config_map.get("data") or {}).get("ready") == "yes"


def test_a_watched_count_follows_creates_updates_and_deletes(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    # One object exists before the watch starts: the first list counts it.
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}, "data": {"ready": "yes"}})
    count = WatchedCount(api_client=kube_client, path=f"/api/v1/namespaces/{namespace}/configmaps", predicate=_ready, timeout_seconds=60)
    count.start()
    try:
        wait_until(lambda: count() == 1, description="the listed object counted", timeout_seconds=20)
        for index in range(3):
            core.create_namespaced_config_map(namespace, {"metadata": {"name": f"model-{index}"}, "data": {"ready": "no"}})
        core.patch_namespaced_config_map("model-0", namespace, {"data": {"ready": "yes"}})
        core.patch_namespaced_config_map("model-1", namespace, {"data": {"ready": "yes"}})
        wait_until(lambda: count() == 3, description="two updated objects counted", timeout_seconds=20)
        core.patch_namespaced_config_map("model-1", namespace, {"data": {"ready": "no"}})
        core.delete_namespaced_config_map("before", namespace)
        wait_until(lambda: count() == 1, description="an object no longer ready and a deleted one uncounted", timeout_seconds=20)
    finally:
        count.stop()
    assert count.errors == [] and count.watches == 1

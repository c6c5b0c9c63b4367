from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tritonops import kube
from tritonops.kube import KubernetesWriter, manifest_hash, object_path, with_applied_hash


class PagedLists(KubernetesWriter):
    """A writer whose API server answers lists in pages of what `items` holds (pure: no server)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.queries: list[dict[str, str]] = []

    def _request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None,
                 content_type: str = "application/json") -> dict[str, Any]:
        query = dict(query or {})
        self.queries.append(query)
        start, size = int(query.get("continue") or 0), int(query["limit"])
        rest = self.items[start + size:]
        return {"items": self.items[start:start + size], "metadata": {"continue": str(start + size) if rest else ""}}


def test_object_paths() -> None:
    assert object_path(api_version="v1", kind="Service", namespace="n", name="s") == "/api/v1/namespaces/n/services/s"
    assert object_path(api_version="apps/v1", kind="Deployment", namespace="n") == "/apis/apps/v1/namespaces/n/deployments"
    assert (
        object_path(api_version="inference.tritonops.dev/v1alpha1", kind="ModelDeployment", namespace="n", name="m")
        == "/apis/inference.tritonops.dev/v1alpha1/namespaces/n/modeldeployments/m"
    )


def test_applied_hash_annotation_records_the_manifest_without_itself() -> None:
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}, "spec": {"type": "ClusterIP"}}
    annotated = with_applied_hash(manifest)
    assert annotated["metadata"]["annotations"]["inference.tritonops.dev/applied-hash"] == manifest_hash(manifest)
    assert "annotations" not in manifest["metadata"], "the input is not modified"
    changed = {**manifest, "spec": {"type": "NodePort"}}
    assert manifest_hash(changed) != manifest_hash(manifest)


def test_lists_are_read_in_bounded_pages_with_the_continue_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube, "LIST_PAGE_SIZE", 2)
    writer = PagedLists([{"metadata": {"name": f"pod-{index}"}} for index in range(5)])
    pods = writer.list_all("/api/v1/pods", query={"fieldSelector": "status.phase!=Failed"})
    assert [pod["metadata"]["name"] for pod in pods] == [f"pod-{index}" for index in range(5)]
    assert [query.get("continue") for query in writer.queries] == [None, "2", "4"]
    assert all(query["limit"] == "2" and query["fieldSelector"] == "status.phase!=Failed" for query in writer.queries)
    # A list larger than the page bound is refused, never read without end.
    monkeypatch.setattr(kube, "LIST_PAGE_LIMIT", 2)
    with pytest.raises(RuntimeError, match="more than 4 items"):
        PagedLists([{}] * 5).list_all("/api/v1/pods")

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tritonops import kube
from tritonops.engine.actions import Event
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


class RecordingRequests(KubernetesWriter):
    """A writer that records each request's body and content type instead of sending it (pure: no server)."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, str]] = []

    def _request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None,
                 content_type: str = "application/json") -> dict[str, Any]:
        self.sent.append((body, content_type))
        return {}


# Found by tests/integration/test_spec_fuzz.py: an env value with an emoji (json.dumps wrote it as the surrogate
# pair \ud83d\ude00) or a C1 control character made every apply of the Deployment a 400 from the API server,
# "error decoding YAML: ... found invalid Unicode character escape code", although the CRD had accepted it.
@pytest.mark.parametrize("value", ["\U0001F600 smile", "w\x12\x91D\xd3\x9c\x12~", "line\u2028separator\x85", "\ufeffbom", "\\ud83d literal", "plain"])
def test_an_apply_body_is_yaml_the_api_server_reads_as_the_manifest(value: str) -> None:
    import yaml

    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
                "spec": {"template": {"spec": {"containers": [{"name": "triton", "env": [{"name": "A", "value": value}]}]}}}}
    writer = RecordingRequests()
    writer.apply(manifest, live_hash=None)
    [(body, content_type)] = writer.sent
    assert content_type == "application/apply-patch+yaml" and isinstance(body, bytes)
    text = body.decode()
    # YAML's printable set: a raw character outside it, or an escaped surrogate, is refused by the API server.
    assert all(c in "\t\n\r" or "\x20" <= c <= "\x7e" or "\xa0" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c >= "\U00010000"
               for c in text) and "\u2028" not in text and "\ufeff" not in text, text
    assert re.search(r"(?<!\\)(\\\\)*\\u[dD][89a-fA-F]", text) is None, text
    assert yaml.safe_load(text) == with_applied_hash(manifest)


class EventRequests(KubernetesWriter):
    """A writer whose API server keeps posted events, patches them, and can expire them (pure: no server)."""

    def __init__(self) -> None:
        super().__init__(api_client=None)  # type: ignore[arg-type]
        self.events: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []

    def _request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None,
                 content_type: str = "application/json") -> dict[str, Any]:
        self.requests.append(method)
        if method == "POST":
            if body["metadata"]["name"] in self.events:
                raise ApiException(status=409, reason="Conflict")
            self.events[body["metadata"]["name"]] = dict(body)
            return body
        name = path.rsplit("/", 1)[1]
        if name not in self.events:
            raise ApiException(status=404, reason="Not Found")
        self.events[name].update(body)
        return self.events[name]


def test_a_repeated_event_is_one_object_with_a_count_and_an_expired_one_is_posted_again() -> None:
    writer = EventRequests()
    target = SimpleNamespace(name="resnet", namespace="vision", uid="u1", status={})
    now = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)
    for second in range(3):
        writer.emit_event(target, Event("Warning", "InsufficientGPU", "needs 1 more GPU"), now=now + datetime.timedelta(seconds=second))  # type: ignore[arg-type]
    [event] = writer.events.values()
    assert event["count"] == 3 and event["firstTimestamp"] == "2026-12-02T12:00:00Z" and event["lastTimestamp"] == "2026-12-02T12:00:02Z"
    assert writer.requests == ["POST", "PATCH", "PATCH"]
    writer.emit_event(target, Event("Normal", "Promoted", "promoted"), now=now)  # type: ignore[arg-type]
    assert len(writer.events) == 2
    writer.events.clear()  # the API server's event TTL
    writer.emit_event(target, Event("Warning", "InsufficientGPU", "needs 1 more GPU"), now=now + datetime.timedelta(seconds=5))  # type: ignore[arg-type]
    [again] = writer.events.values()
    assert again["count"] == 1


def test_a_transitions_event_is_posted_once_however_often_a_pass_is_retried_and_another_transition_is_its_own() -> None:
    writer = EventRequests()
    target = SimpleNamespace(name="resnet", namespace="vision", uid="u1", status={})
    now = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)
    for second in range(2):
        writer.emit_transition(target, Event("Normal", "Promoted", f"promoted ({second})", key="5f2c/none@"), now=now + datetime.timedelta(seconds=second))  # type: ignore[arg-type]
    [event] = writer.events.values()
    assert event["message"] == "promoted (0)" and event["count"] == 1 and writer.requests == ["POST", "POST"]
    writer.emit_transition(target, Event("Normal", "Promoted", "promoted again", key="5f2c/5f2c@2026-12-02T12:00:00Z"), now=now)  # type: ignore[arg-type]
    other = SimpleNamespace(name="resnet", namespace="vision", uid="u2", status={})  # a new object of the same name
    writer.emit_transition(other, Event("Normal", "Promoted", "promoted", key="5f2c/none@"), now=now)  # type: ignore[arg-type]
    assert len(writer.events) == 3

"""The controller's bookkeeping, with a recording writer standing in for the API (pure logic only)."""

from __future__ import annotations

import datetime
from typing import Any

from tests.harness.specs import model_deployment_body
from tritonops.controller import ChildState, Controller
from tritonops.kube import manifest_hash

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.timezone.utc)


class RecordingWriter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.version = 100

    def apply(self, manifest: dict[str, Any], *, live_hash: str | None) -> bool:
        if live_hash == manifest_hash(manifest):
            return False
        self.calls.append(("apply", manifest["kind"]))
        return True

    def scale(self, *, namespace: str, action: Any) -> None:
        self.calls.append(("scale", action))

    def delete(self, *, namespace: str, reference: Any) -> None:
        self.calls.append(("delete", reference))

    def patch_status(self, resource: Any, status: Any) -> dict[str, Any] | None:
        if dict(status) == dict(resource.status):
            return None
        self.version += 1
        self.calls.append(("status", status["phase"]))
        return {"metadata": {"resourceVersion": str(self.version)}}

    def emit_event(self, resource: Any, event: Any, *, now: datetime.datetime) -> None:
        self.calls.append(("event", event.reason))


def _body(resource_version: str = "50", status: dict[str, Any] | None = None) -> dict[str, Any]:
    body = model_deployment_body(status=status)
    body["metadata"]["resourceVersion"] = resource_version
    return body


def test_first_pass_writes_children_status_and_one_event() -> None:
    writer = RecordingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    controller.reconcile(_body(), ChildState())
    assert writer.calls == [("apply", "Service"), ("apply", "Deployment"), ("status", "Progressing"), ("event", "Deployed")]


def test_a_stale_watch_body_causes_no_second_write() -> None:
    writer = RecordingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    controller.reconcile(_body(), ChildState())
    writer.calls.clear()
    # The same event again (the watch has not delivered our own writes yet): nothing to write.
    controller.reconcile(_body(), ChildState())
    assert writer.calls == []


def test_own_status_echo_is_recognised() -> None:
    writer = RecordingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    plan = controller.reconcile(_body(), ChildState())
    assert plan is not None
    echo = _body(resource_version="101", status=dict(plan.status))
    assert controller.is_own_echo(echo)
    edited = {**echo, "metadata": {**echo["metadata"], "generation": 2}}
    assert not controller.is_own_echo(edited)


def test_child_changes_are_detected_and_deletions_reset_them() -> None:
    controller = Controller(RecordingWriter(), clock=lambda: NOW)  # type: ignore[arg-type]
    key = ("vision", "resnet")
    assert controller.child_changed(key, kind="Deployment", name="d", summary={"readyReplicas": 0})
    assert not controller.child_changed(key, kind="Deployment", name="d", summary={"readyReplicas": 0})
    assert controller.child_changed(key, kind="Deployment", name="d", summary={"readyReplicas": 1})
    controller.child_deleted(key, kind="Deployment", name="d")
    assert controller.child_changed(key, kind="Deployment", name="d", summary={"readyReplicas": 1})

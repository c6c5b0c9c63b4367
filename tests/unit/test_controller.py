"""The controller's bookkeeping, with a recording writer standing in for the API (pure logic only)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from prometheus_client import REGISTRY
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tests.harness.specs import model_deployment, model_deployment_body
from tritonops.controller import ChildState, Controller
from tritonops.engine import reconcile
from tritonops.errors import InvalidSpecError
from tritonops.kube import manifest_hash

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.timezone.utc)


class RecordingWriter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.version = 100
        self.statuses: list[dict[str, Any]] = []
        self.events: list[Any] = []

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
        self.statuses.append(dict(status))
        return {"metadata": {"resourceVersion": str(self.version)}}

    def emit_event(self, resource: Any, event: Any, *, now: datetime.datetime) -> None:
        self.calls.append(("event", event.reason))
        self.events.append(event)


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
    plan = controller.reconcile(_body(), ChildState()).plan
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


REFUSED = 'Deployment.apps "resnet-5f2c9a1e" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "16Gi": must be less than or equal to memory limit of 8Gi'


def _errors() -> float:
    return REGISTRY.get_sample_value("tritonops_reconcile_total", {"result": "error"}) or 0.0


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(condition for condition in status["conditions"] if condition["type"] == type_)


class RefusingWriter(RecordingWriter):
    """The API server refuses the Deployment (a 422 with its Status body), as it does requests above limits."""

    def apply(self, manifest: dict[str, Any], *, live_hash: str | None) -> bool:
        if manifest["kind"] == "Deployment":
            body = json.dumps({"kind": "Status", "status": "Failure", "message": REFUSED, "reason": "Invalid", "code": 422})
            raise ApiException(status=422, reason="Unprocessable Entity", body=body)
        return super().apply(manifest, live_hash=live_hash)


class UnreachableWriter(RecordingWriter):
    """Every request fails as urllib3 fails when the API server is down: status writes and events too."""

    def _down(self) -> MaxRetryError:
        return MaxRetryError(None, "/apis", NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused"))  # type: ignore[arg-type]

    def apply(self, manifest: dict[str, Any], *, live_hash: str | None) -> bool:
        raise self._down()

    def patch_status(self, resource: Any, status: Any) -> dict[str, Any] | None:
        raise self._down()

    def emit_event(self, resource: Any, event: Any, *, now: datetime.datetime) -> None:
        raise self._down()


def test_every_failure_is_counted_not_only_api_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _errors()
    result = Controller(UnreachableWriter(), clock=lambda: NOW).reconcile(_body(), ChildState())  # type: ignore[arg-type]
    assert result.retry and result.failure is not None and "Connection refused" in result.failure.message
    assert _errors() == before + 1

    def crash(*_: Any, **__: Any) -> Any:
        raise TypeError("int() argument must be a string, not 'dict'")

    monkeypatch.setattr(reconcile, "build_deployment", crash)
    result = Controller(RecordingWriter(), clock=lambda: NOW).reconcile(_body(), ChildState())  # type: ignore[arg-type]
    assert result.retry and result.plan is None
    assert _errors() == before + 2


def test_a_refused_child_shows_the_api_servers_message_in_the_event_and_condition() -> None:
    writer = RefusingWriter()
    result = Controller(writer, clock=lambda: NOW).reconcile(_body(), ChildState())  # type: ignore[arg-type]
    [event] = writer.events
    assert (event.type, event.reason) == ("Warning", "ReconcileFailed") and REFUSED in event.message and "422" in event.message
    assert result.retry
    [status] = writer.statuses
    reconciled = _condition(status, "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("False", "ReconcileFailed") and REFUSED in reconciled["message"]
    # Nothing of this generation was carried out: observedGeneration stays behind, so Argo CD keeps waiting.
    assert "observedGeneration" not in status and status["phase"] == "Pending"


def test_a_repeated_failure_writes_nothing_more_and_a_success_clears_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = RefusingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    controller.reconcile(_body(), ChildState())
    failed = writer.statuses[-1]
    # The watch delivers the failure status we wrote: our own echo, not a reason to try again at once.
    assert controller.is_own_echo(_body(resource_version="101", status=failed))
    writer.calls.clear()
    assert controller.reconcile(_body(resource_version="101", status=failed), ChildState()).retry
    assert writer.calls == [], "the same failure again (a retry): no status write, no second event"

    healthy = RecordingWriter()
    controller.writer = healthy  # type: ignore[assignment]
    result = controller.reconcile(_body(resource_version="101", status=failed), ChildState())
    assert not result.retry and result.failure is None and result.plan is not None
    reconciled = _condition(result.plan.status, "Reconciled")
    assert (reconciled["status"], reconciled["reason"]) == ("True", "ReconcileSucceeded")
    healthy.calls.clear()
    controller.reconcile(_body(resource_version="200", status=dict(result.plan.status)), ChildState(
        deployments=[], services=[{"name": "resnet", "appliedHash": None}]))
    assert [call for call in healthy.calls if call[0] == "status"] == [], "converged: the condition costs no write"


def test_an_object_that_never_failed_carries_no_reconciled_condition() -> None:
    writer = RecordingWriter()
    plan = Controller(writer, clock=lambda: NOW).reconcile(_body(), ChildState()).plan  # type: ignore[arg-type]
    assert plan is not None and all(condition["type"] != "Reconciled" for condition in plan.status["conditions"])


def _invalid(*_: Any, **__: Any) -> Any:
    raise InvalidSpecError(field="spec.server.affinity", message="nodeSelectorTerms[0] must be an object, not a string")


@pytest.mark.parametrize("where", ["builder", "from_body"])
def test_an_invalid_spec_is_reported_for_its_generation_and_not_retried(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    body = _body()
    if where == "builder":
        monkeypatch.setattr(reconcile, "build_deployment", _invalid)
    else:
        monkeypatch.setattr("tritonops.controller.ModelDeployment.from_body", _invalid)
    writer = RecordingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    before = _errors()
    result = controller.reconcile(body, ChildState())
    assert _errors() == before + 1
    assert result.failure is not None and result.failure.reason == "InvalidSpec"
    assert not result.retry, "only a new spec can fix it, and a new spec is a new event"
    assert writer.calls == [("status", "Failed"), ("event", "InvalidSpec")], "no child is written from an invalid spec"
    [status] = writer.statuses
    assert status["observedGeneration"] == 1 and status["phase"] == "Failed"
    ready = _condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec") and "spec.server.affinity" in ready["message"]
    assert _condition(status, "Progressing")["status"] == "False"
    [event] = writer.events
    assert event.type == "Warning" and "spec.server.affinity" in event.message and "nodeSelectorTerms[0]" in event.message

    writer.calls.clear()
    resynced = controller.reconcile({**body, "metadata": {**body["metadata"], "resourceVersion": "101"}, "status": status}, ChildState())
    assert writer.calls == [] and not resynced.retry, "a resync of the unchanged invalid object makes zero writes"


def test_an_outage_that_fails_the_status_write_too_does_not_crash_and_is_retried() -> None:
    result = Controller(UnreachableWriter(), clock=lambda: NOW).reconcile(_body(), ChildState())  # type: ignore[arg-type]
    assert result.retry and result.failure is not None and result.failure.reason == "ReconcileFailed"


def test_an_invalid_spec_that_could_not_be_reported_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile, "build_deployment", _invalid)
    result = Controller(UnreachableWriter(), clock=lambda: NOW).reconcile(_body(), ChildState())  # type: ignore[arg-type]
    assert result.failure is not None and result.failure.reason == "InvalidSpec" and result.retry


def test_analysis_values_of_both_revisions_reach_the_metric() -> None:
    from tritonops.engine.analysis import Check, Reading, Verdict

    resource = model_deployment(name="both-values", namespace="ns")
    verdict = Verdict("Passed", (Check("successRate", "canary", 0.97, ">= 0.95", True),), "every check passed", {},
                      (Reading("successRate", "stable", 0.999),))
    Controller._record_analysis(resource, verdict)

    def value(revision: str) -> float | None:
        labels = {"namespace": "ns", "name": "both-values", "check": "successRate", "revision": revision}
        return REGISTRY.get_sample_value("tritonops_analysis_value", labels)

    assert (value("canary"), value("stable")) == (0.97, 0.999)

"""The controller's bookkeeping, with a recording writer standing in for the API (pure logic only)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from prometheus_client import REGISTRY
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tests.harness.specs import model_deployment, model_deployment_body
from tritonops.controller import ChildState, Controller
from tritonops.engine import reconcile
from tritonops.engine.observations import DeploymentObservation, Observations
from tritonops.errors import InvalidSpecError
from tritonops.kube import KubernetesWriter, manifest_hash

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

    def emit_transition(self, resource: Any, event: Any, *, now: datetime.datetime) -> None:
        self.emit_event(resource, event, now=now)


def _body(resource_version: str = "50", status: dict[str, Any] | None = None) -> dict[str, Any]:
    body = model_deployment_body(status=status)
    body["metadata"]["resourceVersion"] = resource_version
    return body


def test_first_pass_writes_children_status_and_one_event() -> None:
    writer = RecordingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    controller.reconcile(_body(), ChildState())
    # The Deployed event records a transition: it goes out before the status that records it.
    assert writer.calls == [("apply", "Service"), ("apply", "Deployment"), ("event", "Deployed"), ("status", "Progressing")]


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


def test_a_refused_child_is_reported_for_its_generation_with_the_api_servers_message_and_retried() -> None:
    writer = RefusingWriter()
    result = Controller(writer, clock=lambda: NOW).reconcile(_body(), ChildState())  # type: ignore[arg-type]
    [event] = writer.events
    assert (event.type, event.reason) == ("Warning", "ChildRejected") and REFUSED in event.message and "422" in event.message
    assert event.message.startswith("Deployment resnet-")
    # The cluster may change (a policy, a LimitRange): retried with backoff, though reported as final.
    assert result.retry
    [status] = writer.statuses
    for type_ in ("Reconciled", "Ready", "Progressing"):
        condition = _condition(status, type_)
        assert (condition["status"], condition["reason"]) == ("False", "ChildRejected") and REFUSED in condition["message"]
    # The cluster cannot carry out this generation as it stands: said for it, so Argo CD shows Degraded, not Progressing.
    assert status["observedGeneration"] == 1 and status["phase"] == "Failed"


class UnservedRouteWriter(RecordingWriter):
    """A cluster without the Gateway API: the API server's mux answers a bare 404 for an unknown kind."""

    def apply(self, manifest: dict[str, Any], *, live_hash: str | None) -> bool:
        if manifest["kind"] in ("HTTPRoute", "GRPCRoute"):
            raise ApiException(status=404, reason="Not Found", body="404 page not found\n")
        return super().apply(manifest, live_hash=live_hash)


def test_a_route_in_a_cluster_without_the_gateway_api_says_what_to_install() -> None:
    writer = UnservedRouteWriter()
    body = model_deployment_body({"traffic": {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "gw"}]}}})
    body["metadata"]["resourceVersion"] = "50"
    result = Controller(writer, clock=lambda: NOW).reconcile(body, ChildState())  # type: ignore[arg-type]
    assert result.retry and result.failure is not None
    assert result.failure.reason == "APINotServed"
    assert "does not serve HTTPRoute (gateway.networking.k8s.io/v1)" in result.failure.message
    assert "install the Gateway API CRDs" in result.failure.message and "404 page not found" not in result.failure.message
    assert writer.statuses[-1]["phase"] == "Failed" and writer.statuses[-1]["observedGeneration"] == 1


class TerminatingNamespaceWriter(RecordingWriter):
    """Creates in a namespace being deleted are forbidden, events included."""

    def _forbidden(self) -> ApiException:
        body = json.dumps({"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                           "message": 'services "resnet" is forbidden: unable to create new content in namespace vision because it is being terminated',
                           "details": {"name": "resnet", "kind": "services", "causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace"}]}})
        return ApiException(status=403, reason="Forbidden", body=body)

    def apply(self, manifest: dict[str, Any], *, live_hash: str | None) -> bool:
        raise self._forbidden()

    def emit_event(self, resource: Any, event: Any, *, now: datetime.datetime) -> None:
        raise self._forbidden()


def test_an_object_in_a_namespace_being_deleted_is_left_to_it_without_errors_or_retries(caplog: pytest.LogCaptureFixture) -> None:
    before = _errors()
    writer = TerminatingNamespaceWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    with caplog.at_level("INFO", logger="tritonops.controller"):
        for _ in range(3):
            result = controller.reconcile(_body(), ChildState())
            assert not result.retry and result.failure is None
    assert _errors() == before and writer.statuses == []
    told = [record for record in caplog.records if "being deleted" in record.getMessage()]
    assert len(told) == 1 and told[0].levelname == "INFO"
    assert not [record for record in caplog.records if record.levelname in ("WARNING", "ERROR")]


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
    # The event first: a process killed after the status write would never post it (see the kill tests below).
    assert writer.calls == [("event", "InvalidSpec"), ("status", "Failed")], "no child is written from an invalid spec"
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


# -- drift and ownership ----------------------------------------------------------------------------

UID = "uid-1234"  # the harness's ModelDeployment uid
SCALED_BY_HAND = (("spec", "replicas"),)


def _converged(writer: RecordingWriter) -> tuple[Controller, dict[str, Any], dict[str, Any], Any]:
    """A controller whose object has been applied and whose children the watch shows as applied."""
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    plan = controller.reconcile(_body(), ChildState()).plan
    assert plan is not None
    deployment = next(manifest for manifest in plan.apply if manifest["kind"] == "Deployment")
    service = next(manifest for manifest in plan.apply if manifest["kind"] == "Service")
    live = {
        "name": deployment["metadata"]["name"], "revision": deployment["metadata"]["labels"]["inference.tritonops.dev/revision"],
        "appliedHash": manifest_hash(deployment), "replicas": deployment["spec"]["replicas"], "readyReplicas": 0,
        "availableReplicas": 0, "updatedReplicas": 0, "caughtUp": True, "ownerUid": UID, "foreignFields": (),
    }
    services = [{"name": "resnet", "appliedHash": manifest_hash(service), "ownerUid": UID, "foreignFields": ()}]
    status = dict(plan.status)
    controller.reconcile(_body(resource_version="101", status=status), ChildState(deployments=[live], services=services))
    writer.calls.clear()
    writer.events.clear()
    return controller, live, {"services": services}, status


def test_a_converged_child_is_not_written_again() -> None:
    writer = RecordingWriter()
    controller, live, extra, status = _converged(writer)
    controller.reconcile(_body(resource_version="102", status=status), ChildState(deployments=[live], **extra))
    assert writer.calls == []


@pytest.mark.parametrize("foreign", [SCALED_BY_HAND, (("spec", "template", "spec", "containers", "[]", "args"),)], ids=["scaled", "args-edited"])
def test_a_child_changed_by_hand_is_applied_again_though_its_hash_matches(foreign: tuple[Any, ...]) -> None:
    writer = RecordingWriter()
    controller, live, extra, status = _converged(writer)
    # The applied-hash annotation still matches; another field manager now owns a field we set.
    drifted = {**live, "replicas": 5, "foreignFields": foreign}
    controller.reconcile(_body(resource_version="102", status=status), ChildState(deployments=[drifted], **extra))
    assert writer.calls == [("apply", "Deployment")]


def test_a_field_of_another_manager_that_we_do_not_set_is_left_alone() -> None:
    writer = RecordingWriter()
    controller, live, extra, status = _converged(writer)
    theirs = {**live, "foreignFields": (("metadata", "annotations", "deployment.kubernetes.io/revision"), ("spec", "minReadySeconds"))}
    controller.reconcile(_body(resource_version="102", status=status), ChildState(deployments=[theirs], **extra))
    assert writer.calls == []


class RespondingWriter(RecordingWriter):
    """Answers an apply as the API server does: the object, with the managedFields left after it."""

    def __init__(self, *, left: list[dict[str, Any]]) -> None:
        super().__init__()
        self.left = left

    def apply(self, manifest: dict[str, Any], *, live_hash: str | None) -> Any:
        if not super().apply(manifest, live_hash=live_hash):
            return None
        return {**manifest, "metadata": {**manifest["metadata"], "managedFields": self.left}}


def test_a_field_an_apply_cannot_take_back_is_repaired_once_not_on_every_pass() -> None:
    # Another manager's own container beside ours: its name overlaps ours once list items are collapsed,
    # and a forced apply leaves it where it is.
    sidecar = {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
        'k:{"name":"sidecar"}': {".": {}, "f:name": {}, "f:image": {}}}}}}}}
    writer = RespondingWriter(left=[])
    controller, live, extra, status = _converged(writer)
    writer.left = [sidecar]  # added by hand after we converged
    foreign = (("spec", "template", "spec", "containers", "[]", "image"), ("spec", "template", "spec", "containers", "[]", "name"))
    for version in ("102", "103", "104"):
        controller.reconcile(_body(resource_version=version, status=status), ChildState(deployments=[{**live, "foreignFields": foreign}], **extra))
    assert writer.calls == [("apply", "Deployment")]
    # A real change on top of it is repaired again.
    controller.reconcile(_body(resource_version="105", status=status), ChildState(deployments=[{**live, "foreignFields": (*foreign, *SCALED_BY_HAND)}], **extra))
    assert writer.calls == [("apply", "Deployment"), ("apply", "Deployment")]


def test_a_deployment_with_our_labels_that_we_do_not_own_is_neither_deleted_nor_adopted() -> None:
    writer = RecordingWriter()
    controller, live, extra, status = _converged(writer)
    stranger = {**live, "name": "resnet-0ld0ld00", "revision": "0ld0ld00", "appliedHash": None, "ownerUid": None}
    other_owner = {**live, "name": "resnet-0ther000", "revision": "0ther000", "appliedHash": None, "ownerUid": "uid-of-another"}
    for version in ("102", "103"):
        controller.reconcile(_body(resource_version=version, status=status), ChildState(deployments=[live, stranger, other_owner], **extra))
    assert [call for call in writer.calls if call[0] in ("delete", "scale", "apply")] == []
    # Said once, not on every pass.
    assert [event.reason for event in writer.events] == ["ForeignChild", "ForeignChild"]
    # Where a stranger has our child's very name, it is not taken over either.
    writer.calls.clear()
    controller.reconcile(_body(resource_version="104", status=status), ChildState(deployments=[{**live, "ownerUid": None, "appliedHash": None}], **extra))
    assert ("apply", "Deployment") not in writer.calls


def test_an_owned_leftover_deployment_is_still_deleted() -> None:
    writer = RecordingWriter()
    controller, live, extra, status = _converged(writer)
    leftover = {**live, "name": "resnet-0ld0ld00", "revision": "0ld0ld00", "appliedHash": None}
    controller.reconcile(_body(resource_version="102", status=status), ChildState(deployments=[live, leftover], **extra))
    assert [call[1].name for call in writer.calls if call[0] == "delete"] == ["resnet-0ld0ld00"]


# -- drift and ownership of every child kind, and pods by their owner --------------------------------

EVERY_KIND_SPEC = {
    "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4},
    "traffic": {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "gw"}]}},
    "monitoring": {"serviceMonitor": True},
}
# Where the watches put each kind's summaries (observe.child_summary) in a ChildState.
CHILD_FIELDS = {"Service": "services", "HorizontalPodAutoscaler": "autoscalers", "HTTPRoute": "http_routes", "GRPCRoute": "grpc_routes",
                "ServiceMonitor": "service_monitors"}
# What `kubectl patch` of each kind takes over: the HPA's bounds, a route's (atomic) rules, the monitor's endpoints.
HAND_EDITS = {"HorizontalPodAutoscaler": (("spec", "maxReplicas"),), "HTTPRoute": (("spec", "rules"),), "GRPCRoute": (("spec", "rules"),),
              "ServiceMonitor": (("spec", "endpoints"),)}


class ServingWriter(RecordingWriter):
    """A cluster that serves ServiceMonitor (prometheus-operator's CRD is installed)."""

    def serves(self, *, api_version: str, plural: str) -> bool:
        return True


def _every_kind_body(resource_version: str = "50", status: dict[str, Any] | None = None) -> dict[str, Any]:
    body = model_deployment_body(EVERY_KIND_SPEC, status=status)
    body["metadata"]["resourceVersion"] = resource_version
    return body


def _live(plan: Any, *, owner: str | None = UID, foreign: dict[str, tuple[Any, ...]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The ChildState fields the watches would hold once every child of `plan` is applied (owned by `owner`)."""
    children: dict[str, list[dict[str, Any]]] = {"deployments": [], **{field: [] for field in CHILD_FIELDS.values()}}
    for manifest in plan.apply:
        kind, name = str(manifest["kind"]), str(manifest["metadata"]["name"])
        summary: dict[str, Any] = {"name": name, "appliedHash": manifest_hash(manifest), "ownerUid": owner, "foreignFields": (foreign or {}).get(kind, ())}
        if kind == "Deployment":
            summary.update(revision=manifest["metadata"]["labels"]["inference.tritonops.dev/revision"], replicas=manifest["spec"]["replicas"],
                           readyReplicas=manifest["spec"]["replicas"], availableReplicas=manifest["spec"]["replicas"],
                           updatedReplicas=manifest["spec"]["replicas"], caughtUp=True)
            children["deployments"].append(summary)
        else:
            children[CHILD_FIELDS[kind]].append(summary)
    return children


def _every_kind_converged() -> tuple[ServingWriter, Any, dict[str, Any]]:
    """The first pass's plan and the status of the object once the watches show every child in place."""
    writer = ServingWriter()
    first = Controller(writer, clock=lambda: NOW).reconcile(_every_kind_body(), ChildState()).plan  # type: ignore[arg-type]
    assert first is not None
    assert {manifest["kind"] for manifest in first.apply} == {"Deployment", *CHILD_FIELDS}
    settled = Controller(writer, clock=lambda: NOW).reconcile(  # type: ignore[arg-type]
        _every_kind_body(resource_version="101", status=dict(first.status)), ChildState(**_live(first))).plan
    assert settled is not None
    writer.calls.clear()
    writer.events.clear()
    return writer, first, dict(settled.status)


def test_a_restarted_operator_writes_nothing_for_children_of_every_kind_that_are_in_place() -> None:
    writer, first, status = _every_kind_converged()
    # A fresh process (nothing remembered of its own writes) on an idle resync: the watches alone say it is all in place.
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    controller.reconcile(_every_kind_body(resource_version="102", status=status), ChildState(**_live(first)))
    controller.reconcile(_every_kind_body(resource_version="102", status=status), ChildState(**_live(first)))
    assert writer.calls == []


@pytest.mark.parametrize("kind", sorted(HAND_EDITS))
def test_a_child_of_any_kind_changed_by_another_manager_is_applied_again(kind: str) -> None:
    writer, first, status = _every_kind_converged()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    controller.reconcile(_every_kind_body(resource_version="102", status=status), ChildState(**_live(first)))
    assert writer.calls == []
    # The applied-hash annotation still matches: only the managedFields tell of the hand's edit.
    controller.reconcile(_every_kind_body(resource_version="103", status=status), ChildState(**_live(first, foreign={kind: HAND_EDITS[kind]})))
    assert writer.calls == [("apply", kind)]


@pytest.mark.parametrize("kind", sorted(HAND_EDITS))
def test_a_same_named_child_of_any_kind_that_we_do_not_own_is_never_applied_over_and_is_reported_once(kind: str) -> None:
    writer, first, status = _every_kind_converged()
    children = _live(first)
    field = CHILD_FIELDS[kind]
    # Someone's own object of that name and kind, with our labels and fields of its creator.
    children[field] = [{**summary, "appliedHash": None, "ownerUid": "uid-of-another", "foreignFields": HAND_EDITS[kind]} for summary in children[field]]
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    for version in ("102", "103"):
        controller.reconcile(_every_kind_body(resource_version=version, status=status), ChildState(**children))
    assert [call for call in writer.calls if call[0] in ("apply", "delete", "scale")] == []
    assert [event.reason for event in writer.events] == ["ForeignChild"]
    assert writer.events[0].message.startswith(f"{kind} {children[field][0]['name']} ")


def test_a_same_named_autoscaler_that_we_do_not_own_is_not_deleted() -> None:
    writer = RecordingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    stranger = {"name": "resnet", "appliedHash": None, "ownerUid": None, "foreignFields": (("spec", "maxReplicas"),)}
    controller.reconcile(_body(), ChildState(autoscalers=[stranger]))
    assert [call for call in writer.calls if call[0] == "delete"] == []
    assert [event.reason for event in writer.events].count("ForeignChild") == 1
    # Our own leftover HPA (autoscaling was turned off) still goes.
    writer.calls.clear()
    controller.reconcile(_body(), ChildState(autoscalers=[{**stranger, "ownerUid": UID}]))
    assert [call[1].kind for call in writer.calls if call[0] == "delete"] == ["HorizontalPodAutoscaler"]


def _crashing_pod(*, replica_set: str | None, template_hash: str | None, revision: str) -> dict[str, Any]:
    return {"name": "look-alike", "revision": revision, "ip": "127.77.0.9", "ready": False, "leaving": False, "unschedulable": None,
            "failure": {"reason": "CanaryCrashed", "message": "Triton exited with code 1, 3 restart(s)"},
            "replicaSet": replica_set, "templateHash": template_hash}


@pytest.mark.parametrize(("replica_set", "template_hash", "counted"), [
    (None, None, False),  # a pod made by hand with our labels
    ("someone-else-7d9f8b", "7d9f8b", False),  # a pod of another controller's ReplicaSet
    ("DEPLOYMENT-7d9f8b", "5c6d7e", False),  # a ReplicaSet named like ours but not for this template hash
    ("DEPLOYMENT-7d9f8b", "7d9f8b", True),  # ours: the Deployment controller names ReplicaSets so
])
def test_only_pods_of_our_deployments_replica_sets_count(replica_set: str | None, template_hash: str | None, counted: bool) -> None:
    writer = RecordingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    plan = controller.reconcile(_body(), ChildState()).plan
    assert plan is not None
    deployment = next(manifest for manifest in plan.apply if manifest["kind"] == "Deployment")
    name, revision = deployment["metadata"]["name"], deployment["metadata"]["labels"]["inference.tritonops.dev/revision"]
    live = {"name": name, "revision": revision, "appliedHash": manifest_hash(deployment), "replicas": 1, "readyReplicas": 0,
            "availableReplicas": 0, "updatedReplicas": 0, "caughtUp": True, "ownerUid": UID, "foreignFields": ()}
    pod = _crashing_pod(replica_set=replica_set.replace("DEPLOYMENT", name) if replica_set else None, template_hash=template_hash, revision=revision)
    result = controller.reconcile(_body(resource_version="101", status=dict(plan.status)), ChildState(deployments=[live], pods=[pod]))
    assert result.plan is not None
    # A first revision whose own pod crashes has Failed; a look-alike's crash says nothing about it.
    assert (result.plan.status["phase"] == "Failed") is counted


class RecordingAnalyzer:
    def __init__(self) -> None:
        self.pods: list[list[str]] = []

    def analyse(self, resource: Any, *, stable: Any, canary: Any, pods: Any, golden_set: Any = None) -> None:
        self.pods.append(sorted(str(pod["name"]) for pod in pods))

    def prime(self, resource: Any, *, stable: Any, canary: Any, pods: Any) -> None:
        self.analyse(resource, stable=stable, canary=canary, pods=pods)

    def forget(self, key: Any) -> None:
        pass


def test_analysis_scrapes_only_pods_of_our_deployments(monkeypatch: pytest.MonkeyPatch) -> None:
    from tritonops.engine import rollout

    monkeypatch.setattr(rollout, "analysis_due", lambda *_, **__: True)
    resource = model_deployment()
    canary = resource.revision.as_status()
    stable = {"hash": "0ld0ld00", "version": "1", "image": canary["image"]}
    status = {"phase": "Canary", "stableRevision": stable, "canaryRevision": canary, "observedGeneration": 1}
    deployments = []
    for revision in (stable["hash"], canary["hash"]):
        deployments.append({"name": f"resnet-{revision}", "revision": revision, "appliedHash": None, "replicas": 1, "readyReplicas": 1,
                            "availableReplicas": 1, "updatedReplicas": 1, "caughtUp": True, "ownerUid": UID, "foreignFields": ()})
    ready = {"ip": "127.77.0.1", "ready": True, "leaving": False, "unschedulable": None, "failure": None, "templateHash": "7d9f8b"}
    pods = [
        {**ready, "name": "stable-pod", "revision": stable["hash"], "replicaSet": f"resnet-{stable['hash']}-7d9f8b"},
        {**ready, "name": "canary-pod", "revision": canary["hash"], "replicaSet": f"resnet-{canary['hash']}-7d9f8b"},
        {**ready, "name": "hand-made", "revision": canary["hash"], "replicaSet": None, "templateHash": None},
        {**ready, "name": "other-replica-set", "revision": stable["hash"], "replicaSet": "elsewhere-7d9f8b"},
    ]
    analyzer = RecordingAnalyzer()
    controller = Controller(RecordingWriter(), analyzer=analyzer, clock=lambda: NOW)  # type: ignore[arg-type]
    controller.reconcile(_body(status=status), ChildState(deployments=deployments, pods=pods))
    assert analyzer.pods == [["canary-pod", "stable-pod"]]


class CapacityWriter(RecordingWriter):
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        super().__init__()
        self.pods = pods

    def list_capacity_inputs(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return [], self.pods


def test_the_capacity_check_counts_only_pods_of_our_deployments_as_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    from tritonops.controller import capacity
    from tritonops.engine import rollout

    resource = model_deployment({"server": {"gpu": {"count": 1}}})
    canary = resource.revision.as_status()
    stable = {"hash": "0ld0ld00", "version": "1", "image": canary["image"]}
    deployments = [{"name": f"resnet-{revision}", "revision": revision, "appliedHash": None, "replicas": 1, "readyReplicas": 1,
                    "availableReplicas": 1, "updatedReplicas": 1, "caughtUp": True, "ownerUid": UID, "foreignFields": ()}
                   for revision in (stable["hash"], canary["hash"])]

    def raw_pod(name: str, revision: str, *, owner: str | None) -> dict[str, Any]:
        labels = {"inference.tritonops.dev/modeldeployment": "resnet", "inference.tritonops.dev/revision": revision, "pod-template-hash": "7d9f8b"}
        references = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": "rs-uid", "controller": True}] if owner else []
        return {"metadata": {"name": name, "namespace": "vision", "labels": labels, "ownerReferences": references}, "spec": {}}

    pods = [raw_pod("stable-pod", stable["hash"], owner=f"resnet-{stable['hash']}-7d9f8b"), raw_pod("stable-look-alike", stable["hash"], owner=None),
            raw_pod("canary-pod", canary["hash"], owner=f"resnet-{canary['hash']}-7d9f8b"),
            raw_pod("canary-look-alike", canary["hash"], owner="elsewhere-7d9f8b")]
    seen: dict[str, list[str]] = {}

    def room(**arguments: Any) -> Any:
        seen["releasing"] = [pod["metadata"]["name"] for pod in arguments["pods"] if arguments["releasing"](pod)]
        seen["placing"] = [pod["metadata"]["name"] for pod in arguments["pods"] if arguments["placing"](pod)]
        return capacity.room(**{**arguments, "pods": []})

    monkeypatch.setattr("tritonops.controller.capacity", type("Capacity", (), {"room": staticmethod(room)}))
    monkeypatch.setattr(rollout, "pods_to_place", lambda *_, **__: 1)
    status = {"phase": "Canary", "stableRevision": stable, "canaryRevision": canary, "observedGeneration": 1}
    body = model_deployment_body({"server": {"gpu": {"count": 1}}}, status=status)
    body["metadata"]["resourceVersion"] = "50"
    Controller(CapacityWriter(pods), clock=lambda: NOW).reconcile(body, ChildState(deployments=deployments))  # type: ignore[arg-type]
    assert seen == {"releasing": ["stable-pod"], "placing": ["canary-pod"]}


class ConfigMapWriter(RecordingWriter):
    def __init__(self, data: dict[str, str] | None) -> None:
        super().__init__()
        self.data = data

    def read_config_map(self, *, namespace: str, name: str) -> dict[str, str]:
        self.calls.append(("read", (namespace, name)))
        if self.data is None:
            raise ApiException(status=404, reason="Not Found")
        return self.data


GOLDEN_TEXT = json.dumps({"format": "tritonops.dev/golden/v1", "model": "resnet", "version": 1, "cases": [
    {"name": "c0", "inputs": {"x": {"datatype": "FP32", "shape": [1], "data": [1.0]}}, "outputs": {"y": {"datatype": "FP32", "shape": [1], "data": [2.0]}}}]})


@pytest.mark.parametrize(("data", "problem"), [
    (None, "ConfigMap vision/resnet-golden cannot be read: 404 Not Found"),
    ({"other.json": "{}"}, "ConfigMap vision/resnet-golden has no key 'golden.json' (it has: other.json)"),
    ({"golden.json": "{\"format\": \"v0\"}"}, "ConfigMap vision/resnet-golden key 'golden.json' is not a golden set: format: must be"),
    ({"golden.json": GOLDEN_TEXT}, None),
])
def test_the_golden_set_is_read_from_its_config_map_or_the_problem_names_it(data: dict[str, str] | None, problem: str | None) -> None:
    writer = ConfigMapWriter(data)
    resource = model_deployment({"rollout": {"analysis": {"golden": {"configMapRef": {"name": "resnet-golden"}}}}})
    found = Controller(writer)._golden_set(resource, now=NOW)  # type: ignore[arg-type]
    assert writer.calls[0] == ("read", (resource.namespace, "resnet-golden"))
    if problem is None:
        assert not isinstance(found, str) and found.cases[0].name == "c0" and writer.events == []
    else:
        assert isinstance(found, str) and found.startswith(problem)
        assert [(event.type, event.reason) for event in writer.events] == [("Warning", "GoldenSetUnreadable")]
        assert writer.events[0].message.startswith(problem)


def test_a_malformed_affinity_from_the_api_is_reported_not_raised() -> None:
    # The CRD preserves unknown fields under affinity, so the apiserver accepts this; no stub in between.
    body = _body()
    body["spec"]["server"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": ["x"]}}}
    writer = RecordingWriter()
    result = Controller(writer, clock=lambda: NOW).reconcile(body, ChildState())  # type: ignore[arg-type]
    assert result.failure is not None and result.failure.reason == "InvalidSpec"
    assert writer.calls == [("event", "InvalidSpec"), ("status", "Failed")]
    [status] = writer.statuses
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert "nodeSelectorTerms[0]" in _condition(status, "Ready")["message"]


# -- a process killed between the writes of one pass ------------------------------------------------


class Killed(BaseException):
    """The process dies (SIGKILL): nothing of the pass runs on, no handler sees it."""


class DyingApi:
    """What the API server holds across operator processes: the object's status and its events by name."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.version = 100
        self.events: dict[str, dict[str, Any]] = {}
        # "before" or "after" the status write: when the next status write kills the process.
        self.kill: str | None = None


class DyingApiWriter(KubernetesWriter):
    """The real writer over a DyingApi: POSTed events are kept by name (a second create of a name is a 409)."""

    def __init__(self, api: DyingApi) -> None:
        super().__init__(api_client=None)  # type: ignore[arg-type]
        self.api = api

    def _request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, str] | None = None,
                 content_type: str = "application/json") -> dict[str, Any]:
        if method == "POST" and path.endswith("/events"):
            name = body["metadata"]["name"]
            if name in self.api.events:
                raise ApiException(status=409, reason="Conflict")
            self.api.events[name] = dict(body)
            return body
        if path.endswith("/status"):
            kill, self.api.kill = self.api.kill, None
            if kill == "before":
                raise Killed
            self.api.status = {key: value for key, value in {**self.api.status, **body["status"]}.items() if value is not None}
            self.api.version += 1
            if kill == "after":
                raise Killed
            return {"metadata": {"resourceVersion": str(self.api.version)}}
        return {}


def _about_to_promote() -> tuple[dict[str, Any], dict[str, Any], ChildState]:
    """An Immediate rollout from version 1 to 2 whose new pods are all Ready: the next pass promotes."""
    spec: dict[str, Any] = {"replicas": 2, "rollout": {"strategy": "Immediate"}}
    old = model_deployment(spec)
    ready = {old.revision.hash: _deployment_observation(old.revision.hash, ready=2)}
    stable = dict(reconcile.plan(model_deployment(spec, status=dict(reconcile.plan(old, Observations(), now=NOW).status)),
                                 Observations(deployments=ready), now=NOW).status)
    new_spec = {**spec, "model": {"version": "2"}}
    new = model_deployment(new_spec, status=stable)
    started = dict(reconcile.plan(new, Observations(deployments=ready), now=NOW).status)
    assert started["phase"] == "Promoting"
    children = ChildState(deployments=[_deployment_summary(old.revision.hash, ready=2), _deployment_summary(new.revision.hash, ready=2)])
    return new_spec, started, children


def _deployment_observation(revision: str, *, ready: int) -> DeploymentObservation:
    return DeploymentObservation(name=f"resnet-{revision}", revision=revision, replicas=ready, ready_replicas=ready,
                                 available_replicas=ready, updated_replicas=ready)


def _deployment_summary(revision: str, *, ready: int) -> dict[str, Any]:
    return {"name": f"resnet-{revision}", "revision": revision, "replicas": ready, "readyReplicas": ready, "availableReplicas": ready,
            "updatedReplicas": ready, "caughtUp": True, "ownerUid": UID, "foreignFields": (), "appliedHash": None}


@pytest.mark.parametrize("kill", ["before", "after"], ids=["killed-before-the-status-write", "killed-after-the-status-write"])
def test_an_operator_killed_between_a_promotions_writes_posts_exactly_one_promoted_event(kill: str) -> None:
    spec, status, children = _about_to_promote()
    api = DyingApi(status)
    api.kill = kill
    with pytest.raises(Killed):
        Controller(DyingApiWriter(api), clock=lambda: NOW).reconcile(  # type: ignore[arg-type]
            model_deployment_body(spec, status=dict(api.status)), children)
    # A new process, with nothing remembered, passes over what the API server holds; later and again, as resyncs do.
    for minutes in (1, 2):
        later = NOW + datetime.timedelta(minutes=minutes)
        Controller(DyingApiWriter(api), clock=lambda: later).reconcile(  # type: ignore[arg-type]
            {**model_deployment_body(spec, status=dict(api.status)), "metadata": {**model_deployment_body(spec)["metadata"],
                                                                                   "resourceVersion": str(api.version)}}, children)
    assert api.status["phase"] == "Ready" and [entry["outcome"] for entry in api.status["history"]].count("Promoted") == 1
    reasons = [event["reason"] for event in api.events.values()]
    assert reasons.count("Promoted") == 1, reasons


def test_an_operator_killed_right_after_writing_a_failure_has_still_posted_its_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile, "build_deployment", _invalid)
    api = DyingApi({})
    api.kill = "after"
    with pytest.raises(Killed):
        Controller(DyingApiWriter(api), clock=lambda: NOW).reconcile(_body(), ChildState())  # type: ignore[arg-type]
    # The next process sees the failure shown already and writes nothing more.
    Controller(DyingApiWriter(api), clock=lambda: NOW).reconcile(_body(resource_version=str(api.version), status=dict(api.status)), ChildState())  # type: ignore[arg-type]
    assert api.status["phase"] == "Failed"
    assert [event["reason"] for event in api.events.values()] == ["InvalidSpec"]


def test_a_pass_observes_when_the_api_server_came_back_from_an_outage() -> None:
    from tritonops.control_plane import MINIMUM_OUTAGE_SECONDS, ControlPlaneProbe

    answers = [False]

    def ask() -> None:
        if not answers[-1]:
            raise ConnectionRefusedError("refused")

    moments = iter([NOW, NOW + datetime.timedelta(seconds=MINIMUM_OUTAGE_SECONDS)])
    moment = [NOW]

    def clock() -> datetime.datetime:
        moment[0] = next(moments, moment[0])
        return moment[0]

    probe = ControlPlaneProbe(ask, wall_clock=clock)
    probe.probe()
    answers.append(True)
    controller = Controller(RecordingWriter(), clock=lambda: NOW, control_plane=probe)  # type: ignore[arg-type]
    resource = model_deployment(status={"phase": "Ready"})
    observed = controller._observe(resource, ChildState(), now=NOW)
    assert observed.control_plane_back_at == NOW + datetime.timedelta(seconds=MINIMUM_OUTAGE_SECONDS)
    assert Controller(RecordingWriter(), clock=lambda: NOW)._observe(resource, ChildState(), now=NOW).control_plane_back_at is None  # type: ignore[arg-type]

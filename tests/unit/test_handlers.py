"""The worker's side of a reconcile: what comes back to the work queue, and when."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kubernetes.client.rest import ApiException

from tests.unit.test_controller import NOW, RecordingWriter, _body
from tritonops import constants, handlers
from tritonops.controller import Controller
from tritonops.leader import Leadership
from tritonops.workqueue import WorkQueue

KEY = ("vision", "resnet")


class FlakyWriter(RecordingWriter):
    """The API server refuses every apply while `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def apply(self, manifest: dict[str, Any], *, live_hash: str | None) -> bool:
        if self.down:
            raise ApiException(status=503, reason="Service Unavailable", body=json.dumps({"message": "etcdserver: request timed out"}))
        return super().apply(manifest, live_hash=live_hash)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[handlers.Runtime]:
    runtime = handlers.Runtime(queue=WorkQueue(error_delays=(0.2, 0.4)))
    runtime.indexes["tritonops_modeldeployments"] = {KEY: [_body()]}
    monkeypatch.setattr(handlers, "runtime", runtime)
    yield runtime
    runtime.queue.close()


def _next(queue: WorkQueue, *, timeout: float) -> tuple[Any, float]:
    started = time.monotonic()
    return queue.get(timeout=timeout), time.monotonic() - started


def test_a_failed_reconcile_comes_back_with_backoff_and_a_success_resets_it(runtime: handlers.Runtime) -> None:
    writer = FlakyWriter()
    runtime.controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    handlers.reconcile_key(KEY)
    key, waited = _next(runtime.queue, timeout=2)
    assert key == KEY and 0.15 <= waited < 0.6, "retried after the first delay, long before any resync"
    assert runtime.queue.failures(KEY) == 1
    handlers.reconcile_key(KEY)
    runtime.queue.done(KEY)
    key, waited = _next(runtime.queue, timeout=2)
    assert key == KEY and 0.35 <= waited < 0.8 and runtime.queue.failures(KEY) == 2

    writer.down = False
    handlers.reconcile_key(KEY)
    runtime.queue.done(KEY)
    assert runtime.queue.failures(KEY) == 0
    assert runtime.queue.get(timeout=0.6) is None, "a success asks for nothing more (no rollout timer is running)"


def test_a_deleted_object_leaves_no_backoff_behind(runtime: handlers.Runtime) -> None:
    runtime.controller = Controller(FlakyWriter(), clock=lambda: NOW)  # type: ignore[arg-type]
    handlers.reconcile_key(KEY)
    runtime.indexes["tritonops_modeldeployments"] = {}
    handlers.reconcile_key(KEY)
    assert runtime.queue.failures(KEY) == 0


def test_a_worker_leaves_keys_alone_while_leadership_has_lapsed_and_takes_them_when_it_leads_again(
    runtime: handlers.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconciled: list[Any] = []
    monkeypatch.setattr(handlers, "reconcile_key", reconciled.append)
    clock = [100.0]
    runtime.leading = Leadership(clock=lambda: clock[0])
    runtime.leading.hold_until(107.0)
    worker = threading.Thread(target=handlers._work, daemon=True)
    worker.start()
    time.sleep(0.2)  # the worker now waits on the queue, as a leader
    clock[0] = 107.0  # the renew deadline passed while it waited
    runtime.queue.add(KEY)
    time.sleep(0.5)
    assert reconciled == [], "a replica whose lease could have been taken over must not act"
    runtime.leading.hold_until(114.0)  # renewed
    deadline = time.monotonic() + 3
    while not reconciled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reconciled == [KEY]
    runtime.queue.close()
    worker.join(timeout=3)
    assert not worker.is_alive()


def test_stopping_the_workers_waits_for_a_reconcile_in_flight(runtime: handlers.Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(handlers, "reconcile_key", lambda key: release.wait(timeout=5))
    runtime.leading.set()
    handlers.start_workers(count=2)
    runtime.queue.add(KEY)
    time.sleep(0.2)  # one worker is inside the reconcile now
    assert not handlers.stop_workers(timeout=0.3), "a reconcile in flight: the Lease must not be released yet"
    release.set()
    assert handlers.stop_workers(timeout=3)
    assert runtime.queue.closed


def _child(kind: str, name: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": KEY[0], "labels": {constants.LABEL_MODEL_DEPLOYMENT: KEY[1]}}}


@pytest.mark.parametrize(("handler", "kind"), [
    (handlers.http_route_event, "HTTPRoute"), (handlers.grpc_route_event, "GRPCRoute"), (handlers.service_monitor_event, "ServiceMonitor"),
])
def test_a_deleted_route_or_service_monitor_queues_its_owner_and_is_applied_again(runtime: handlers.Runtime, handler: Any, kind: str) -> None:
    import asyncio

    writer = RecordingWriter()
    runtime.controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    runtime.controller._applied[KEY][(kind, "resnet-http")] = "h"
    asyncio.run(handler(event={"type": "MODIFIED"}, body=_child(kind, "resnet-http")))
    assert runtime.queue.get(timeout=0.1) is None, "only a deletion needs a pass"
    asyncio.run(handler(event={"type": "DELETED"}, body=_child(kind, "resnet-http")))
    assert runtime.queue.get(timeout=1) == KEY
    assert (kind, "resnet-http") not in runtime.controller._applied[KEY], "the next pass applies it, though applied before"


def test_every_watched_child_is_filtered_on_the_server_and_routes_and_monitors_are_watched() -> None:
    import kopf

    watched = {(handler.selector.group, handler.selector.plural or handler.selector.any_name) for handler in kopf.get_default_registry()._watching.get_all_handlers()
               if handler.selector is not None}
    assert {("gateway.networking.k8s.io", "httproutes"), ("gateway.networking.k8s.io", "grpcroutes"), ("monitoring.coreos.com", "servicemonitors")} <= watched
    assert watched - {("inference.tritonops.dev", "modeldeployments")} == set(handlers.WATCHED_CHILDREN)


def test_a_service_changed_by_hand_queues_its_owner_and_our_own_apply_does_not(runtime: handlers.Runtime) -> None:
    import asyncio

    runtime.controller = Controller(RecordingWriter(), clock=lambda: NOW)  # type: ignore[arg-type]
    service = _child("Service", "resnet")
    service["metadata"]["managedFields"] = [{"manager": "tritonops", "operation": "Apply", "fieldsV1": {"f:spec": {"f:type": {}}}}]
    asyncio.run(handlers.service_event(event={"type": "MODIFIED"}, body=service))
    assert runtime.queue.get(timeout=0.1) is None
    service["metadata"]["managedFields"].append({"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:type": {}}}})
    asyncio.run(handlers.service_event(event={"type": "MODIFIED"}, body=service))
    assert runtime.queue.get(timeout=1) == KEY


@pytest.mark.parametrize(("handler", "kind"), [
    (handlers.autoscaler_event, "HorizontalPodAutoscaler"), (handlers.http_route_event, "HTTPRoute"),
    (handlers.grpc_route_event, "GRPCRoute"), (handlers.service_monitor_event, "ServiceMonitor"),
])
def test_any_child_changed_by_another_manager_queues_its_owner_and_our_own_apply_does_not(runtime: handlers.Runtime, handler: Any, kind: str) -> None:
    import asyncio

    runtime.controller = Controller(RecordingWriter(), clock=lambda: NOW)  # type: ignore[arg-type]
    child = _child(kind, "resnet")
    child["metadata"]["managedFields"] = [{"manager": "tritonops", "operation": "Apply", "fieldsV1": {"f:spec": {"f:maxReplicas": {}}}}]
    asyncio.run(handler(event={"type": "MODIFIED"}, body=child))
    assert runtime.queue.get(timeout=0.1) is None, "our own write: nothing to repair"
    child["metadata"]["managedFields"].append({"manager": "kubectl-patch", "operation": "Update", "fieldsV1": {"f:spec": {"f:maxReplicas": {}}}})
    asyncio.run(handler(event={"type": "MODIFIED"}, body=child))
    assert runtime.queue.get(timeout=1) == KEY
    runtime.queue.done(KEY)
    asyncio.run(handler(event={"type": "MODIFIED"}, body=child))
    assert runtime.queue.get(timeout=0.1) is None, "the same summary again (a status update): no pass"


def test_every_child_kind_is_indexed_with_its_summary() -> None:
    child = _child("HTTPRoute", "resnet-http")
    for index in (handlers.tritonops_autoscalers, handlers.tritonops_http_routes, handlers.tritonops_grpc_routes, handlers.tritonops_service_monitors):
        [(key, summary)] = asyncio.run(index(body=child)).items()
        assert key == KEY and summary["name"] == "resnet-http" and "foreignFields" in summary and "ownerUid" in summary


def test_the_kopf_floor_in_pyproject_has_every_setting_the_operator_sets() -> None:
    # `configure` filters children's watches on the server with settings.watching.label_selectors, which
    # first appeared in kopf 1.45.0: an older kopf would fail at startup with an AttributeError.
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    pyproject = tomllib.loads((pathlib.Path(__file__).parents[2] / "pyproject.toml").read_text())
    (requirement,) = [Requirement(line) for line in pyproject["project"]["dependencies"] if Requirement(line).name == "kopf"]
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert floors and min(floors) >= Version("1.45.0"), f"kopf floor {requirement.specifier} is older than 1.45.0"
    assert "label_selectors" in {field.name for field in dataclasses.fields(kopf.OperatorSettings().watching)}


def test_every_index_and_event_handler_runs_in_the_event_loop_not_in_kopf_s_thread_pool() -> None:
    # kopf runs a plain function in its executor: a thread hop and a GIL hand-off on every watch event.
    registered = [handlers.tritonops_modeldeployments, handlers.tritonops_deployments, handlers.tritonops_services,
                  handlers.tritonops_autoscalers, handlers.tritonops_http_routes, handlers.tritonops_grpc_routes,
                  handlers.tritonops_service_monitors, handlers.tritonops_pods, handlers.modeldeployment_event,
                  handlers.deployment_event, handlers.service_event, handlers.autoscaler_event, handlers.http_route_event,
                  handlers.grpc_route_event, handlers.service_monitor_event, handlers.pod_event]
    assert [handler.__name__ for handler in registered if not inspect.iscoroutinefunction(handler)] == []


def test_kopf_keeps_no_diff_base_since_no_change_handler_would_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf deep-copied every object's essence on every watch event for change handlers the operator has not got."""
    monkeypatch.setattr(handlers, "start_workers", lambda *, count: None)

    async def configured() -> kopf.OperatorSettings:
        settings = kopf.OperatorSettings()
        memo = kopf.Memo()
        await handlers.configure(settings=settings, memo=memo)
        memo["resync"].cancel()
        return settings

    storage = asyncio.run(configured()).persistence.diffbase_storage
    body = kopf.Body({"metadata": {"name": "resnet", "namespace": "vision", "labels": {"a": "b"}}, "spec": {"replicas": 2}})
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert storage.build(body=body) == {} and storage.fetch(body=body) is None and not patch


def test_a_model_deployment_is_indexed_without_its_managed_fields() -> None:
    body = {"metadata": {"name": KEY[1], "namespace": KEY[0], "uid": "u1", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"replicas": 1}}
    [(key, indexed)] = asyncio.run(handlers.tritonops_modeldeployments(body=body, namespace=KEY[0], name=KEY[1])).items()
    assert key == KEY and indexed["metadata"] == {"name": KEY[1], "namespace": KEY[0], "uid": "u1"} and indexed["spec"] == {"replicas": 1}

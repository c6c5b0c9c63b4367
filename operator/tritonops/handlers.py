"""kopf wiring only: watches feed indexes, events mark keys in a work queue, workers reconcile them.

Only event handlers and indexes are used, never kopf's change handlers or timers, because those write
kopf's own annotations and finalizers to every object; the status is the single source of state.
kopf starts handlers only after every index holds its initial listing, so the first reconcile after a
restart already sees every existing child and writes nothing that is in place.

Handlers are async and only enqueue a key: they never wait on the API, so no watch event queues
behind a slow reconciliation, and a burst of events for one object costs one reconciliation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import kopf

from tritonops import constants, observe
from tritonops.controller import ChildState, Controller
from tritonops.leader import Leadership
from tritonops.workqueue import WorkQueue

logger = logging.getLogger(__name__)
MANAGED = {constants.LABEL_MANAGED_BY: constants.MANAGER_NAME}
WORKER_THREADS = 16
# Every child resource watched, all filtered on the server by the managed-by label.
WATCHED_CHILDREN = (
    ("apps", "deployments"), ("", "services"), ("autoscaling", "horizontalpodautoscalers"), ("", "pods"),
    ("gateway.networking.k8s.io", "httproutes"), ("gateway.networking.k8s.io", "grpcroutes"), ("monitoring.coreos.com", "servicemonitors"),
)
Key = tuple[str, str]


@dataclasses.dataclass
class Runtime:
    """Process-wide state that handlers share; set by `tritonops run` before kopf starts."""

    controller: Controller | None = None
    # The kubernetes client's configuration, so that kopf's watches use exactly the writer's credentials.
    api_configuration: Any = None
    resync_seconds: float = 60.0
    queue: WorkQueue = dataclasses.field(default_factory=WorkQueue)
    # kopf's live index views, captured from the first handler call, for the worker threads.
    indexes: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Set while this replica may act: always without leader election, else while it holds the Lease.
    leading: Leadership = dataclasses.field(default_factory=Leadership)
    workers: list[threading.Thread] = dataclasses.field(default_factory=list)


runtime = Runtime()


def _snapshot(index_name: str, key: Key) -> list[Any]:
    """A copy of one index entry. kopf mutates indexes in the event loop while workers read them."""
    index = runtime.indexes.get(index_name)
    if index is None:
        return []
    for _ in range(5):
        try:
            return list(index.get(key, []))
        except RuntimeError:  # changed size during iteration: read again
            continue
    return list(index.get(key, []))


def _children(key: Key) -> ChildState:
    return ChildState(
        deployments=_snapshot("tritonops_deployments", key),
        pods=_snapshot("tritonops_pods", key),
        services=_snapshot("tritonops_services", key),
        autoscalers=_snapshot("tritonops_autoscalers", key),
        http_routes=_snapshot("tritonops_http_routes", key),
        grpc_routes=_snapshot("tritonops_grpc_routes", key),
        service_monitors=_snapshot("tritonops_service_monitors", key),
    )


def reconcile_key(key: Key) -> None:
    """Reconcile one ModelDeployment from the latest state the watches hold."""
    assert runtime.controller is not None, "tritonops run sets the controller before kopf starts"
    bodies = _snapshot("tritonops_modeldeployments", key)
    if not bodies:
        runtime.queue.forget(key)  # deleted: nothing left to retry
    for body in bodies:
        result = runtime.controller.reconcile(body, _children(key))
        if result.retry:
            # The controller has logged and shown the failure; the queue paces the retries.
            delay = runtime.queue.add_rate_limited(key)
            logger.info("retrying %s/%s in %g s (failure %d in a row)", key[0], key[1], delay, runtime.queue.failures(key))
            continue
        runtime.queue.forget(key)
        if result.requeue_after is not None:
            # Timers of the rollout (analysis interval, step time, deadlines) act without any event.
            runtime.queue.add_after(key, result.requeue_after)


def _work() -> None:
    while True:
        if not runtime.leading.wait(timeout=1.0):
            if runtime.queue.closed:
                return
            continue  # a standby replica watches and indexes, but never writes
        key = runtime.queue.get(timeout=1.0)
        if key is None:
            if runtime.queue.closed:
                return
            continue
        try:
            if not runtime.leading.is_set():
                # Leadership lapsed while this worker waited for a key: keep it for the next leader term.
                runtime.queue.add(key)
                continue
            reconcile_key(key)  # type: ignore[arg-type]
        except Exception:  # one broken object must never stop the others
            logger.exception("reconcile of %s failed", key)
        finally:
            runtime.queue.done(key)


def _capture(kwargs: Mapping[str, Any]) -> None:
    for name, value in kwargs.items():
        if name.startswith("tritonops_") and name not in runtime.indexes:
            runtime.indexes[name] = value


# -- indexes ------------------------------------------------------------------------------------
# Async, as every handler here: kopf runs a plain function in its thread pool, a thread hop and a GIL
# hand-off for each watch event, and these only summarise a body.


@kopf.index(constants.GROUP, constants.VERSION, constants.PLURAL)
async def tritonops_modeldeployments(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[Key, dict[str, Any]]:
    return {(str(namespace), name): observe.model_deployment_body(body)}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def tritonops_deployments(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]] | None:
    key = observe.owner_key(body)
    return {key: observe.deployment_summary(body)} if key else None


def _child_index(body: kopf.Body) -> dict[Key, dict[str, Any]] | None:
    key = observe.owner_key(body)
    return {key: observe.child_summary(body)} if key else None


@kopf.index("", "v1", "services", labels=MANAGED)
async def tritonops_services(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]] | None:
    return _child_index(body)


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers", labels=MANAGED)
async def tritonops_autoscalers(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]] | None:
    return _child_index(body)


# Routes and ServiceMonitors exist only where their CRDs do: kopf lists and watches them once the API
# serves them (it watches CustomResourceDefinitions for that); until then these indexes stay empty.
@kopf.index("gateway.networking.k8s.io", "v1", "httproutes", labels=MANAGED)
async def tritonops_http_routes(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]] | None:
    return _child_index(body)


@kopf.index("gateway.networking.k8s.io", "v1", "grpcroutes", labels=MANAGED)
async def tritonops_grpc_routes(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]] | None:
    return _child_index(body)


@kopf.index("monitoring.coreos.com", "v1", "servicemonitors", labels=MANAGED)
async def tritonops_service_monitors(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]] | None:
    return _child_index(body)


@kopf.index("", "v1", "pods", labels=MANAGED)
async def tritonops_pods(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]] | None:
    key = observe.owner_key(body)
    return {key: observe.pod_summary(body)} if key else None


class _NoDiffBase(kopf.DiffBaseStorage):
    """No diff base at all: only change handlers read it, and the operator has none (the module docstring says why).

    kopf builds one for every watch event anyway, a deep copy of the object's essence: at 1000 objects
    that was a fifth of the operator's own CPU, read by nobody.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


# -- events: each one at most marks a key ------------------------------------------------------------


@kopf.on.event(constants.GROUP, constants.VERSION, constants.PLURAL)
async def modeldeployment_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str, **kwargs: Any) -> None:
    assert runtime.controller is not None
    _capture(kwargs)
    key = (str(namespace), name)
    if event.get("type") == "DELETED":
        runtime.controller.forget(key)
        runtime.queue.forget(key)
    elif not runtime.controller.is_own_echo(body):
        runtime.queue.add(key)


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
async def deployment_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs)
    key = observe.owner_key(body)
    if key is None or runtime.controller is None:
        return
    name = body["metadata"]["name"]
    if event.get("type") == "DELETED":
        runtime.controller.child_deleted(key, kind="Deployment", name=name)
    elif not runtime.controller.child_changed(key, kind="Deployment", name=name, summary=observe.deployment_summary(body)):
        return  # e.g. only a condition's timestamp moved
    runtime.queue.add(key)


def _child_event(event: kopf.RawEvent, body: kopf.Body, *, kind: str) -> None:
    """A Service, HPA, route or ServiceMonitor changed: a deletion needs the child applied again, and a
    change needs a pass only when another field manager owns fields in it now (a hand's edit, or
    someone's own object of that name). Our own applies change them too, and need nothing."""
    key = observe.owner_key(body)
    if key is None or runtime.controller is None:
        return
    name = body["metadata"]["name"]
    if event.get("type") == "DELETED":
        runtime.controller.child_deleted(key, kind=kind, name=name)
        runtime.queue.add(key)
        return
    summary = observe.child_summary(body)
    changed = runtime.controller.child_changed(key, kind=kind, name=name, summary=summary)
    if changed and summary["foreignFields"]:
        runtime.queue.add(key)


@kopf.on.event("", "v1", "services", labels=MANAGED)
async def service_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs)
    _child_event(event, body, kind="Service")


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=MANAGED)
async def autoscaler_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs)
    _child_event(event, body, kind="HorizontalPodAutoscaler")


# A deleted route is an outage until it is back; a route edited by hand sends traffic where no step asked.
@kopf.on.event("gateway.networking.k8s.io", "v1", "httproutes", labels=MANAGED)
async def http_route_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs)
    _child_event(event, body, kind="HTTPRoute")


@kopf.on.event("gateway.networking.k8s.io", "v1", "grpcroutes", labels=MANAGED)
async def grpc_route_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs)
    _child_event(event, body, kind="GRPCRoute")


@kopf.on.event("monitoring.coreos.com", "v1", "servicemonitors", labels=MANAGED)
async def service_monitor_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs)
    _child_event(event, body, kind="ServiceMonitor")


@kopf.on.event("", "v1", "pods", labels=MANAGED)
async def pod_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _capture(kwargs)
    key = observe.owner_key(body)
    if key is None or runtime.controller is None:
        return
    name = body["metadata"]["name"]
    if event.get("type") == "DELETED":
        runtime.controller.child_deleted(key, kind="Pod", name=name)
        return
    summary = observe.pod_summary(body)
    # Readiness reaches us through the Deployment's status; a pod itself matters when it failed (a
    # crash or a model that did not load: rollback now) or cannot be scheduled (capacity).
    changed = runtime.controller.child_changed(key, kind="Pod", name=name, summary=summary)
    if changed and (summary["failure"] or summary["unschedulable"]):
        runtime.queue.add(key)


# -- operator lifecycle ---------------------------------------------------------------------------


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    configuration = runtime.api_configuration
    assert configuration is not None, "tritonops run sets the API configuration before kopf starts"
    header = configuration.get_api_key_with_prefix("BearerToken") or ""
    scheme, _separator, token = header.partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # kopf would otherwise post its own log lines as Kubernetes events: writes nobody asked for.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.persistence.diffbase_storage = _NoDiffBase()
    # Filter on the server, not in kopf: the operator then never receives, parses or holds children
    # of other controllers.
    managed = f"{constants.LABEL_MANAGED_BY}={constants.MANAGER_NAME}"
    for group, plural in WATCHED_CHILDREN:
        settings.watching.label_selectors[group, plural] = managed
    start_workers(count=WORKER_THREADS)
    memo["resync"] = asyncio.create_task(_resync_forever())


def start_workers(*, count: int) -> None:
    for number in range(count):
        worker = threading.Thread(target=_work, name=f"tritonops-worker-{number}", daemon=True)
        runtime.workers.append(worker)
        worker.start()


def stop_workers(*, timeout: float) -> bool:
    """Close the queue and wait for the reconciles in flight; True when every worker has finished."""
    runtime.queue.close()
    deadline = time.monotonic() + timeout
    for worker in runtime.workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    return not any(worker.is_alive() for worker in runtime.workers)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    runtime.queue.close()
    task = memo.get("resync")
    if task is not None:
        task.cancel()


async def _resync_forever() -> None:
    """Queue every known object periodically, and at once when this replica starts to lead."""
    term = runtime.leading.term
    waited = 0.0
    while True:
        await asyncio.sleep(1.0)
        waited += 1.0
        # A new term, even after a lapse shorter than this loop's second, means events may have been missed.
        if waited >= runtime.resync_seconds or runtime.leading.term != term:
            waited = 0.0
            owners = runtime.indexes.get("tritonops_modeldeployments")
            if owners is not None:
                for key in list(owners.keys()):
                    runtime.queue.add(key)
        term = runtime.leading.term

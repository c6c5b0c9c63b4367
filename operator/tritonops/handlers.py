"""kopf wiring only: watches feed indexes, and every relevant event asks the controller to reconcile.

Only event handlers and indexes are used, never kopf's change handlers or timers, because those write
kopf's own annotations and finalizers to every object; the status is the single source of state.
kopf starts handlers only after every index holds its initial listing, so the first reconcile after a
restart already sees every existing child and writes nothing that is in place.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from tritonops import constants, observe
from tritonops.controller import ChildState, Controller

logger = logging.getLogger(__name__)
MANAGED = {constants.LABEL_MANAGED_BY: constants.MANAGER_NAME}
HANDLER_THREADS = 16


@dataclasses.dataclass
class Runtime:
    """Process-wide state that handlers share; set by `tritonops run` before kopf starts."""

    controller: Controller | None = None
    # The kubernetes client's configuration, so that kopf's watches use exactly the writer's credentials.
    api_configuration: Any = None
    resync_seconds: float = 60.0
    indexes: dict[str, Any] = dataclasses.field(default_factory=dict)


runtime = Runtime()


def _children(key: tuple[str, str], indexes: Mapping[str, Any]) -> ChildState:
    def values(index_name: str) -> list[Any]:
        index = indexes.get(index_name)
        return list(index.get(key, [])) if index is not None else []

    services = values("tritonops_services")
    autoscalers = values("tritonops_autoscalers")
    return ChildState(
        deployments=values("tritonops_deployments"),
        unschedulable=values("tritonops_unschedulable_pods"),
        service_hash=services[0] if services else None,
        autoscaler_hash=autoscalers[0] if autoscalers else None,
    )


def _reconcile(body: Mapping[str, Any], indexes: Mapping[str, Any]) -> None:
    assert runtime.controller is not None, "tritonops run sets the controller before kopf starts"
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    runtime.controller.reconcile(body, _children(key, indexes))


def _indexes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    found = {name: value for name, value in kwargs.items() if name.startswith("tritonops_")}
    # Remember the live index views for the periodic resync, which runs outside any handler.
    runtime.indexes.update(found)
    return found


# -- indexes ------------------------------------------------------------------------------------


@kopf.index(constants.GROUP, constants.VERSION, constants.PLURAL)
def tritonops_modeldeployments(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(namespace), name): dict(body)}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
def tritonops_deployments(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]] | None:
    key = observe.owner_key(body)
    return {key: observe.deployment_summary(body)} if key else None


@kopf.index("", "v1", "services", labels=MANAGED)
def tritonops_services(body: kopf.Body, **_: Any) -> dict[tuple[str, str], str | None] | None:
    key = observe.owner_key(body)
    return {key: observe.applied_hash(body)} if key else None


@kopf.index("autoscaling", "v2", "horizontalpodautoscalers", labels=MANAGED)
def tritonops_autoscalers(body: kopf.Body, **_: Any) -> dict[tuple[str, str], str | None] | None:
    key = observe.owner_key(body)
    return {key: observe.applied_hash(body)} if key else None


@kopf.index("", "v1", "pods", labels=MANAGED)
def tritonops_unschedulable_pods(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]] | None:
    key = observe.owner_key(body)
    summary = observe.unschedulable_summary(body)
    return {key: summary} if key and summary else None


# -- events -------------------------------------------------------------------------------------


@kopf.on.event(constants.GROUP, constants.VERSION, constants.PLURAL)
def modeldeployment_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str, **kwargs: Any) -> None:
    assert runtime.controller is not None
    if event.get("type") == "DELETED":
        runtime.controller.forget((str(namespace), name))
        return
    indexes = _indexes(kwargs)
    if runtime.controller.is_own_echo(body):
        return
    _reconcile(dict(body), indexes)


def _reconcile_owner(body: kopf.Body, kwargs: Mapping[str, Any]) -> None:
    key = observe.owner_key(body)
    indexes = _indexes(kwargs)
    owners = indexes.get("tritonops_modeldeployments")
    if key is None or owners is None:
        return
    for owner in list(owners.get(key, [])):
        _reconcile(owner, indexes)


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
def deployment_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    key = observe.owner_key(body)
    if key is None or runtime.controller is None:
        return
    name = body["metadata"]["name"]
    if event.get("type") == "DELETED":
        runtime.controller.child_deleted(key, kind="Deployment", name=name)
    elif not runtime.controller.child_changed(key, kind="Deployment", name=name, summary=observe.deployment_summary(body)):
        return  # e.g. only a condition's timestamp moved
    _reconcile_owner(body, kwargs)


def _recreate_if_deleted(event: kopf.RawEvent, body: kopf.Body, *, kind: str, kwargs: Mapping[str, Any]) -> None:
    """Services and HPAs change only through us: their deletion is the one event that needs work."""
    key = observe.owner_key(body)
    if event.get("type") == "DELETED" and key is not None and runtime.controller is not None:
        runtime.controller.child_deleted(key, kind=kind, name=body["metadata"]["name"])
        _reconcile_owner(body, kwargs)


@kopf.on.event("", "v1", "services", labels=MANAGED)
def service_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _recreate_if_deleted(event, body, kind="Service", kwargs=kwargs)


@kopf.on.event("autoscaling", "v2", "horizontalpodautoscalers", labels=MANAGED)
def autoscaler_event(event: kopf.RawEvent, body: kopf.Body, **kwargs: Any) -> None:
    _recreate_if_deleted(event, body, kind="HorizontalPodAutoscaler", kwargs=kwargs)


@kopf.on.event("", "v1", "pods", labels=MANAGED, when=lambda body, **_: observe.unschedulable_summary(body) is not None)
def unschedulable_pod_event(body: kopf.Body, **kwargs: Any) -> None:
    _reconcile_owner(body, kwargs)


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
    settings.execution.max_workers = HANDLER_THREADS
    settings.watching.server_timeout = 300
    # Filter on the server, not in kopf: the operator then never receives, parses or holds children
    # of other controllers, and of pods only those the scheduler has not placed, which is all it reads.
    managed = f"{constants.LABEL_MANAGED_BY}={constants.MANAGER_NAME}"
    for group, plural in (("apps", "deployments"), ("", "services"), ("autoscaling", "horizontalpodautoscalers"), ("", "pods")):
        settings.watching.label_selectors[group, plural] = managed
    settings.watching.field_selectors["", "pods"] = "spec.nodeName="
    memo["resync"] = asyncio.create_task(_resync_forever())


@kopf.on.cleanup()
async def stop_resync(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("resync")
    if task is not None:
        task.cancel()


async def _resync_forever() -> None:
    """Reconcile every known object periodically; converged objects cost no writes."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(runtime.resync_seconds)
        owners = runtime.indexes.get("tritonops_modeldeployments")
        if owners is None:
            continue
        for key in list(owners.keys()):
            for body in list(owners.get(key, [])):
                try:
                    await loop.run_in_executor(None, _reconcile, body, dict(runtime.indexes))
                except Exception:  # one broken object must not stop the resync of the others
                    logger.exception("resync of %s/%s failed", *key)

"""One reconciliation: observe, ask the pure core for a plan, carry it out through the writer."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubernetes.client.rest import ApiException

from tritonops import metrics, observe
from tritonops.engine import reconcile
from tritonops.engine.actions import Event, Plan
from tritonops.kube import KubernetesWriter, manifest_hash
from tritonops.resource import ModelDeployment

logger = logging.getLogger(__name__)
Key = tuple[str, str]


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _resource_version(body: Mapping[str, Any]) -> int:
    try:
        return int(body.get("metadata", {}).get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


@dataclasses.dataclass(frozen=True)
class ChildState:
    """What the watches currently know about one ModelDeployment's children."""

    deployments: Iterable[Mapping[str, Any]] = ()
    unschedulable: Iterable[Mapping[str, Any]] = ()
    service_hash: str | None = None
    autoscaler_hash: str | None = None


class Controller:
    def __init__(self, writer: KubernetesWriter, *, clock: Callable[[], datetime.datetime] = _utcnow) -> None:
        self.writer = writer
        self.clock = clock
        # What this process last wrote, so that a watch that has not caught up yet causes no second write.
        self._written_status: dict[Key, tuple[int, Mapping[str, Any]]] = {}
        self._applied: dict[Key, dict[tuple[str, str], str]] = collections.defaultdict(dict)
        # The last summary of each child seen in a watch event; most events change nothing we read.
        self._seen_children: dict[Key, dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)

    def _fresh(self, body: Mapping[str, Any], key: Key) -> Mapping[str, Any]:
        remembered = self._written_status.get(key)
        if remembered is not None and _resource_version(body) < remembered[0]:
            return {**body, "status": remembered[1]}
        return body

    def forget(self, key: Key) -> None:
        self._written_status.pop(key, None)
        self._applied.pop(key, None)
        self._seen_children.pop(key, None)
        metrics.forget(namespace=key[0], name=key[1])

    def is_own_echo(self, body: Mapping[str, Any]) -> bool:
        """True for the watch event of a status this process wrote, on an unchanged spec: nothing to do."""
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        remembered = self._written_status.get(key)
        status = body.get("status") or {}
        return (
            remembered is not None
            and dict(status) == dict(remembered[1])
            and status.get("observedGeneration") == body["metadata"].get("generation")
        )

    def child_changed(self, key: Key, *, kind: str, name: str, summary: Mapping[str, Any]) -> bool:
        """Record a child's summary; False when it equals the last one seen (a change we do not read)."""
        children = self._seen_children[key]
        if children.get((kind, name)) == summary:
            return False
        children[(kind, name)] = dict(summary)
        return True

    def child_deleted(self, key: Key, *, kind: str, name: str) -> None:
        """A child is gone: the next pass must recreate it even though we applied it before."""
        self._applied.get(key, {}).pop((kind, name), None)
        self._seen_children.get(key, {}).pop((kind, name), None)

    def reconcile(self, body: Mapping[str, Any], children: ChildState) -> Plan | None:
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        started = time.monotonic()
        # No lock: the work queue never hands one key to two workers at once.
        resource = ModelDeployment.from_body(self._fresh(body, key))
        try:
            plan = self._reconcile_once(resource, children)
        except ApiException as error:
            metrics.reconcile_total.labels(result="error").inc()
            logger.error("reconcile of %s/%s failed: %s %s", key[0], key[1], error.status, error.reason)
            self.writer.emit_event(resource, Event("Warning", "ReconcileFailed", f"API error {error.status}: {error.reason}"), now=self.clock())
            return None
        finally:
            metrics.reconcile_duration_seconds.observe(time.monotonic() - started)
        metrics.reconcile_total.labels(result="success").inc()
        metrics.record_status(namespace=key[0], name=key[1], phase=str(plan.status.get("phase")), weight=int(plan.status.get("canaryWeight", 0)))
        return plan

    def _reconcile_once(self, resource: ModelDeployment, children: ChildState) -> Plan:
        deployments = list(children.deployments)
        observations = observe.observations_from(
            deployments=deployments, unschedulable=children.unschedulable, autoscaler_exists=children.autoscaler_hash is not None
        )
        now = self.clock()
        plan = reconcile.plan(resource, observations, now=now)
        live_hashes: dict[tuple[str, str], str | None] = {("Deployment", str(d["name"])): d.get("appliedHash") for d in deployments}
        live_hashes[("Service", resource.name)] = children.service_hash
        live_hashes[("HorizontalPodAutoscaler", resource.name)] = children.autoscaler_hash
        applied = self._applied[(resource.namespace, resource.name)]
        for manifest in plan.apply:
            child = (str(manifest["kind"]), str(manifest["metadata"]["name"]))
            live = live_hashes.get(child)
            desired_hash = manifest_hash(manifest)
            if applied.get(child) == desired_hash and live in (None, desired_hash):
                continue  # written moments ago; the watch has not delivered it yet
            if self.writer.apply(manifest, live_hash=live):
                applied[child] = desired_hash
        for action in plan.scale:
            self.writer.scale(namespace=resource.namespace, action=action)
        for reference in plan.delete:
            self.writer.delete(namespace=resource.namespace, reference=reference)
            applied.pop((reference.kind, reference.name), None)
        updated = self.writer.patch_status(resource, plan.status)
        if updated is not None:
            key = (resource.namespace, resource.name)
            self._written_status[key] = (_resource_version(updated), plan.status)
        for event in plan.events:
            self.writer.emit_event(resource, event, now=now)
        return plan

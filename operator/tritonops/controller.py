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

from tritonops import constants, metrics, observe
from tritonops.analyzer import Analyzer
from tritonops.desired.revision import Revision
from tritonops.desired.service_monitor import SERVICE_MONITOR_API_VERSION, wants_service_monitor
from tritonops.engine import capacity, reconcile, rollout
from tritonops.engine.actions import Event, Plan
from tritonops.engine.analysis import Verdict
from tritonops.engine.observations import Observations
from tritonops.kube import KubernetesWriter, manifest_hash
from tritonops.resource import ModelDeployment

logger = logging.getLogger(__name__)
Key = tuple[str, str]
SERVICE_MONITOR_RECHECK_SECONDS = 60.0


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
    pods: Iterable[Mapping[str, Any]] = ()
    # Summaries ({name, appliedHash}) of the main Service and of any per-revision Services.
    services: Iterable[Mapping[str, Any]] = ()
    autoscaler_hash: str | None = None


class Controller:
    def __init__(
        self, writer: KubernetesWriter, *, analyzer: Analyzer | None = None, clock: Callable[[], datetime.datetime] = _utcnow
    ) -> None:
        self.writer = writer
        self.analyzer = analyzer or Analyzer()
        self.clock = clock
        # What this process last wrote, so that a watch that has not caught up yet causes no second write.
        self._written_status: dict[Key, tuple[int, Mapping[str, Any]]] = {}
        self._applied: dict[Key, dict[tuple[str, str], str]] = collections.defaultdict(dict)
        # The last summary of each child seen in a watch event; most events change nothing we read.
        self._seen_children: dict[Key, dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)
        # (checked at, served): whether the cluster serves ServiceMonitor, asked again after a minute.
        self._service_monitor_served: tuple[float, bool] | None = None

    def _fresh(self, body: Mapping[str, Any], key: Key) -> Mapping[str, Any]:
        remembered = self._written_status.get(key)
        if remembered is not None and _resource_version(body) < remembered[0]:
            return {**body, "status": remembered[1]}
        return body

    def forget(self, key: Key) -> None:
        self._written_status.pop(key, None)
        self._applied.pop(key, None)
        self._seen_children.pop(key, None)
        self.analyzer.forget(key)
        metrics.forget(namespace=key[0], name=key[1])

    def is_own_echo(self, body: Mapping[str, Any]) -> bool:
        """True for the watch event of a status this process wrote, on an unchanged spec: nothing to do."""
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        remembered = self._written_status.get(key)
        status = body.get("status") or {}
        annotations = body["metadata"].get("annotations") or {}
        return (
            remembered is not None
            # A user's promote, abort or retry changes no generation; it must still be seen.
            and not any(name in annotations for name in rollout.ONE_SHOT_ANNOTATIONS)
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

    def _observe(self, resource: ModelDeployment, children: ChildState, *, now: datetime.datetime) -> Observations:
        services = list(children.services)
        routing = [("Service", str(service["name"])) for service in services if service.get("name") != resource.name]
        if routing:
            # Revision Services exist only beside the gatewayAPI routes, which are not watched.
            routing += [("HTTPRoute", f"{resource.name}-http"), ("GRPCRoute", f"{resource.name}-grpc")]
        pods = list(children.pods)
        observations = observe.observations_from(
            deployments=list(children.deployments), pods=pods, autoscaler_exists=children.autoscaler_hash is not None, routing_children=routing
        )
        desired = resource.revision
        if rollout.pods_to_place(resource, observations, desired=desired):
            nodes, all_pods = self.writer.list_capacity_inputs()
            stable_hash = str((resource.status.get("stableRevision") or {}).get("hash", ""))

            def releasing(pod: Mapping[str, Any]) -> bool:
                metadata = pod.get("metadata") or {}
                labels = metadata.get("labels") or {}
                return bool(metadata.get("namespace") == resource.namespace and labels.get(constants.LABEL_MODEL_DEPLOYMENT) == resource.name
                            and labels.get(constants.LABEL_REVISION) == stable_hash)

            room = capacity.room(nodes=nodes, pods=all_pods, server=resource.spec.server, releasing=releasing)
            observations = dataclasses.replace(observations, room=room)
        if wants_service_monitor(resource):
            observations = dataclasses.replace(observations, service_monitor_supported=self._serves_service_monitor())
        stable_status, canary_status = resource.status.get("stableRevision"), resource.status.get("canaryRevision")
        if stable_status and canary_status and canary_status.get("hash") == desired.hash and resource.status.get("phase") == "Canary":
            stable = Revision.from_status(stable_status)
            if rollout.analysis_due(resource, observations, now=now):
                verdict = self.analyzer.analyse(resource, stable=stable, canary=desired, pods=pods)
                if verdict is not None:
                    self._record_analysis(resource, verdict)
                    observations = dataclasses.replace(observations, analysis=verdict)
            elif (observed := observations.deployments.get(desired.hash)) is not None and observed.ready():
                self.analyzer.prime(resource, stable=stable, canary=desired, pods=pods)
        return observations

    def _serves_service_monitor(self) -> bool:
        cached = self._service_monitor_served
        if cached is None or time.monotonic() - cached[0] > SERVICE_MONITOR_RECHECK_SECONDS:
            served = self.writer.serves(api_version=SERVICE_MONITOR_API_VERSION, plural="servicemonitors")
            self._service_monitor_served = cached = (time.monotonic(), served)
        return cached[1]

    @staticmethod
    def _record_analysis(resource: ModelDeployment, verdict: Verdict) -> None:
        for check in verdict.checks:
            if check.value is not None:
                metrics.record_analysis(namespace=resource.namespace, name=resource.name, check=check.check, revision=check.revision, value=check.value)

    def _reconcile_once(self, resource: ModelDeployment, children: ChildState) -> Plan:
        now = self.clock()
        observations = self._observe(resource, children, now=now)
        plan = reconcile.plan(resource, observations, now=now)
        deployments = list(children.deployments)
        live_hashes: dict[tuple[str, str], str | None] = {("Deployment", str(d["name"])): d.get("appliedHash") for d in deployments}
        for service in children.services:
            live_hashes[("Service", str(service["name"]))] = service.get("appliedHash")
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
        if plan.remove_annotations:
            self.writer.remove_annotations(resource, list(plan.remove_annotations))
        for event in plan.events:
            self.writer.emit_event(resource, event, now=now)
        if plan.promoted:
            metrics.promotions_total.inc()
        if plan.rollback_reason:
            metrics.rollbacks_total.labels(reason=plan.rollback_reason).inc()
        return plan

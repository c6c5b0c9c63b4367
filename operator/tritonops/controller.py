"""One reconciliation: observe, ask the pure core for a plan, carry it out through the writer.

Every failure of a pass, whatever raised it, is counted, logged, and shown on the object (a condition and
a Warning event with the real message, see engine/failures.py), then handed back to the work queue to be
retried with backoff; a spec the operator cannot build from is final for its generation and is not.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from tritonops import constants, drift, metrics, observe
from tritonops.analyzer import Analyzer
from tritonops.control_plane import ControlPlaneProbe
from tritonops.desired.revision import Revision
from tritonops.desired.service_monitor import SERVICE_MONITOR_API_VERSION, wants_service_monitor
from tritonops.engine import capacity, failures, reconcile, rollout
from tritonops.engine.actions import Event, Plan
from tritonops.engine.analysis import Verdict
from tritonops.engine.observations import Observations
from tritonops.errors import ChildRefusedError, InvalidSpecError, child_write_error, describe, namespace_terminating
from tritonops.golden.golden_set import GoldenSet, GoldenSetError
from tritonops.golden.golden_set import parse as parse_golden_set
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

    # Summaries (observe.deployment_summary), each with its owner's uid and the fields others own.
    deployments: Iterable[Mapping[str, Any]] = ()
    # Summaries (observe.pod_summary), each naming the ReplicaSet that made it.
    pods: Iterable[Mapping[str, Any]] = ()
    # Summaries (observe.child_summary) of the main Service and of any per-revision Services, of the HPA,
    # of the routes and of the ServiceMonitor.
    services: Iterable[Mapping[str, Any]] = ()
    autoscalers: Iterable[Mapping[str, Any]] = ()
    http_routes: Iterable[Mapping[str, Any]] = ()
    grpc_routes: Iterable[Mapping[str, Any]] = ()
    service_monitors: Iterable[Mapping[str, Any]] = ()


# Each kind of child whose live object is summarised, and the ChildState field that holds it.
CHILD_FIELDS = (
    ("Deployment", "deployments"), ("Service", "services"), ("HorizontalPodAutoscaler", "autoscalers"),
    ("HTTPRoute", "http_routes"), ("GRPCRoute", "grpc_routes"), ("ServiceMonitor", "service_monitors"),
)


@dataclasses.dataclass(frozen=True)
class Failure:
    reason: str  # failures.INVALID_SPEC | failures.RECONCILE_FAILED
    message: str


@dataclasses.dataclass(frozen=True)
class Reconciliation:
    """What one pass asks of the work queue: nothing, a timer of the rollout, or a retry with backoff."""

    plan: Plan | None = None
    failure: Failure | None = None
    # The failure may pass (an unreachable API server, a refused child), or it could not be reported.
    retry: bool = False

    @property
    def requeue_after(self) -> float | None:
        return self.plan.requeue_after if self.plan is not None else None


@dataclasses.dataclass(frozen=True)
class _Identity:
    """Who an object is and its status, read from metadata alone: enough to report any failure, even
    one of reading the spec itself."""

    name: str
    namespace: str
    uid: str
    generation: int
    status: Mapping[str, Any]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> _Identity:
        metadata = body["metadata"]
        return cls(
            name=str(metadata["name"]), namespace=str(metadata["namespace"]), uid=str(metadata.get("uid", "")),
            generation=int(metadata.get("generation", 0)), status=body.get("status") or {},
        )


class Controller:
    def __init__(
        self, writer: KubernetesWriter, *, analyzer: Analyzer | None = None, clock: Callable[[], datetime.datetime] = _utcnow,
        storage_image: str = constants.DEFAULT_STORAGE_IMAGE, control_plane: ControlPlaneProbe | None = None,
    ) -> None:
        self.writer = writer
        self.control_plane = control_plane
        self.storage_image = storage_image
        self.analyzer = analyzer or Analyzer()
        self.clock = clock
        # What this process last wrote (resourceVersion, status, the generation it was written for), so that
        # a watch that has not caught up yet causes no second write.
        self._written_status: dict[Key, tuple[int, Mapping[str, Any], int]] = {}
        self._applied: dict[Key, dict[tuple[str, str], str]] = collections.defaultdict(dict)
        # The last summary of each child seen in a watch event; most events change nothing we read.
        self._seen_children: dict[Key, dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)
        # Per child, (manifest hash, fields) that another manager still owned right after our forced apply:
        # an apply cannot take them back (its own list item beside ours), so seeing them again is no drift.
        self._unrepairable: dict[Key, dict[tuple[str, str], tuple[str, tuple[drift.Path, ...]]]] = collections.defaultdict(dict)
        # Objects whose namespace is being deleted, already logged once.
        self._namespace_terminating: set[Key] = set()
        # Children with our labels that this object does not own, already reported once.
        self._foreign_reported: dict[Key, set[tuple[str, str]]] = collections.defaultdict(set)
        # (checked at, served): whether the cluster serves ServiceMonitor, asked again after a minute.
        self._service_monitor_served: tuple[float, bool] | None = None
        # Workers reconcile while the event loop records children and forgets deleted objects: the
        # per-object bookkeeping above is read and changed under this lock.
        self._lock = threading.Lock()
        # Keys with a pass running -> whether the object was forgotten meanwhile; such a pass forgets it
        # again when it ends, since what it recorded after the deletion would otherwise stay for good.
        self._passes: dict[Key, bool] = {}

    def _fresh(self, body: Mapping[str, Any], key: Key) -> Mapping[str, Any]:
        with self._lock:
            remembered = self._written_status.get(key)
        if remembered is not None and _resource_version(body) < remembered[0]:
            return {**body, "status": remembered[1]}
        return body

    def forget(self, key: Key) -> None:
        """The object is gone: drop all that is remembered of it, now and when a running pass ends."""
        with self._lock:
            if key in self._passes:
                self._passes[key] = True
        self._drop(key)

    def _drop(self, key: Key) -> None:
        with self._lock:
            self._written_status.pop(key, None)
            self._applied.pop(key, None)
            self._seen_children.pop(key, None)
            self._unrepairable.pop(key, None)
            self._foreign_reported.pop(key, None)
            self._namespace_terminating.discard(key)
        self.analyzer.forget(key)
        metrics.forget(namespace=key[0], name=key[1])

    def remembers(self, key: Key) -> bool:
        """Whether anything is remembered of one object (for tests and debugging)."""
        with self._lock:
            return key in self._written_status or key in self._applied or key in self._seen_children or bool(self.analyzer.triton.sampled(key))

    def is_own_echo(self, body: Mapping[str, Any]) -> bool:
        """True for the watch event of a status this process wrote, on an unchanged spec: nothing to do."""
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        with self._lock:
            remembered = self._written_status.get(key)
        status = body.get("status") or {}
        annotations = body["metadata"].get("annotations") or {}
        return (
            remembered is not None
            # A user's promote, abort or retry changes no generation; it must still be seen.
            and not any(name in annotations for name in rollout.ONE_SHOT_ANNOTATIONS)
            and dict(status) == dict(remembered[1])
            # A spec edit changes the generation. Compared with the one written for, not observedGeneration:
            # a failed pass writes its condition without advancing observedGeneration.
            and remembered[2] == int(body["metadata"].get("generation", 0))
        )

    def child_changed(self, key: Key, *, kind: str, name: str, summary: Mapping[str, Any]) -> bool:
        """Record a child's summary; False when it equals the last one seen (a change we do not read)."""
        with self._lock:
            children = self._seen_children[key]
            if children.get((kind, name)) == summary:
                return False
            children[(kind, name)] = dict(summary)
            return True

    def child_deleted(self, key: Key, *, kind: str, name: str) -> None:
        """A child is gone: the next pass must recreate it even though we applied it before."""
        with self._lock:
            self._applied.get(key, {}).pop((kind, name), None)
            self._seen_children.get(key, {}).pop((kind, name), None)

    def reconcile(self, body: Mapping[str, Any], children: ChildState) -> Reconciliation:
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        with self._lock:
            self._passes[key] = False
        try:
            return self._reconcile_tracked(body, children, key)
        finally:
            with self._lock:
                forgotten = self._passes.pop(key, False)
            if forgotten:
                self._drop(key)

    def _reconcile_tracked(self, body: Mapping[str, Any], children: ChildState, key: Key) -> Reconciliation:
        started = time.monotonic()
        # One pass per key at a time: the work queue never hands one key to two workers at once.
        try:
            resource = ModelDeployment.from_body(self._fresh(body, key))
            plan = self._reconcile_once(resource, children)
        except Exception as error:  # every failure: an outage's urllib3 errors and a builder's TypeError too
            if namespace_terminating(error):
                return self._leaving_with_namespace(key)
            metrics.reconcile_total.labels(result="error").inc()
            # Read again: a pass that failed after its status write must not report over that write.
            return self._failed(_Identity.from_body(self._fresh(body, key)), error)
        finally:
            metrics.reconcile_duration_seconds.observe(time.monotonic() - started)
        metrics.reconcile_total.labels(result="success").inc()
        metrics.record_status(namespace=key[0], name=key[1], phase=str(plan.status.get("phase")), weight=int(plan.status.get("canaryWeight", 0)))
        return Reconciliation(plan=plan)

    def _leaving_with_namespace(self, key: Key) -> Reconciliation:
        """A write refused because the namespace is being deleted: the object goes with it, so this is no
        failure to retry, count as an error or report (no event can be created there any more)."""
        metrics.reconcile_total.labels(result="namespace_terminating").inc()
        with self._lock:
            told = key in self._namespace_terminating
            self._namespace_terminating.add(key)
        if not told:
            logger.info("%s/%s: namespace %s is being deleted; leaving the object and its children to it", key[0], key[1], key[0])
        return Reconciliation()

    def _failed(self, identity: _Identity, error: Exception) -> Reconciliation:
        now = self.clock()
        message = describe(error)
        where = f"{identity.namespace}/{identity.name}"
        if isinstance(error, InvalidSpecError):
            logger.warning("%s has a spec that cannot be deployed: %s", where, message)
            reason = failures.INVALID_SPEC
            status = failures.invalid_spec(identity.status, generation=identity.generation, message=message, now=now)
            metrics.record_status(namespace=identity.namespace, name=identity.name, phase="Failed", weight=int(status.get("canaryWeight", 0)))
        elif isinstance(error, ChildRefusedError):
            logger.warning("%s cannot be deployed as it stands: %s", where, message)
            reason = error.reason
            status = failures.not_deployable(identity.status, generation=identity.generation, reason=reason, message=message, now=now)
            metrics.record_status(namespace=identity.namespace, name=identity.name, phase="Failed", weight=int(status.get("canaryWeight", 0)))
        else:
            # Errors of the API or of reaching it are expected; anything else is a bug, whose traceback is wanted.
            expected = isinstance(error, (ApiException, HTTPError))
            logger.error("reconcile of %s failed: %s", where, message, exc_info=None if expected else error)
            reason = failures.RECONCILE_FAILED
            status = failures.reconcile_failed(identity.status, generation=identity.generation, message=message, now=now)
        reported = self._report(identity, status, Event("Warning", reason, message), now=now)
        # An invalid spec fails the same way until the spec changes, and a change is an event of its own.
        retry = not isinstance(error, InvalidSpecError) or not reported
        return Reconciliation(failure=Failure(reason=reason, message=message), retry=retry)

    def _report(self, identity: _Identity, status: Mapping[str, Any], event: Event, *, now: datetime.datetime) -> bool:
        """Write the failure's status and post its event, once per distinct failure; False if the status
        could not be written (the API server may be the very thing that failed)."""
        if dict(status) == dict(identity.status):
            return True  # shown already: retries and resyncs of the same failure write nothing
        # The event first: once the status shows the failure, a retry writes nothing more, so a process killed
        # between the two would never post it. Killed the other way round, the retry posts it a second time.
        try:
            self.writer.emit_event(identity, event, now=now)
        except Exception as error:
            logger.warning("could not record event %s for %s/%s: %s", event.reason, identity.namespace, identity.name, describe(error))
        try:
            updated = self.writer.patch_status(identity, status)
        except Exception as error:
            logger.warning("could not record the failure of %s/%s in its status: %s", identity.namespace, identity.name, describe(error))
            return False
        if updated is not None:
            with self._lock:
                self._written_status[(identity.namespace, identity.name)] = (_resource_version(updated), status, identity.generation)
        return True

    def _observe(self, resource: ModelDeployment, children: ChildState, *, now: datetime.datetime) -> Observations:
        """What the pass decides from; `children` holds only what this object owns (see `_owned`)."""
        services = list(children.services)
        routing = [("Service", str(service["name"])) for service in services if service.get("name") != resource.name]
        routes = [("HTTPRoute", str(route["name"])) for route in children.http_routes] + [("GRPCRoute", str(route["name"])) for route in children.grpc_routes]
        if routing:
            # Revision Services exist only beside the gatewayAPI routes; their watch may not have started yet
            # (kopf watches a kind once its CRD is served), so they are named even where none is seen.
            routes += [("HTTPRoute", f"{resource.name}-http"), ("GRPCRoute", f"{resource.name}-grpc")]
        routing += sorted(set(routes))
        pods = list(children.pods)
        observations = observe.observations_from(
            deployments=list(children.deployments), pods=pods, autoscaler_exists=bool(list(children.autoscalers)), routing_children=routing
        )
        desired = resource.revision
        if rollout.pods_to_place(resource, observations, desired=desired):
            nodes, all_pods = self.writer.list_capacity_inputs()
            stable_hash = str((resource.status.get("stableRevision") or {}).get("hash", ""))

            def of_revision(revision: str) -> Callable[[Mapping[str, Any]], bool]:
                # Made by our own Deployment of that revision: a look-alike's GPUs are neither ours to give back nor to place.
                deployments = {str(d["name"]) for d in children.deployments if d.get("revision") == revision}

                def matches(pod: Mapping[str, Any]) -> bool:
                    metadata = pod.get("metadata") or {}
                    labels = metadata.get("labels") or {}
                    return bool(metadata.get("namespace") == resource.namespace and labels.get(constants.LABEL_MODEL_DEPLOYMENT) == resource.name
                                and labels.get(constants.LABEL_REVISION) == revision
                                and drift.made_by(replica_set=drift.replica_set_of(pod), template_hash=labels.get(observe.POD_TEMPLATE_HASH_LABEL),
                                                  deployments=deployments))

                return matches

            room = capacity.room(nodes=nodes, pods=all_pods, server=resource.spec.server, releasing=of_revision(stable_hash),
                                 placing=of_revision(desired.hash))
            observations = dataclasses.replace(observations, room=room)
        if wants_service_monitor(resource):
            observations = dataclasses.replace(observations, service_monitor_supported=self._serves_service_monitor())
        if self.control_plane is not None:
            observations = dataclasses.replace(observations, control_plane_back_at=self.control_plane.progress_restart())
        stable_status, canary_status = resource.status.get("stableRevision"), resource.status.get("canaryRevision")
        if stable_status and canary_status and canary_status.get("hash") == desired.hash and resource.status.get("phase") == "Canary":
            stable = Revision.from_status(stable_status)
            if rollout.golden_gate_due(resource, observations, now=now):
                # Before any traffic: only the golden checks (there are no requests to measure yet).
                gate = self.analyzer.golden(resource, golden_set=self._golden_set(resource, now=now), stable=stable, canary=desired, pods=pods)
                self._record_analysis(resource, gate)
                observations = dataclasses.replace(observations, analysis=gate)
            elif rollout.analysis_due(resource, observations, now=now):
                golden_set = self._golden_set(resource, now=now) if resource.spec.rollout.analysis.golden is not None else None
                verdict = self.analyzer.analyse(resource, stable=stable, canary=desired, pods=pods, golden_set=golden_set)
                if verdict is not None:
                    self._record_analysis(resource, verdict)
                    observations = dataclasses.replace(observations, analysis=verdict)
            elif (observed := observations.deployments.get(desired.hash)) is not None and observed.ready():
                self.analyzer.prime(resource, stable=stable, canary=desired, pods=pods)
        return observations

    def _golden_set(self, resource: ModelDeployment, *, now: datetime.datetime) -> GoldenSet | str:
        """The golden set of spec.rollout.analysis.golden, read from its ConfigMap now (an edit applies at the
        next interval), or why it cannot be: a Warning event names the ConfigMap, and the analysis is inconclusive."""
        golden = resource.spec.rollout.analysis.golden
        assert golden is not None
        where = f"ConfigMap {resource.namespace}/{golden.config_map_name}"
        problem: str
        try:
            data = self.writer.read_config_map(namespace=resource.namespace, name=golden.config_map_name)
        except ApiException as error:
            problem = f"{where} cannot be read: {error.status} {error.reason}"
        except HTTPError as error:
            problem = f"{where} cannot be read: {describe(error)}"
        else:
            text = data.get(golden.config_map_key)
            if text is None:
                problem = f"{where} has no key {golden.config_map_key!r} (it has: {', '.join(sorted(data)) or 'no keys'})"
            else:
                try:
                    return parse_golden_set(text)
                except GoldenSetError as error:
                    problem = f"{where} key {golden.config_map_key!r} is not a golden set: {error}"
        logger.warning("%s/%s: %s", resource.namespace, resource.name, problem)
        self.writer.emit_event(resource, Event("Warning", "GoldenSetUnreadable", problem), now=now)
        return problem

    @staticmethod
    def _drifted(
        manifest: Mapping[str, Any], live: Mapping[str, Any] | None, *, desired_hash: str, unrepairable: tuple[str, tuple[drift.Path, ...]] | None,
    ) -> tuple[drift.Path, ...]:
        """The fields we set that another field manager now owns in a child applied from this very manifest.

        Why managedFields and not values: see tritonops.drift. A child of another hash is applied anyway.
        """
        if live is None or live.get("appliedHash") != desired_hash:
            return ()
        taken = drift.taken(manifest, live.get("foreignFields") or ())
        if unrepairable is not None and unrepairable[0] == desired_hash and set(taken) <= set(unrepairable[1]):
            return ()  # what our last forced apply could not take back: applying again would change nothing
        return taken

    def _serves_service_monitor(self) -> bool:
        cached = self._service_monitor_served
        if cached is None or time.monotonic() - cached[0] > SERVICE_MONITOR_RECHECK_SECONDS:
            served = self.writer.serves(api_version=SERVICE_MONITOR_API_VERSION, plural="servicemonitors")
            self._service_monitor_served = cached = (time.monotonic(), served)
        return cached[1]

    @staticmethod
    def _record_analysis(resource: ModelDeployment, verdict: Verdict) -> None:
        # Both revisions' values: the canary's checks and the stable's readings of the same quantities.
        values = [(c.check, c.revision, c.value) for c in verdict.checks] + [(r.check, r.revision, r.value) for r in verdict.readings]
        for check, revision, value in values:
            if value is not None:
                metrics.record_analysis(namespace=resource.namespace, name=resource.name, check=check, revision=revision, value=value)

    def _owned(self, resource: ModelDeployment, children: ChildState, *, now: datetime.datetime) -> tuple[ChildState, set[tuple[str, str]]]:
        """The children whose controlling owner reference names this object's uid, and the names of the
        others that carry its labels: a child of a former object of the same name, or someone's own
        object. Those are never scaled, deleted or applied over (adopted), and are reported once.

        Pods are ours when our own Deployments' ReplicaSets made them; the others are left out of every
        count, capacity check and scrape, and reported once too."""
        owned: dict[str, list[Mapping[str, Any]]] = {field: [] for _, field in CHILD_FIELDS}
        strangers: set[tuple[str, str]] = set()
        for kind, field in CHILD_FIELDS:
            for summary in getattr(children, field):
                if summary.get("ownerUid") == resource.uid:
                    owned[field].append(summary)
                else:
                    strangers.add((kind, str(summary.get("name"))))
        deployments = {str(summary["name"]) for summary in owned["deployments"]}
        pods: list[Mapping[str, Any]] = []
        foreign_pods: set[tuple[str, str]] = set()
        for pod in children.pods:
            if drift.made_by(replica_set=pod.get("replicaSet"), template_hash=pod.get("templateHash"), deployments=deployments):
                pods.append(pod)
            elif not drift.made_by(replica_set=pod.get("replicaSet"), template_hash=pod.get("templateHash"),
                                   deployments={f"{resource.name}-{pod.get('revision')}"}):
                # Not even named like one of ours. A pod whose ReplicaSet is named for one of our revisions may
                # belong to a Deployment the watch has not shown yet, or is still deleting: left out, not reported.
                foreign_pods.add(("Pod", str(pod.get("name"))))
        key = (resource.namespace, resource.name)
        with self._lock:
            reported = self._foreign_reported[key]
            new = sorted((strangers | foreign_pods) - reported)
            reported.intersection_update(strangers | foreign_pods)  # one that comes back later is reported again
            reported.update(new)
        for kind, name in new:
            if kind == "Pod":
                message = f"Pod {name} has the labels of {resource.name} but was not made by its Deployments: not counted or scraped"
            else:
                message = f"{kind} {name} has the labels of {resource.name} but is not owned by it (uid {resource.uid}): left alone"
            logger.warning("%s/%s: %s", resource.namespace, resource.name, message)
            self.writer.emit_event(resource, Event("Warning", "ForeignChild", message), now=now)
        return dataclasses.replace(children, pods=pods, **owned), strangers

    def _reconcile_once(self, resource: ModelDeployment, children: ChildState) -> Plan:
        now = self.clock()
        children, strangers = self._owned(resource, children, now=now)
        observations = self._observe(resource, children, now=now)
        plan = reconcile.plan(resource, observations, now=now, storage_image=self.storage_image)
        plan = dataclasses.replace(plan, status=failures.succeeded(plan.status, generation=resource.generation, now=now))
        # Every kind alike: what was applied (the hash) and who changed it since (managedFields).
        live_children: dict[tuple[str, str], Mapping[str, Any]] = {
            (kind, str(summary["name"])): summary for kind, field in CHILD_FIELDS for summary in getattr(children, field)
        }
        live_hashes: dict[tuple[str, str], str | None] = {child: summary.get("appliedHash") for child, summary in live_children.items()}
        key = (resource.namespace, resource.name)
        with self._lock:
            applied = self._applied[key]
            unrepairable = self._unrepairable[key]
        for manifest in plan.apply:
            child = (str(manifest["kind"]), str(manifest["metadata"]["name"]))
            if child in strangers:
                continue  # not ours to take over; reported by _owned
            live = live_hashes.get(child)
            desired_hash = manifest_hash(manifest)
            drifted = self._drifted(manifest, live_children.get(child), desired_hash=desired_hash, unrepairable=unrepairable.get(child))
            with self._lock:
                written_before = applied.get(child) == desired_hash
            if not drifted and written_before and live in (None, desired_hash):
                continue  # written moments ago; the watch has not delivered it yet
            if drifted:
                logger.info("%s/%s: %s %s was changed by another field manager (%s): applying it again", resource.namespace, resource.name,
                            child[0], child[1], ", ".join(".".join(path) for path in drifted))
            try:
                result = self.writer.apply(manifest, live_hash=None if drifted else live)
            except ApiException as error:
                raise child_write_error(error, api_version=str(manifest["apiVersion"]), kind=child[0], name=child[1]) from error
            if result:
                with self._lock:
                    applied[child] = desired_hash
                    if isinstance(result, Mapping):
                        left = drift.taken(manifest, drift.foreign_paths(result))
                        if left:
                            unrepairable[child] = (desired_hash, left)
                        else:
                            unrepairable.pop(child, None)
        for action in plan.scale:
            self.writer.scale(namespace=resource.namespace, action=action)
        for reference in plan.delete:
            if (reference.kind, reference.name) in strangers:
                continue  # not ours to remove
            self.writer.delete(namespace=resource.namespace, reference=reference)
            with self._lock:
                applied.pop((reference.kind, reference.name), None)
        # A transition's event goes out before the status that records it, under a name of its own: killed in
        # between, the next pass makes the same transition from the same status and its create is skipped.
        # After the status write, a kill would lose the event for good (the next pass sees nothing to do).
        for event in plan.events:
            if event.key is not None:
                self.writer.emit_transition(resource, event, now=now)
        updated = self.writer.patch_status(resource, plan.status)
        if updated is not None:
            with self._lock:
                self._written_status[key] = (_resource_version(updated), plan.status, resource.generation)
        if plan.remove_annotations:
            self.writer.remove_annotations(resource, list(plan.remove_annotations))
        # Reports of a condition may repeat; event_series.py folds a repeat into the first one's count.
        for event in plan.events:
            if event.key is None:
                self.writer.emit_event(resource, event, now=now)
        if plan.promoted:
            metrics.promotions_total.inc()
        if plan.rollback_reason:
            metrics.rollbacks_total.labels(reason=plan.rollback_reason).inc()
        return plan

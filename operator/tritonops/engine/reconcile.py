"""Decide the children and the status of one ModelDeployment from what was observed."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.desired.autoscaler import autoscaler_name, build_autoscaler
from tritonops.desired.deployment import build_deployment
from tritonops.desired.revision import Revision
from tritonops.desired.service import build_service, endpoints
from tritonops.desired.service_monitor import SERVICE_MONITOR_API_VERSION, build_service_monitor, wants_service_monitor
from tritonops.engine import conditions, pod_counts, rollout, served_content
from tritonops.engine.actions import ChildReference, Event, Plan, Scale
from tritonops.engine.observations import DeploymentObservation, Observations, PodFailure
from tritonops.redaction import redact
from tritonops.resource import ModelDeployment
from tritonops.routers import router_for

HISTORY_LIMIT = 10


@dataclasses.dataclass(frozen=True)
class _Health:
    phase: str
    reason: str
    message: str


def _gpu_shortfall(resource: ModelDeployment, observations: Observations, revision: str) -> str | None:
    stuck = [pod for pod in observations.unschedulable if pod.revision == revision]
    if not stuck:
        return None
    gpu = resource.spec.server.gpu
    need = f"{gpu.count} {gpu.resource_name}"
    products = gpu.products or ()
    if products:
        need += f" of product {' or '.join(products)}"
    return f"{len(stuck)} pod(s) need {need} each and cannot be scheduled: {stuck[0].message}"


def _health(
    resource: ModelDeployment, observation: DeploymentObservation | None, *, replicas: int, shortfall: str | None,
    failure: PodFailure | None = None,
) -> _Health:
    if shortfall:
        return _Health("WaitingForCapacity", "InsufficientGPU", shortfall)
    if failure is not None and _never_served(resource, observation):
        # A revision that never served and whose pods die will not become Ready by waiting. CanaryCrashed
        # names a canary; outside a rollout the pods simply crashed.
        reason = "Crashed" if failure.reason == "CanaryCrashed" else failure.reason
        return _Health("Failed", reason, f"pod {failure.name}: {failure.message}")
    # A Deployment not observed yet is the one being created now: it has no ready pods, and saying
    # exactly that keeps the status identical until pods turn Ready, which saves a write per object.
    ready_now = observation.ready_replicas if observation is not None else 0
    ready = f"{ready_now}/{replicas} Triton pods ready"
    if observation is None:
        return _Health("Progressing", "ReplicasStarting", ready)
    if observation.ready() and observation.replicas == replicas:
        return _Health("Ready", "AllReplicasReady", ready)
    if resource.status.get("phase") in ("Ready", "Degraded") and observation.replicas == replicas:
        return _Health("Degraded", "ReplicasNotReady", ready)
    return _Health("Progressing", "ReplicasStarting", ready)


def _never_served(resource: ModelDeployment, observation: DeploymentObservation | None) -> bool:
    """No pod of the revision serves, nor has it been Ready since it was deployed (a first revision)."""
    serving = observation is not None and (observation.ready() or observation.available_replicas > 0)
    return not serving and resource.status.get("phase") not in ("Ready", "Degraded")


def _observed_totals(observations: Observations) -> tuple[int, int]:
    replicas = sum(observation.replicas for observation in observations.deployments.values())
    ready = sum(observation.ready_replicas for observation in observations.deployments.values())
    return replicas, ready


def _steady(resource: ModelDeployment, observations: Observations, *, revision: Revision, now: datetime.datetime) -> rollout.Outcome:
    """The spec's revision is the stable one (or the first one, deployed directly)."""
    previous = resource.status
    replicas = resource.spec.replicas
    events: list[Event] = []
    if (previous.get("stableRevision") or {}).get("hash") != revision.hash:
        events.append(Event("Normal", "Deployed", f"deploying model {resource.model_name} version {revision.version} (revision {revision.hash})",
                            key=rollout.transition_key(previous, revision, "deployed", (previous.get("stableRevision") or {}).get("hash", ""))))
    pods = {revision.hash: replicas}
    canary = previous.get("canaryRevision")
    draining: Revision | None = None
    if canary and canary.get("hash") != revision.hash:
        # The spec went back to the stable revision in the middle of a rollout.
        events.append(Event("Normal", "RolloutCancelled", f"the spec asks for stable revision {revision.hash} again; revision {canary.get('hash')} is removed",
                            key=rollout.transition_key(previous, revision, "cancelled", canary.get("hash"))))
    leftover = next((o for hash_, o in observations.deployments.items() if hash_ != revision.hash and hash_ == (canary or {}).get("hash")), None)
    if leftover is not None:
        # A cancelled canary goes as a rolled-back one does: its Ready pods stay while the stable needs them.
        kept = pod_counts.backward(
            total=replicas, max_unavailable=resource.spec.rollout.capacity.max_unavailable,
            stable_ready=(observations.deployments[revision.hash].ready_replicas if revision.hash in observations.deployments else 0),
            canary_ready=leftover.ready_replicas,
        ).canary
        if kept:
            pods[leftover.revision] = kept
            draining = Revision.from_status(dict(canary or {}))
    failure = next((failure for failure in observations.pod_failures if failure.revision == revision.hash), None)
    health = _health(
        resource, observations.deployments.get(revision.hash), replicas=replicas, shortfall=_gpu_shortfall(resource, observations, revision.hash),
        failure=failure,
    )
    kept_status = {key: previous[key] for key in ("failedRevision", "lastAnalysis") if key in previous}
    if draining is not None:
        # Still in the rollout's books until it is gone, so that the next pass drains it too.
        kept_status["canaryRevision"] = dict(canary or {})
    return rollout.Outcome(
        phase=health.phase, reason=health.reason, message=health.message, stable=revision, pods=pods, canary=draining,
        rollout_status=kept_status, events=events,
        progressing=health.phase in ("Progressing", "WaitingForCapacity"),
    )


def _model_storage(
    resource: ModelDeployment, observations: Observations, *, outcome: rollout.Outcome, conditions_now: list[dict[str, Any]],
    now: datetime.datetime, events: list[Event],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ModelStorage condition and servedDigests: what each live revision's model-storage containers saw."""
    live = {outcome.stable.hash: outcome.stable.version, resource.revision.hash: resource.revision.version}
    if outcome.canary is not None:
        live[outcome.canary.hash] = outcome.canary.version
    state = served_content.track(
        previous=list(resource.status.get("servedDigests") or []), served=observations.served, live=live, now=conditions.timestamp(now),
    )
    events.extend(state.events)
    unreadable = next((f for f in observations.pod_failures if f.reason == "ModelStorageUnreadable" and f.revision == resource.revision.hash), None)
    repository = resource.spec.model.repository
    if unreadable is not None:
        fields = {"status": False, "reason": "ModelStorageUnreadable", "message": f"pod {unreadable.name}: {unreadable.message}"}
    elif state.changed:
        fields = {"status": False, "reason": "ModelContentChanged", "message": "; ".join(state.changed)}
    else:
        mine = next((entry for entry in state.entries if entry["revision"] == resource.revision.hash), None)
        fields = {"status": True, "reason": "ContentRecorded", "message": f"revision {mine['revision']} serves version {mine['version']} of {repository} as {mine['digest']}"} if mine else {
            "status": True, "reason": "Reading", "message": f"the model-storage containers read version {resource.revision.version} from {repository}"}
    fields["message"] = redact(str(fields["message"]))
    updated = conditions.set_condition(conditions_now, type="ModelStorage", generation=resource.generation, now=now, **fields)  # type: ignore[arg-type]
    return updated, state.entries


def outcome_of(resource: ModelDeployment, observations: Observations, *, now: datetime.datetime) -> rollout.Outcome:
    revision = resource.revision
    stable_status = resource.status.get("stableRevision")
    # A failed first revision protects nothing and serves no comparison: the next spec replaces it directly.
    failed_first = resource.status.get("phase") == "Failed" and _never_served(
        resource, observations.deployments.get(str((stable_status or {}).get("hash"))))
    if not stable_status or stable_status.get("hash") == revision.hash or failed_first:
        return _steady(resource, observations, revision=revision, now=now)
    return rollout.advance(resource, observations, desired=revision, stable=Revision.from_status(stable_status), now=now)


def plan(
    resource: ModelDeployment, observations: Observations, *, now: datetime.datetime, storage_image: str = constants.DEFAULT_STORAGE_IMAGE
) -> Plan:
    """The whole decision for one ModelDeployment; the caller performs it."""
    revision = resource.revision
    previous: Mapping[str, Any] = resource.status
    replicas = resource.spec.replicas
    outcome = outcome_of(resource, observations, now=now)
    events = list(outcome.events)
    stable = outcome.stable

    applies: list[Mapping[str, Any]] = [build_service(resource, only_revision=None if outcome.canary_serves else stable.hash)]
    scales: list[Scale] = []
    keep: set[str] = set(outcome.pods)
    if revision.hash in outcome.pods:
        applies.append(build_deployment(resource, revision, replicas=outcome.pods[revision.hash], storage_image=storage_image))
    for hash_, count in sorted(outcome.pods.items()):
        other = observations.deployments.get(hash_) if hash_ != revision.hash else None
        if other is not None and other.replicas != count:
            scales.append(Scale(name=other.name, replicas=count))
    routes = router_for(resource).manifests(
        resource, stable=stable.hash, canary=outcome.canary.hash if outcome.canary else None, weight=outcome.route_weight
    )
    applies.extend(routes)
    autoscaler = build_autoscaler(resource)
    deletes: list[ChildReference] = []
    if autoscaler is not None:
        applies.append(autoscaler)
    elif observations.autoscaler_exists:
        deletes.append(ChildReference("autoscaling/v2", "HorizontalPodAutoscaler", autoscaler_name(resource)))
    for hash_, observation in sorted(observations.deployments.items()):
        if hash_ not in keep:
            deletes.append(ChildReference("apps/v1", "Deployment", observation.name))
    wanted = {(str(manifest["kind"]), str(manifest["metadata"]["name"])) for manifest in routes}
    for kind, name in observations.routing_children:
        if (kind, name) not in wanted:
            api_version = "v1" if kind == "Service" else "gateway.networking.k8s.io/v1"
            deletes.append(ChildReference(api_version, kind, name))

    monitoring_condition: dict[str, Any] | None = None
    had_monitor = any(condition.get("type") == "ServiceMonitor" for condition in previous.get("conditions") or [])
    if wants_service_monitor(resource):
        supported = bool(observations.service_monitor_supported)
        if supported:
            applies.append(build_service_monitor(resource))
        monitoring_condition = {
            "status": supported,
            "reason": "Created" if supported else "CRDNotInstalled",
            "message": f"ServiceMonitor {resource.name} scrapes port metrics of every Triton pod" if supported
            else "spec.monitoring.serviceMonitor is true but the cluster does not serve monitoring.coreos.com/v1 ServiceMonitor",
        }
    elif had_monitor:
        deletes.append(ChildReference(SERVICE_MONITOR_API_VERSION, "ServiceMonitor", resource.name))

    if outcome.phase != previous.get("phase"):
        if outcome.phase == "WaitingForCapacity":
            events.append(Event("Warning", "InsufficientGPU", outcome.message))
        elif outcome.phase == "Degraded":
            events.append(Event("Warning", "Degraded", outcome.message))
        elif outcome.phase == "Failed":
            events.append(Event("Warning", outcome.reason, outcome.message))

    _, observed_ready = _observed_totals(observations)
    # The replicas of the Deployments this plan keeps: what the scale subresource reports as current.
    planned_replicas = sum(outcome.pods.values())
    generation = resource.generation
    updated_conditions = conditions.set_condition(
        list(previous.get("conditions") or []), type="Ready", status=outcome.phase == "Ready", reason=outcome.reason,
        message=outcome.message, generation=generation, now=now,
    )
    stable_observation = observations.deployments.get(stable.hash)
    available = replicas == 0 or (stable_observation is not None and stable_observation.available_replicas > 0)
    updated_conditions = conditions.set_condition(
        updated_conditions,
        type="Available",
        status=available,
        reason="MinimumReplicasAvailable" if available else "NoReplicasAvailable",
        message=f"revision {stable.hash} serves traffic" if available else "no Triton pod of the stable revision is available",
        generation=generation,
        now=now,
    )
    updated_conditions = conditions.set_condition(
        updated_conditions,
        type="Progressing",
        status=outcome.progressing,
        reason=outcome.reason if outcome.progressing or outcome.phase == "Failed" else "Settled",
        message=outcome.message if outcome.progressing or outcome.phase == "Failed" else f"revision {stable.hash} is settled",
        generation=generation,
        now=now,
    )
    if monitoring_condition is not None:
        updated_conditions = conditions.set_condition(updated_conditions, type="ServiceMonitor", generation=generation, now=now, **monitoring_condition)
    else:
        updated_conditions = [condition for condition in updated_conditions if condition.get("type") != "ServiceMonitor"]
    updated_conditions, served_status = _model_storage(resource, observations, outcome=outcome, conditions_now=updated_conditions, now=now, events=events)
    rolled_back = outcome.phase == "RolledBack"
    if rolled_back or any(condition.get("type") == "RolledBack" for condition in updated_conditions):
        updated_conditions = conditions.set_condition(
            updated_conditions, type="RolledBack", status=rolled_back, reason=outcome.reason if rolled_back else "NotRolledBack",
            message=outcome.message if rolled_back else "the spec's revision is not a rolled-back one", generation=generation, now=now,
        )

    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": outcome.phase,
        "model": resource.model_name,
        "message": outcome.message,
        "stableRevision": stable.as_status(),
        "canaryWeight": outcome.effective_weight,
        "replicas": planned_replicas,
        "readyReplicas": observed_ready,
        "readyText": f"{observed_ready}/{replicas}",
        "selector": labels.selector_string(resource),
        "endpoints": endpoints(resource),
        "conditions": updated_conditions,
    }
    status.update(outcome.rollout_status)
    if served_status:
        status["servedDigests"] = served_status
    digests = {str(entry["revision"]): str(entry["digest"]) for entry in [*list(previous.get("servedDigests") or []), *served_status]}
    # "What ran": a history entry carries the content digest its revision served, when one was recorded.
    new_history = [{**entry, "digest": digests[str(entry.get("hash"))]} if str(entry.get("hash")) in digests else dict(entry) for entry in outcome.history]
    history = [*list(previous.get("history") or []), *new_history]
    if history:
        status["history"] = history[-HISTORY_LIMIT:]
    present = [name for name in rollout.ONE_SHOT_ANNOTATIONS if name in resource.annotations]
    return Plan(
        status=status, apply=applies, scale=scales, delete=deletes, events=events, remove_annotations=present,
        requeue_after=outcome.requeue_after, promoted=outcome.promoted, rollback_reason=outcome.rollback_reason,
    )

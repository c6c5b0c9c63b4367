"""Decide the children and the status of one ModelDeployment from what was observed."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from tritonops.desired import labels
from tritonops.desired.autoscaler import autoscaler_name, build_autoscaler
from tritonops.desired.deployment import build_deployment
from tritonops.desired.revision import Revision, revision_of
from tritonops.desired.service import build_service, endpoints
from tritonops.engine import conditions
from tritonops.engine.actions import ChildReference, Event, Plan, Scale
from tritonops.engine.observations import DeploymentObservation, Observations
from tritonops.resource import ModelDeployment

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
    gpu = resource.section("server").get("gpu") or {}
    need = f"{gpu.get('count', 0)} {gpu.get('resourceName', 'nvidia.com/gpu')}"
    products = gpu.get("products") or []
    if products:
        need += f" of product {' or '.join(products)}"
    return f"{len(stuck)} pod(s) need {need} each and cannot be scheduled: {stuck[0].message}"


def _health(
    resource: ModelDeployment, observation: DeploymentObservation | None, *, replicas: int, shortfall: str | None
) -> _Health:
    if shortfall:
        return _Health("WaitingForCapacity", "InsufficientGPU", shortfall)
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


def _observed_totals(observations: Observations) -> tuple[int, int]:
    replicas = sum(observation.replicas for observation in observations.deployments.values())
    ready = sum(observation.ready_replicas for observation in observations.deployments.values())
    return replicas, ready


def plan(resource: ModelDeployment, observations: Observations, *, now: datetime.datetime) -> Plan:
    """The whole decision for one ModelDeployment; the caller performs it."""
    revision = revision_of(resource)
    previous: Mapping[str, Any] = resource.status
    replicas = int(resource.spec.get("replicas", 1))
    strategy = str(resource.section("rollout").get("strategy", "Canary"))
    events: list[Event] = []
    stable_status = previous.get("stableRevision")
    history = list(previous.get("history") or [])

    applies: list[Mapping[str, Any]] = [build_service(resource)]
    scales: list[Scale] = []
    keep: set[str] = {revision.hash}
    canary_status: Mapping[str, Any] | None = None

    if not stable_status or stable_status.get("hash") == revision.hash:
        # Steady state, or the very first revision, which is deployed directly.
        stable = revision
        if not stable_status:
            events.append(Event("Normal", "Deployed", f"deploying model {resource.model_name} version {revision.version} (revision {revision.hash})"))
        health = _health(
            resource,
            observations.deployments.get(revision.hash),
            replicas=replicas,
            shortfall=_gpu_shortfall(resource, observations, revision.hash),
        )
    else:
        # A new revision. The old one keeps serving until the new one is Ready, then it is removed.
        old_hash = str(stable_status["hash"])
        new_observation = observations.deployments.get(revision.hash)
        if new_observation is not None and new_observation.ready() and new_observation.replicas == replicas:
            stable = revision
            history.append(
                {"hash": revision.hash, "version": revision.version, "outcome": "Promoted", "at": conditions.timestamp(now), "reason": f"{strategy} replacement: new revision Ready"}
            )
            events.append(Event("Normal", "Promoted", f"revision {revision.hash} (version {revision.version}) replaced {old_hash}"))
            health = _health(resource, new_observation, replicas=replicas, shortfall=None)
        else:
            stable = Revision(hash=old_hash, version=str(stable_status.get("version", "")), image=str(stable_status.get("image", "")))
            keep.add(old_hash)
            old_observation = observations.deployments.get(old_hash)
            if old_observation is not None and old_observation.replicas != replicas:
                scales.append(Scale(name=old_observation.name, replicas=replicas))
            canary_status = revision.as_status()
            if (previous.get("canaryRevision") or {}).get("hash") != revision.hash:
                events.append(Event("Normal", "RolloutStarted", f"rolling out revision {revision.hash} (version {revision.version}) with strategy {strategy}"))
            shortfall = _gpu_shortfall(resource, observations, revision.hash)
            health = (
                _Health("WaitingForCapacity", "InsufficientGPU", shortfall)
                if shortfall
                else _Health("Progressing", "NewRevisionStarting", f"waiting for revision {revision.hash} to be Ready")
            )

    applies.append(build_deployment(resource, revision, replicas=replicas))
    autoscaler = build_autoscaler(resource)
    deletes: list[ChildReference] = []
    if autoscaler is not None:
        applies.append(autoscaler)
    elif observations.autoscaler_exists:
        deletes.append(ChildReference("autoscaling/v2", "HorizontalPodAutoscaler", autoscaler_name(resource)))
    for hash_, observation in sorted(observations.deployments.items()):
        if hash_ not in keep:
            deletes.append(ChildReference("apps/v1", "Deployment", observation.name))

    if health.phase != previous.get("phase"):
        if health.phase == "WaitingForCapacity":
            events.append(Event("Warning", "InsufficientGPU", health.message))
        elif health.phase == "Degraded":
            events.append(Event("Warning", "Degraded", health.message))

    _, observed_ready = _observed_totals(observations)
    # The replicas of the Deployments this plan keeps: what the scale subresource reports as current.
    planned_replicas = replicas + sum(
        observation.replicas for hash_, observation in observations.deployments.items() if hash_ in keep and hash_ != revision.hash
    )
    existing_conditions = list(previous.get("conditions") or [])
    generation = resource.generation
    updated_conditions = conditions.set_condition(
        existing_conditions, type="Ready", status=health.phase == "Ready", reason=health.reason, message=health.message, generation=generation, now=now
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
    progressing = health.phase in ("Progressing", "WaitingForCapacity") or canary_status is not None
    updated_conditions = conditions.set_condition(
        updated_conditions,
        type="Progressing",
        status=progressing,
        reason=health.reason if progressing else "Settled",
        message=health.message if progressing else f"revision {stable.hash} is settled",
        generation=generation,
        now=now,
    )

    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": health.phase,
        "model": resource.model_name,
        "message": health.message,
        "stableRevision": stable.as_status(),
        "canaryWeight": 0,
        "replicas": planned_replicas,
        "readyReplicas": observed_ready,
        "readyText": f"{observed_ready}/{replicas}",
        "selector": labels.selector_string(resource),
        "endpoints": endpoints(resource),
        "conditions": updated_conditions,
    }
    if canary_status is not None:
        status["canaryRevision"] = dict(canary_status)
    if history:
        status["history"] = history[-HISTORY_LIMIT:]
    # Rollout state that this stage does not manage yet is carried over untouched.
    for key in ("failedRevision", "lastAnalysis", "currentStep"):
        if key in previous:
            status[key] = previous[key]
    return Plan(status=status, apply=applies, scale=scales, delete=deletes, events=events)

"""The rollout of a new revision: canary steps, analysis, promotion and rollback. Pure.

Every piece of rollout state lives in status (`canaryRevision`, `currentStep`, `stepStartedAt`,
`failedAnalyses`, `inconclusiveAnalyses`, `lastAnalysis`, `failedRevision`, `capacityMode`, `progressAt`, ...), so an
operator that restarts mid-rollout reads it back and continues at the same step. Each call
decides one pass from that state, the observations and the time, and says when it next needs to
act. How many pods each revision runs in each stage is `pod_counts`' decision: the Ready pods
serving never fall below `replicas - maxUnavailable`.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from tritonops import constants
from tritonops.desired.revision import Revision
from tritonops.engine import conditions, pod_counts
from tritonops.engine.actions import Event
from tritonops.engine.analysis import Verdict
from tritonops.engine.observations import DeploymentObservation, Observations
from tritonops.engine.pod_counts import PodCounts, ResolvedMode
from tritonops.resource import ModelDeployment
from tritonops.routers import router_for
from tritonops.spec import CapacityMode, Spec

# Status keys owned by the rollout; a pass that does not set one removes it.
ROLLOUT_KEYS = (
    "canaryRevision", "currentStep", "stepStartedAt", "failedAnalyses", "inconclusiveAnalyses", "lastAnalysis", "failedRevision", "promotionReason",
    "capacityMode", "progressAt", "progressReadyPods", "pausedAt", "goldenGatePassedAt",
)
# The rollback reason of a canary that failed the golden gate: it never served, and never does.
GOLDEN_GATE_FAILED = "GoldenGateFailed"
ONE_SHOT_ANNOTATIONS = (constants.ANNOTATION_PROMOTE, constants.ANNOTATION_ABORT, constants.ANNOTATION_RETRY)
CAPACITY_RECHECK_SECONDS = 10.0
# Never requeue sooner than this: timestamps in status have whole-second precision.
MINIMUM_REQUEUE_SECONDS = 0.5
# A deadline passes once strictly exceeded: the timer wakes this much after it, not a whole second.
DEADLINE_MARGIN_SECONDS = 0.05


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One pass's decision: who serves with how many pods, the phase, and what to record."""

    phase: str
    reason: str
    message: str
    stable: Revision
    # Replicas per revision hash for the Deployments this pass keeps; the spec's revision is applied
    # from its template, any other is only scaled. A live revision missing here is deleted.
    pods: Mapping[str, int]
    canary: Revision | None = None
    route_weight: int = 0
    effective_weight: int = 0
    rollout_status: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    events: Sequence[Event] = ()
    history: Sequence[Mapping[str, Any]] = ()
    promoted: bool = False
    rollback_reason: str | None = None
    requeue_after: float | None = None
    progressing: bool = False
    # False while the canary waits for the golden gate: the Service selects the stable's pods only and the
    # routes give the canary nothing, so that no user request reaches a pod whose answers are unchecked.
    canary_serves: bool = True


def parse_time(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def analysis_record(verdict: Verdict, *, now: datetime.datetime) -> dict[str, Any]:
    return {
        "at": conditions.timestamp(now),
        "result": verdict.result,
        "reason": verdict.reason,
        "failedChecks": verdict.failed_checks,
        "requests": dict(verdict.requests),
        # The canary's checks, then the stable revision's values of the same quantities (no threshold, not judged).
        "measurements": [check.as_status() for check in verdict.checks] + [reading.as_status() for reading in verdict.readings],
    }


def _history_entry(revision: Revision, *, outcome: str, at: str, reason: str) -> dict[str, Any]:
    return {"hash": revision.hash, "version": revision.version, "outcome": outcome, "at": at, "reason": reason}


def transition_key(status: Mapping[str, Any], revision: Revision, *parts: object) -> str:
    """The identity of one transition of `revision` in the rollout that `status` is in: the same for a pass
    retried over the same status. Every rollout ends with a history entry, so the last one tells one rollout
    of a revision from a later one of the same revision (a retry after a rollback)."""
    history = list(status.get("history") or [])
    last = history[-1] if history else {}
    epoch = f"{last.get('hash', '')}@{last.get('at', '')}"
    return "/".join([revision.hash, epoch, *(str(part) for part in parts)])


def _describe(revision: Revision) -> str:
    return f"revision {revision.hash} (version {revision.version})"


def _whole_seconds(now: datetime.datetime) -> datetime.datetime:
    return now.replace(microsecond=0)


@dataclasses.dataclass(frozen=True)
class _State:
    """The rollout state of the spec's revision as status recorded it."""

    step: int = 0
    step_started_at: datetime.datetime | None = None
    failed_analyses: int = 0
    # Inconclusive analyses in a row; a passed or failed one sets it back to 0.
    inconclusive_analyses: int = 0
    last_analysis: Mapping[str, Any] | None = None
    promoting: bool = False
    promotion_reason: str = ""
    # What Auto chose for this rollout; kept so that a swap in progress is never undone by a surge.
    capacity_mode: ResolvedMode | None = None
    # The last progress (a step, a stage, a canary pod turning Ready, a resume) and the Ready canary
    # pods then: the progress deadline counts from here, not from the start of the step.
    progress_at: datetime.datetime | None = None
    progress_ready_pods: int = 0
    paused_at: datetime.datetime | None = None
    # When the canary passed the golden gate (spec.rollout.analysis.golden); None: not yet, or no gate.
    golden_passed_at: datetime.datetime | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> _State:
        mode = status.get("capacityMode")
        return cls(
            step=int(status.get("currentStep", 0)),
            step_started_at=parse_time(status.get("stepStartedAt")),
            failed_analyses=int(status.get("failedAnalyses", 0)),
            inconclusive_analyses=int(status.get("inconclusiveAnalyses", 0)),
            last_analysis=status.get("lastAnalysis"),
            promoting=status.get("phase") == "Promoting" or bool(status.get("promotionReason")),
            promotion_reason=str(status.get("promotionReason", "")),
            capacity_mode="Swap" if mode == "Swap" else "Surge" if mode == "Surge" else None,
            progress_at=parse_time(status.get("progressAt")),
            progress_ready_pods=int(status.get("progressReadyPods", 0)),
            paused_at=parse_time(status.get("pausedAt")),
            golden_passed_at=parse_time(status.get("goldenGatePassedAt")),
        )

    def as_status(self, canary: Revision) -> dict[str, Any]:
        status: dict[str, Any] = {"canaryRevision": canary.as_status(), "currentStep": self.step, "failedAnalyses": self.failed_analyses,
                                  "inconclusiveAnalyses": self.inconclusive_analyses}
        if self.step_started_at is not None:
            status["stepStartedAt"] = conditions.timestamp(self.step_started_at)
        if self.last_analysis is not None:
            status["lastAnalysis"] = dict(self.last_analysis)
        if self.promoting:
            status["promotionReason"] = self.promotion_reason
        if self.capacity_mode is not None:
            status["capacityMode"] = self.capacity_mode
        if self.progress_at is not None:
            status["progressAt"] = conditions.timestamp(self.progress_at)
            status["progressReadyPods"] = self.progress_ready_pods
        if self.paused_at is not None:
            status["pausedAt"] = conditions.timestamp(self.paused_at)
        if self.golden_passed_at is not None:
            status["goldenGatePassedAt"] = conditions.timestamp(self.golden_passed_at)
        return status

    def gated(self, spec: Spec) -> bool:
        """Whether the canary still waits for the golden gate: asked for, not passed, and no traffic given yet."""
        return spec.rollout.analysis.golden is not None and self.golden_passed_at is None and self.step == 0 and not self.promoting


def _in_rollout_of(status: Mapping[str, Any], desired: Revision) -> bool:
    return bool((status.get("canaryRevision") or {}).get("hash") == desired.hash)


def _ready_pods(observed: DeploymentObservation | None) -> int:
    return observed.ready_replicas if observed is not None else 0


def analysis_due(resource: ModelDeployment, observations: Observations, *, now: datetime.datetime) -> bool:
    """True when this pass should measure a window: the canary is up and an interval has passed."""
    status = resource.status
    canary = status.get("canaryRevision") or {}
    if status.get("phase") != "Canary" or not canary.get("hash"):
        return False
    observed = observations.deployments.get(str(canary["hash"]))
    state = _State.from_status(status)
    if observed is None or not observed.ready() or observed.ready_replicas <= 0 or state.step_started_at is None:
        return False
    return now >= _next_analysis_at(state, resource.spec)


def golden_gate_due(resource: ModelDeployment, observations: Observations, *, now: datetime.datetime) -> bool:
    """True when this pass should probe the canary with the golden set before it takes any traffic: its
    pods are all Ready, the gate has not passed, and an interval has passed since the last probe."""
    status = resource.status
    canary = status.get("canaryRevision") or {}
    if status.get("phase") != "Canary" or not canary.get("hash") or canary.get("hash") != resource.revision.hash:
        return False
    state = _State.from_status(status)
    if not state.gated(resource.spec):
        return False
    observed = observations.deployments.get(str(canary["hash"]))
    if observed is None or not observed.ready() or observed.ready_replicas <= 0:
        return False
    last = parse_time((state.last_analysis or {}).get("at"))
    return last is None or now >= last + datetime.timedelta(seconds=resource.spec.rollout.analysis.interval_seconds)


def _next_analysis_at(state: _State, spec: Spec) -> datetime.datetime:
    assert state.step_started_at is not None
    last = parse_time((state.last_analysis or {}).get("at"))
    start = max(state.step_started_at, last) if last is not None else state.step_started_at
    return start + datetime.timedelta(seconds=spec.rollout.analysis.interval_seconds)


def _weights(resource: ModelDeployment, *, planned: int, stable_ready: int, canary_ready: int) -> tuple[int, int]:
    """(route weight, reported weight): routes never carry more than the canary's Ready pods can take,
    and status reports the share that really reaches the canary."""
    gated = pod_counts.gated_weight(planned=planned, stable_ready=stable_ready, canary_ready=canary_ready)
    if router_for(resource).weighs_routes:
        return gated, gated
    return gated, pod_counts.serving_share(stable_ready=stable_ready, canary_ready=canary_ready)


# --- rollback -------------------------------------------------------------------------------------


def _draining(
    resource: ModelDeployment, observations: Observations, spec: Spec, *, desired: Revision, stable: Revision, served: bool = True,
) -> tuple[dict[str, int], Revision | None, int, str]:
    """Pods while a rolled-back canary goes, the canary kept in the routes, its weight, and what is left.
    A canary that never served (it failed the golden gate) is never kept to hold the floor: it goes at once."""
    observed, old = observations.deployments.get(desired.hash), observations.deployments.get(stable.hash)
    if not served:
        return {stable.hash: spec.replicas}, None, 0, ""
    stable_ready = _ready_pods(old)
    counts = pod_counts.backward(
        total=spec.replicas, max_unavailable=spec.rollout.capacity.max_unavailable, stable_ready=stable_ready, canary_ready=_ready_pods(observed),
    )
    if observed is None or counts.canary <= 0:
        return {stable.hash: counts.stable}, None, 0, ""
    weight = pod_counts.serving_share(stable_ready=stable_ready, canary_ready=counts.canary)
    remaining = (
        f"; {counts.canary} Ready canary pod(s) keep serving until {_describe(stable)} has"
        f" {spec.replicas - spec.rollout.capacity.max_unavailable} Ready pods (it has {stable_ready})"
    )
    return {stable.hash: counts.stable, desired.hash: counts.canary}, desired, weight, remaining


def held_after_rollback(resource: ModelDeployment, observations: Observations, *, desired: Revision, stable: Revision) -> Outcome:
    """The spec still asks for a revision that was rolled back: keep serving stable, say why."""
    spec = resource.spec
    failed = resource.status.get("failedRevision") or {}
    served = failed.get("tookTraffic") is not False
    pods, canary, weight, remaining = _draining(resource, observations, spec, desired=desired, stable=stable, served=served)
    message = (
        f"{_describe(desired)} was rolled back ({failed.get('reason', 'unknown')}): {failed.get('message', '')}; "
        f"{_describe(stable)} serves {'all' if canary is None else f'{100 - weight}% of the'} traffic{remaining}. "
        f"Change the spec, or run `tritonops retry {resource.name}`"
    )
    status: dict[str, Any] = {"failedRevision": dict(failed)}
    if resource.status.get("lastAnalysis"):
        status["lastAnalysis"] = dict(resource.status["lastAnalysis"])
    return Outcome(
        phase="RolledBack", reason=str(failed.get("reason", "RolledBack")), message=message, stable=stable, pods=pods,
        canary=canary, route_weight=weight, effective_weight=weight, rollout_status=status,
        # Its pods may take a while to go: the Service keeps selecting the stable's pods only until then.
        canary_serves=served,
    )


def _rollback(
    resource: ModelDeployment, observations: Observations, *, desired: Revision, stable: Revision, state: _State, reason: str,
    message: str, now: datetime.datetime, events: list[Event],
) -> Outcome:
    spec = resource.spec
    at = conditions.timestamp(now)
    failed: dict[str, Any] = {**desired.as_status(), "reason": reason, "message": message, "at": at}
    served = not state.gated(spec)
    if not served:
        # Rolled back at the golden gate: no user request ever reached it, and none will while its pods go.
        failed["tookTraffic"] = False
    if state.last_analysis:
        failed["measurements"] = list(state.last_analysis.get("measurements") or [])
    status: dict[str, Any] = {"failedRevision": failed}
    if state.last_analysis:
        status["lastAnalysis"] = dict(state.last_analysis)
    pods, canary, weight, remaining = _draining(resource, observations, spec, desired=desired, stable=stable, served=served)
    events.append(Event("Warning", "RolledBack", f"{_describe(desired)} rolled back to {_describe(stable)}: {reason}: {message}",
                        key=transition_key(resource.status, desired)))
    return Outcome(
        phase="RolledBack", reason=reason, message=f"{_describe(desired)} rolled back: {message}{remaining}", stable=stable,
        pods=pods, canary=canary, route_weight=weight, effective_weight=weight, rollout_status=status, events=events,
        history=[_history_entry(desired, outcome="RolledBack", at=at, reason=f"{reason}: {message}")], rollback_reason=reason,
        canary_serves=served,
    )


# --- moving pods forward (canary steps and promotion) --------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Forward:
    """The pods of one pass of a stage that moves pods to the canary, and whether it waits for GPUs."""

    counts: PodCounts
    target: int  # canary pods once the stage is complete
    mode: ResolvedMode
    stable_ready: int
    canary_ready: int
    complete: bool
    waiting: str | None  # the shortfall, when the canary's pods cannot get GPUs


def _forward(
    spec: Spec, state: _State, observations: Observations, *, desired: Revision, stable: Revision, weight: int, canary_serves: bool = True,
) -> _Forward:
    observed, old = observations.deployments.get(desired.hash), observations.deployments.get(stable.hash)
    stable_ready, canary_ready = _ready_pods(old), _ready_pods(observed)
    canary_replicas = observed.replicas if observed is not None else 0
    room = observations.room
    stuck = [pod for pod in observations.unschedulable if pod.revision == desired.hash]
    if room is not None and room.unplaced is not None:
        # The watch may still show pods as refused that the scheduler has bound since the fresh listing.
        stuck = stuck[: room.unplaced]
    canary_target = pod_counts.step_targets(total=spec.replicas, weight=weight, surge=True).canary
    to_place = max(0, canary_target - canary_replicas) + len(stuck)
    # Giving back stable pods only helps if their GPUs would make room for the canary's pod shape.
    swap_helps = room is None or room.pods_if_released > room.pods
    # Auto never swaps away the last serving pod (replicas - maxUnavailable of 0); an explicit Swap may.
    last_pod = spec.rollout.capacity.mode == "Auto" and spec.replicas - spec.rollout.capacity.max_unavailable < 1
    configured: CapacityMode = spec.rollout.capacity.mode if (swap_helps and not last_pod) or state.capacity_mode == "Swap" else "Surge"
    mode = pod_counts.resolve_mode(
        configured=configured, recorded=state.capacity_mode, room=room.pods if room else None, pods_to_place=to_place,
    )
    targets = pod_counts.step_targets(total=spec.replicas, weight=weight, surge=mode == "Surge")
    counts = pod_counts.forward(
        total=spec.replicas, max_unavailable=spec.rollout.capacity.max_unavailable, mode=mode, targets=targets,
        # Canary pods held back by the golden gate serve nothing: they cover none of the stable's pods.
        stable_ready=stable_ready, canary_ready=canary_ready if canary_serves else 0,
    )
    waiting: str | None = None
    detail = f" ({room.detail})" if room is not None and room.detail else ""
    if mode == "Surge" and room is not None and to_place > room.pods:
        # Surge never gives up a stable pod for room: only the pods that fit are added, the rest wait.
        counts = dataclasses.replace(counts, canary=min(targets.canary, canary_replicas + room.pods))
        said = f"; the scheduler says: {stuck[0].message}" if stuck else ""
        why = ("and giving back stable pods would not make room either" if not swap_helps
               else "Auto does not give back the last serving pod (capacity.mode Swap would)" if last_pod else "mode Surge evicts nothing")
        waiting = f"{to_place - room.pods} more canary pod(s) need GPUs and the cluster has room for {room.pods}{detail}{said}; {why}"
    elif stuck:
        # The fresh listing may still show a stable pod on its node that the watch does not yet show leaving.
        still_giving_back = ((old is not None and old.replicas > counts.stable) or observations.leaving.get(stable.hash, 0) > 0
                             or (room is not None and (room.releasing_pods or 0) > counts.stable))
        freed = room.pods if room is not None else 0
        # A swap asks for the stage's canary pods at once, yet gives back only maxUnavailable stable pods
        # ahead of the canary's Ready ones: a canary pod that waits for the GPUs of a stable pod that goes
        # once a starting canary pod is Ready is the swap in progress, not a shortfall.
        starting = canary_replicas - len(stuck) > canary_ready
        queued = mode == "Swap" and starting and counts.stable - targets.stable >= len(stuck) - freed
        if mode == "Surge" or not (still_giving_back or queued):
            missing = pod_counts.shortfall(waiting=len(stuck), room=freed, released=0)
            if missing or room is None:
                waiting = f"{len(stuck)} canary pod(s) cannot be scheduled: {stuck[0].message}{detail}"
    observed_complete = observed is not None and observed.ready() and observed.replicas == counts.canary
    complete = observed_complete and counts.canary == targets.canary and canary_ready >= targets.canary and waiting is None
    return _Forward(counts=counts, target=targets.canary, mode=mode, stable_ready=stable_ready, canary_ready=canary_ready,
                    complete=complete, waiting=waiting)


def _progressed(state: _State, moved: _Forward, *, now: datetime.datetime, paused: bool, back_at: datetime.datetime | None) -> _State:
    """Move the progress clock: a canary pod turning Ready, readiness lost after a complete stage, a
    resume, or the API server answering again after an outage (`back_at`) restarts it; time spent paused
    never counts, nor does an outage, when no pod could report Ready and no controller could make one."""
    stamp = _whole_seconds(now)
    if paused:
        return dataclasses.replace(state, paused_at=state.paused_at or stamp, progress_at=state.progress_at or stamp,
                                   progress_ready_pods=moved.canary_ready)
    if state.paused_at is not None or state.progress_at is None:
        return dataclasses.replace(state, paused_at=None, progress_at=stamp, progress_ready_pods=moved.canary_ready)
    if moved.canary_ready > state.progress_ready_pods:
        return dataclasses.replace(state, progress_at=stamp, progress_ready_pods=moved.canary_ready)
    if moved.canary_ready < state.progress_ready_pods:
        was_complete = state.progress_ready_pods >= moved.target
        state = dataclasses.replace(state, progress_at=stamp if was_complete else state.progress_at, progress_ready_pods=moved.canary_ready)
    if back_at is not None and state.progress_at is not None and _whole_seconds(back_at) > state.progress_at:
        return dataclasses.replace(state, progress_at=min(_whole_seconds(back_at), stamp))
    return state


def _deadline_passed(state: _State, spec: Spec, *, now: datetime.datetime) -> bool:
    assert state.progress_at is not None
    return (now - state.progress_at).total_seconds() > spec.rollout.progress_deadline_seconds


def _rollback_past_deadline(
    resource: ModelDeployment, observations: Observations, *, desired: Revision, stable: Revision, state: _State, moved: _Forward,
    now: datetime.datetime, events: list[Event],
) -> Outcome | None:
    """The rollback of a canary still short of its Ready pods when no progress came for progressDeadlineSeconds."""
    spec = resource.spec
    if moved.complete or spec.rollout.paused or not _deadline_passed(state, spec, now=now):
        return None
    return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason="ProgressDeadlineExceeded",
                     message=f"{moved.canary_ready}/{moved.target} canary pods Ready, no progress for {spec.rollout.progress_deadline_seconds}s",
                     now=now, events=events)


def _until_deadline(state: _State, spec: Spec, *, now: datetime.datetime) -> float:
    """Seconds until just past the progress deadline (negative once it has passed)."""
    assert state.progress_at is not None
    return (state.progress_at - now).total_seconds() + spec.rollout.progress_deadline_seconds + DEADLINE_MARGIN_SECONDS


def _deadline_at(state: _State, spec: Spec) -> str:
    assert state.progress_at is not None
    return conditions.timestamp(state.progress_at + datetime.timedelta(seconds=spec.rollout.progress_deadline_seconds))


def _waiting_outcome(
    resource: ModelDeployment, observations: Observations, spec: Spec, *, desired: Revision, stable: Revision, state: _State,
    moved: _Forward, planned: int, now: datetime.datetime, events: list[Event],
) -> Outcome:
    """Phase WaitingForCapacity, in any stage: the shortfall, and what happens at the deadline."""
    assert moved.waiting is not None
    if _deadline_passed(state, spec, now=now) and spec.rollout.capacity.on_deadline != "Hold":
        return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason="ProgressDeadlineExceeded",
                         message=f"no GPUs for {spec.rollout.progress_deadline_seconds}s: {moved.waiting}", now=now, events=events)
    then = "holds (onDeadline: Hold)" if spec.rollout.capacity.on_deadline == "Hold" else "rolls back"
    message = f"{moved.waiting}; the rollout {then} if nothing moves by {_deadline_at(state, spec)}"
    route_weight, reported = _weights(resource, planned=planned, stable_ready=moved.stable_ready, canary_ready=moved.canary_ready)
    until_deadline = _until_deadline(state, spec, now=now) if state.progress_at is not None else CAPACITY_RECHECK_SECONDS
    return Outcome(
        phase="WaitingForCapacity", reason="InsufficientGPU", message=message, stable=stable,
        pods={stable.hash: moved.counts.stable, desired.hash: moved.counts.canary} if moved.counts.canary or desired.hash in observations.deployments
        else {stable.hash: moved.counts.stable},
        canary=desired, route_weight=route_weight, effective_weight=reported, rollout_status=state.as_status(desired), events=events,
        requeue_after=max(MINIMUM_REQUEUE_SECONDS, min(CAPACITY_RECHECK_SECONDS, until_deadline) if until_deadline > 0 else CAPACITY_RECHECK_SECONDS),
        progressing=True,
    )


def _promote(
    resource: ModelDeployment, observations: Observations, *, desired: Revision, stable: Revision, state: _State, why: str,
    now: datetime.datetime, events: list[Event],
) -> Outcome:
    """Full traffic to the new revision as its pods become Ready; the old one goes once they all are."""
    spec = resource.spec
    if not state.promoting:
        events.append(Event("Normal", "Promoting", f"{_describe(desired)} takes all traffic: {why}", key=transition_key(resource.status, desired)))
        state = dataclasses.replace(state, promoting=True, promotion_reason=why, progress_at=_whole_seconds(now),
                                    progress_ready_pods=_ready_pods(observations.deployments.get(desired.hash)), paused_at=None)
    moved = _forward(spec, state, observations, desired=desired, stable=stable, weight=100)
    state = dataclasses.replace(_progressed(state, moved, now=now, paused=False, back_at=observations.control_plane_back_at),
                                capacity_mode=moved.mode if spec.server.gpu.count else None)
    if moved.complete:
        events.append(Event("Normal", "Promoted", f"{_describe(desired)} is stable, replacing {_describe(stable)}: {state.promotion_reason}",
                            key=transition_key(resource.status, desired)))
        return Outcome(
            phase="Ready", reason="Promoted", message=f"{_describe(desired)} promoted: {state.promotion_reason}", stable=desired,
            pods={desired.hash: spec.replicas},
            rollout_status={"lastAnalysis": dict(state.last_analysis)} if state.last_analysis else {},
            events=events, promoted=True,
            history=[_history_entry(desired, outcome="Promoted", at=conditions.timestamp(now), reason=state.promotion_reason)],
        )
    if moved.waiting is not None:
        return _waiting_outcome(resource, observations, spec, desired=desired, stable=stable, state=state, moved=moved,
                                planned=100, now=now, events=events)
    if _deadline_passed(state, spec, now=now):
        return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason="ProgressDeadlineExceeded",
                         message=f"{moved.canary_ready}/{moved.target} pods Ready while promoting, no progress for {spec.rollout.progress_deadline_seconds}s",
                         now=now, events=events)
    route_weight, reported = _weights(resource, planned=100, stable_ready=moved.stable_ready, canary_ready=moved.canary_ready)
    until_deadline = _until_deadline(state, spec, now=now)
    return Outcome(
        phase="Promoting", reason="Promoting",
        message=f"{_describe(desired)}: {moved.canary_ready}/{moved.target} pods Ready before {_describe(stable)} is removed",
        stable=stable, pods={stable.hash: moved.counts.stable, desired.hash: moved.counts.canary}, canary=desired,
        route_weight=route_weight, effective_weight=reported, rollout_status=state.as_status(desired), events=events, progressing=True,
        requeue_after=max(MINIMUM_REQUEUE_SECONDS, until_deadline),
    )


def advance(resource: ModelDeployment, observations: Observations, *, desired: Revision, stable: Revision, now: datetime.datetime) -> Outcome:
    """One pass of the rollout from `stable` to the spec's revision `desired`."""
    outcome = _advance(resource, observations, desired=desired, stable=stable, now=now)
    failed = resource.status.get("failedRevision")
    retried = failed and failed.get("hash") == desired.hash and any(event.reason == "RetryRequested" for event in outcome.events)
    if failed and not retried and "failedRevision" not in outcome.rollout_status:
        # The record of the last rolled-back revision outlives later rollouts of other revisions.
        return dataclasses.replace(outcome, rollout_status={**outcome.rollout_status, "failedRevision": dict(failed)})
    return outcome


def _advance(resource: ModelDeployment, observations: Observations, *, desired: Revision, stable: Revision, now: datetime.datetime) -> Outcome:
    spec = resource.spec
    status = resource.status
    annotations = resource.annotations
    events: list[Event] = []
    failed = status.get("failedRevision") or {}
    same_rollout = _in_rollout_of(status, desired)

    if not same_rollout and failed.get("hash") == desired.hash:
        if constants.ANNOTATION_RETRY not in annotations:
            return held_after_rollback(resource, observations, desired=desired, stable=stable)
        events.append(Event("Normal", "RetryRequested", f"retrying {_describe(desired)}, rolled back before for {failed.get('reason')}",
                            key=transition_key(status, desired)))

    if same_rollout:
        state = _State.from_status(status)
    else:
        previous = status.get("canaryRevision")
        if previous:
            events.append(Event("Normal", "RolloutSuperseded", f"revision {previous.get('hash')} is replaced by {desired.hash} before it finished",
                                key=transition_key(status, desired, previous.get("hash"))))
        # The rollout it replaces is part of its identity: A, then B, then A again are three rollouts.
        events.append(Event("Normal", "RolloutStarted", f"rolling out {_describe(desired)} over {_describe(stable)} with strategy {spec.rollout.strategy}",
                            key=transition_key(status, desired, (previous or {}).get("hash", ""))))
        state = _State()

    if constants.ANNOTATION_ABORT in annotations:
        return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason="Aborted",
                         message="aborted by the user", now=now, events=events)
    # A crashed pod or a model that failed to load condemns the revision whatever the metrics say.
    failures = [failure for failure in observations.pod_failures if failure.revision == desired.hash]
    if failures and same_rollout:
        first = failures[0]
        return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason=first.reason,
                         message=f"pod {first.name}: {first.message}", now=now, events=events)

    if state.promoting:
        return _promote(resource, observations, desired=desired, stable=stable, state=state, why=state.promotion_reason, now=now, events=events)
    if spec.replicas <= 0:
        return _promote(resource, observations, desired=desired, stable=stable, state=state, now=now, events=events,
                        why="replicas is 0: there are no pods to analyse")
    if spec.rollout.strategy == "Immediate":
        return _promote(resource, observations, desired=desired, stable=stable, state=state, why="strategy Immediate", now=now, events=events)
    if constants.ANNOTATION_PROMOTE in annotations:
        return _promote(resource, observations, desired=desired, stable=stable, state=state, why="promoted by the user", now=now, events=events)
    return _canary_step(resource, observations, spec, desired=desired, stable=stable, state=state, now=now, events=events)


def _canary_step(
    resource: ModelDeployment, observations: Observations, spec: Spec, *, desired: Revision, stable: Revision, state: _State,
    now: datetime.datetime, events: list[Event],
) -> Outcome:
    if state.gated(spec):
        return _golden_gate(resource, observations, spec, desired=desired, stable=stable, state=state, now=now, events=events)
    step = min(state.step, len(spec.rollout.steps) - 1)
    weight = spec.rollout.steps[step]
    moved = _forward(spec, state, observations, desired=desired, stable=stable, weight=weight)
    state = dataclasses.replace(_progressed(state, moved, now=now, paused=spec.rollout.paused, back_at=observations.control_plane_back_at),
                                capacity_mode=moved.mode if spec.server.gpu.count else None)
    if moved.waiting is not None and not spec.rollout.paused:
        # The step's clock starts only once its pods serve.
        waiting = dataclasses.replace(state, step_started_at=None) if desired.hash not in observations.deployments else state
        return _waiting_outcome(resource, observations, spec, desired=desired, stable=stable, state=waiting, moved=moved,
                                planned=weight, now=now, events=events)
    if state.step_started_at is None:
        state = dataclasses.replace(state, step_started_at=_whole_seconds(now))
    step_started_at = state.step_started_at
    assert step_started_at is not None
    elapsed = (now - step_started_at).total_seconds()

    overdue = _rollback_past_deadline(resource, observations, desired=desired, stable=stable, state=state, moved=moved, now=now, events=events)
    if overdue is not None:
        return overdue

    analysis = spec.rollout.analysis
    verdict = observations.analysis if _in_rollout_of(resource.status, desired) else None
    if verdict is not None:
        state = dataclasses.replace(state, last_analysis=analysis_record(verdict, now=now))
        if verdict.result == "Failed":
            state = dataclasses.replace(state, failed_analyses=state.failed_analyses + 1, inconclusive_analyses=0)
            events.append(Event("Warning", "AnalysisFailed",
                                f"{_describe(desired)} at {weight}%: {verdict.reason} ({state.failed_analyses}/{analysis.failure_limit} failed analyses)",
                                key=transition_key(resource.status, desired, "failed", state.failed_analyses)))
            if state.failed_analyses >= analysis.failure_limit:
                return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason="AnalysisFailed",
                                 message=f"{state.failed_analyses} failed analyses; last: {verdict.reason}", now=now, events=events)
        elif verdict.result == "Passed":
            state = dataclasses.replace(state, inconclusive_analyses=0)
        elif not spec.rollout.paused:
            # Paused, the user holds the canary on purpose: those windows do not count, so that resuming
            # does not roll back at once.
            state = dataclasses.replace(state, inconclusive_analyses=state.inconclusive_analyses + 1)
            if analysis.inconclusive_limit and state.inconclusive_analyses >= analysis.inconclusive_limit:
                said = f"{state.inconclusive_analyses} inconclusive analyses in a row (inconclusiveLimit {analysis.inconclusive_limit}); last: {verdict.reason}"
                if analysis.on_inconclusive == "Rollback":
                    # Without this, no traffic or a provider that cannot answer holds the canary's GPUs forever.
                    return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason="AnalysisInconclusive",
                                     message=said, now=now, events=events)
                if state.inconclusive_analyses == analysis.inconclusive_limit:
                    events.append(Event("Warning", "InconclusiveLimitReached", f"{_describe(desired)} at {weight}%: {said}; holding (onInconclusive Hold)"))

    last = state.last_analysis or {}
    last_at = parse_time(last.get("at"))
    passed_in_step = last.get("result") == "Passed" and last_at is not None and last_at >= step_started_at
    if moved.complete and not spec.rollout.paused and passed_in_step and elapsed >= spec.rollout.step_seconds:
        if step + 1 >= len(spec.rollout.steps):
            return _promote(resource, observations, desired=desired, stable=stable, state=state, now=now, events=events,
                            why=f"all {len(spec.rollout.steps)} steps passed analysis")
        weight = spec.rollout.steps[step + 1]
        events.append(Event("Normal", "StepAdvanced", f"{_describe(desired)}: step {step + 2}/{len(spec.rollout.steps)} at {weight}%",
                            key=transition_key(resource.status, desired, "step", step + 1)))
        step, elapsed = step + 1, 0.0
        state = dataclasses.replace(state, step=step, step_started_at=_whole_seconds(now), progress_at=_whole_seconds(now))
        moved = _forward(spec, state, observations, desired=desired, stable=stable, weight=weight)

    position = f"step {step + 1}/{len(spec.rollout.steps)} at {weight}%"
    if spec.rollout.paused:
        reason, message = "Paused", f"paused at {position}; automatic rollback stays armed"
    elif not moved.complete:
        reason, message = "CanaryStarting", f"{position}: {moved.canary_ready}/{moved.target} canary pods Ready"
    elif analysis.inconclusive_limit and state.inconclusive_analyses >= analysis.inconclusive_limit:
        reason, message = "InconclusiveLimitReached", (
            f"{position}: {state.inconclusive_analyses} inconclusive analyses in a row (inconclusiveLimit {analysis.inconclusive_limit}),"
            f" holding (onInconclusive Hold) until one passes or fails, or the rollout is promoted or aborted; last: {last.get('reason')}"
        )
    elif last.get("result") == "Inconclusive" and last_at is not None and last_at >= step_started_at:
        reason, message = "AnalysisInconclusive", f"{position}: {last.get('reason')}"
    else:
        reason, message = "StepInProgress", f"{position}: analysing every {analysis.interval_seconds}s"
    route_weight, reported = _weights(resource, planned=weight, stable_ready=moved.stable_ready,
                                      canary_ready=moved.canary_ready if moved.counts.canary else 0)
    return Outcome(
        phase="Canary", reason=reason, message=message, stable=stable,
        pods={stable.hash: moved.counts.stable, desired.hash: moved.counts.canary}, canary=desired,
        route_weight=route_weight, effective_weight=reported, rollout_status=state.as_status(desired), events=events, progressing=True,
        requeue_after=_next_action_in(state, spec, now=now, complete=moved.complete, elapsed=elapsed),
    )


def _golden_gate(
    resource: ModelDeployment, observations: Observations, spec: Spec, *, desired: Revision, stable: Revision, state: _State,
    now: datetime.datetime, events: list[Event],
) -> Outcome:
    """The first step's pods, Ready but taking no traffic, until the golden gate passes: a pass starts the
    step (and its traffic) at once; a failure rolls back at once, before a single user request reached the
    canary; an inconclusive probe is tried again every interval and counts toward inconclusiveLimit."""
    weight = spec.rollout.steps[0]
    moved = _forward(spec, state, observations, desired=desired, stable=stable, weight=weight, canary_serves=False)
    state = dataclasses.replace(_progressed(state, moved, now=now, paused=spec.rollout.paused, back_at=observations.control_plane_back_at),
                                capacity_mode=moved.mode if spec.server.gpu.count else None)

    def held_back(outcome: Outcome) -> Outcome:
        if outcome.phase == "RolledBack":
            return outcome
        return dataclasses.replace(outcome, route_weight=0, effective_weight=0, canary_serves=False)

    if moved.waiting is not None and not spec.rollout.paused:
        return held_back(_waiting_outcome(resource, observations, spec, desired=desired, stable=stable, state=state, moved=moved,
                                          planned=0, now=now, events=events))
    overdue = _rollback_past_deadline(resource, observations, desired=desired, stable=stable, state=state, moved=moved, now=now, events=events)
    if overdue is not None:
        return overdue
    analysis = spec.rollout.analysis
    verdict = observations.analysis if _in_rollout_of(resource.status, desired) else None
    if verdict is not None:
        state = dataclasses.replace(state, last_analysis=analysis_record(verdict, now=now))
        if verdict.result == "Failed":
            state = dataclasses.replace(state, failed_analyses=state.failed_analyses + 1, inconclusive_analyses=0)
            events.append(Event("Warning", "AnalysisFailed", f"{_describe(desired)} failed the golden gate before taking any traffic: {verdict.reason}",
                                key=transition_key(resource.status, desired, "golden-gate-failed")))
            return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason=GOLDEN_GATE_FAILED,
                             message=f"the golden gate failed before the canary took any traffic: {verdict.reason}", now=now, events=events)
        if verdict.result == "Passed":
            stamp = _whole_seconds(now)
            events.append(Event("Normal", "GoldenGatePassed", f"{_describe(desired)} answered the golden set within tolerance: it takes traffic now"))
            started = dataclasses.replace(state, golden_passed_at=stamp, step_started_at=stamp, progress_at=stamp, inconclusive_analyses=0)
            return _canary_step(resource, dataclasses.replace(observations, analysis=None), spec, desired=desired, stable=stable,
                                state=started, now=now, events=events)
        if not spec.rollout.paused:
            state = dataclasses.replace(state, inconclusive_analyses=state.inconclusive_analyses + 1)
            if analysis.inconclusive_limit and state.inconclusive_analyses >= analysis.inconclusive_limit:
                said = (f"{state.inconclusive_analyses} inconclusive golden probes in a row (inconclusiveLimit {analysis.inconclusive_limit});"
                        f" last: {verdict.reason}")
                if analysis.on_inconclusive == "Rollback":
                    return _rollback(resource, observations, desired=desired, stable=stable, state=state, reason="AnalysisInconclusive",
                                     message=said, now=now, events=events)
                if state.inconclusive_analyses == analysis.inconclusive_limit:
                    events.append(Event("Warning", "InconclusiveLimitReached", f"{_describe(desired)} at the golden gate: {said}; holding (onInconclusive Hold)"))
    position = f"step 1/{len(spec.rollout.steps)} at {weight}%"
    last = state.last_analysis or {}
    if not moved.complete:
        message = f"{position}: {moved.canary_ready}/{moved.target} canary pods Ready; they take no traffic until the golden gate passes"
    elif last.get("result") == "Inconclusive":
        message = f"{position}: the golden gate holds the canary out of traffic: {last.get('reason')}"
    else:
        message = f"{position}: probing the canary's pods with the golden set before they take traffic"
    last_at = parse_time(last.get("at"))
    if moved.complete:
        next_probe = (last_at + datetime.timedelta(seconds=analysis.interval_seconds) - now).total_seconds() if last_at else analysis.interval_seconds
        requeue = max(MINIMUM_REQUEUE_SECONDS, next_probe if next_probe > 0 else analysis.interval_seconds)
    else:
        requeue = max(MINIMUM_REQUEUE_SECONDS, _until_deadline(state, spec, now=now))
    return Outcome(
        phase="Canary", reason="Paused" if spec.rollout.paused else "GoldenGate", message=message, stable=stable,
        pods={stable.hash: moved.counts.stable, desired.hash: moved.counts.canary}, canary=desired,
        route_weight=0, effective_weight=0, rollout_status=state.as_status(desired), events=events, progressing=True,
        requeue_after=requeue, canary_serves=False,
    )


def _next_action_in(state: _State, spec: Spec, *, now: datetime.datetime, complete: bool, elapsed: float) -> float:
    """Seconds until the next analysis, step end or progress deadline, whichever comes first."""
    until_analysis = (_next_analysis_at(state, spec) - now).total_seconds()
    if complete and until_analysis <= 0:
        # Due, yet this pass measured nothing: the canary has only just turned Ready and the provider took
        # its first sample now. The first whole window ends one interval from here, not at the step's end.
        until_analysis = spec.rollout.analysis.interval_seconds
    candidates = [until_analysis, spec.rollout.step_seconds - elapsed]
    if not complete and not spec.rollout.paused and state.progress_at is not None:
        candidates.append(_until_deadline(state, spec, now=now))
    future = [seconds for seconds in candidates if seconds > 0]
    return max(MINIMUM_REQUEUE_SECONDS, min(future) if future else spec.rollout.analysis.interval_seconds)


def pods_to_place(resource: ModelDeployment, observations: Observations, *, desired: Revision) -> int:
    """Canary pods that need GPUs in this pass: the I/O layer looks at the cluster's room only then."""
    status = resource.status
    stable = status.get("stableRevision") or {}
    spec = resource.spec
    if not stable or stable.get("hash") == desired.hash or spec.server.gpu.count <= 0:
        return 0
    failed = status.get("failedRevision") or {}
    if failed.get("hash") == desired.hash and constants.ANNOTATION_RETRY not in resource.annotations:
        return 0
    same_rollout = _in_rollout_of(status, desired)
    promoting = (same_rollout and _State.from_status(status).promoting) or spec.rollout.strategy == "Immediate" \
        or constants.ANNOTATION_PROMOTE in resource.annotations
    step = int(status.get("currentStep", 0)) if same_rollout else 0
    weight = 100 if promoting else spec.rollout.steps[min(step, len(spec.rollout.steps) - 1)]
    target = pod_counts.step_targets(total=spec.replicas, weight=weight, surge=True).canary
    observed = observations.deployments.get(desired.hash)
    stuck = sum(1 for pod in observations.unschedulable if pod.revision == desired.hash)
    return max(0, target - (observed.replicas if observed is not None else 0)) + stuck

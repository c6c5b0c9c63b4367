"""The rollout of a new revision: canary steps, analysis, promotion and rollback. Pure.

Every piece of rollout state lives in status (`canaryRevision`, `currentStep`, `stepStartedAt`,
`failedAnalyses`, `lastAnalysis`, `failedRevision`), so an operator that restarts mid-rollout reads
it back and continues at the same step. Each call decides one pass from that state, the
observations and the time, and says when it next needs to act.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from tritonops import constants
from tritonops.desired.revision import Revision
from tritonops.engine import conditions
from tritonops.engine.actions import Event
from tritonops.engine.analysis import Verdict
from tritonops.engine.observations import DeploymentObservation, Observations
from tritonops.resource import ModelDeployment
from tritonops.routers import router_for
from tritonops.spec import RolloutSpec

# Status keys owned by the rollout; a pass that does not set one removes it.
ROLLOUT_KEYS = ("canaryRevision", "currentStep", "stepStartedAt", "failedAnalyses", "lastAnalysis", "failedRevision")
ONE_SHOT_ANNOTATIONS = (constants.ANNOTATION_PROMOTE, constants.ANNOTATION_ABORT, constants.ANNOTATION_RETRY)
CAPACITY_RECHECK_SECONDS = 10.0
# Never requeue sooner than this: timestamps in status have whole-second precision.
MINIMUM_REQUEUE_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One pass's decision: who serves with how many pods, the phase, and what to record."""

    phase: str
    reason: str
    message: str
    stable: Revision
    # The Deployment of the spec's revision is applied with this many replicas; None: it must not exist.
    desired_replicas: int | None
    # Replicas for the previous stable revision's Deployment when it is not the spec's; None: leave it.
    stable_replicas: int | None = None
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
        "measurements": [check.as_status() for check in verdict.checks],
    }


def _history_entry(revision: Revision, *, outcome: str, at: str, reason: str) -> dict[str, Any]:
    return {"hash": revision.hash, "version": revision.version, "outcome": outcome, "at": at, "reason": reason}


def _describe(revision: Revision) -> str:
    return f"revision {revision.hash} (version {revision.version})"


@dataclasses.dataclass(frozen=True)
class _State:
    """The rollout state of the spec's revision as status recorded it."""

    step: int = 0
    step_started_at: datetime.datetime | None = None
    failed_analyses: int = 0
    last_analysis: Mapping[str, Any] | None = None
    promoting: bool = False

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> _State:
        return cls(
            step=int(status.get("currentStep", 0)),
            step_started_at=parse_time(status.get("stepStartedAt")),
            failed_analyses=int(status.get("failedAnalyses", 0)),
            last_analysis=status.get("lastAnalysis"),
            promoting=status.get("phase") == "Promoting",
        )

    def as_status(self, canary: Revision) -> dict[str, Any]:
        status: dict[str, Any] = {"canaryRevision": canary.as_status(), "currentStep": self.step, "failedAnalyses": self.failed_analyses}
        if self.step_started_at is not None:
            status["stepStartedAt"] = conditions.timestamp(self.step_started_at)
        if self.last_analysis is not None:
            status["lastAnalysis"] = dict(self.last_analysis)
        return status


def _in_rollout_of(status: Mapping[str, Any], desired: Revision) -> bool:
    return bool((status.get("canaryRevision") or {}).get("hash") == desired.hash)


def analysis_due(resource: ModelDeployment, observations: Observations, *, now: datetime.datetime) -> bool:
    """True when this pass should measure a window: the canary is up and an interval has passed."""
    status = resource.status
    canary = status.get("canaryRevision") or {}
    if status.get("phase") != "Canary" or not canary.get("hash"):
        return False
    observed = observations.deployments.get(str(canary["hash"]))
    state = _State.from_status(status)
    if observed is None or not observed.ready() or state.step_started_at is None:
        return False
    return now >= _next_analysis_at(state, resource.spec.rollout)


def _next_analysis_at(state: _State, rollout: RolloutSpec) -> datetime.datetime:
    assert state.step_started_at is not None
    last = parse_time((state.last_analysis or {}).get("at"))
    start = max(state.step_started_at, last) if last is not None else state.step_started_at
    return start + datetime.timedelta(seconds=rollout.analysis.interval_seconds)


def held_after_rollback(resource: ModelDeployment, *, desired: Revision, stable: Revision, total: int) -> Outcome:
    """The spec still asks for a revision that was rolled back: keep serving stable, say why."""
    failed = resource.status.get("failedRevision") or {}
    message = (
        f"{_describe(desired)} was rolled back ({failed.get('reason', 'unknown')}): {failed.get('message', '')}; "
        f"{_describe(stable)} serves all traffic. Change the spec, or run `tritonops retry {resource.name}`"
    )
    status: dict[str, Any] = {"failedRevision": dict(failed)}
    if resource.status.get("lastAnalysis"):
        status["lastAnalysis"] = dict(resource.status["lastAnalysis"])
    return Outcome(
        phase="RolledBack", reason=str(failed.get("reason", "RolledBack")), message=message, stable=stable,
        desired_replicas=None, stable_replicas=total, rollout_status=status,
    )


def _rollback(
    resource: ModelDeployment, *, desired: Revision, stable: Revision, state: _State, total: int, reason: str, message: str,
    now: datetime.datetime, events: list[Event],
) -> Outcome:
    at = conditions.timestamp(now)
    failed: dict[str, Any] = {**desired.as_status(), "reason": reason, "message": message, "at": at}
    if state.last_analysis:
        failed["measurements"] = list(state.last_analysis.get("measurements") or [])
    status: dict[str, Any] = {"failedRevision": failed}
    if state.last_analysis:
        status["lastAnalysis"] = dict(state.last_analysis)
    events.append(Event("Warning", "RolledBack", f"{_describe(desired)} rolled back to {_describe(stable)}: {reason}: {message}"))
    return Outcome(
        phase="RolledBack", reason=reason, message=f"{_describe(desired)} rolled back: {message}", stable=stable,
        desired_replicas=None, stable_replicas=total, rollout_status=status, events=events,
        history=[_history_entry(desired, outcome="RolledBack", at=at, reason=f"{reason}: {message}")],
        rollback_reason=reason,
    )


def _promote(
    resource: ModelDeployment, observed: DeploymentObservation | None, *, desired: Revision, stable: Revision, state: _State,
    total: int, why: str, now: datetime.datetime, events: list[Event],
) -> Outcome:
    """Full traffic to the new revision; the old one stays until every new pod is Ready, then goes."""
    if observed is not None and observed.ready() and observed.replicas == total:
        events.append(Event("Normal", "Promoted", f"{_describe(desired)} is stable, replacing {_describe(stable)}: {why}"))
        return Outcome(
            phase="Ready", reason="Promoted", message=f"{_describe(desired)} promoted: {why}", stable=desired,
            desired_replicas=total, rollout_status={"lastAnalysis": dict(state.last_analysis)} if state.last_analysis else {},
            events=events, promoted=True,
            history=[_history_entry(desired, outcome="Promoted", at=conditions.timestamp(now), reason=why)],
        )
    if not state.promoting:
        events.append(Event("Normal", "Promoting", f"{_describe(desired)} takes all traffic: {why}"))
    plan = router_for(resource)(resource, stable=stable.hash, canary=desired.hash, weight=100, total=total)
    promoting = dataclasses.replace(state, promoting=True)
    ready = observed.ready_replicas if observed is not None else 0
    return Outcome(
        phase="Promoting", reason="Promoting", message=f"{_describe(desired)}: {ready}/{total} pods Ready before {_describe(stable)} is removed",
        stable=stable, desired_replicas=total, canary=desired, route_weight=100, effective_weight=plan.effective_weight,
        rollout_status={**promoting.as_status(desired), "promotionReason": why}, events=events, progressing=True,
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
    rollout = resource.spec.rollout
    status = resource.status
    total = resource.spec.replicas
    annotations = resource.annotations
    events: list[Event] = []
    failed = status.get("failedRevision") or {}
    same_rollout = _in_rollout_of(status, desired)

    if not same_rollout and failed.get("hash") == desired.hash:
        if constants.ANNOTATION_RETRY not in annotations:
            return held_after_rollback(resource, desired=desired, stable=stable, total=total)
        events.append(Event("Normal", "RetryRequested", f"retrying {_describe(desired)}, rolled back before for {failed.get('reason')}"))

    if same_rollout:
        state = _State.from_status(status)
    else:
        previous = status.get("canaryRevision")
        if previous:
            events.append(Event("Normal", "RolloutSuperseded", f"revision {previous.get('hash')} is replaced by {desired.hash} before it finished"))
        events.append(Event("Normal", "RolloutStarted", f"rolling out {_describe(desired)} over {_describe(stable)} with strategy {rollout.strategy}"))
        state = _State()
    observed = observations.deployments.get(desired.hash)

    if constants.ANNOTATION_ABORT in annotations:
        return _rollback(resource, desired=desired, stable=stable, state=state, total=total, reason="Aborted",
                         message="aborted by the user", now=now, events=events)
    # A crashed pod or a model that failed to load condemns the revision whatever the metrics say.
    failures = [failure for failure in observations.pod_failures if failure.revision == desired.hash]
    if failures and same_rollout:
        first = failures[0]
        return _rollback(resource, desired=desired, stable=stable, state=state, total=total, reason=first.reason,
                         message=f"pod {first.name}: {first.message}", now=now, events=events)

    if same_rollout and state.promoting:
        return _promote(resource, observed, desired=desired, stable=stable, state=state, total=total,
                        why=str(status.get("promotionReason", "every step passed")), now=now, events=events)

    if rollout.strategy == "Immediate":
        return _promote(resource, observed, desired=desired, stable=stable, state=state, total=total,
                        why="strategy Immediate", now=now, events=events)
    if constants.ANNOTATION_PROMOTE in annotations:
        return _promote(resource, observed, desired=desired, stable=stable, state=state, total=total,
                        why="promoted by the user", now=now, events=events)

    step = min(state.step, len(rollout.steps) - 1)
    weight = rollout.steps[step]
    traffic = router_for(resource)(resource, stable=stable.hash, canary=desired.hash, weight=weight, total=total)

    # Capacity: before the canary's pods exist, and while the scheduler cannot place them, wait.
    stuck = [pod for pod in observations.unschedulable if pod.revision == desired.hash]
    if (observed is None and observations.capacity_shortfall) or stuck:
        message = observations.capacity_shortfall if observed is None and observations.capacity_shortfall else (
            f"{len(stuck)} canary pod(s) cannot be scheduled: {stuck[0].message}"
        )
        waiting = dataclasses.replace(state, step_started_at=None)
        return Outcome(
            phase="WaitingForCapacity", reason="InsufficientGPU", message=str(message), stable=stable,
            desired_replicas=None if observed is None else traffic.canary_replicas,
            stable_replicas=total if observed is None else traffic.stable_replicas, canary=desired,
            rollout_status=waiting.as_status(desired), events=events, requeue_after=CAPACITY_RECHECK_SECONDS, progressing=True,
        )
    if state.step_started_at is None:
        state = dataclasses.replace(state, step_started_at=now.replace(microsecond=0))
    step_started_at = state.step_started_at
    assert step_started_at is not None
    ready = observed is not None and observed.ready() and observed.replicas == traffic.canary_replicas

    elapsed = (now - step_started_at).total_seconds()
    if not ready and elapsed > rollout.progress_deadline_seconds:
        ready_count = observed.ready_replicas if observed is not None else 0
        return _rollback(resource, desired=desired, stable=stable, state=state, total=total, reason="ProgressDeadlineExceeded",
                         message=f"{ready_count}/{traffic.canary_replicas} canary pods Ready after {rollout.progress_deadline_seconds}s",
                         now=now, events=events)

    verdict = observations.analysis if same_rollout else None
    if verdict is not None:
        state = dataclasses.replace(state, last_analysis=analysis_record(verdict, now=now))
        if verdict.result == "Failed":
            state = dataclasses.replace(state, failed_analyses=state.failed_analyses + 1)
            events.append(Event("Warning", "AnalysisFailed",
                                f"{_describe(desired)} at {weight}%: {verdict.reason} ({state.failed_analyses}/{rollout.analysis.failure_limit} failed analyses)"))
            if state.failed_analyses >= rollout.analysis.failure_limit:
                return _rollback(resource, desired=desired, stable=stable, state=state, total=total, reason="AnalysisFailed",
                                 message=f"{state.failed_analyses} failed analyses; last: {verdict.reason}", now=now, events=events)

    last = state.last_analysis or {}
    last_at = parse_time(last.get("at"))
    passed_in_step = last.get("result") == "Passed" and last_at is not None and last_at >= step_started_at
    if ready and not rollout.paused and passed_in_step and elapsed >= rollout.step_seconds:
        if step + 1 < len(rollout.steps):
            next_weight = rollout.steps[step + 1]
            events.append(Event("Normal", "StepAdvanced", f"{_describe(desired)}: step {step + 2}/{len(rollout.steps)} at {next_weight}%"))
            step_started_at = now.replace(microsecond=0)
            state = dataclasses.replace(state, step=step + 1, step_started_at=step_started_at)
            step, weight, elapsed = step + 1, next_weight, 0.0
            traffic = router_for(resource)(resource, stable=stable.hash, canary=desired.hash, weight=weight, total=total)
            ready = observed is not None and observed.ready() and observed.replicas == traffic.canary_replicas
        else:
            return _promote(resource, observed, desired=desired, stable=stable, state=state, total=total,
                            why=f"all {len(rollout.steps)} steps passed analysis", now=now, events=events)

    position = f"step {step + 1}/{len(rollout.steps)} at {weight}%"
    if rollout.paused:
        reason, message = "Paused", f"paused at {position}; automatic rollback stays armed"
    elif not ready:
        reason, message = "CanaryStarting", f"{position}: waiting for canary pods to be Ready"
    elif last.get("result") == "Inconclusive" and last_at is not None and last_at >= step_started_at:
        reason, message = "AnalysisInconclusive", f"{position}: {last.get('reason')}"
    else:
        reason, message = "StepInProgress", f"{position}: analysing every {rollout.analysis.interval_seconds}s"
    return Outcome(
        phase="Canary", reason=reason, message=message, stable=stable, desired_replicas=traffic.canary_replicas,
        stable_replicas=traffic.stable_replicas, canary=desired, route_weight=weight, effective_weight=traffic.effective_weight,
        rollout_status=state.as_status(desired), events=events, progressing=True,
        requeue_after=_next_action_in(state, rollout, now=now, ready=ready, elapsed=elapsed),
    )


def _next_action_in(state: _State, rollout: RolloutSpec, *, now: datetime.datetime, ready: bool, elapsed: float) -> float:
    """Seconds until the next analysis, step end or progress deadline, whichever comes first."""
    until_analysis = (_next_analysis_at(state, rollout) - now).total_seconds()
    if ready and until_analysis <= 0:
        # Due, yet this pass measured nothing: the canary has only just turned Ready and the provider took
        # its first sample now. The first whole window ends one interval from here, not at the step's end.
        until_analysis = rollout.analysis.interval_seconds
    candidates = [until_analysis, rollout.step_seconds - elapsed]
    if not ready:
        candidates.append(rollout.progress_deadline_seconds - elapsed + 1)
    future = [seconds for seconds in candidates if seconds > 0]
    return max(MINIMUM_REQUEUE_SECONDS, min(future) if future else rollout.analysis.interval_seconds)


def canary_pods_to_place(resource: ModelDeployment, observations: Observations, *, desired: Revision) -> int:
    """How many canary pods are about to be created: the I/O layer checks capacity only then."""
    status = resource.status
    stable = status.get("stableRevision") or {}
    if not stable or stable.get("hash") == desired.hash or desired.hash in observations.deployments:
        return 0
    rollout = resource.spec.rollout
    if rollout.strategy != "Canary" or constants.ANNOTATION_PROMOTE in resource.annotations:
        return 0
    failed = status.get("failedRevision") or {}
    if failed.get("hash") == desired.hash and constants.ANNOTATION_RETRY not in resource.annotations:
        return 0
    step = int(status.get("currentStep", 0)) if _in_rollout_of(status, desired) else 0
    weight = rollout.steps[min(step, len(rollout.steps) - 1)]
    return router_for(resource)(resource, stable=str(stable["hash"]), canary=desired.hash, weight=weight, total=resource.spec.replicas).canary_replicas

"""Every transition of the canary state machine, driven through the pure plan."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from tests.harness.specs import model_deployment
from tritonops import constants
from tritonops.engine.actions import ChildReference, Plan, Scale
from tritonops.engine.analysis import Check, Reading, Verdict
from tritonops.engine.observations import DeploymentObservation, Observations, PodFailure, Room, UnschedulablePod
from tritonops.engine.reconcile import plan
from tritonops.engine.rollout import DEADLINE_MARGIN_SECONDS, analysis_due, golden_gate_due

T0 = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.timezone.utc)
GPU = {"gpu": {"count": 1, "products": ["NVIDIA-L4"]}}
ROLLOUT = {"steps": [25, 50], "stepSeconds": 30, "progressDeadlineSeconds": 120, "analysis": {"intervalSeconds": 10, "failureLimit": 2}}
PASSED = Verdict("Passed", (Check("successRate", "canary", 1.0, ">= 0.99", True),), "every check passed", {"canary": 40, "stable": 120})
FAILED = Verdict("Failed", (Check("successRate", "canary", 0.5, ">= 0.99", False),), "successRate 0.5 not >= 0.99", {"canary": 40, "stable": 120})
INCONCLUSIVE = Verdict("Inconclusive", (), "3 canary requests in the window, fewer than minRequests 20", {"canary": 3})


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def spec(version: str = "2", **overrides: Any) -> dict[str, Any]:
    rollout = {**ROLLOUT, **overrides.pop("rollout", {})}
    return {"replicas": 4, "model": {"version": version}, "rollout": rollout, "server": GPU, **overrides}


OLD = model_deployment(spec(version="1")).revision
NEW = model_deployment(spec()).revision


def observe(revision: str, *, replicas: int, ready: int | None = None) -> DeploymentObservation:
    ready = replicas if ready is None else ready
    return DeploymentObservation(name=f"resnet-{revision}", revision=revision, replicas=replicas, ready_replicas=ready,
                                 available_replicas=ready, updated_replicas=replicas)


def stable_status() -> dict[str, Any]:
    return {"phase": "Ready", "stableRevision": OLD.as_status()}


def run(status: dict[str, Any], when: float, *, annotations: dict[str, str] | None = None, spec_body: dict[str, Any] | None = None,
        canary: int | None = None, canary_ready: int | None = None, stable: int = 4, stable_ready: int | None = None,
        **observed: Any) -> Plan:
    resource = model_deployment(spec_body or spec(), status=status)
    if annotations:
        resource = model_deployment(spec_body or spec(), status=status)
        object.__setattr__(resource, "annotations", annotations)
    deployments = {OLD.hash: observe(OLD.hash, replicas=stable, ready=stable_ready)}
    if canary is not None:
        deployments[NEW.hash] = observe(NEW.hash, replicas=canary, ready=canary_ready)
    return plan(resource, Observations(deployments=deployments, **observed), now=at(when))


def reasons(result: Plan) -> list[str]:
    return [event.reason for event in result.events]


def deployment_replicas(result: Plan) -> dict[str, int]:
    return {m["metadata"]["name"]: m["spec"]["replicas"] for m in result.apply if m["kind"] == "Deployment"}


def started() -> Plan:
    return run(stable_status(), 0)


def at_step_one_ready() -> dict[str, Any]:
    """Status right after the canary of step 1 turned Ready (1 of 4 pods at 25%)."""
    return dict(run(dict(started().status), 1, canary=1, stable=3).status)


def test_a_new_revision_starts_a_canary_at_the_first_step() -> None:
    result = started()
    assert reasons(result) == ["RolloutStarted"]
    assert result.status["phase"] == "Canary"
    assert result.status["stableRevision"]["hash"] == OLD.hash
    assert result.status["canaryRevision"]["hash"] == NEW.hash
    # No canary pod is Ready yet: it gets no traffic, and the stable gives up no pod (regression: the
    # stable used to shrink in the pass that created the canary, so capacity dipped at every step).
    assert (result.status["currentStep"], result.status["canaryWeight"], result.status["failedAnalyses"]) == (0, 0, 0)
    assert result.status["stepStartedAt"] == "2026-11-22T12:00:00Z"
    assert result.status["progressAt"] == "2026-11-22T12:00:00Z"
    assert deployment_replicas(result) == {f"resnet-{NEW.hash}": 1}
    assert result.scale == []
    assert result.delete == []
    assert result.requeue_after == 10
    # Once the canary pod is Ready the stable gives one up, and the canary's share is what status reports.
    ready = run(dict(result.status), 1, canary=1, stable=4)
    assert ready.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=3)]
    assert ready.status["canaryWeight"] == 20  # 1 of the 5 Ready pods
    assert run(dict(ready.status), 2, canary=1, stable=3).status["canaryWeight"] == 25


SURGE = {"capacity": {"mode": "Surge"}}
FULL = Room(pods=0, pods_if_released=4, detail="1 nvidia.com/gpu of product NVIDIA-L4 per pod; free nvidia.com/gpu per matching node: a 0/4")


def test_a_surge_that_cannot_fit_waits_for_capacity_without_creating_pods() -> None:
    body = spec(rollout=SURGE, server=GPU)
    result = run(stable_status(), 0, spec_body=body, room=FULL)
    assert result.status["phase"] == "WaitingForCapacity"
    assert "1 more canary pod(s) need GPUs and the cluster has room for 0" in result.status["message"]
    assert "a 0/4" in result.status["message"] and "rolls back if nothing moves by 2026-11-22T12:02:00Z" in result.status["message"]
    assert deployment_replicas(result) == {}
    assert result.scale == []  # the stable keeps all 4 pods
    assert "stepStartedAt" not in result.status
    assert reasons(result) == ["RolloutStarted", "InsufficientGPU"]
    assert result.requeue_after == 10
    # Once the capacity is there, the canary is created and its clock starts.
    later = run(dict(result.status), 40, spec_body=body, room=Room(pods=1))
    assert later.status["phase"] == "Canary"
    assert later.status["stepStartedAt"] == "2026-11-22T12:00:40Z"
    assert deployment_replicas(later) == {f"resnet-{NEW.hash}": 1}
    assert reasons(later) == []


def test_a_surge_still_waiting_at_the_progress_deadline_rolls_back_or_holds_as_configured() -> None:
    body = spec(rollout=SURGE, server=GPU)
    waiting = dict(run(stable_status(), 0, spec_body=body, room=FULL).status)
    rolled = run(waiting, 121, spec_body=body, room=FULL)
    assert rolled.rollback_reason == "ProgressDeadlineExceeded"
    assert "no GPUs for 120s" in rolled.status["failedRevision"]["message"]
    hold = spec(rollout={**SURGE, "capacity": {"mode": "Surge", "onDeadline": "Hold"}}, server=GPU)
    held = run(waiting, 500, spec_body=hold, room=FULL)
    assert held.rollback_reason is None and held.status["phase"] == "WaitingForCapacity"
    assert "holds (onDeadline: Hold)" in held.status["message"]


def test_auto_on_a_packed_cluster_swaps_one_stable_pod_for_the_canary() -> None:
    """Regression: the capacity check did not credit the GPUs the stable gives back, so it waited forever."""
    body = spec(server=GPU)
    result = run(stable_status(), 0, spec_body=body, room=FULL)
    assert result.status["phase"] == "Canary" and result.status["capacityMode"] == "Swap"
    assert deployment_replicas(result) == {f"resnet-{NEW.hash}": 1}
    assert result.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=3)]  # maxUnavailable 1
    # The canary pod waits for the GPU the leaving stable pod holds: that is the swap, not a shortfall.
    stuck = [UnschedulablePod(name="p", revision=NEW.hash, message="0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")]
    swapping = run(dict(result.status), 5, spec_body=body, canary=1, canary_ready=0, stable=3, unschedulable=stuck,
                   room=FULL, leaving={OLD.hash: 1})
    assert swapping.status["phase"] == "Canary" and swapping.scale == []
    # Once the canary pod is Ready, the stable keeps the 3 it has: the floor is 3 of 4 Ready.
    ready = run(dict(swapping.status), 20, spec_body=body, canary=1, stable=3)
    assert ready.scale == [] and ready.status["capacityMode"] == "Swap"
    # The next step (50%: 2 of 4) gives back the next stable pod in the pass that grows the canary: 2
    # stable and 1 canary pod stay Ready, the floor of 3.
    passed = dict(run(dict(ready.status), 25, spec_body=body, canary=1, stable=3, analysis=PASSED).status)
    step = run(passed, 30, spec_body=body, canary=1, stable=3)
    assert reasons(step) == ["StepAdvanced"] and step.status["currentStep"] == 1
    assert deployment_replicas(step) == {f"resnet-{NEW.hash}": 2}
    assert step.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=2)]


def test_a_rollback_keeps_ready_canary_pods_while_the_stable_is_below_the_floor() -> None:
    """Regression: rollback deleted the canary while the stable was still starting again."""
    body = spec(server=GPU, rollout={"capacity": {"mode": "Swap"}})
    status = dict(run(stable_status(), 0, spec_body=body, room=FULL).status)
    status = dict(run(status, 1, spec_body=body, canary=1, stable=3).status)
    status = dict(run(status, 31, spec_body=body, canary=1, stable=3, analysis=PASSED).status)  # step 2 at 50%
    status = dict(run(status, 41, spec_body=body, canary=2, stable=2, analysis=FAILED).status)
    rolled = run(status, 51, spec_body=body, canary=2, stable=2, analysis=FAILED)
    assert rolled.rollback_reason == "AnalysisFailed" and rolled.status["phase"] == "RolledBack"
    # 2 stable + 1 canary Ready pods keep the floor of 3; the stable asks for all 4 again.
    assert deployment_replicas(rolled) == {f"resnet-{NEW.hash}": 1}
    assert rolled.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=4)]
    assert rolled.status["canaryWeight"] == 33
    assert "1 Ready canary pod(s) keep serving" in rolled.status["message"]
    # The canary goes once the stable has 3 Ready pods.
    kept = run(dict(rolled.status), 60, spec_body=body, canary=1, stable=4, stable_ready=2)
    assert deployment_replicas(kept) == {f"resnet-{NEW.hash}": 1}
    gone = run(dict(rolled.status), 70, spec_body=body, canary=1, stable=4, stable_ready=3)
    assert gone.status["phase"] == "RolledBack" and deployment_replicas(gone) == {}
    assert gone.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{NEW.hash}")]


def test_replicas_zero_promotes_a_new_revision_without_starting_pods() -> None:
    """Regression: replicas 0 and a version change started 2 pods."""
    body = spec(replicas=0)
    status = {"phase": "Ready", "stableRevision": OLD.as_status()}
    resource = model_deployment(body, status=status)
    first = plan(resource, Observations(deployments={OLD.hash: observe(OLD.hash, replicas=0)}), now=at(0))
    assert deployment_replicas(first) == {f"resnet-{NEW.hash}": 0}
    done = plan(model_deployment(body, status=dict(first.status)),
                Observations(deployments={OLD.hash: observe(OLD.hash, replicas=0), NEW.hash: observe(NEW.hash, replicas=0)}), now=at(1))
    assert done.promoted and done.status["stableRevision"]["hash"] == NEW.hash


def test_auto_never_swaps_away_the_last_serving_pod_but_an_explicit_swap_does() -> None:
    auto = spec(server=GPU, replicas=1)
    waiting = plan(model_deployment(auto, status=stable_status()), Observations(deployments={OLD.hash: observe(OLD.hash, replicas=1)}, room=FULL), now=at(0))
    assert waiting.status["phase"] == "WaitingForCapacity" and waiting.scale == []
    assert "Auto does not give back the last serving pod" in waiting.status["message"]
    swap = spec(server=GPU, replicas=1, rollout={"capacity": {"mode": "Swap"}})
    swapped = plan(model_deployment(swap, status=stable_status()), Observations(deployments={OLD.hash: observe(OLD.hash, replicas=1)}, room=FULL), now=at(0))
    assert swapped.status["phase"] == "Canary" and swapped.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=0)]


def test_a_canary_pod_that_no_swap_can_fit_waits_and_the_stable_keeps_every_pod() -> None:
    result = run(stable_status(), 0, spec_body=spec(server=GPU), room=Room(pods=0, pods_if_released=0))
    assert result.status["phase"] == "WaitingForCapacity" and result.scale == [] and deployment_replicas(result) == {}
    assert "giving back stable pods would not make room either" in result.status["message"]


def test_a_canary_pod_bound_since_the_watch_saw_it_refused_is_not_waiting() -> None:
    """Regression (seen on the real nodes): the watch's pod still said Unschedulable after the fresh
    capacity listing showed it bound on the GPU the stable gave back, and the phase flapped."""
    body = spec(server=GPU)
    status = dict(run(stable_status(), 0, spec_body=body, room=FULL).status)
    stuck = [UnschedulablePod(name="p", revision=NEW.hash, message="0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")]
    bound = run(status, 8, spec_body=body, canary=1, canary_ready=0, stable=3, unschedulable=stuck,
                room=Room(pods=0, pods_if_released=4, unplaced=0))
    assert bound.status["phase"] == "Canary" and reasons(bound) == []
    still = run(status, 8, spec_body=body, canary=1, canary_ready=0, stable=3, unschedulable=stuck,
                room=Room(pods=0, pods_if_released=3, unplaced=1, releasing_pods=3))
    assert still.status["phase"] == "WaitingForCapacity"


def test_a_stable_pod_the_watch_does_not_yet_show_leaving_is_still_giving_its_gpus_back() -> None:
    """Regression (CI, packed real nodes): the stable Deployment was already scaled to 3 in the watch,
    the ReplicaSet had not yet marked the fourth pod for deletion, so the fresh listing showed no free GPU
    and nothing leaving, and the swap was reported as WaitingForCapacity."""
    body = spec(server=GPU)
    status = dict(run(stable_status(), 0, spec_body=body, room=FULL).status)
    stuck = [UnschedulablePod(name="p", revision=NEW.hash, message="0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")]
    swapping = run(status, 1, spec_body=body, canary=1, canary_ready=0, stable=3, unschedulable=stuck,
                   room=Room(pods=0, pods_if_released=4, unplaced=1, releasing_pods=4))
    assert swapping.status["phase"] == "Canary" and reasons(swapping) == [] and swapping.scale == []


def _swap_promoting(body: dict[str, Any]) -> dict[str, Any]:
    """Status right after a Swap rollout on a packed cluster started promoting (2 of 4 pods moved)."""
    status = dict(run(stable_status(), 0, spec_body=body, room=FULL).status)
    status = dict(run(status, 1, spec_body=body, canary=1, stable=3).status)
    status = dict(run(status, 31, spec_body=body, canary=1, stable=3, analysis=PASSED).status)
    status = dict(run(status, 41, spec_body=body, canary=2, stable=2, analysis=PASSED).status)
    promoting = run(status, 61, spec_body=body, canary=2, stable=2, analysis=PASSED)
    assert promoting.status["phase"] == "Promoting" and deployment_replicas(promoting) == {f"resnet-{NEW.hash}": 4}
    return dict(promoting.status)


def test_a_canary_pod_queued_behind_the_stable_pods_a_swap_still_gives_back_is_not_waiting() -> None:
    """Regression (bench-capacity on the packed real nodes): promotion asks for every canary pod at once
    and the stable gives back one pod per Ready canary pod; the canary pod waiting for the GPUs of the
    next of those showed WaitingForCapacity for a second or two, although a canary pod was starting."""
    body = spec(server=GPU, rollout={"capacity": {"mode": "Swap"}})
    status = _swap_promoting(body)
    stuck = [UnschedulablePod(name="p", revision=NEW.hash, message="0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")]
    # 2 canary pods Ready, 1 bound and starting, 1 refused; 1 stable pod left, which goes once the starting one is Ready.
    queued = run(status, 65, spec_body=body, canary=4, canary_ready=2, stable=1, unschedulable=stuck,
                 room=Room(pods=0, pods_if_released=1, unplaced=1, releasing_pods=1))
    assert queued.status["phase"] == "Promoting" and reasons(queued) == [], queued.status.get("message")
    # No canary pod starting and no GPU the stable's last pod could free for them: that is a real shortfall.
    stuck_two = [*stuck, UnschedulablePod(name="q", revision=NEW.hash, message=stuck[0].message)]
    waiting = run(status, 65, spec_body=body, canary=4, canary_ready=2, stable=1, unschedulable=stuck_two,
                  room=Room(pods=0, pods_if_released=0, unplaced=2, releasing_pods=1))
    assert waiting.status["phase"] == "WaitingForCapacity"


def test_canary_pods_the_scheduler_refuses_wait_for_capacity_until_the_deadline() -> None:
    stuck = [UnschedulablePod(name="p", revision=NEW.hash, message="0/6 nodes are available: 6 Insufficient nvidia.com/gpu.")]
    body = spec(rollout=SURGE, server=GPU)
    status = dict(run(stable_status(), 0, spec_body=body, room=Room(pods=1)).status)
    result = run(status, 60, spec_body=body, canary=1, canary_ready=0, stable=4, unschedulable=stuck, room=FULL)
    assert result.status["phase"] == "WaitingForCapacity"
    assert "Insufficient nvidia.com/gpu" in result.status["message"]
    assert result.rollback_reason is None
    assert deployment_replicas(result) == {f"resnet-{NEW.hash}": 1}
    late = run(dict(result.status), 121, spec_body=body, canary=1, canary_ready=0, stable=4, unschedulable=stuck, room=FULL)
    assert late.rollback_reason == "ProgressDeadlineExceeded"


def test_analysis_is_due_only_when_the_canary_is_ready_and_an_interval_passed() -> None:
    status = at_step_one_ready()
    resource = model_deployment(spec(), status=status)
    ready = Observations(deployments={NEW.hash: observe(NEW.hash, replicas=1)})
    starting = Observations(deployments={NEW.hash: observe(NEW.hash, replicas=1, ready=0)})
    assert not analysis_due(resource, ready, now=at(9))
    assert analysis_due(resource, ready, now=at(10))
    assert not analysis_due(resource, starting, now=at(10))
    after = dict(run(status, 10, canary=1, stable=3, analysis=PASSED).status)
    assert not analysis_due(model_deployment(spec(), status=after), ready, now=at(19))
    assert analysis_due(model_deployment(spec(), status=after), ready, now=at(20))


def test_a_passed_analysis_is_recorded_and_the_step_holds_until_step_seconds() -> None:
    result = run(at_step_one_ready(), 10, canary=1, stable=3, analysis=PASSED)
    assert result.status["lastAnalysis"]["result"] == "Passed"
    assert result.status["lastAnalysis"]["measurements"][0] == {"check": "successRate", "revision": "canary", "value": 1.0, "threshold": ">= 0.99", "passed": True}
    assert result.status["lastAnalysis"]["requests"] == {"canary": 40, "stable": 120}
    assert result.status["currentStep"] == 0
    assert reasons(result) == []
    assert result.requeue_after == 10


def test_the_stable_revision_values_reach_status_beside_the_canary_checks() -> None:
    verdict = dataclasses.replace(PASSED, readings=(Reading("successRate", "stable", 0.995),))
    measurements = run(at_step_one_ready(), 10, canary=1, stable=3, analysis=verdict).status["lastAnalysis"]["measurements"]
    assert measurements == [
        {"check": "successRate", "revision": "canary", "value": 1.0, "threshold": ">= 0.99", "passed": True},
        {"check": "successRate", "revision": "stable", "value": 0.995},
    ]


def test_step_advances_after_step_seconds_with_a_passed_analysis() -> None:
    status = dict(run(at_step_one_ready(), 20, canary=1, stable=3, analysis=PASSED).status)
    result = run(status, 30, canary=1, stable=3, analysis=PASSED)
    assert reasons(result) == ["StepAdvanced"]
    # The step's second canary pod is not Ready yet: the weight stays at what one pod carries and
    # the stable keeps its 3 pods until the new one is Ready.
    assert (result.status["currentStep"], result.status["canaryWeight"]) == (1, 25)
    assert result.status["stepStartedAt"] == "2026-11-22T12:00:30Z"
    assert deployment_replicas(result) == {f"resnet-{NEW.hash}": 2}
    assert result.scale == []
    grown = run(dict(result.status), 35, canary=2, stable=3)
    assert grown.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=2)]


def test_inconclusive_windows_neither_advance_nor_count_as_failures() -> None:
    status = at_step_one_ready()
    for second in (10, 20, 30, 40, 50):
        result = run(status, second, canary=1, stable=3, analysis=INCONCLUSIVE)
        status = dict(result.status)
        assert (status["phase"], status["currentStep"], status["failedAnalyses"]) == ("Canary", 0, 0)
        assert reasons(result) == []
    assert "fewer than minRequests" in status["message"]


def with_inconclusive(limit: int, action: str | None = None, **rollout: Any) -> dict[str, Any]:
    analysis = {**ROLLOUT["analysis"], "inconclusiveLimit": limit, **({"onInconclusive": action} if action else {})}  # type: ignore[dict-item]
    return spec(rollout={"analysis": analysis, **rollout})


def test_consecutive_inconclusive_windows_are_counted_and_a_pass_or_a_fail_resets_the_count() -> None:
    status = at_step_one_ready()
    for count, second in enumerate((10, 20, 30), start=1):
        status = dict(run(status, second, canary=1, stable=3, analysis=INCONCLUSIVE).status)
        assert status["inconclusiveAnalyses"] == count
    assert run(status, 40, canary=1, stable=3, analysis=PASSED).status["inconclusiveAnalyses"] == 0
    assert run(status, 40, canary=1, stable=3, analysis=FAILED).status["inconclusiveAnalyses"] == 0
    # A pass without a window (the provider's first sample) changes nothing.
    assert run(status, 40, canary=1, stable=3).status["inconclusiveAnalyses"] == 3


def test_the_inconclusive_limit_rolls_back_by_default_and_frees_the_canary() -> None:
    body = with_inconclusive(3)
    status = at_step_one_ready()
    for second in (10, 20):
        status = dict(run(status, second, canary=1, stable=3, analysis=INCONCLUSIVE, spec_body=body).status)
        assert status["phase"] == "Canary"
    result = run(status, 30, canary=1, stable=3, analysis=INCONCLUSIVE, spec_body=body)
    assert result.rollback_reason == "AnalysisInconclusive"
    assert result.status["phase"] == "RolledBack" and result.status["canaryWeight"] == 0
    failed = result.status["failedRevision"]
    assert failed["reason"] == "AnalysisInconclusive"
    assert failed["message"] == ("3 inconclusive analyses in a row (inconclusiveLimit 3); last: 3 canary requests in the window,"
                                 " fewer than minRequests 20")
    assert result.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{NEW.hash}")]
    assert reasons(result) == ["RolledBack"]


def test_hold_keeps_the_canary_at_its_step_and_warns_once() -> None:
    body = with_inconclusive(2, "Hold")
    status = dict(run(at_step_one_ready(), 10, canary=1, stable=3, analysis=INCONCLUSIVE, spec_body=body).status)
    reached = run(status, 20, canary=1, stable=3, analysis=INCONCLUSIVE, spec_body=body)
    assert reached.rollback_reason is None and (reached.status["phase"], reached.status["currentStep"]) == ("Canary", 0)
    assert reasons(reached) == ["InconclusiveLimitReached"] and reached.events[0].type == "Warning"
    assert "2 inconclusive analyses in a row (inconclusiveLimit 2)" in reached.status["message"]
    assert "onInconclusive Hold" in reached.status["message"]
    conditions = {c["type"]: c for c in reached.status["conditions"]}
    assert conditions["Progressing"]["reason"] == "InconclusiveLimitReached"
    later = run(dict(reached.status), 30, canary=1, stable=3, analysis=INCONCLUSIVE, spec_body=body)
    assert reasons(later) == [] and later.status["inconclusiveAnalyses"] == 3 and later.status["phase"] == "Canary"
    passed = run(dict(later.status), 40, canary=1, stable=3, analysis=PASSED, spec_body=body)
    assert passed.status["inconclusiveAnalyses"] == 0 and "inconclusive" not in passed.status["message"]


def test_no_limit_and_paused_windows_never_reach_the_inconclusive_limit() -> None:
    for body in (with_inconclusive(0), with_inconclusive(2, paused=True)):
        status = at_step_one_ready()
        for second in range(10, 200, 10):
            result = run(status, second, canary=1, stable=3, analysis=INCONCLUSIVE, spec_body=body)
            status = dict(result.status)
            assert result.rollback_reason is None and status["phase"] == "Canary"
    # Paused: the windows are not counted, so resuming does not roll back at once.
    assert status["inconclusiveAnalyses"] == 0


def test_one_failed_analysis_below_the_limit_is_counted_and_reported() -> None:
    result = run(at_step_one_ready(), 10, canary=1, stable=3, analysis=FAILED)
    assert result.status["failedAnalyses"] == 1
    assert result.status["phase"] == "Canary"
    assert reasons(result) == ["AnalysisFailed"]
    assert result.events[0].type == "Warning" and "1/2 failed analyses" in result.events[0].message


def test_failure_limit_rolls_back_at_once() -> None:
    status = dict(run(at_step_one_ready(), 10, canary=1, stable=3, analysis=FAILED).status)
    result = run(status, 20, canary=1, stable=3, analysis=FAILED)
    assert result.rollback_reason == "AnalysisFailed"
    assert result.status["phase"] == "RolledBack"
    assert result.status["canaryWeight"] == 0
    assert "canaryRevision" not in result.status and "currentStep" not in result.status
    failed = result.status["failedRevision"]
    assert (failed["hash"], failed["reason"], failed["at"]) == (NEW.hash, "AnalysisFailed", "2026-11-22T12:00:20Z")
    assert failed["measurements"][0]["value"] == 0.5
    assert result.status["history"][-1] == {"hash": NEW.hash, "version": "2", "outcome": "RolledBack", "at": "2026-11-22T12:00:20Z", "reason": failed["reason"] + ": " + failed["message"]}
    assert result.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{NEW.hash}")]
    assert result.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=4)]
    assert reasons(result) == ["AnalysisFailed", "RolledBack"]
    conditions = {c["type"]: c for c in result.status["conditions"]}
    assert conditions["RolledBack"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"


def test_a_crashed_or_unloadable_canary_pod_rolls_back_without_waiting_for_analysis() -> None:
    for reason in ("CanaryCrashed", "ModelLoadFailed"):
        failure = PodFailure(name="resnet-x-1", revision=NEW.hash, reason=reason, message="exit code 1")
        result = run(at_step_one_ready(), 2, canary=1, stable=3, pod_failures=[failure])
        assert result.rollback_reason == reason
        assert result.status["failedRevision"]["reason"] == reason
        assert "resnet-x-1" in result.status["failedRevision"]["message"]


def test_a_failure_of_a_stable_pod_does_not_roll_the_canary_back() -> None:
    failure = PodFailure(name="old", revision=OLD.hash, reason="CanaryCrashed", message="exit code 1")
    result = run(at_step_one_ready(), 2, canary=1, stable=3, pod_failures=[failure])
    assert result.rollback_reason is None and result.status["phase"] == "Canary"


def test_canary_pods_not_ready_by_the_progress_deadline_roll_back() -> None:
    status = dict(started().status)
    waiting = run(status, 100, canary=1, canary_ready=0, stable=3)
    # Pods turning Ready arrive as watch events; the timer only needs to catch the deadline, and it
    # wakes just past it: a deadline of 120 s acts at 120 s, not at 121 s (regression: it took a second more).
    assert waiting.status["phase"] == "Canary" and waiting.requeue_after == pytest.approx(20 + DEADLINE_MARGIN_SECONDS)
    result = run(status, 120 + DEADLINE_MARGIN_SECONDS, canary=1, canary_ready=0, stable=3)
    assert result.rollback_reason == "ProgressDeadlineExceeded"
    assert "0/1 canary pods Ready, no progress for 120s" in result.status["failedRevision"]["message"]


def test_the_progress_deadline_counts_from_the_last_progress_not_the_start_of_the_step() -> None:
    """Regression: readiness lost late in a long step rolled back at once."""
    long_step = spec(rollout={"stepSeconds": 3600})
    status = dict(run(dict(run(stable_status(), 0, spec_body=long_step).status), 1, canary=1, stable=4, spec_body=long_step).status)
    status = dict(run(status, 2, canary=1, stable=3, spec_body=long_step).status)
    # At 1000 s (long after the 120 s deadline) the canary's pod stops being Ready: the clock starts now.
    lost = run(status, 1000, canary=1, canary_ready=0, stable=3, spec_body=long_step)
    assert lost.rollback_reason is None and lost.status["progressAt"] == "2026-11-22T12:16:40Z"
    assert lost.requeue_after == pytest.approx(120 + DEADLINE_MARGIN_SECONDS)
    assert run(dict(lost.status), 1100, canary=1, canary_ready=0, stable=3, spec_body=long_step).rollback_reason is None
    assert run(dict(lost.status), 1121, canary=1, canary_ready=0, stable=3, spec_body=long_step).rollback_reason == "ProgressDeadlineExceeded"


def test_time_spent_paused_does_not_count_towards_the_progress_deadline() -> None:
    paused = spec(rollout={"paused": True})
    status = dict(run(stable_status(), 0, spec_body=paused).status)
    held = run(status, 500, canary=1, canary_ready=0, stable=4, spec_body=paused)
    assert held.rollback_reason is None and held.status["pausedAt"] == "2026-11-22T12:00:00Z"
    resumed = run(dict(held.status), 600, canary=1, canary_ready=0, stable=4)
    assert resumed.rollback_reason is None and "pausedAt" not in resumed.status
    assert resumed.status["progressAt"] == "2026-11-22T12:10:00Z"
    assert run(dict(resumed.status), 721, canary=1, canary_ready=0, stable=4).rollback_reason == "ProgressDeadlineExceeded"


def _at_last_step() -> dict[str, Any]:
    status = dict(run(at_step_one_ready(), 30, canary=1, stable=3, analysis=PASSED).status)
    assert status["currentStep"] == 1
    return dict(run(status, 31, canary=2, stable=2).status)


def test_after_the_last_step_the_canary_is_promoted_then_the_old_revision_removed() -> None:
    status = _at_last_step()
    promoting = run(status, 60, canary=2, stable=2, analysis=PASSED)
    assert promoting.status["phase"] == "Promoting"
    assert reasons(promoting) == ["Promoting"]
    # Regression: the route weight went to 100 at the start of promotion, before the new pods existed.
    assert promoting.status["canaryWeight"] == 50
    assert deployment_replicas(promoting) == {f"resnet-{NEW.hash}": 4}
    assert promoting.scale == [] and promoting.delete == []  # the old pods serve until the new ones are Ready
    assert not promoting.promoted

    still = run(dict(promoting.status), 61, canary=4, canary_ready=3, stable=2)
    assert still.status["phase"] == "Promoting" and reasons(still) == [] and still.delete == []
    assert still.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=1)]  # one old pod per Ready new one

    done = run(dict(still.status), 62, canary=4, stable=2)
    assert done.promoted
    assert done.status["phase"] == "Ready"
    assert done.status["stableRevision"]["hash"] == NEW.hash
    assert "canaryRevision" not in done.status and done.status["canaryWeight"] == 0
    assert done.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{OLD.hash}")]
    assert done.status["history"][-1]["outcome"] == "Promoted"
    assert reasons(done) == ["Promoted"]


def test_the_same_status_and_observations_give_the_same_decision_so_a_restart_resumes() -> None:
    status = _at_last_step()
    first = run(status, 45, canary=2, stable=2)
    again = run(status, 45, canary=2, stable=2)
    assert first.status == again.status and first.events == again.events == []
    assert first.status["currentStep"] == 1


def test_paused_holds_the_step_but_keeps_rollback_armed() -> None:
    paused = spec(rollout={"paused": True})
    status = dict(run(at_step_one_ready(), 20, canary=1, stable=3, analysis=PASSED, spec_body=paused).status)
    held = run(status, 60, canary=1, stable=3, analysis=PASSED, spec_body=paused)
    assert (held.status["phase"], held.status["currentStep"]) == ("Canary", 0)
    assert held.status["message"].startswith("paused at step 1/2")
    failed = run(dict(run(status, 70, canary=1, stable=3, analysis=FAILED, spec_body=paused).status), 80, canary=1, stable=3,
                 analysis=FAILED, spec_body=paused)
    assert failed.rollback_reason == "AnalysisFailed"
    resumed = run(dict(held.status), 70, canary=1, stable=3, analysis=PASSED)
    assert resumed.status["currentStep"] == 1


def test_abort_rolls_back_now_and_the_annotation_is_removed() -> None:
    result = run(at_step_one_ready(), 5, canary=1, stable=3, annotations={constants.ANNOTATION_ABORT: "now"})
    assert result.rollback_reason == "Aborted"
    assert result.status["failedRevision"]["reason"] == "Aborted"
    assert result.remove_annotations == [constants.ANNOTATION_ABORT]


def test_promote_skips_the_remaining_steps() -> None:
    result = run(at_step_one_ready(), 5, canary=1, stable=3, annotations={constants.ANNOTATION_PROMOTE: "now"})
    assert result.status["phase"] == "Promoting"
    assert deployment_replicas(result) == {f"resnet-{NEW.hash}": 4}
    assert result.remove_annotations == [constants.ANNOTATION_PROMOTE]
    # Without the annotation (removed) the promotion carries on.
    assert run(dict(result.status), 6, canary=4, canary_ready=2, stable=3).status["phase"] == "Promoting"


def _rolled_back() -> dict[str, Any]:
    status = dict(run(at_step_one_ready(), 10, canary=1, stable=3, analysis=FAILED).status)
    return dict(run(status, 20, canary=1, stable=3, analysis=FAILED).status)


def test_a_rolled_back_revision_is_not_retried_until_the_spec_changes() -> None:
    held = run(_rolled_back(), 100)
    assert held.status["phase"] == "RolledBack"
    assert "tritonops retry resnet" in held.status["message"]
    assert deployment_replicas(held) == {} and held.events == []
    assert held.status["failedRevision"]["hash"] == NEW.hash
    # A different revision starts a new rollout; the record of the failed one stays.
    changed = run(_rolled_back(), 100, spec_body=spec(version="3"))
    assert changed.status["phase"] == "Canary"
    assert reasons(changed) == ["RolloutStarted"]
    assert changed.status["failedRevision"]["hash"] == NEW.hash


def test_retry_starts_the_failed_revision_again() -> None:
    result = run(_rolled_back(), 100, annotations={constants.ANNOTATION_RETRY: "now"})
    assert reasons(result) == ["RetryRequested", "RolloutStarted"]
    assert result.status["phase"] == "Canary"
    assert "failedRevision" not in result.status
    assert result.status["failedAnalyses"] == 0
    assert result.remove_annotations == [constants.ANNOTATION_RETRY]


def test_a_newer_revision_supersedes_the_canary_in_flight() -> None:
    third = model_deployment(spec(version="3")).revision
    result = run(at_step_one_ready(), 5, canary=1, stable=3, spec_body=spec(version="3"))
    assert reasons(result) == ["RolloutSuperseded", "RolloutStarted"]
    assert result.status["canaryRevision"]["hash"] == third.hash
    assert result.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{NEW.hash}")]


def test_gateway_api_routes_carry_the_exact_weight() -> None:
    body = spec(traffic={"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "gateway"}]}})
    created = run(stable_status(), 0, spec_body=body)
    # Regression: the route sent 25% to the canary in the pass that created its Deployment.
    assert [b["weight"] for b in next(m for m in created.apply if m["kind"] == "HTTPRoute")["spec"]["rules"][0]["backendRefs"]] == [100, 0]
    starting = run(dict(created.status), 1, canary=1, canary_ready=0, stable=4, spec_body=body)
    assert starting.status["canaryWeight"] == 0
    result = run(dict(starting.status), 2, canary=1, stable=3, spec_body=body)
    assert result.status["canaryWeight"] == 25
    http = next(m for m in result.apply if m["kind"] == "HTTPRoute")
    assert [b["weight"] for b in http["spec"]["rules"][0]["backendRefs"]] == [75, 25]
    services = sorted(m["metadata"]["name"] for m in result.apply if m["kind"] == "Service")
    assert services == sorted(["resnet", f"resnet-{OLD.hash}", f"resnet-{NEW.hash}"])
    # After a rollback the canary's backend Service is removed.
    status = dict(run(dict(result.status), 2, canary=1, stable=3, spec_body=body, annotations={constants.ANNOTATION_ABORT: "x"}).status)
    after = run(status, 3, stable=4, spec_body=body, routing_children=[("Service", f"resnet-{NEW.hash}"), ("HTTPRoute", "resnet-http")])
    assert ChildReference("v1", "Service", f"resnet-{NEW.hash}") in after.delete
    assert all(reference.kind != "HTTPRoute" for reference in after.delete)


def test_immediate_strategy_promotes_without_steps() -> None:
    result = run(stable_status(), 0, spec_body=spec(rollout={"strategy": "Immediate"}))
    assert result.status["phase"] == "Promoting"
    assert deployment_replicas(result) == {f"resnet-{NEW.hash}": 4}


def test_a_canary_ready_after_its_first_interval_is_analysed_one_interval_later_not_at_the_step_end() -> None:
    """The first analysis falls due while the canary is still starting; once it is Ready, the next pass
    must come one window later, not at the end of the step: a production resync (60 s) would not hide that."""
    status = dict(started().status)
    starting = run(status, 5, canary=1, canary_ready=0, stable=3)
    assert starting.status["phase"] == "Canary" and "0/1 canary pods Ready" in starting.status["message"]
    # Ready at 12 s, after the first interval (10 s) has passed without a measurement: the provider takes
    # its first sample in this pass, and the first whole window ends one interval later (not at 30 s).
    ready = run(dict(starting.status), 12, canary=1, stable=3)
    assert ready.requeue_after == 10


# -- the golden gate: the first step's pods are probed before they take any traffic ------------------------------

GOLDEN_ROLLOUT = {**ROLLOUT, "capacity": {"mode": "Surge"}, "analysis": {**ROLLOUT["analysis"], "golden": {"configMapRef": {"name": "resnet-golden"}}}}
GOLDEN_PASSED = Verdict("Passed", (Check("golden:y", "canary", 0.0, "|difference| <= 0.0001 + 0.001 * |expected|", True),),
                        "every golden case answered within tolerance")
GOLDEN_FAILED = Verdict("Failed", (Check("golden:y", "canary", 0.5, "|difference| <= 0.0001 + 0.001 * |expected|", False),),
                        "golden:y 0.5 not |difference| <= 0.0001 + 0.001 * |expected|")
GOLDEN_UNSURE = Verdict("Inconclusive", (Check("golden", "canary", None, "every golden case answered", None, "no Ready pods to probe"),),
                        "golden probe: no Ready pods to probe")


def gated_spec(**rollout: Any) -> dict[str, Any]:
    return spec(rollout={**GOLDEN_ROLLOUT, **rollout})


def progressing_reason(result: Plan) -> str:
    return str(next(c["reason"] for c in result.status["conditions"] if c["type"] == "Progressing"))


def service_selector(result: Plan) -> dict[str, str]:
    return next(dict(m["spec"]["selector"]) for m in result.apply if m["kind"] == "Service")


def gate_ready(body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Status once the canary's pod is Ready behind the gate."""
    body = body or gated_spec()
    first = run(stable_status(), 0, spec_body=body)
    return dict(run(dict(first.status), 1, spec_body=body, canary=1, stable=4).status)


def test_the_gated_canary_is_ready_but_takes_no_traffic() -> None:
    body = gated_spec()
    first = run(stable_status(), 0, spec_body=body)
    assert (first.status["phase"], progressing_reason(first), first.status["canaryWeight"]) == ("Canary", "GoldenGate", 0)
    assert "stepStartedAt" not in first.status and deployment_replicas(first) == {f"resnet-{NEW.hash}": 1}
    # The Service selects the stable's pods only, from the very pass that creates the canary.
    assert service_selector(first)[constants.LABEL_REVISION] == OLD.hash
    ready = run(dict(first.status), 1, spec_body=body, canary=1, stable=4)
    assert (ready.status["canaryWeight"], ready.scale) == (0, [])  # the Ready canary pod covers none of the stable's
    assert service_selector(ready)[constants.LABEL_REVISION] == OLD.hash
    assert "probing the canary's pods with the golden set before they take traffic" in ready.status["message"]
    resource = model_deployment(body, status=dict(ready.status))
    observed = Observations(deployments={OLD.hash: observe(OLD.hash, replicas=4), NEW.hash: observe(NEW.hash, replicas=1)})
    assert golden_gate_due(resource, observed, now=at(2)) and not analysis_due(resource, observed, now=at(60))


def test_passing_the_gate_starts_the_first_step_and_its_traffic_at_once() -> None:
    body = gated_spec()
    result = run(gate_ready(body), 2, spec_body=body, canary=1, stable=4, analysis=GOLDEN_PASSED)
    assert reasons(result) == ["GoldenGatePassed"]
    assert result.status["goldenGatePassedAt"] == result.status["stepStartedAt"] == "2026-11-22T12:00:02Z"
    assert constants.LABEL_REVISION not in service_selector(result)
    assert result.status["canaryWeight"] == 20 and result.scale == [Scale(name=f"resnet-{OLD.hash}", replicas=3)]
    assert result.status["lastAnalysis"]["measurements"][0]["check"] == "golden:y"
    # From here on it is an ordinary step: the gate does not come back.
    later = run(dict(result.status), 3, spec_body=body, canary=1, stable=3)
    assert progressing_reason(later) == "StepInProgress" and constants.LABEL_REVISION not in service_selector(later)


def test_failing_the_gate_rolls_back_at_once_and_the_canary_never_serves() -> None:
    body = gated_spec()
    result = run(gate_ready(body), 2, spec_body=body, canary=1, stable=4, analysis=GOLDEN_FAILED)
    assert reasons(result) == ["AnalysisFailed", "RolledBack"]  # failureLimit 2 does not wait for a second one
    assert result.status["phase"] == "RolledBack" and result.status["failedRevision"]["reason"] == "GoldenGateFailed"
    assert "before the canary took any traffic: golden:y 0.5" in result.status["failedRevision"]["message"]
    assert result.status["failedRevision"]["measurements"][0]["value"] == 0.5
    assert result.status["canaryWeight"] == 0 and deployment_replicas(result) == {}
    assert ChildReference("apps/v1", "Deployment", f"resnet-{NEW.hash}") in result.delete
    # Its pods take a while to go: the Service keeps selecting the stable's pods only meanwhile.
    assert result.status["failedRevision"]["tookTraffic"] is False and service_selector(result)[constants.LABEL_REVISION] == OLD.hash
    # Even with the stable short of Ready pods, the canary is not kept to hold the floor.
    held = run(dict(result.status), 3, spec_body=body, canary=1, stable=4, stable_ready=2)
    assert held.status["phase"] == "RolledBack" and held.status["canaryWeight"] == 0 and deployment_replicas(held) == {}
    assert service_selector(held)[constants.LABEL_REVISION] == OLD.hash


def test_an_inconclusive_gate_keeps_the_canary_out_and_counts() -> None:
    body = gated_spec()
    result = run(gate_ready(body), 2, spec_body=body, canary=1, stable=4, analysis=GOLDEN_UNSURE)
    assert (result.status["phase"], result.status["canaryWeight"], result.status["inconclusiveAnalyses"]) == ("Canary", 0, 1)
    assert "no Ready pods to probe" in result.status["message"] and result.requeue_after == 10
    assert service_selector(result)[constants.LABEL_REVISION] == OLD.hash


def test_a_swap_behind_the_gate_gives_back_only_max_unavailable() -> None:
    body = gated_spec(capacity={"mode": "Swap", "maxUnavailable": 1})
    result = run(gate_ready(body), 2, spec_body=body, canary=1, stable=3)
    # 3 stable pods serve (replicas 4 - maxUnavailable 1); the Ready canary pod counts for none of them.
    assert result.status["canaryWeight"] == 0 and all(action.replicas >= 3 for action in result.scale)
    assert deployment_replicas(result).get(f"resnet-{OLD.hash}", 3) >= 3


def test_a_canary_that_crashes_behind_the_gate_never_serves_either() -> None:
    body = gated_spec()
    failure = PodFailure(name=f"resnet-{NEW.hash}-x", revision=NEW.hash, reason="CanaryCrashed", message="exit 137")
    result = run(gate_ready(body), 2, spec_body=body, canary=1, stable=4, stable_ready=2, pod_failures=[failure])
    assert result.status["failedRevision"]["reason"] == "CanaryCrashed" and result.status["failedRevision"]["tookTraffic"] is False
    assert deployment_replicas(result) == {} and service_selector(result)[constants.LABEL_REVISION] == OLD.hash


def test_a_rollback_after_the_gate_passed_is_as_before() -> None:
    body = gated_spec()
    passed = run(gate_ready(body), 2, spec_body=body, canary=1, stable=4, analysis=GOLDEN_PASSED)
    result = run(dict(passed.status), 5, spec_body=body, canary=1, stable=3, analysis=GOLDEN_FAILED)
    assert result.status["phase"] == "Canary" and result.status["failedAnalyses"] == 1  # counts toward failureLimit 2
    rolled = run(dict(result.status), 16, spec_body=body, canary=1, stable=3, analysis=GOLDEN_FAILED)
    assert rolled.status["failedRevision"]["reason"] == "AnalysisFailed" and "tookTraffic" not in rolled.status["failedRevision"]
    assert constants.LABEL_REVISION not in service_selector(rolled)


def test_without_golden_there_is_no_gate() -> None:
    result = run(dict(started().status), 1, canary=1, stable=4)
    assert constants.LABEL_REVISION not in service_selector(result) and result.status["canaryWeight"] == 20


def test_the_progress_clock_restarts_when_the_control_plane_comes_back_from_an_outage() -> None:
    """Regression: an apiserver outage mid-canary rolled back a canary whose pod could not report Ready meanwhile."""
    status = dict(started().status)
    back = at(110)  # the API server was unreachable until then: no pod could report progress
    resumed = run(status, 125, canary=1, canary_ready=0, stable=4, control_plane_back_at=back)
    assert resumed.rollback_reason is None and resumed.status["progressAt"] == "2026-11-22T12:01:50Z"
    assert resumed.requeue_after == pytest.approx(105 + DEADLINE_MARGIN_SECONDS)
    assert run(dict(resumed.status), 229, canary=1, canary_ready=0, stable=4, control_plane_back_at=back).rollback_reason is None
    late = run(dict(resumed.status), 230 + DEADLINE_MARGIN_SECONDS, canary=1, canary_ready=0, stable=4, control_plane_back_at=back)
    assert late.rollback_reason == "ProgressDeadlineExceeded"


def test_an_outage_over_before_the_last_progress_leaves_the_progress_clock_alone() -> None:
    status = dict(started().status)
    assert run(status, 121, canary=1, canary_ready=0, stable=4, control_plane_back_at=at(-30)).rollback_reason == "ProgressDeadlineExceeded"
    unchanged = run(status, 60, canary=1, canary_ready=0, stable=4, control_plane_back_at=at(-30))
    assert unchanged.status["progressAt"] == "2026-11-22T12:00:00Z"


def test_a_rollout_waiting_for_gpus_gets_its_full_deadline_after_an_outage() -> None:
    body = spec(rollout=SURGE, server=GPU)
    waiting = dict(run(stable_status(), 0, spec_body=body, room=FULL).status)
    held = run(waiting, 121, spec_body=body, room=FULL, control_plane_back_at=at(100))
    assert held.rollback_reason is None and held.status["phase"] == "WaitingForCapacity"
    assert "rolls back if nothing moves by 2026-11-22T12:03:40Z" in held.status["message"]
    assert run(dict(held.status), 221, spec_body=body, room=FULL, control_plane_back_at=at(100)).rollback_reason == "ProgressDeadlineExceeded"

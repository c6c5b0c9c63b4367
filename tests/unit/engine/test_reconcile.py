from __future__ import annotations

import datetime
from typing import Any

from tests.harness.specs import model_deployment
from tritonops.engine.actions import ChildReference, Scale
from tritonops.engine.observations import DeploymentObservation, Observations, PodFailure, UnschedulablePod
from tritonops.engine.reconcile import plan

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.timezone.utc)
LATER = NOW + datetime.timedelta(minutes=5)


def _observe(resource, *, replicas: int, ready: int, name: str | None = None, revision: str | None = None) -> DeploymentObservation:
    revision = revision or resource.revision.hash
    return DeploymentObservation(
        name=name or f"{resource.name}-{revision}", revision=revision, replicas=replicas,
        ready_replicas=ready, available_replicas=ready, updated_replicas=replicas,
    )


def _kinds(applies: Any) -> list[str]:
    return [manifest["kind"] for manifest in applies]


def _event_reasons(result) -> list[str]:
    return [event.reason for event in result.events]


def test_first_revision_is_deployed_directly() -> None:
    resource = model_deployment({"replicas": 2})
    result = plan(resource, Observations(), now=NOW)
    assert _kinds(result.apply) == ["Service", "Deployment"]
    deployment = result.apply[1]
    assert deployment["spec"]["replicas"] == 2
    assert result.status["phase"] == "Progressing"
    assert (result.status["replicas"], result.status["readyReplicas"], result.status["readyText"]) == (2, 0, "0/2")
    assert result.status["stableRevision"]["hash"] == resource.revision.hash
    assert "canaryRevision" not in result.status
    assert _event_reasons(result) == ["Deployed"]
    assert result.status["selector"] == "app.kubernetes.io/name=triton,app.kubernetes.io/instance=resnet"
    assert result.status["endpoints"]["grpc"] == "resnet.vision.svc:8001"


def test_ready_when_all_replicas_are_ready() -> None:
    first = model_deployment({"replicas": 2})
    status = dict(plan(first, Observations(), now=NOW).status)
    resource = model_deployment({"replicas": 2}, status=status)
    result = plan(resource, Observations(deployments={resource.revision.hash: _observe(resource, replicas=2, ready=2)}), now=LATER)
    assert result.status["phase"] == "Ready"
    assert (result.status["replicas"], result.status["readyReplicas"], result.status["readyText"]) == (2, 2, "2/2")
    conditions = {c["type"]: c for c in result.status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Ready"]["lastTransitionTime"] == "2026-11-22T12:05:00Z"
    assert _event_reasons(result) == []


def test_status_does_not_change_between_creating_and_observing_the_deployment() -> None:
    resource = model_deployment({"replicas": 2})
    created = plan(resource, Observations(), now=NOW)
    observed = plan(
        model_deployment({"replicas": 2}, status=dict(created.status)),
        Observations(deployments={resource.revision.hash: _observe(resource, replicas=2, ready=0)}),
        now=LATER,
    )
    assert observed.status == created.status


def test_steady_state_is_a_fixed_point() -> None:
    resource = model_deployment({"replicas": 2})
    observations = Observations(deployments={resource.revision.hash: _observe(resource, replicas=2, ready=2)})
    settled = plan(model_deployment({"replicas": 2}, status=dict(plan(resource, observations, now=NOW).status)), observations, now=NOW)
    again = plan(model_deployment({"replicas": 2}, status=dict(settled.status)), observations, now=LATER)
    assert again.status == settled.status
    assert again.events == []
    assert again.delete == [] and again.scale == []


def test_replica_change_is_applied_in_place() -> None:
    resource = model_deployment({"replicas": 2})
    status = dict(plan(resource, Observations(), now=NOW).status)
    scaled = model_deployment({"replicas": 3}, status=status)
    result = plan(scaled, Observations(deployments={resource.revision.hash: _observe(resource, replicas=2, ready=2)}), now=LATER)
    deployment = next(m for m in result.apply if m["kind"] == "Deployment")
    assert deployment["metadata"]["name"].endswith(resource.revision.hash)
    assert deployment["spec"]["replicas"] == 3
    assert result.delete == []
    assert result.status["phase"] == "Progressing"


def test_unschedulable_gpu_pods_wait_for_capacity_with_the_reason() -> None:
    resource = model_deployment({"server": {"gpu": {"count": 16, "products": ["NVIDIA-H100-80GB-HBM3"]}}})
    revision = resource.revision.hash
    message = "0/6 nodes are available: 2 Insufficient nvidia.com/gpu, 4 node(s) didn't match Pod's node affinity/selector."
    observations = Observations(
        deployments={revision: _observe(resource, replicas=1, ready=0)},
        unschedulable=[UnschedulablePod(name="p", revision=revision, message=message)],
    )
    result = plan(resource, observations, now=NOW)
    assert result.status["phase"] == "WaitingForCapacity"
    assert "16 nvidia.com/gpu of product NVIDIA-H100-80GB-HBM3" in result.status["message"]
    assert "Insufficient nvidia.com/gpu" in result.status["message"]
    warning = next(e for e in result.events if e.reason == "InsufficientGPU")
    assert warning.type == "Warning"
    ready = next(c for c in result.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InsufficientGPU")


def test_lost_readiness_is_degraded() -> None:
    resource = model_deployment({"replicas": 2}, status={"phase": "Ready", "stableRevision": {"hash": model_deployment({"replicas": 2}).revision.hash}})
    result = plan(resource, Observations(deployments={resource.revision.hash: _observe(resource, replicas=2, ready=1)}), now=NOW)
    assert result.status["phase"] == "Degraded"
    assert "Degraded" in _event_reasons(result)


def test_autoscaler_is_applied_when_enabled_and_removed_when_disabled() -> None:
    enabled = model_deployment({"autoscaling": {"enabled": True}})
    assert "HorizontalPodAutoscaler" in _kinds(plan(enabled, Observations(), now=NOW).apply)
    disabled = plan(model_deployment(), Observations(autoscaler_exists=True), now=NOW)
    assert "HorizontalPodAutoscaler" not in _kinds(disabled.apply)
    assert disabled.delete == [ChildReference("autoscaling/v2", "HorizontalPodAutoscaler", "resnet")]


def test_new_revision_keeps_the_old_one_until_the_new_one_is_ready() -> None:
    old = model_deployment({"replicas": 2, "rollout": {"strategy": "Immediate"}})
    old_hash = old.revision.hash
    status = dict(plan(old, Observations(deployments={old_hash: _observe(old, replicas=2, ready=2)}), now=NOW).status)
    new = model_deployment({"replicas": 2, "rollout": {"strategy": "Immediate"}, "model": {"version": "2"}}, status=status)
    new_hash = new.revision.hash
    observations = Observations(deployments={old_hash: _observe(old, replicas=2, ready=2)})
    started = plan(new, observations, now=LATER)
    assert started.status["phase"] == "Promoting"
    # No pod of the new revision is Ready yet: it gets no traffic, whatever the stage's plan.
    assert started.status["canaryWeight"] == 0
    assert started.status["stableRevision"]["hash"] == old_hash
    assert started.status["canaryRevision"] == {"hash": new_hash, "version": "2", "image": new.spec.server.image}
    assert started.delete == []
    assert [m["metadata"]["name"] for m in started.apply if m["kind"] == "Deployment"] == [f"resnet-{new_hash}"]
    assert "RolloutStarted" in _event_reasons(started)

    # While the new revision starts, nothing is removed and the event is not repeated.
    waiting = plan(model_deployment(new_spec := {"replicas": 2, "rollout": {"strategy": "Immediate"}, "model": {"version": "2"}}, status=dict(started.status)),
                   Observations(deployments={old_hash: _observe(old, replicas=2, ready=2), new_hash: _observe(new, replicas=2, ready=1)}), now=LATER)
    assert waiting.delete == [] and "RolloutStarted" not in _event_reasons(waiting)

    # Once Ready, the new revision becomes stable and the old Deployment is deleted.
    done = plan(model_deployment(new_spec, status=dict(waiting.status)),
                Observations(deployments={old_hash: _observe(old, replicas=2, ready=2), new_hash: _observe(new, replicas=2, ready=2)}), now=LATER)
    assert done.status["stableRevision"]["hash"] == new_hash
    assert "canaryRevision" not in done.status
    assert done.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{old_hash}")]
    assert done.status["history"][-1]["outcome"] == "Promoted"
    assert "Promoted" in _event_reasons(done)


def test_the_old_revision_follows_replicas_and_gives_up_pods_only_to_ready_canary_pods() -> None:
    old = model_deployment({"replicas": 2})
    old_hash = old.revision.hash
    new = model_deployment({"replicas": 4, "model": {"version": "2"}}, status={"phase": "Ready", "stableRevision": old.revision.as_status()})
    result = plan(new, Observations(deployments={old_hash: _observe(old, replicas=2, ready=2)}), now=NOW)
    # The HPA asked for 4: the stable grows to 4 and keeps them until the canary's pod is Ready.
    assert result.scale == [Scale(name=f"resnet-{old_hash}", replicas=4)]
    canary = next(m for m in result.apply if m["kind"] == "Deployment")
    # 10% of 4 replicas rounds to 0, and a canary always gets at least one pod.
    assert canary["spec"]["replicas"] == 1
    assert (result.status["phase"], result.status["canaryWeight"], result.status["replicas"]) == ("Canary", 0, 5)


def test_returning_to_the_stable_revision_removes_the_new_one() -> None:
    stable = model_deployment({"replicas": 1})
    stable_hash = stable.revision.hash
    abandoned = model_deployment({"model": {"version": "9"}}).revision.hash
    resource = model_deployment({"replicas": 1}, status={"phase": "Progressing", "stableRevision": stable.revision.as_status(), "canaryRevision": {"hash": abandoned}})
    observations = Observations(
        deployments={stable_hash: _observe(stable, replicas=1, ready=1), abandoned: _observe(stable, replicas=1, ready=0, revision=abandoned, name=f"resnet-{abandoned}")}
    )
    result = plan(resource, observations, now=NOW)
    assert result.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{abandoned}")]
    assert "canaryRevision" not in result.status
    assert result.status["phase"] == "Ready"


LOAD_FAILURE = "Triton exited with code 1, 3 restart(s): failed to load 'resnet' version 1: Invalid argument: unexpected inference output 'OUTPUT__0'"


def _crashing(resource, *, ready: int = 0, replicas: int = 2) -> Observations:
    revision = resource.revision.hash
    return Observations(
        deployments={revision: _observe(resource, replicas=replicas, ready=ready)},
        pod_failures=[PodFailure(name=f"resnet-{revision}-abcde", revision=revision, reason="ModelLoadFailed", message=LOAD_FAILURE)],
    )


def test_a_first_revision_whose_pods_fail_is_failed_with_the_pods_reason_and_recovers_when_they_turn_ready() -> None:
    spec = {"replicas": 2}
    created = plan(model_deployment(spec), Observations(), now=NOW)
    failed = plan(model_deployment(spec, status=dict(created.status)), _crashing(model_deployment(spec)), now=LATER)
    assert failed.status["phase"] == "Failed"
    ready = next(c for c in failed.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ModelLoadFailed")
    assert "resnet-" in ready["message"] and LOAD_FAILURE in ready["message"] and LOAD_FAILURE in failed.status["message"]
    progressing = next(c for c in failed.status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ModelLoadFailed"), "not 'Settled': it failed"
    [warning] = [event for event in failed.events if event.reason == "ModelLoadFailed"]
    assert warning.type == "Warning" and LOAD_FAILURE in warning.message

    again = plan(model_deployment(spec, status=dict(failed.status)), _crashing(model_deployment(spec)), now=LATER)
    assert again.status == failed.status and again.events == [], "still failing: nothing new to write or say"

    # The pods load the model after all (the store was fixed): their old restarts are still counted as a
    # failure, but Ready pods are what counts.
    recovered = plan(model_deployment(spec, status=dict(failed.status)), _crashing(model_deployment(spec), ready=2), now=LATER)
    assert recovered.status["phase"] == "Ready"


def test_a_serving_revision_whose_pods_fail_is_degraded_or_progressing_never_failed() -> None:
    spec = {"replicas": 2}
    ready = plan(model_deployment(spec), Observations(deployments={model_deployment(spec).revision.hash: _observe(model_deployment(spec), replicas=2, ready=2)}), now=NOW)
    assert ready.status["phase"] == "Ready"
    degraded = plan(model_deployment(spec, status=dict(ready.status)), _crashing(model_deployment(spec), ready=1), now=LATER)
    assert degraded.status["phase"] == "Degraded"
    # Scaled up in place while one pod restarted once long ago: the others serve, so it is progressing.
    scaling = plan(model_deployment({"replicas": 3}, status={**ready.status, "phase": "Progressing"}), _crashing(model_deployment(spec), ready=2, replicas=3), now=LATER)
    assert scaling.status["phase"] == "Progressing"


def test_a_spec_fix_replaces_a_failed_first_revision_directly() -> None:
    broken_spec = {"replicas": 1}
    broken = model_deployment(broken_spec)
    broken_hash = broken.revision.hash
    created = plan(broken, Observations(), now=NOW)
    failed = plan(model_deployment(broken_spec, status=dict(created.status)), _crashing(broken, replicas=1), now=LATER)
    assert failed.status["phase"] == "Failed"

    fixed_spec = {"replicas": 1, "model": {"version": "2"}}
    fixed = model_deployment(fixed_spec, status=dict(failed.status))
    fixed_hash = fixed.revision.hash
    # Nothing serves, so there is nothing for a canary to protect, nor a stable to compare it with.
    result = plan(fixed, _crashing(broken, replicas=1), now=LATER)
    assert result.status["stableRevision"]["hash"] == fixed_hash and "canaryRevision" not in result.status
    assert result.status["phase"] == "Progressing"
    assert [m["metadata"]["name"] for m in result.apply if m["kind"] == "Deployment"] == [f"resnet-{fixed_hash}"]
    assert result.delete == [ChildReference("apps/v1", "Deployment", f"resnet-{broken_hash}")]
    assert "Deployed" in _event_reasons(result)
    done = plan(model_deployment(fixed_spec, status=dict(result.status)),
                Observations(deployments={fixed_hash: _observe(fixed, replicas=1, ready=1)}), now=LATER)
    assert done.status["phase"] == "Ready"

from __future__ import annotations

from tritonops.observe import deployment_summary, observations_from, owner_key, unschedulable_summary

DEPLOYMENT = {
    "metadata": {
        "name": "resnet-abc",
        "namespace": "vision",
        "generation": 3,
        "labels": {"inference.tritonops.dev/modeldeployment": "resnet", "inference.tritonops.dev/revision": "abc"},
        "annotations": {"inference.tritonops.dev/applied-hash": "h1"},
    },
    "spec": {"replicas": 2},
    "status": {"observedGeneration": 3, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2},
}


def test_owner_key_comes_from_the_label() -> None:
    assert owner_key(DEPLOYMENT) == ("vision", "resnet")
    assert owner_key({"metadata": {"namespace": "x", "labels": {}}}) is None


def test_deployment_summary_and_observation() -> None:
    summary = deployment_summary(DEPLOYMENT)
    assert summary["appliedHash"] == "h1" and summary["caughtUp"] is True
    observed = observations_from(deployments=[summary], unschedulable=[], autoscaler_exists=True).deployments["abc"]
    assert observed.ready() and observed.replicas == 2


def test_a_deployment_behind_its_generation_is_not_ready() -> None:
    lagging = {**DEPLOYMENT, "status": {**DEPLOYMENT["status"], "observedGeneration": 2}}
    observed = observations_from(deployments=[deployment_summary(lagging)], unschedulable=[], autoscaler_exists=False).deployments["abc"]
    assert not observed.ready()


def test_only_unschedulable_pods_are_summarised() -> None:
    pod = {
        "metadata": {"name": "p", "labels": {"inference.tritonops.dev/revision": "abc"}},
        "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/6 nodes are available"}]},
    }
    assert unschedulable_summary(pod) == {"name": "p", "revision": "abc", "message": "0/6 nodes are available"}
    scheduled = {"metadata": {"name": "q"}, "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}
    assert unschedulable_summary(scheduled) is None

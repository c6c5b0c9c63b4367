from __future__ import annotations

from tritonops.observe import deployment_summary, model_deployment_body, observations_from, owner_key, pod_summary, unschedulable_summary

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
    observed = observations_from(deployments=[summary], pods=[], autoscaler_exists=True).deployments["abc"]
    assert observed.ready() and observed.replicas == 2


def test_a_deployment_behind_its_generation_is_not_ready() -> None:
    lagging = {**DEPLOYMENT, "status": {**DEPLOYMENT["status"], "observedGeneration": 2}}
    observed = observations_from(deployments=[deployment_summary(lagging)], pods=[], autoscaler_exists=False).deployments["abc"]
    assert not observed.ready()


def test_only_unschedulable_pods_are_summarised() -> None:
    pod = {
        "metadata": {"name": "p", "labels": {"inference.tritonops.dev/revision": "abc"}},
        "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/6 nodes are available"}]},
    }
    assert unschedulable_summary(pod) == {"name": "p", "revision": "abc", "message": "0/6 nodes are available"}
    scheduled = {"metadata": {"name": "q"}, "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}
    assert unschedulable_summary(scheduled) is None


def _pod(**container: object) -> dict[str, object]:
    return {
        "metadata": {"name": "resnet-abc-1", "labels": {"inference.tritonops.dev/revision": "abc"}},
        "status": {
            "podIP": "127.77.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "triton", "restartCount": 0, "state": {"running": {}}, **container}],
        },
    }


def test_a_healthy_pod_has_no_failure() -> None:
    summary = pod_summary(_pod())
    assert summary == {"name": "resnet-abc-1", "revision": "abc", "ip": "127.77.0.1", "ready": True, "failure": None, "servedDigest": None,
                       "unschedulable": None, "leaving": False, "replicaSet": None, "templateHash": None}


def test_a_restarted_pod_is_a_crash_with_its_exit_code() -> None:
    summary = pod_summary(_pod(restartCount=1, lastState={"terminated": {"exitCode": 137, "reason": "Error"}}))
    assert summary["failure"] == {"reason": "CanaryCrashed", "message": "Triton exited with code 137, 1 restart(s)"}
    failure = observations_from(deployments=[], pods=[summary], autoscaler_exists=False).pod_failures[0]
    assert (failure.name, failure.revision, failure.reason) == ("resnet-abc-1", "abc", "CanaryCrashed")


def test_a_model_that_failed_to_load_is_told_apart_by_the_termination_message() -> None:
    log = "I1122 model_lifecycle.cc] loading: doubler:2\nE1122 model_lifecycle.cc] failed to load 'doubler' version 2: Internal: boom\nerror: creating server"
    summary = pod_summary(_pod(restartCount=0, state={"waiting": {"reason": "CrashLoopBackOff"}},
                               lastState={"terminated": {"exitCode": 1, "message": log}}))
    assert summary["failure"]["reason"] == "ModelLoadFailed"
    assert "failed to load 'doubler' version 2" in summary["failure"]["message"]


def test_a_credential_in_tritons_last_log_lines_never_reaches_the_failure_message() -> None:
    log = "E1122 model_lifecycle.cc] failed to load 'doubler' version 2: cannot open s3://admin:hunter2secret@minio.local/models"
    summary = pod_summary(_pod(restartCount=1, lastState={"terminated": {"exitCode": 1, "message": log}}))
    assert summary["failure"]["reason"] == "ModelLoadFailed"
    assert "hunter2secret" not in summary["failure"]["message"]
    assert "failed to load 'doubler' version 2" in summary["failure"]["message"]
    waiting = pod_summary(_pod(state={"waiting": {"reason": "CreateContainerConfigError", "message": "env AWS_SECRET_ACCESS_KEY=hunter2secret"}}))
    assert "hunter2secret" not in waiting["failure"]["message"]


def test_a_pod_being_deleted_neither_serves_nor_counts_as_failed() -> None:
    pod = _pod(restartCount=2, lastState={"terminated": {"exitCode": 1}})
    pod["metadata"]["deletionTimestamp"] = "2026-11-22T12:00:00Z"  # type: ignore[index]
    summary = pod_summary(pod)
    assert summary["ready"] is False and summary["failure"] is None


import pytest  # noqa: E402


@pytest.mark.parametrize("reason", ["ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName"])
def test_a_container_whose_image_cannot_run_fails_at_once(reason: str) -> None:
    """The kubelet never starts it, so there is no restart or exit code: waiting it out is the deadline."""
    summary = pod_summary(_pod(state={"waiting": {"reason": reason, "message": f'image "x:1" {reason}'}}))
    assert summary["failure"] == {"reason": "ImageUnavailable", "message": f'Triton cannot start: {reason}: image "x:1" {reason}'}


@pytest.mark.parametrize("reason", ["CreateContainerConfigError", "CreateContainerError", "RunContainerError"])
def test_a_container_the_runtime_cannot_create_fails_at_once(reason: str) -> None:
    summary = pod_summary(_pod(state={"waiting": {"reason": reason, "message": "secret \"s3\" not found"}}))
    assert summary["failure"] == {"reason": "CanaryCrashed", "message": f'Triton cannot start: {reason}: secret "s3" not found'}


def test_an_out_of_memory_kill_is_named() -> None:
    summary = pod_summary(_pod(restartCount=1, lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))
    assert summary["failure"] == {"reason": "OutOfMemory", "message": "Triton was OOMKilled (exit code 137), 1 restart(s)"}


def test_a_container_still_creating_is_no_failure() -> None:
    assert pod_summary(_pod(state={"waiting": {"reason": "ContainerCreating"}}))["failure"] is None


def test_summaries_carry_the_owner_uid_and_the_fields_other_managers_own() -> None:
    from tritonops import constants
    from tritonops.observe import child_summary

    owned = {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "name": "resnet", "uid": "u1", "controller": True}
    scaled = {"manager": "kubectl", "operation": "Update", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    ours = {"manager": constants.FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    body = {**DEPLOYMENT, "metadata": {**DEPLOYMENT["metadata"], "ownerReferences": [owned], "managedFields": [ours, scaled]}}
    summary = deployment_summary(body)
    assert (summary["ownerUid"], summary["foreignFields"]) == ("u1", (("spec", "replicas"),))
    assert deployment_summary(DEPLOYMENT)["ownerUid"] is None
    assert child_summary(body)["name"] == DEPLOYMENT["metadata"]["name"] and child_summary(body)["ownerUid"] == "u1"


def test_a_pod_summary_names_the_replica_set_that_made_it() -> None:
    pod = _pod()
    pod["metadata"]["labels"]["pod-template-hash"] = "7d9f8b"  # type: ignore[index]
    pod["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "resnet-abc-7d9f8b", "uid": "rs1", "controller": True}]  # type: ignore[index]
    summary = pod_summary(pod)
    assert (summary["replicaSet"], summary["templateHash"]) == ("resnet-abc-7d9f8b", "7d9f8b")


def test_every_other_child_kind_has_a_summary_with_its_owner_and_foreign_fields() -> None:
    from tritonops import constants
    from tritonops.observe import child_summary

    owned = {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "name": "resnet", "uid": "u1", "controller": True}
    patched = {"manager": "kubectl-patch", "operation": "Update", "fieldsV1": {"f:spec": {"f:maxReplicas": {}}}}
    status = {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {"f:currentReplicas": {}}}}
    hpa = {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "resnet", "ownerReferences": [owned], "managedFields": [patched, status],
                                                           "annotations": {constants.ANNOTATION_APPLIED_HASH: "h1"}}}
    assert child_summary(hpa) == {"name": "resnet", "appliedHash": "h1", "ownerUid": "u1", "foreignFields": (("spec", "maxReplicas"),)}


def _storage_pod(init: dict[str, object]) -> dict[str, object]:
    pod = _pod()
    status = dict(pod["status"])  # type: ignore[call-overload]
    status["initContainerStatuses"] = [{"name": "model-storage", **init}]
    return {**pod, "status": status}


def test_the_storage_containers_digest_is_what_the_pod_serves() -> None:
    message = '{"bytes": 10, "digest": "sha256:abc", "files": 2}'
    summary = pod_summary(_storage_pod({"state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": message}}}))
    assert summary["servedDigest"] == "sha256:abc" and summary["failure"] is None
    observed = observations_from(deployments=[], pods=[summary], autoscaler_exists=False)
    assert [(s.pod, s.revision, s.digest) for s in observed.served] == [("resnet-abc-1", "abc", "sha256:abc")]


def test_a_storage_container_that_fails_is_model_storage_unreadable_with_its_message_redacted() -> None:
    message = "model storage unreadable: s3://models/repo: AccessDenied (HTTP 403): aws_secret_access_key=hunter2"
    pod = _storage_pod({
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": message}},
    })
    pod["status"]["containerStatuses"] = [{"name": "triton", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]  # type: ignore[index]
    failure = pod_summary(pod)["failure"]
    assert failure["reason"] == "ModelStorageUnreadable"
    assert "s3://models/repo: AccessDenied (HTTP 403)" in failure["message"] and "hunter2" not in failure["message"]


def test_a_storage_container_that_cannot_start_is_model_storage_unreadable() -> None:
    pod = _storage_pod({"state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"s3\" not found"}}})
    assert pod_summary(pod)["failure"]["reason"] == "ModelStorageUnreadable"


def test_a_model_deployment_is_kept_without_its_managed_fields_or_a_client_side_copy_of_its_spec() -> None:
    body = {
        "apiVersion": "inference.tritonops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": "resnet", "namespace": "vision", "uid": "u1", "generation": 4, "resourceVersion": "17",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"spec": {}}', "inference.tritonops.dev/promote": "true"},
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"replicas": 2},
        "status": {"phase": "Ready"},
    }
    kept = model_deployment_body(body)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"inference.tritonops.dev/promote": "true"}, "the operator's own controls stay"
    assert {key: kept["metadata"][key] for key in ("name", "namespace", "uid", "generation", "resourceVersion")} == {
        "name": "resnet", "namespace": "vision", "uid": "u1", "generation": 4, "resourceVersion": "17"}
    assert kept["spec"] == body["spec"] and kept["status"] == body["status"] and kept["kind"] == "ModelDeployment"
    assert "managedFields" in body["metadata"] and len(body["metadata"]["annotations"]) == 2, "the watch event's body is left as it was"


def test_a_model_deployment_without_annotations_or_managed_fields_is_kept_whole() -> None:
    body = {"metadata": {"name": "resnet", "namespace": "vision"}, "spec": {}}
    assert model_deployment_body(body) == body

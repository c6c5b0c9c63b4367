"""Drift from managedFields and ownership from ownerReferences, on object shapes the API server writes."""

from __future__ import annotations

from typing import Any

from tritonops import constants
from tritonops.drift import controller_uid, fields_paths, foreign_paths, manifest_paths, taken

MANIFEST: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "resnet-abc", "annotations": {constants.ANNOTATION_APPLIED_HASH: "h1"}},
    "spec": {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "triton", "args": ["tritonserver"], "securityContext": {"capabilities": {"drop": ["ALL"]}}}]}},
    },
}


def _entry(manager: str, fields: dict[str, Any], *, operation: str = "Update", subresource: str | None = None) -> dict[str, Any]:
    entry = {"manager": manager, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


OURS = _entry(constants.FIELD_MANAGER, {"f:spec": {"f:replicas": {}}}, operation="Apply")
# What the Deployment controller writes on every Deployment: an annotation of its own, and status.
CONTROLLER_MANAGER = _entry("kube-controller-manager", {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}})
STATUS = _entry("kube-controller-manager", {"f:status": {"f:replicas": {}}}, subresource="status")


def test_manifest_paths_collapse_list_items_and_treat_scalar_lists_as_leaves() -> None:
    paths = manifest_paths(MANIFEST)
    assert ("spec", "replicas") in paths
    assert ("spec", "template", "spec", "containers", "[]", "args") in paths
    assert ("spec", "template", "spec", "containers", "[]", "securityContext", "capabilities", "drop") in paths
    assert not any(path[0] in ("apiVersion", "kind") for path in paths)


def test_fields_paths_read_keys_sets_and_skip_bare_existence() -> None:
    fields = {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"triton"}': {".": {}, "f:args": {}, "f:securityContext": {
        "f:capabilities": {"f:drop": {'v:"ALL"': {}}}}}}}}}, "f:metadata": {"f:labels": {".": {}}}}
    assert set(fields_paths(fields)) == {
        ("spec", "template", "spec", "containers", "[]", "args"),
        ("spec", "template", "spec", "containers", "[]", "securityContext", "capabilities", "drop"),
    }


def test_a_converged_child_has_nothing_taken() -> None:
    body = {"metadata": {"managedFields": [OURS, CONTROLLER_MANAGER, STATUS]}}
    assert taken(MANIFEST, foreign_paths(body)) == ()


def test_kubectl_scale_takes_the_replicas() -> None:
    scaled = _entry("kubectl", {"f:spec": {"f:replicas": {}}}, subresource="scale")
    body = {"metadata": {"managedFields": [OURS, CONTROLLER_MANAGER, STATUS, scaled]}}
    assert taken(MANIFEST, foreign_paths(body)) == (("spec", "replicas"),)


def test_kubectl_edit_of_an_argument_takes_the_args() -> None:
    edited = _entry("kubectl-edit", {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"triton"}': {"f:args": {}}}}}}})
    body = {"metadata": {"managedFields": [OURS, edited]}}
    assert taken(MANIFEST, foreign_paths(body)) == (("spec", "template", "spec", "containers", "[]", "args"),)


def test_a_field_we_do_not_set_is_not_drift() -> None:
    added = _entry("kubectl-patch", {"f:spec": {"f:minReadySeconds": {}, "f:template": {"f:metadata": {"f:annotations": {"f:note": {}}}}}})
    assert taken(MANIFEST, foreign_paths({"metadata": {"managedFields": [added]}})) == ()


def test_a_whole_map_taken_over_our_fields_is_drift() -> None:
    # A manager owning a leaf above ours (it replaced the map) overlaps too.
    assert taken(MANIFEST, [("spec", "template", "spec", "containers", "[]", "securityContext")]) == (
        ("spec", "template", "spec", "containers", "[]", "securityContext"),)


def test_controller_uid_reads_only_a_controlling_model_deployment() -> None:
    reference = {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "name": "resnet", "uid": "u1", "controller": True}
    assert controller_uid({"metadata": {"ownerReferences": [reference]}}) == "u1"
    assert controller_uid({"metadata": {"ownerReferences": [{**reference, "controller": False}]}}) is None
    assert controller_uid({"metadata": {"ownerReferences": [{**reference, "kind": "ReplicaSet", "apiVersion": "apps/v1"}]}}) is None
    assert controller_uid({"metadata": {}}) is None


def _pod(*references: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "resnet-abc-7d9f8b-x2k4q", "labels": {"pod-template-hash": "7d9f8b"}, "ownerReferences": list(references)}}


REPLICA_SET = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "resnet-abc-7d9f8b", "uid": "rs1", "controller": True, "blockOwnerDeletion": True}


def test_replica_set_of_reads_only_a_controlling_replica_set() -> None:
    from tritonops.drift import replica_set_of

    assert replica_set_of(_pod(REPLICA_SET)) == "resnet-abc-7d9f8b"
    assert replica_set_of(_pod()) is None, "a pod made by hand"
    assert replica_set_of(_pod({**REPLICA_SET, "controller": False})) is None
    assert replica_set_of(_pod({**REPLICA_SET, "kind": "StatefulSet"})) is None
    assert replica_set_of(_pod({**REPLICA_SET, "apiVersion": "example.com/v1"})) is None


def test_a_pod_is_made_by_a_deployment_when_its_replica_set_has_the_name_the_deployment_controller_gives() -> None:
    from tritonops.drift import made_by

    assert made_by(replica_set="resnet-abc-7d9f8b", template_hash="7d9f8b", deployments={"resnet-abc", "resnet-def"})
    assert not made_by(replica_set="resnet-abc-7d9f8b", template_hash="7d9f8b", deployments={"resnet-def"}), "a Deployment not ours"
    assert not made_by(replica_set="resnet-abc-7d9f8b", template_hash="5c6d7e", deployments={"resnet-abc"}), "another template's hash"
    assert not made_by(replica_set=None, template_hash="7d9f8b", deployments={"resnet-abc"}), "no ReplicaSet at all"
    assert not made_by(replica_set="resnet-abc-", template_hash="", deployments={"resnet-abc"}), "no template hash"
    # Deployment names that are prefixes of each other are told apart by the whole name.
    assert not made_by(replica_set="resnet-abc-x-7d9f8b", template_hash="7d9f8b", deployments={"resnet-abc"})

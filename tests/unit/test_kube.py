from __future__ import annotations

from tritonops.kube import manifest_hash, object_path, with_applied_hash


def test_object_paths() -> None:
    assert object_path(api_version="v1", kind="Service", namespace="n", name="s") == "/api/v1/namespaces/n/services/s"
    assert object_path(api_version="apps/v1", kind="Deployment", namespace="n") == "/apis/apps/v1/namespaces/n/deployments"
    assert (
        object_path(api_version="inference.tritonops.dev/v1alpha1", kind="ModelDeployment", namespace="n", name="m")
        == "/apis/inference.tritonops.dev/v1alpha1/namespaces/n/modeldeployments/m"
    )


def test_applied_hash_annotation_records_the_manifest_without_itself() -> None:
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"}, "spec": {"type": "ClusterIP"}}
    annotated = with_applied_hash(manifest)
    assert annotated["metadata"]["annotations"]["inference.tritonops.dev/applied-hash"] == manifest_hash(manifest)
    assert "annotations" not in manifest["metadata"], "the input is not modified"
    changed = {**manifest, "spec": {"type": "NodePort"}}
    assert manifest_hash(changed) != manifest_hash(manifest)

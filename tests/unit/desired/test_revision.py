from __future__ import annotations

import pytest

from tests.harness.specs import model_deployment
from tritonops.desired.revision import revision_of

BASE = model_deployment()


@pytest.mark.parametrize(
    ("change", "changes_revision"),
    [
        ({"model": {"version": "2"}}, True),
        ({"model": {"repository": "s3://models/other"}}, True),
        ({"model": {"name": "other"}}, True),
        ({"server": {"image": "nvcr.io/nvidia/tritonserver:25.09-py3"}}, True),
        ({"server": {"args": ["--log-verbose=1"]}}, True),
        ({"server": {"env": [{"name": "A", "value": "1"}]}}, True),
        ({"server": {"gpu": {"count": 2}}}, True),
        ({"server": {"resources": {"requests": {"cpu": "2"}}}}, True),
        ({"server": {"nodeSelector": {"pool": "a"}}}, True),
        ({"replicas": 5}, False),
        ({"autoscaling": {"enabled": True, "maxReplicas": 9}}, False),
        ({"rollout": {"stepSeconds": 5, "analysis": {"failureLimit": 4}}}, False),
        ({"traffic": {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "g"}]}}}, False),
        ({"service": {"type": "NodePort"}}, False),
        ({"server": {"args": []}}, False),
        ({"server": {"volumes": [{"name": "python", "hostPath": {"path": "/opt/python", "type": "Directory"}}], "volumeMounts": [{"name": "python", "mountPath": "/opt/python", "readOnly": True}]}}, True),
        ({"server": {"volumes": [], "volumeMounts": []}}, False),
    ],
)
def test_only_pod_shaping_changes_alter_the_revision(change: dict, changes_revision: bool) -> None:
    changed = model_deployment(change)
    assert (changed.revision.hash != BASE.revision.hash) is changes_revision


def test_revision_is_stable_and_short() -> None:
    first, second = model_deployment().revision, model_deployment().revision
    assert first == second
    assert len(first.hash) == 8 and int(first.hash, 16) >= 0
    assert first.version == "1"
    assert first.image.startswith("nvcr.io/nvidia/tritonserver:")


def test_model_name_defaults_to_metadata_name() -> None:
    assert model_deployment(name="a").revision.hash == model_deployment({"model": {"name": "a"}}, name="a").revision.hash


# Hashes that revision_of gave before the spec was typed. An operator upgrade must keep them: a changed hash
# starts a rollout of every ModelDeployment in the cluster.
@pytest.mark.parametrize(
    ("spec", "metadata", "expected"),
    [
        pytest.param({}, {}, ("35048efd", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="defaults"),
        pytest.param(
            {"server": {"gpu": {"count": 2, "resourceName": "nvidia.com/mig-1g.10gb", "products": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB"]}}},
            {}, ("d48bd2a4", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="gpu products and a MIG resource",
        ),
        pytest.param({"server": {"gpu": {"count": 0}}}, {}, ("ba52af68", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="no GPU"),
        # An empty list of products has always hashed unlike an absent one.
        pytest.param({"server": {"gpu": {"count": 0, "products": []}}}, {}, ("85d0e0e0", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="empty products"),
        pytest.param(
            {
                "model": {"name": "classifier", "repository": "s3://bucket/models", "version": "7", "credentialsSecretRef": {"name": "s3-creds"}},
                "server": {
                    "args": ["--log-verbose=1", "--backend-config=python,shm-default-byte-size=1048576"],
                    "env": [{"name": "A", "value": "1"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                },
            },
            {}, ("6faeb6be", "7", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="env, args and credentials",
        ),
        pytest.param(
            {"server": {
                "affinity": {
                    "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}},
                    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 10, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]},
                },
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}, {"operator": "Exists"}],
                "nodeSelector": {"pool": "gpu", "tier": "a"},
                "priorityClassName": "high",
                "serviceAccountName": "triton",
                "imagePullSecrets": [{"name": "ngc"}],
            }},
            {}, ("2505efae", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="affinity, tolerations and node selector",
        ),
        pytest.param(
            {"server": {"resources": {"requests": {"cpu": 2, "memory": "8Gi"}, "limits": {"memory": "16Gi"}}, "shmSize": "2Gi", "startupTimeoutSeconds": 900}},
            {}, ("dfa7f3ea", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="resources with integer and string quantities",
        ),
        pytest.param({"server": {"resources": {"requests": {}}}}, {}, ("8c1049b1", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="empty requests"),
        pytest.param(
            {"model": {"repository": "pvc://models/zoo", "version": "12"}, "server": {"image": "registry.example/tritonserver:24.12-py3"}},
            {"name": "other", "namespace": "ns"}, ("54788ae6", "12", "registry.example/tritonserver:24.12-py3"), id="other image, version and repository",
        ),
        pytest.param(
            {"server": {"args": [], "env": [], "resources": {}, "nodeSelector": {}, "tolerations": [], "affinity": {}, "priorityClassName": "",
                        "serviceAccountName": "", "imagePullSecrets": []}},
            {}, ("35048efd", "1", "nvcr.io/nvidia/tritonserver:25.08-py3"), id="empty values hash as absent ones",
        ),
    ],
)
def test_revision_hashes_are_pinned(spec: dict, metadata: dict, expected: tuple[str, str, str]) -> None:
    revision = model_deployment(spec, **metadata).revision
    assert (revision.hash, revision.version, revision.image) == expected


def test_the_resource_carries_the_revision_of_its_spec() -> None:
    resource = model_deployment({"model": {"version": "4"}}, name="classifier")
    assert resource.revision == revision_of(resource.spec, model_name="classifier")
    assert resource.revision != revision_of(resource.spec, model_name="other")

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.specs import model_deployment
from tritonops.desired.deployment import build_deployment, model_storage


def _deployment(spec: dict[str, Any] | None = None, *, replicas: int = 2) -> dict[str, Any]:
    resource = model_deployment(spec)
    return build_deployment(resource, resource.revision, replicas=replicas)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_metadata_labels_selector_and_owner() -> None:
    deployment = _deployment()
    revision = model_deployment().revision.hash
    assert deployment["metadata"]["name"] == f"resnet-{revision}"
    assert deployment["metadata"]["namespace"] == "vision"
    labels = deployment["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "triton"
    assert labels["app.kubernetes.io/instance"] == "resnet"
    assert labels["app.kubernetes.io/managed-by"] == "tritonops"
    assert labels["app.kubernetes.io/version"] == "1"
    assert labels["inference.tritonops.dev/revision"] == revision
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("ModelDeployment", "resnet", "uid-1234", True)
    assert deployment["spec"]["replicas"] == 2


def test_triton_arguments() -> None:
    arguments = _container(_deployment({"server": {"args": ["--log-verbose=1"]}}))["args"]
    assert arguments[0] == "tritonserver"
    assert "--model-repository=/models" in arguments
    assert "--strict-readiness=true" in arguments
    assert "--load-model=resnet" in arguments
    assert any(argument.startswith("--exit-timeout-secs=") for argument in arguments)
    assert {"--http-port=8000", "--grpc-port=8001", "--metrics-port=8002"} <= set(arguments)
    assert arguments[-1] == "--log-verbose=1"


@pytest.mark.parametrize(
    ("startup_timeout", "failure_threshold"), [(600, 60), (10, 1), (95, 10)]
)
def test_probes(startup_timeout: int, failure_threshold: int) -> None:
    container = _container(_deployment({"server": {"startupTimeoutSeconds": startup_timeout}}))
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= startup_timeout
    assert container["startupProbe"]["failureThreshold"] == failure_threshold
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


@pytest.mark.parametrize(
    ("gpu", "expected_limit"),
    [
        ({"count": 2}, {"nvidia.com/gpu": "2"}),
        ({"count": 1, "resourceName": "nvidia.com/mig-1g.10gb"}, {"nvidia.com/mig-1g.10gb": "1"}),
        ({"count": 0}, {}),
    ],
)
def test_gpu_limits_and_toleration(gpu: dict[str, Any], expected_limit: dict[str, str]) -> None:
    deployment = _deployment({"server": {"gpu": gpu, "resources": {"limits": {"memory": "16Gi"}}}})
    container = _container(deployment)
    limits = container["resources"]["limits"]
    assert limits["memory"] == "16Gi"
    assert {key: value for key, value in limits.items() if key.startswith("nvidia.com/")} == expected_limit
    tolerations = deployment["spec"]["template"]["spec"].get("tolerations", [])
    tolerates_gpu_taint = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert tolerates_gpu_taint is bool(expected_limit)


def test_product_affinity_is_added_to_every_user_term() -> None:
    user_affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                ]
            }
        }
    }
    deployment = _deployment({"server": {"gpu": {"count": 1, "products": ["NVIDIA-H100-80GB-HBM3"]}, "affinity": user_affinity}})
    terms = deployment["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    product = {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100-80GB-HBM3"]}
    assert len(terms) == 2
    assert all(product in term["matchExpressions"] for term in terms)


def test_no_affinity_without_products() -> None:
    assert "affinity" not in _deployment()["spec"]["template"]["spec"]


def test_shared_memory_prestop_and_grace_period() -> None:
    deployment = _deployment({"server": {"shmSize": "2Gi"}})
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in pod["volumes"]
    container = _container(deployment)
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    exit_timeout = int(next(a for a in container["args"] if a.startswith("--exit-timeout-secs=")).split("=")[1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + exit_timeout


def test_restricted_security_context() -> None:
    deployment = _deployment()
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize(
    ("repository", "argument", "volume", "sub_paths"),
    [
        ("pvc://models/team/repo", "/models", {"persistentVolumeClaim": {"claimName": "models", "readOnly": True}}, ["team/repo/resnet/config.pbtxt", "team/repo/resnet/1"]),
        ("pvc://models", "/models", {"persistentVolumeClaim": {"claimName": "models", "readOnly": True}}, ["resnet/config.pbtxt", "resnet/1"]),
        ("file:///srv/models", "/models", {"hostPath": {"path": "/srv/models", "type": "Directory"}}, ["resnet/config.pbtxt", "resnet/1"]),
    ],
)
def test_model_storage(repository: str, argument: str, volume: dict[str, Any] | None, sub_paths: list[str]) -> None:
    storage = model_storage(model_deployment({"model": {"repository": repository}}))
    assert storage.repository_argument == argument
    if volume is None:
        assert not storage.volumes
    else:
        assert {key: value for key, value in storage.volumes[0].items() if key != "name"} == volume
    assert [mount["subPath"] for mount in storage.mounts] == sub_paths
    assert all(mount["readOnly"] for mount in storage.mounts)


@pytest.mark.parametrize("repository", ["s3://models/repo", "gs://bucket/repo", "as://account/container/repo"])
def test_an_object_store_is_copied_by_the_storage_init_container_into_an_empty_dir(repository: str) -> None:
    deployment = build_deployment(model_deployment({"model": {"repository": repository, "version": "3"}}), model_deployment().revision,
                                  replicas=1, storage_image="example/tritonops:1")
    pod = deployment["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "model-storage" and init["image"] == "example/tritonops:1"
    assert init["command"] == ["python", "-m", "tritonops.storage.fetch"]
    assert init["args"] == [f"--repository={repository}", "--model=resnet", "--version=3", "--destination=/models"]
    assert init["terminationMessagePolicy"] == "File"
    assert init["securityContext"]["allowPrivilegeEscalation"] is False and init["securityContext"]["runAsNonRoot"] is True
    assert {"name": "model-repository", "emptyDir": {}} in pod["volumes"]
    triton = pod["containers"][0]
    assert {"name": "model-repository", "mountPath": "/models", "readOnly": True} in triton["volumeMounts"]
    assert "--model-repository=/models" in triton["args"]


def test_volume_repositories_have_no_init_container() -> None:
    assert "initContainers" not in _deployment({"model": {"repository": "file:///srv/models"}})["spec"]["template"]["spec"]


def test_credentials_reach_only_the_storage_container_by_secret_key_reference() -> None:
    pod = _deployment({"model": {"credentialsSecretRef": {"name": "s3-creds"}}})["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    references = {entry["name"]: entry["valueFrom"]["secretKeyRef"] for entry in init["env"]}
    assert references["AWS_ACCESS_KEY_ID"] == {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID", "optional": True}
    assert "AWS_SECRET_ACCESS_KEY" in references and all("value" not in entry for entry in init["env"])
    triton = pod["containers"][0]
    assert "envFrom" not in triton and "env" not in triton


def test_scheduling_passthrough() -> None:
    pod = _deployment(
        {"server": {"nodeSelector": {"pool": "gpu"}, "priorityClassName": "high", "serviceAccountName": "triton", "imagePullSecrets": [{"name": "ngc"}]}}
    )["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["priorityClassName"] == "high"
    assert pod["serviceAccountName"] == "triton"
    assert pod["imagePullSecrets"] == [{"name": "ngc"}]


def test_extra_volumes_are_mounted_after_the_operators_own() -> None:
    pod = _deployment({"model": {"repository": "file:///srv/models"}, "server": {"volumes": [{"name": "python", "hostPath": {"path": "/opt/python", "type": "Directory"}}], "volumeMounts": [{"name": "python", "mountPath": "/opt/python", "readOnly": True}]}})["spec"]["template"]["spec"]
    assert [volume["name"] for volume in pod["volumes"]] == ["dshm", "model-repository", "python"]
    assert pod["volumes"][-1] == {"name": "python", "hostPath": {"path": "/opt/python", "type": "Directory"}}
    assert pod["containers"][0]["volumeMounts"][0]["name"] == "dshm"
    assert pod["containers"][0]["volumeMounts"][-1] == {"name": "python", "mountPath": "/opt/python", "readOnly": True}


def test_replicas_do_not_touch_the_pod_template() -> None:
    assert _deployment(replicas=1)["spec"]["template"] == _deployment(replicas=7)["spec"]["template"]


def test_a_dead_triton_leaves_its_last_log_lines_as_the_termination_message() -> None:
    resource = model_deployment()
    container = build_deployment(resource, resource.revision, replicas=1)["spec"]["template"]["spec"]["containers"][0]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"

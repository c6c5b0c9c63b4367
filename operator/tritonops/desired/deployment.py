"""The Triton Deployment of one revision."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tritonops import constants
from tritonops.desired import labels
from tritonops.desired.revision import Revision
from tritonops.resource import ModelDeployment
from tritonops.spec import ServerSpec, thaw

MODEL_ROOT = "/models"
# The operator's own volume names; the CRD refuses them in spec.server.volumes.
SHARED_MEMORY_VOLUME = "dshm"
MODEL_REPOSITORY_VOLUME = "model-repository"
# Triton waits this long for in-flight requests on SIGTERM; the pod's grace period covers it.
EXIT_TIMEOUT_SECONDS = 30
PRE_STOP_SECONDS = 5
STARTUP_PROBE_PERIOD_SECONDS = 10


@dataclasses.dataclass(frozen=True)
class ModelStorage:
    """Where Triton reads the model: a repository argument plus the volumes that make it visible."""

    repository_argument: str
    volumes: Sequence[Mapping[str, Any]] = ()
    mounts: Sequence[Mapping[str, Any]] = ()
    init_containers: Sequence[Mapping[str, Any]] = ()


def deployment_name(resource: ModelDeployment, revision: Revision) -> str:
    return f"{resource.name}-{revision.hash}"


# The Secret keys the model-storage container reads, each optional (an absent key is an absent variable):
# AWS's names for s3://, the SDKs' names for gs:// and as://.
CREDENTIAL_KEYS: Mapping[str, tuple[str, ...]] = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"),
    "gs": ("GOOGLE_APPLICATION_CREDENTIALS_JSON",),
    "as": ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"),
}
STORAGE_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def _restricted_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _storage_container(resource: ModelDeployment, *, storage_image: str) -> dict[str, Any]:
    """The init container that copies config.pbtxt and the version directory into the pod's repository."""
    model = resource.spec.model
    scheme = model.repository.split("://", 1)[0]
    container: dict[str, Any] = {
        "name": constants.STORAGE_CONTAINER_NAME,
        "image": storage_image,
        "command": ["python", "-m", "tritonops.storage.fetch"],
        "args": [
            f"--repository={model.repository}",
            f"--model={resource.model_name}",
            f"--version={model.version}",
            f"--destination={MODEL_ROOT}",
        ],
        "volumeMounts": [{"name": MODEL_REPOSITORY_VOLUME, "mountPath": MODEL_ROOT}],
        # The digest on success, the reason on failure: what the operator reads from the pod's status.
        "terminationMessagePolicy": "File",
        "resources": thaw(STORAGE_RESOURCES),
        "securityContext": _restricted_security_context(),
    }
    secret = model.credentials_secret_name
    if secret:
        # By reference: the values never pass through the operator, and only this container sees them.
        container["env"] = [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}}}
            for key in CREDENTIAL_KEYS[scheme]
        ]
    return container


def model_storage(resource: ModelDeployment, *, storage_image: str = constants.DEFAULT_STORAGE_IMAGE) -> ModelStorage:
    """Translate spec.model.repository into Triton's view of it: only config.pbtxt and spec.model.version.

    Volume-backed repositories mount just those two paths read-only. Object stores are copied by the
    model-storage init container into an emptyDir, so Triton never sees another version whatever the
    bucket holds, and the store's credentials stay in that container.
    """
    model = resource.spec.model
    repository = model.repository
    name = resource.model_name
    version = model.version
    if repository.startswith(("s3://", "gs://", "as://")):
        return ModelStorage(
            repository_argument=MODEL_ROOT,
            volumes=[{"name": MODEL_REPOSITORY_VOLUME, "emptyDir": {}}],
            mounts=[{"name": MODEL_REPOSITORY_VOLUME, "mountPath": MODEL_ROOT, "readOnly": True}],
            init_containers=[_storage_container(resource, storage_image=storage_image)],
        )
    if repository.startswith("pvc://"):
        claim, _, path = repository[len("pvc://"):].partition("/")
        volume = {"name": MODEL_REPOSITORY_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    else:
        host_path = "/" + repository[len("file://"):].lstrip("/")
        volume = {"name": MODEL_REPOSITORY_VOLUME, "hostPath": {"path": host_path, "type": "Directory"}}
        prefix = ""
    mounts = [
        {
            "name": MODEL_REPOSITORY_VOLUME,
            "mountPath": f"{MODEL_ROOT}/{name}/config.pbtxt",
            "subPath": f"{prefix}{name}/config.pbtxt",
            "readOnly": True,
        },
        {
            "name": MODEL_REPOSITORY_VOLUME,
            "mountPath": f"{MODEL_ROOT}/{name}/{version}",
            "subPath": f"{prefix}{name}/{version}",
            "readOnly": True,
        },
    ]
    return ModelStorage(repository_argument=MODEL_ROOT, volumes=[volume], mounts=mounts)


def triton_arguments(resource: ModelDeployment, storage: ModelStorage) -> list[str]:
    return [
        "tritonserver",
        f"--model-repository={storage.repository_argument}",
        "--model-control-mode=explicit",
        f"--load-model={resource.model_name}",
        "--strict-readiness=true",
        f"--exit-timeout-secs={EXIT_TIMEOUT_SECONDS}",
        f"--http-port={constants.HTTP_PORT}",
        f"--grpc-port={constants.GRPC_PORT}",
        f"--metrics-port={constants.METRICS_PORT}",
        "--allow-metrics=true",
        *resource.spec.server.args,
    ]


def _resources(server: ServerSpec) -> dict[str, Any]:
    resources: dict[str, Any] = thaw(server.resources)
    gpu = server.gpu
    if gpu.count > 0:
        # Extended resources need requests equal to limits; setting both says so explicitly.
        resources.setdefault("limits", {})[gpu.resource_name] = str(gpu.count)
        resources.setdefault("requests", {})[gpu.resource_name] = str(gpu.count)
    return resources


def _affinity(server: ServerSpec) -> dict[str, Any] | None:
    affinity: dict[str, Any] = thaw(server.affinity)
    products = list(server.gpu.products or ())
    if products and server.gpu.count > 0:
        expression = {"key": constants.GPU_PRODUCT_LABEL, "operator": "In", "values": products}
        required = affinity.setdefault("nodeAffinity", {}).setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
        terms = required.setdefault("nodeSelectorTerms", [])
        if not terms:
            terms.append({})
        # Terms are ORed and expressions within a term ANDed: the product must hold in every term.
        for term in terms:
            term.setdefault("matchExpressions", []).append(expression)
    return affinity or None


def _tolerations(server: ServerSpec) -> list[dict[str, Any]]:
    tolerations: list[dict[str, Any]] = thaw(server.tolerations)
    if server.gpu.count > 0:
        tolerations.append({"key": constants.GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"})
    return tolerations


def _probe(path: str, *, period: int, failure_threshold: int, timeout: int = 5) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failure_threshold,
    }


def pod_template(resource: ModelDeployment, revision: Revision, *, storage_image: str = constants.DEFAULT_STORAGE_IMAGE) -> dict[str, Any]:
    server = resource.spec.server
    storage = model_storage(resource, storage_image=storage_image)
    container: dict[str, Any] = {
        "name": constants.SERVER_NAME,
        "image": server.image,
        "args": triton_arguments(resource, storage),
        "ports": [
            {"name": "http", "containerPort": constants.HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": constants.GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": constants.METRICS_PORT, "protocol": "TCP"},
        ],
        "startupProbe": _probe(
            "/v2/health/ready",
            period=STARTUP_PROBE_PERIOD_SECONDS,
            failure_threshold=max(1, math.ceil(server.startup_timeout_seconds / STARTUP_PROBE_PERIOD_SECONDS)),
        ),
        "readinessProbe": _probe("/v2/health/ready", period=5, failure_threshold=3),
        "livenessProbe": _probe("/v2/health/live", period=10, failure_threshold=3),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        # A Triton that exits puts its last log lines in lastState.terminated.message, which is how a
        # model that failed to load is told apart from a crash.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": _resources(server),
        "volumeMounts": [{"name": SHARED_MEMORY_VOLUME, "mountPath": "/dev/shm"}, *storage.mounts, *thaw(server.volume_mounts)],
        "securityContext": _restricted_security_context(),
    }
    if server.env:
        container["env"] = thaw(server.env)
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [
            {"name": SHARED_MEMORY_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": server.shm_size}},
            *storage.volumes,
            *thaw(server.volumes),
        ],
        # The grace period outlasts the preStop delay plus Triton's own drain of in-flight requests.
        "terminationGracePeriodSeconds": PRE_STOP_SECONDS + EXIT_TIMEOUT_SECONDS + 10,
        "securityContext": {
            "runAsNonRoot": True,
            # The NGC tritonserver image ships the unprivileged user triton-server with uid 1000.
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "tolerations": _tolerations(server),
    }
    affinity = _affinity(server)
    if storage.init_containers:
        pod_spec["initContainers"] = [dict(init) for init in storage.init_containers]
    if affinity:
        pod_spec["affinity"] = affinity
    if server.node_selector:
        pod_spec["nodeSelector"] = thaw(server.node_selector)
    if server.priority_class_name:
        pod_spec["priorityClassName"] = server.priority_class_name
    if server.service_account_name:
        pod_spec["serviceAccountName"] = server.service_account_name
    if server.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in server.image_pull_secrets]
    if not pod_spec["tolerations"]:
        del pod_spec["tolerations"]
    return {
        "metadata": {"labels": labels.revision_labels(resource, revision=revision.hash, model_version=revision.version)},
        "spec": pod_spec,
    }


def build_deployment(
    resource: ModelDeployment, revision: Revision, *, replicas: int, storage_image: str = constants.DEFAULT_STORAGE_IMAGE
) -> dict[str, Any]:
    revision_labels = labels.revision_labels(resource, revision=revision.hash, model_version=revision.version)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": labels.child_metadata(resource, name=deployment_name(resource, revision), labels=revision_labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**labels.selector_labels(resource), constants.LABEL_REVISION: revision.hash}},
            "revisionHistoryLimit": 2,
            "progressDeadlineSeconds": resource.spec.server.startup_timeout_seconds + 60,
            "template": pod_template(resource, revision, storage_image=storage_image),
        },
    }

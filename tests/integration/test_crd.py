"""The ModelDeployment CRD: the API server itself rejects bad specs with a message that names the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.kubectl import kubectl
from tritonops.devcluster.cluster import LocalCluster

GROUP, VERSION, PLURAL = "inference.tritonops.dev", "v1alpha1", "modeldeployments"

MINIMAL: dict[str, Any] = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ModelDeployment",
    "metadata": {"name": "resnet"},
    "spec": {"model": {"repository": "s3://models/repo", "version": "1"}},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(MINIMAL)
    node = body["spec"]
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return body


INVALID = [
    ("model.repository", "http://example/repo", "spec.model.repository"),
    ("model.repository", "pvc://Bad_Claim/x", "spec.model.repository"),
    ("model.version", "latest", "spec.model.version"),
    ("model.version", "0", "spec.model.version"),
    (
        "model",
        {"repository": "file:///models", "version": "1", "credentialsSecretRef": {"name": "creds"}},
        "spec.model.credentialsSecretRef",
    ),
    ("server.gpu.count", -1, "spec.server.gpu.count"),
    ("server.gpu.resourceName", "amd.com/gpu", "spec.server.gpu.resourceName"),
    ("server.gpu", {"count": 0, "products": ["NVIDIA-H100-80GB-HBM3"]}, "spec.server.gpu.products"),
    ("server.shmSize", "lots", "spec.server.shmSize"),
    ("server.startupTimeoutSeconds", 1, "spec.server.startupTimeoutSeconds"),
    ("server.volumes", [{"name": "dshm", "emptyDir": {}}], "spec.server.volumes"),
    ("server.volumeMounts", [{"name": "cache", "mountPath": "/cache"}], "spec.server.volumeMounts"),
    ("server", {"volumes": [{"name": "cache", "emptyDir": {}}], "volumeMounts": [{"name": "cache", "mountPath": "/models/x"}]},
     "spec.server.volumeMounts"),
    ("server", {"volumes": [{"name": "cache", "emptyDir": {}}], "volumeMounts": [{"name": "cache", "mountPath": "cache"}]},
     "spec.server.volumeMounts"),
    ("replicas", -2, "spec.replicas"),
    ("autoscaling", {"enabled": True, "minReplicas": 5, "maxReplicas": 2}, "spec.autoscaling.maxReplicas"),
    ("autoscaling.minReplicas", 0, "spec.autoscaling.minReplicas"),
    ("rollout.steps", [10, 50, 25], "spec.rollout.steps"),
    ("rollout.steps", [10, 10, 50], "spec.rollout.steps"),
    ("rollout.steps", [0, 50], "spec.rollout.steps"),
    ("rollout.steps", [50, 100], "spec.rollout.steps"),
    ("rollout.strategy", "BlueGreen", "spec.rollout.strategy"),
    ("rollout.capacity.mode", "Evict", "spec.rollout.capacity.mode"),
    ("rollout.capacity.maxUnavailable", -1, "spec.rollout.capacity.maxUnavailable"),
    ("rollout.capacity", {"mode": "Swap", "maxUnavailable": 0}, "spec.rollout.capacity.maxUnavailable"),
    ("rollout.capacity.onDeadline", "Wait", "spec.rollout.capacity.onDeadline"),
    ("rollout.analysis.failureLimit", 0, "spec.rollout.analysis.failureLimit"),
    ("rollout.analysis.inconclusiveLimit", -1, "spec.rollout.analysis.inconclusiveLimit"),
    # One window would roll back nearly every rollout: new canary pods' first window is often empty.
    ("rollout.analysis.inconclusiveLimit", 1, "spec.rollout.analysis.inconclusiveLimit"),
    ("rollout.analysis.onInconclusive", "Pause", "spec.rollout.analysis.onInconclusive"),
    ("rollout.analysis.successRate", {"min": 1.5}, "spec.rollout.analysis.successRate.min"),
    ("rollout.analysis", {"provider": "prometheus"}, "spec.rollout.analysis.prometheus"),
    ("rollout.analysis", {"custom": [{"name": "p99", "query": "x", "max": 1}]}, "spec.rollout.analysis.custom"),
    ("rollout.analysis.prometheus", {"url": "prometheus:9090"}, "spec.rollout.analysis.prometheus.url"),
    ("rollout.analysis.golden", {}, "spec.rollout.analysis.golden.configMapRef"),
    ("rollout.analysis.golden", {"configMapRef": {"name": "g"}, "atol": -0.1}, "spec.rollout.analysis.golden.atol must be non-negative"),
    ("rollout.analysis.golden", {"configMapRef": {"name": "g"}, "rtol": -1}, "spec.rollout.analysis.golden.rtol must be non-negative"),
    ("rollout.analysis.golden", {"configMapRef": {"name": "g"}, "timeoutSeconds": 0}, "spec.rollout.analysis.golden.timeoutSeconds"),
    ("rollout.analysis.golden", {"configMapRef": {"name": "g"}, "maxErrorRate": 2}, "spec.rollout.analysis.golden.maxErrorRate"),
    ("rollout.analysis.golden", {"configMapRef": {"name": "g"}, "maxLatencyMs": 0}, "spec.rollout.analysis.golden.maxLatencyMs"),
    ("rollout.analysis.golden", {"configMapRef": {"name": "g"}, "outputs": [{"name": "y", "atol": -1}]},
     "spec.rollout.analysis.golden.outputs[].atol must be non-negative"),
    ("traffic", {"router": "gatewayAPI"}, "spec.traffic.gatewayAPI"),
    ("traffic.router", "istio", "spec.traffic.router"),
    ("service.type", "ExternalName", "spec.service.type"),
]


@pytest.mark.usefixtures("crd_installed")
@pytest.mark.parametrize(("path", "value", "field"), INVALID, ids=[f"{p}={v}" for p, v, _ in INVALID])
def test_invalid_spec_is_rejected_naming_the_field(kube_client: client.ApiClient, namespace: str, path: str, value: Any, field: str) -> None:
    custom = client.CustomObjectsApi(kube_client)
    with pytest.raises(ApiException) as rejected:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _with(path, value))
    assert rejected.value.status == 422
    assert field in str(rejected.value.body), rejected.value.body


# Names the API server takes for a custom object (a DNS subdomain) but not for the Services it becomes.
UNSERVABLE_NAMES = ["m" * 55, "1resnet", "resnet.v2"]


@pytest.mark.usefixtures("crd_installed")
@pytest.mark.parametrize("name", UNSERVABLE_NAMES)
def test_a_name_its_children_cannot_carry_is_rejected_naming_metadata_name(kube_client: client.ApiClient, namespace: str, name: str) -> None:
    body = copy.deepcopy(MINIMAL)
    body["metadata"]["name"] = name
    with pytest.raises(ApiException) as rejected:
        client.CustomObjectsApi(kube_client).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert rejected.value.status == 422
    assert "metadata.name must" in str(rejected.value.body), rejected.value.body


@pytest.mark.usefixtures("crd_installed")
def test_the_longest_allowed_name_is_accepted(kube_client: client.ApiClient, namespace: str) -> None:
    body = copy.deepcopy(MINIMAL)
    body["metadata"]["name"] = "m" * 54
    client.CustomObjectsApi(kube_client).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


@pytest.mark.usefixtures("crd_installed")
def test_model_is_required(kube_client: client.ApiClient, namespace: str) -> None:
    body = copy.deepcopy(MINIMAL)
    body["spec"] = {"replicas": 1}
    with pytest.raises(ApiException) as rejected:
        client.CustomObjectsApi(kube_client).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert "spec.model" in str(rejected.value.body)


@pytest.mark.usefixtures("crd_installed")
def test_minimal_spec_gets_every_default(kube_client: client.ApiClient, namespace: str) -> None:
    created = client.CustomObjectsApi(kube_client).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MINIMAL)
    spec = created["spec"]
    assert spec["replicas"] == 1
    assert spec["server"]["image"].startswith("nvcr.io/nvidia/tritonserver:")
    assert spec["server"]["gpu"] == {"count": 1, "resourceName": "nvidia.com/gpu"}
    assert spec["server"]["shmSize"] == "1Gi"
    assert spec["server"]["startupTimeoutSeconds"] == 600
    assert spec["autoscaling"] == {"enabled": False, "minReplicas": 1, "maxReplicas": 4}
    rollout = spec["rollout"]
    assert rollout["strategy"] == "Canary"
    assert rollout["steps"] == [10, 25, 50]
    assert (rollout["stepSeconds"], rollout["progressDeadlineSeconds"], rollout["paused"]) == (60, 600, False)
    assert rollout["capacity"] == {"mode": "Auto", "maxUnavailable": 1, "onDeadline": "Rollback"}
    assert rollout["analysis"] == {"provider": "triton", "intervalSeconds": 15, "failureLimit": 2, "minRequests": 20,
                                   "inconclusiveLimit": 40, "onInconclusive": "Rollback"}
    assert spec["traffic"] == {"router": "replicas"}
    assert spec["service"] == {"type": "ClusterIP"}
    assert spec["monitoring"] == {"serviceMonitor": False}


@pytest.mark.usefixtures("crd_installed")
def test_valid_full_spec_is_accepted(kube_client: client.ApiClient, namespace: str) -> None:
    body = copy.deepcopy(MINIMAL)
    body["spec"] = yaml.safe_load(
        """
        model: {name: resnet50, repository: s3://models/repo, version: "3", credentialsSecretRef: {name: s3-creds}}
        server:
          image: nvcr.io/nvidia/tritonserver:25.08-py3
          gpu: {count: 1, resourceName: nvidia.com/mig-1g.10gb, products: [NVIDIA-A100-SXM4-80GB]}
          resources: {requests: {cpu: "2", memory: 8Gi}, limits: {memory: 16Gi}}
          volumes: [{name: python, persistentVolumeClaim: {claimName: python-env, readOnly: true}}]
          volumeMounts: [{name: python, mountPath: /opt/python, readOnly: true}]
        replicas: 2
        autoscaling: {enabled: true, minReplicas: 1, maxReplicas: 8}
        rollout:
          steps: [10, 25, 50]
          capacity: {mode: Swap, maxUnavailable: 2, onDeadline: Hold}
          analysis:
            provider: prometheus
            prometheus: {url: "http://prometheus.monitoring:9090"}
            successRate: {min: 0.99}
            latencyMs: {max: 250}
            custom: [{name: p99, query: "vector(1)", max: 300}]
            inconclusiveLimit: 1
            onInconclusive: Hold
            golden: {configMapRef: {name: resnet50-golden}, atol: 0.001, outputs: [{name: logits, rtol: 0.01}], maxLatencyMs: 200}
        traffic: {router: gatewayAPI, gatewayAPI: {parentRefs: [{name: inference}], hostnames: [models.example.com]}}
        """
    )
    created = client.CustomObjectsApi(kube_client).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert created["spec"]["server"]["gpu"]["resourceName"] == "nvidia.com/mig-1g.10gb"
    assert created["spec"]["rollout"]["capacity"] == {"mode": "Swap", "maxUnavailable": 2, "onDeadline": "Hold"}
    # The volume source is kept as written (preserve-unknown-fields), not pruned.
    assert created["spec"]["server"]["volumes"] == [{"name": "python", "persistentVolumeClaim": {"claimName": "python-env", "readOnly": True}}]
    assert (created["spec"]["rollout"]["analysis"]["inconclusiveLimit"], created["spec"]["rollout"]["analysis"]["onInconclusive"]) == (1, "Hold")
    # The golden gate's defaults fill in what was not written.
    assert created["spec"]["rollout"]["analysis"]["golden"] == {
        "configMapRef": {"name": "resnet50-golden", "key": "golden.json"}, "atol": 0.001, "rtol": 0.001, "outputs": [{"name": "logits", "rtol": 0.01}],
        "timeoutSeconds": 5, "maxLatencyMs": 200, "maxErrorRate": 0}


@pytest.mark.usefixtures("crd_installed")
def test_kubectl_explain_reads_well(cluster: LocalCluster) -> None:
    text = kubectl(cluster.kubeconfig, "explain", "modeldeployment.spec.rollout")
    for field in ("strategy", "steps", "stepSeconds", "progressDeadlineSeconds", "paused", "capacity", "analysis"):
        assert field in text
    assert "Canary shifts traffic in steps" in text
    analysis = kubectl(cluster.kubeconfig, "explain", "modeldeployment.spec.rollout.analysis.onInconclusive")
    assert "Rollback to the stable revision" in analysis and "Hold" in analysis
    golden = kubectl(cluster.kubeconfig, "explain", "modeldeployment.spec.rollout.analysis.golden")
    for field in ("configMapRef", "atol", "rtol", "outputs", "timeoutSeconds", "maxLatencyMs", "maxErrorRate"):
        assert field in golden
    assert "before the canary takes any traffic" in golden


@pytest.mark.usefixtures("crd_installed")
def test_short_names_work(cluster: LocalCluster, namespace: str) -> None:
    for short_name in ("md", "mdep"):
        kubectl(cluster.kubeconfig, "get", short_name, "-n", namespace)

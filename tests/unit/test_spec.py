"""The typed spec: bodies defaulted as the API server defaults them parse to typed values; what the CRD lets
through but the operator cannot build from raises InvalidSpecError naming the exact field."""

from __future__ import annotations

import pathlib
import types
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.harness.specs import model_deployment_body
from tritonops.errors import InvalidSpecError
from tritonops.spec import (
    AnalysisSpec,
    AutoscalingSpec,
    CapacitySpec,
    CustomCheckSpec,
    GatewayApiSpec,
    GoldenSpec,
    GpuSpec,
    ModelSpec,
    MonitoringSpec,
    OutputToleranceSpec,
    RolloutSpec,
    ServerSpec,
    ServiceSpec,
    Spec,
    TrafficSpec,
    parse_spec,
    thaw,
)


def parsed(spec: dict[str, Any] | None = None) -> Spec:
    return parse_spec(model_deployment_body(spec)["spec"])


def test_a_minimal_spec_parses_to_the_crd_defaults() -> None:
    assert parsed() == Spec(
        model=ModelSpec(name="", repository="s3://models/repo", version="1", credentials_secret_name=None),
        server=ServerSpec(
            image="nvcr.io/nvidia/tritonserver:25.08-py3", args=(), env=(), resources={},
            gpu=GpuSpec(count=1, resource_name="nvidia.com/gpu", products=None), shm_size="1Gi", startup_timeout_seconds=600,
            node_selector={}, tolerations=(), affinity={}, priority_class_name="", service_account_name="", image_pull_secrets=(),
            volumes=(), volume_mounts=(),
        ),
        replicas=1,
        autoscaling=AutoscalingSpec(enabled=False, min_replicas=1, max_replicas=4, metrics=(), behavior={}),
        rollout=RolloutSpec(
            strategy="Canary", steps=(10, 25, 50), step_seconds=60, progress_deadline_seconds=600, paused=False,
            capacity=CapacitySpec(mode="Auto", max_unavailable=1, on_deadline="Rollback"),
            analysis=AnalysisSpec(
                provider="triton", prometheus_url=None, interval_seconds=15, failure_limit=2, min_requests=20, success_rate_min=None,
                latency_ms_max=None, queue_ms_max=None, max_error_rate_increase=None, custom=(), inconclusive_limit=40,
                on_inconclusive="Rollback",
            ),
        ),
        traffic=TrafficSpec(router="replicas", gateway_api=GatewayApiSpec(parent_refs=(), hostnames=())),
        service=ServiceSpec(type="ClusterIP", annotations={}),
        monitoring=MonitoringSpec(service_monitor=False),
    )


TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule", "tolerationSeconds": 30}
ENV = [{"name": "A", "value": "1"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
METRICS = [{"type": "Pods", "pods": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]
BEHAVIOR = {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}


@pytest.mark.parametrize(
    ("spec", "read", "expected"),
    [
        ({"model": {"name": "classifier"}}, lambda s: s.model.name, "classifier"),
        ({"model": {"credentialsSecretRef": {"name": "s3-creds"}}}, lambda s: s.model.credentials_secret_name, "s3-creds"),
        ({"server": {"gpu": {"count": 2, "resourceName": "nvidia.com/mig-1g.10gb", "products": ["NVIDIA-H100-80GB-HBM3"]}}},
         lambda s: s.server.gpu, GpuSpec(count=2, resource_name="nvidia.com/mig-1g.10gb", products=("NVIDIA-H100-80GB-HBM3",))),
        ({"server": {"gpu": {"products": []}}}, lambda s: s.server.gpu.products, ()),
        ({"server": {"args": ["--log-verbose=1"]}}, lambda s: s.server.args, ("--log-verbose=1",)),
        ({"server": {"env": ENV}}, lambda s: thaw(s.server.env), ENV),
        ({"server": {"resources": {"requests": {"cpu": 2, "memory": "8Gi"}}}}, lambda s: s.server.resources, {"requests": {"cpu": 2, "memory": "8Gi"}}),
        ({"server": {"tolerations": [TOLERATION]}}, lambda s: s.server.tolerations, (TOLERATION,)),
        ({"server": {"affinity": AFFINITY}}, lambda s: thaw(s.server.affinity), AFFINITY),
        ({"server": {"nodeSelector": {"pool": "gpu"}}}, lambda s: s.server.node_selector, {"pool": "gpu"}),
        ({"server": {"imagePullSecrets": [{"name": "ngc"}]}}, lambda s: s.server.image_pull_secrets, ("ngc",)),
        ({"server": {"volumes": [{"name": "python", "hostPath": {"path": "/opt/python", "type": "Directory"}}], "volumeMounts": [{"name": "python", "mountPath": "/opt/python", "readOnly": True}]}},
         lambda s: (thaw(s.server.volumes), thaw(s.server.volume_mounts)), ([{"name": "python", "hostPath": {"path": "/opt/python", "type": "Directory"}}], [{"name": "python", "mountPath": "/opt/python", "readOnly": True}])),
        ({"server": {"priorityClassName": "high", "serviceAccountName": "triton"}},
         lambda s: (s.server.priority_class_name, s.server.service_account_name), ("high", "triton")),
        ({"server": {"shmSize": "2Gi", "startupTimeoutSeconds": 60}}, lambda s: (s.server.shm_size, s.server.startup_timeout_seconds), ("2Gi", 60)),
        ({"replicas": 4}, lambda s: s.replicas, 4),
        ({"autoscaling": {"enabled": True, "maxReplicas": 8, "metrics": METRICS, "behavior": BEHAVIOR}},
         lambda s: (s.autoscaling.enabled, s.autoscaling.max_replicas, thaw(s.autoscaling.metrics), thaw(s.autoscaling.behavior)),
         (True, 8, METRICS, BEHAVIOR)),
        ({"rollout": {"strategy": "Immediate", "steps": [50], "paused": True}},
         lambda s: (s.rollout.strategy, s.rollout.steps, s.rollout.paused), ("Immediate", (50,), True)),
        ({"rollout": {"capacity": {"mode": "Swap", "maxUnavailable": 2, "onDeadline": "Hold"}}},
         lambda s: s.rollout.capacity, CapacitySpec(mode="Swap", max_unavailable=2, on_deadline="Hold")),
        ({"rollout": {"capacity": {"mode": "Surge"}}}, lambda s: s.rollout.capacity, CapacitySpec(mode="Surge", max_unavailable=1, on_deadline="Rollback")),
        ({"rollout": {"analysis": {"successRate": {"min": 0.99}, "latencyMs": {"max": 250}, "queueMs": {"max": 100.5}, "maxErrorRateIncrease": 0.01}}},
         lambda s: (s.rollout.analysis.success_rate_min, s.rollout.analysis.latency_ms_max, s.rollout.analysis.queue_ms_max,
                    s.rollout.analysis.max_error_rate_increase),
         (0.99, 250, 100.5, 0.01)),
        ({"rollout": {"analysis": {"inconclusiveLimit": 0, "onInconclusive": "Hold"}}},
         lambda s: (s.rollout.analysis.inconclusive_limit, s.rollout.analysis.on_inconclusive), (0, "Hold")),
        # A bound object without its bound asks for no check.
        ({"rollout": {"analysis": {"successRate": {}}}}, lambda s: s.rollout.analysis.success_rate_min, None),
        ({"rollout": {"analysis": {"provider": "prometheus", "prometheus": {"url": "http://prometheus:9090"},
                                   "custom": [{"name": "p99", "query": "vector(1)", "max": 300}]}}},
         lambda s: (s.rollout.analysis.provider, s.rollout.analysis.prometheus_url, s.rollout.analysis.custom),
         ("prometheus", "http://prometheus:9090", (CustomCheckSpec(name="p99", query="vector(1)", minimum=None, maximum=300),))),
        # The golden gate: the CRD's defaults (key, tolerations, timeout, error rate), and per-output overrides.
        ({"rollout": {"analysis": {"golden": {"configMapRef": {"name": "resnet50-golden"}}}}}, lambda s: s.rollout.analysis.golden,
         GoldenSpec(config_map_name="resnet50-golden", config_map_key="golden.json", absolute=0.0001, relative=0.001, outputs=(),
                    timeout_seconds=5, max_latency_ms=None, max_error_rate=0)),
        ({"rollout": {"analysis": {"golden": {"configMapRef": {"name": "g", "key": "v3.json"}, "atol": 0, "rtol": 0.01, "timeoutSeconds": 2.5,
                                              "maxLatencyMs": 50, "maxErrorRate": 0.1, "outputs": [{"name": "logits", "atol": 0.01}]}}}},
         lambda s: s.rollout.analysis.golden,
         GoldenSpec(config_map_name="g", config_map_key="v3.json", absolute=0, relative=0.01,
                    outputs=(OutputToleranceSpec(name="logits", absolute=0.01, relative=None),), timeout_seconds=2.5, max_latency_ms=50,
                    max_error_rate=0.1)),
        ({"rollout": {"analysis": {"golden": {"configMapRef": {"name": "g"}, "outputs": [{"name": "logits", "atol": 0.01}]}}}},
         lambda s: (s.rollout.analysis.golden.tolerance_of("logits"), s.rollout.analysis.golden.tolerance_of("other")),
         ((0.01, 0.001), (0.0001, 0.001))),
        ({"rollout": {"analysis": {}}}, lambda s: s.rollout.analysis.golden, None),
        ({"traffic": {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference", "namespace": "gateways"}], "hostnames": ["m.example"]}}},
         lambda s: s.traffic, TrafficSpec(router="gatewayAPI", gateway_api=GatewayApiSpec(
             parent_refs=({"name": "inference", "namespace": "gateways"},), hostnames=("m.example",)))),
        ({"service": {"type": "NodePort", "annotations": {"a": "b"}}}, lambda s: s.service, ServiceSpec(type="NodePort", annotations={"a": "b"})),
        ({"monitoring": {"serviceMonitor": True}}, lambda s: s.monitoring.service_monitor, True),
        # Null is how JSON leaves a field unset.
        ({"server": {"tolerations": [{"key": "a", "value": None}]}}, lambda s: s.server.tolerations, ({"key": "a", "value": None},)),
    ],
)
def test_defaulted_bodies_parse_to_typed_values(spec: dict[str, Any], read: Callable[[Spec], Any], expected: Any) -> None:
    assert read(parsed(spec)) == expected


def test_pass_through_values_are_frozen_and_thaw_to_plain_copies() -> None:
    server = parsed({"server": {"tolerations": [TOLERATION], "affinity": AFFINITY}}).server
    assert isinstance(server.affinity, types.MappingProxyType) and isinstance(server.tolerations, tuple)
    with pytest.raises(TypeError):
        server.affinity["nodeAffinity"] = {}  # type: ignore[index]
    plain = thaw(server.affinity)
    plain["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"].append({})
    assert thaw(server.affinity) == AFFINITY


NODE_TERMS = "spec.server.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"server": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": ["x"]}}}}},
         f"{NODE_TERMS}[0]", "must be an object, not a string"),
        ({"server": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": {"a": 1}}}}}},
         NODE_TERMS, "must be a list, not an object"),
        ({"server": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{}, {"matchExpressions": [{"key": "zone", "operator": "In", "values": "a"}]}]}}}}},
         f"{NODE_TERMS}[1].matchExpressions[0].values", "must be a list, not a string"),
        ({"server": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"operator": "Exists"}]}]}}}}},
         f"{NODE_TERMS}[0].matchExpressions[0].key", "is required"),
        ({"server": {"affinity": {"nodeAffinity": "anywhere"}}}, "spec.server.affinity.nodeAffinity", "must be an object, not a string"),
        ({"server": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": "high", "podAffinityTerm": {}}]}}}},
         "spec.server.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "must be an integer, not a string"),
        ({"server": {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}}},
         "spec.server.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "is required"),
        ({"server": {"tolerations": ["NoSchedule"]}}, "spec.server.tolerations[0]", "must be an object, not a string"),
        ({"server": {"tolerations": [{"key": "a"}, {"key": 7}]}}, "spec.server.tolerations[1].key", "must be a string, not a number"),
        ({"server": {"tolerations": [{"tolerationSeconds": True}]}}, "spec.server.tolerations[0].tolerationSeconds", "must be an integer, not a boolean"),
        ({"server": {"env": [{"value": "1"}]}}, "spec.server.env[0].name", "is required"),
        ({"server": {"env": [{"name": "A"}, {"name": ""}]}}, "spec.server.env[1].name", "must be a non-empty string, not an empty string"),
        ({"server": {"env": [{"name": "A", "value": 1}]}}, "spec.server.env[0].value", "must be a string, not a number"),
        ({"server": {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}}, "spec.server.env[0].valueFrom.secretKeyRef.key", "is required"),
        ({"server": {"resources": {"limits": {"memory": 1.5}}}}, "spec.server.resources.limits[memory]", "must be a quantity"),
        ({"server": {"nodeSelector": {"pool": 1}}}, "spec.server.nodeSelector[pool]", "must be a string, not a number"),
        ({"server": {"args": ["--a", 1]}}, "spec.server.args[1]", "must be a string, not a number"),
        ({"server": {"gpu": {"products": "NVIDIA-L4"}}}, "spec.server.gpu.products", "must be a list, not a string"),
        ({"server": {"imagePullSecrets": [{}]}}, "spec.server.imagePullSecrets[0].name", "is missing"),
        ({"server": {"volumes": [{"hostPath": {"path": "/x"}}]}}, "spec.server.volumes[0].name", "is required"),
        ({"server": {"volumeMounts": [{"name": "x", "mountPath": "/x", "readOnly": "yes"}]}}, "spec.server.volumeMounts[0].readOnly", "must be a boolean"),
        ({"autoscaling": {"metrics": ["cpu"]}}, "spec.autoscaling.metrics[0]", "must be an object, not a string"),
        ({"autoscaling": {"metrics": [{"resource": {"name": "cpu"}}]}}, "spec.autoscaling.metrics[0].type", "is required"),
        ({"autoscaling": {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": "80%"}}}]}},
         "spec.autoscaling.metrics[0].resource.target.averageUtilization", "must be an integer, not a string"),
        ({"autoscaling": {"behavior": {"scaleUp": {"policies": {"type": "Pods"}}}}}, "spec.autoscaling.behavior.scaleUp.policies", "must be a list, not an object"),
        ({"autoscaling": {"behavior": "fast"}}, "spec.autoscaling.behavior", "must be an object, not a string"),
        ({"traffic": {"gatewayAPI": {"parentRefs": ["inference"]}}}, "spec.traffic.gatewayAPI.parentRefs[0]", "must be an object, not a string"),
        ({"traffic": {"gatewayAPI": {"parentRefs": [{"name": "g", "port": "80"}]}}}, "spec.traffic.gatewayAPI.parentRefs[0].port", "must be an integer"),
        ({"service": {"annotations": {"a": True}}}, "spec.service.annotations[a]", "must be a string, not a boolean"),
        ({"rollout": {"analysis": {"custom": [{"name": "p99", "query": "x", "max": "300"}]}}},
         "spec.rollout.analysis.custom[0].max", "must be a number, not a string"),
        ({"rollout": {"analysis": {"onInconclusive": "Pause"}}}, "spec.rollout.analysis.onInconclusive", "must be one of Rollback, Hold"),
        ({"rollout": {"analysis": {"golden": {}}}}, "spec.rollout.analysis.golden.configMapRef", "is missing"),
        ({"rollout": {"analysis": {"golden": {"configMapRef": {"name": "g"}, "atol": "0.1"}}}}, "spec.rollout.analysis.golden.atol", "must be a number"),
        ({"rollout": {"analysis": {"golden": {"configMapRef": {"name": "g"}, "outputs": [{"name": "y", "rtol": True}]}}}},
         "spec.rollout.analysis.golden.outputs[0].rtol", "must be a number, not a boolean"),
    ],
)
def test_malformed_input_names_the_exact_field(spec: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        parsed(spec)
    assert raised.value.field == field
    assert message in raised.value.message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("a spec", "spec"),
        ({}, "spec.model"),
        ({"model": {"repository": "s3://models/repo", "version": "1"}}, "spec.server"),
        # A body stored before the CRD had spec.rollout.capacity, and read through that older CRD.
        ({**model_deployment_body()["spec"], "rollout": {**model_deployment_body()["spec"]["rollout"], "capacity": None}}, "spec.rollout.capacity"),
        ({**model_deployment_body()["spec"], "replicas": "2"}, "spec.replicas"),
        ({**model_deployment_body()["spec"], "traffic": {"router": "istio"}}, "spec.traffic.router"),
        ({**model_deployment_body()["spec"], "model": ["resnet"]}, "spec.model"),
    ],
)
def test_anything_unreadable_raises_only_invalid_spec_error(raw: Any, field: str) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        parse_spec(raw)
    assert raised.value.field == field


EXAMPLES = sorted((pathlib.Path(__file__).parents[2] / "manifests" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_parses(path: pathlib.Path) -> None:
    documents = [document for document in yaml.safe_load_all(path.read_text()) if document and document.get("kind") == "ModelDeployment"]
    assert documents
    for document in documents:
        parse_spec(model_deployment_body(document["spec"])["spec"])

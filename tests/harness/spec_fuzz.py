"""Hypothesis strategies for ModelDeployment specs: valid ones, valid ones with exactly one known break, and
chaos (any field valid, broken or absent), for the spec fuzzers of the unit and integration tiers.

A break says where it must be caught: `schema` (the API server refuses it, naming the field), `operator`
(the schema lets it through and the operator reports InvalidSpec naming the field) or `cluster` (the schema
and the operator let it through; a child's apply may be refused, and the operator reports that).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from hypothesis import strategies as st

Level = Literal["schema", "operator", "cluster"]
Mode = Literal["valid", "broken", "chaos"]
Path = tuple[str, ...]
_DELETE = object()  # an assignment that removes the field instead


@dataclasses.dataclass(frozen=True, kw_only=True)
class Break:
    """One wrong value (or a few that are wrong together) and the field path a report must name."""

    level: Level
    names: str
    assignments: tuple[tuple[Path, Any], ...]

    def apply(self, spec: dict[str, Any]) -> dict[str, Any]:
        broken = copy.deepcopy(spec)
        for path, value in self.assignments:
            _set_in(broken, path, value)
        return broken


@dataclasses.dataclass(frozen=True, kw_only=True)
class Case:
    """One generated spec and what is known about it."""

    mode: Mode
    spec: dict[str, Any]
    broken: Break | None = None


def _set_in(target: dict[str, Any], path: Path, value: Any) -> None:
    *parents, last = path
    for key in parents:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    if value is _DELETE:
        target.pop(last, None)
    else:
        target[last] = copy.deepcopy(value)


def _schema(names: str, path: Path, *values: Any) -> list[Break]:
    return [Break(level="schema", names=names, assignments=((path, value),)) for value in values]


def _schema_together(names: str, *assignments: tuple[Path, Any]) -> Break:
    return Break(level="schema", names=names, assignments=assignments)


def _operator(names: str, path: Path, *values: Any) -> list[Break]:
    return [Break(level="operator", names=names, assignments=((path, value),)) for value in values]


def _cluster(path: Path, *values: Any) -> list[Break]:
    return [Break(level="cluster", names="spec.", assignments=((path, value),)) for value in values]


# Values of every JSON type but the one a field wants, and boundary values just outside its range.
_NOT_INTEGER = ("1", 1.5, True, [1], {"n": 1})
_NOT_STRING = (7, 2.5, False, ["a"], {"a": "b"})
_NOT_BOOLEAN = ("true", 1, [True])
_NOT_LIST = ("a", 3, {"a": 1})
_NOT_OBJECT = ("a", 3, [1], True)

BREAKS: tuple[Break, ...] = tuple([
    # spec.model
    *_schema("spec.model.repository", ("model", "repository"), "", "http://host/models", "s3://", "pvc://Bad_Claim", "pvc://-claim",
             "file://relative", "S3://bucket", "x" * 2049, *_NOT_STRING),
    *_schema("spec.model.repository", ("model", "repository"), _DELETE),
    *_schema("spec.model.version", ("model", "version"), "0", "01", "v1", "", "12345678901", "1.5", "-1", *_NOT_STRING),
    *_schema("spec.model.version", ("model", "version"), _DELETE),
    *_schema("spec.model.name", ("model", "name"), "m" * 254, *_NOT_STRING),
    *_schema("spec.model.credentialsSecretRef", ("model", "credentialsSecretRef"), {"name": ""}, {}, "creds", *_NOT_OBJECT),
    _schema_together("spec.model.credentialsSecretRef", (("model", "repository"), "pvc://claim/models"),
                     (("model", "credentialsSecretRef"), {"name": "creds"})),
    *_schema("spec.model", ("model",), *_NOT_OBJECT),
    # spec.server
    *_schema("spec.server.image", ("server", "image"), "", *_NOT_STRING),
    *_schema("spec.server.args", ("server", "args"), [1], [None], ["a" * 1025], ["--x"] * 65, *_NOT_LIST),
    *_schema("spec.server.env", ("server", "env"), [{"value": "x"}], [{"name": ""}], [{"name": 5}], ["A=b"], ["x"] * 129, *_NOT_LIST),
    *_operator("spec.server.env[0].value", ("server", "env"), [{"name": "A", "value": 5}], [{"name": "A", "value": ["b"]}]),
    *_operator("spec.server.env[0].valueFrom", ("server", "env"), [{"name": "A", "valueFrom": "x"}],
               [{"name": "A", "valueFrom": {"fieldRef": {}}}], [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s"}}}]),
    *_cluster(("server", "env"), [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "no.such.field"}}}], [{"name": "A=B", "value": "x"}]),
    *_schema("spec.server.resources", ("server", "resources"), {"requests": {"cpu": True}}, {"requests": "1"}, {"limits": {"cpu": [1]}},
             {"limits": {"memory": 1.5}}, *_NOT_OBJECT),
    *_cluster(("server", "resources"), {"requests": {"cpu": "lots"}}, {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}},
              {"limits": {"nvidia.com/gpu": 2}}),
    *_schema("spec.server.gpu.count", ("server", "gpu", "count"), -1, 65, *_NOT_INTEGER),
    *_schema("spec.server.gpu.resourceName", ("server", "gpu", "resourceName"), "amd.com/gpu", "nvidia.com/mig-0g.10gb",
             "nvidia.com/mig-1g.gb", "nvidia.com/GPU", "", *_NOT_STRING),
    *_schema("spec.server.gpu.products", ("server", "gpu", "products"), [""], ["p" * 64], ["NVIDIA-A100"] * 17, [1], *_NOT_LIST),
    _schema_together("spec.server.gpu.products", (("server", "gpu", "count"), 0), (("server", "gpu", "products"), ["NVIDIA-A100-SXM4-80GB"])),
    *_schema("spec.server.gpu", ("server", "gpu"), *_NOT_OBJECT),
    *_schema("spec.server.shmSize", ("server", "shmSize"), "0", "-1Gi", "lots", "", "1Gi ", "0Mi", *_NOT_STRING),
    *_schema("spec.server.startupTimeoutSeconds", ("server", "startupTimeoutSeconds"), 9, 86401, 0, -5, *_NOT_INTEGER),
    *_schema("spec.server.nodeSelector", ("server", "nodeSelector"), {"zone": 1}, {"zone": None}, {"zone": ["a"]}, *_NOT_OBJECT),
    *_schema("spec.server.tolerations", ("server", "tolerations"), ["x"], [1], [[]], *_NOT_LIST),
    *_operator("spec.server.tolerations[0].key", ("server", "tolerations"), [{"key": 1, "operator": "Exists"}]),
    *_operator("spec.server.tolerations[0].tolerationSeconds", ("server", "tolerations"), [{"key": "k", "tolerationSeconds": "5"}]),
    *_cluster(("server", "tolerations"), [{"key": "k", "operator": "Bogus"}], [{"effect": "Sometimes"}]),
    *_schema("spec.server.affinity", ("server", "affinity"), *_NOT_OBJECT),
    *_operator("spec.server.affinity.nodeAffinity", ("server", "affinity"), {"nodeAffinity": "x"}, {"nodeAffinity": [1]}),
    *_operator("spec.server.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution", ("server", "affinity"),
               {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"matchExpressions": []}]}},
               {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": "all"}}},
               {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "a"}]}]}}},
               {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [["a"]]}}}),
    *_operator("spec.server.affinity.podAntiAffinity", ("server", "affinity"),
               {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}},
               {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": "1", "podAffinityTerm": {"topologyKey": "z"}}]}},
               {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                   {"topologyKey": "z", "labelSelector": {"matchLabels": {"a": 1}}}]}}),
    *_cluster(("server", "affinity"), {"somethingElse": {"deep": [1, {"x": None}]}},
              {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
              {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
              {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": ""}]}}),
    *_schema("spec.server.priorityClassName", ("server", "priorityClassName"), *_NOT_STRING),
    *_schema("spec.server.serviceAccountName", ("server", "serviceAccountName"), *_NOT_STRING),
    *_schema("spec.server.imagePullSecrets", ("server", "imagePullSecrets"), [{}], ["regcred"], [{"name": ""}], *_NOT_LIST),
    *_schema("spec.server.volumes", ("server", "volumes"), [{"name": "dshm", "emptyDir": {}}], [{"name": "model-repository", "emptyDir": {}}],
             [{"emptyDir": {}}], [{"name": ""}], [{"name": "v" * 64}], [{"name": f"v{i}", "emptyDir": {}} for i in range(33)], ["cache"],
             *_NOT_LIST),
    # The mounts of the valid spec go too: they name its volumes, which these replace.
    *[Break(level="cluster", names="spec.", assignments=((("server", "volumes"), volumes), (("server", "volumeMounts"), _DELETE)))
      for volumes in ([{"name": "bare"}], [{"name": "Bad_Name", "emptyDir": {}}],
                      [{"name": "twice", "emptyDir": {}}, {"name": "twice", "emptyDir": {}}], [{"name": "odd", "emptyDir": "yes"}])],
    *_schema("spec.server.volumeMounts", ("server", "volumeMounts"), [{"name": "nope", "mountPath": "/x"}], [{"name": "cache"}], ["cache"],
             *_NOT_LIST),
    *[_schema_together("spec.server.volumeMounts", (("server", "volumes"), [{"name": "cache", "emptyDir": {}}]),
                       (("server", "volumeMounts"), [{"name": "cache", "mountPath": path}]))
      for path in ("relative", "/dev/shm", "/models", "/models/x", "")],
    _schema_together("spec.server.volumeMounts", (("server", "volumes"), [{"name": "cache", "emptyDir": {}}]),
                     (("server", "volumeMounts"), [{"name": "cache", "mountPath": "/c", "readOnly": "yes"}])),
    Break(level="operator", names="spec.server.volumeMounts[0].mountPropagation",
          assignments=((("server", "volumes"), [{"name": "cache", "emptyDir": {}}]),
                       (("server", "volumeMounts"), [{"name": "cache", "mountPath": "/c", "mountPropagation": 5}]))),
    *_schema("spec.server", ("server",), *_NOT_OBJECT),
    # spec.replicas
    *_schema("spec.replicas", ("replicas",), -1, 1001, 10**12, *_NOT_INTEGER),
    # spec.autoscaling
    *_schema("spec.autoscaling.enabled", ("autoscaling", "enabled"), *_NOT_BOOLEAN),
    *_schema("spec.autoscaling.minReplicas", ("autoscaling", "minReplicas"), 0, -3, *_NOT_INTEGER),
    *_schema("spec.autoscaling.maxReplicas", ("autoscaling", "maxReplicas"), 0, 1001, *_NOT_INTEGER),
    _schema_together("spec.autoscaling.maxReplicas", (("autoscaling", "minReplicas"), 5), (("autoscaling", "maxReplicas"), 2)),
    *_schema("spec.autoscaling.metrics", ("autoscaling", "metrics"), ["cpu"], [1], *_NOT_LIST),
    *_operator("spec.autoscaling.metrics[0]", ("autoscaling", "metrics"), [{"resource": {"name": "cpu"}}],
               [{"type": "Resource", "resource": {"name": "cpu"}}], [{"type": "Pods", "pods": {"metric": {"name": "q"},
                                                                                            "target": {"type": "AverageValue", "averageValue": True}}}]),
    *_schema("spec.autoscaling.behavior", ("autoscaling", "behavior"), *_NOT_OBJECT),
    *_operator("spec.autoscaling.behavior.scaleUp", ("autoscaling", "behavior"), {"scaleUp": 5}, {"scaleUp": {"policies": [{"type": "Pods"}]}},
               {"scaleUp": {"stabilizationWindowSeconds": "60"}}),
    *_schema("spec.autoscaling", ("autoscaling",), *_NOT_OBJECT),
    # spec.rollout
    *_schema("spec.rollout.strategy", ("rollout", "strategy"), "Blue", "canary", "", *_NOT_STRING),
    *_schema("spec.rollout.steps", ("rollout", "steps"), [], [0], [100], [50, 10], [10, 10], list(range(1, 22)), ["10"], [10.5], *_NOT_LIST),
    *_schema("spec.rollout.stepSeconds", ("rollout", "stepSeconds"), -1, 86401, *_NOT_INTEGER),
    *_schema("spec.rollout.progressDeadlineSeconds", ("rollout", "progressDeadlineSeconds"), 9, 86401, *_NOT_INTEGER),
    *_schema("spec.rollout.paused", ("rollout", "paused"), *_NOT_BOOLEAN),
    *_schema("spec.rollout.capacity.mode", ("rollout", "capacity", "mode"), "Squeeze", "surge", *_NOT_STRING),
    *_schema("spec.rollout.capacity.maxUnavailable", ("rollout", "capacity", "maxUnavailable"), -1, 1001, *_NOT_INTEGER),
    _schema_together("spec.rollout.capacity.maxUnavailable", (("rollout", "capacity", "mode"), "Swap"),
                     (("rollout", "capacity", "maxUnavailable"), 0)),
    *_schema("spec.rollout.capacity.onDeadline", ("rollout", "capacity", "onDeadline"), "Retry", *_NOT_STRING),
    *_schema("spec.rollout.analysis.provider", ("rollout", "analysis", "provider"), "datadog", "Triton", *_NOT_STRING),
    _schema_together("spec.rollout.analysis.prometheus", (("rollout", "analysis", "provider"), "prometheus"),
                     (("rollout", "analysis", "prometheus"), _DELETE), (("rollout", "analysis", "custom"), _DELETE)),
    *_schema("spec.rollout.analysis.prometheus.url", ("rollout", "analysis", "prometheus", "url"), "ftp://p", "http://", "prometheus:9090",
             *_NOT_STRING),
    *_schema("spec.rollout.analysis.intervalSeconds", ("rollout", "analysis", "intervalSeconds"), 0, 3601, *_NOT_INTEGER),
    *_schema("spec.rollout.analysis.failureLimit", ("rollout", "analysis", "failureLimit"), 0, 101, *_NOT_INTEGER),
    *_schema("spec.rollout.analysis.minRequests", ("rollout", "analysis", "minRequests"), -1, *_NOT_INTEGER),
    *_schema("spec.rollout.analysis.successRate.min", ("rollout", "analysis", "successRate", "min"), 1.5, -0.1, "0.9", True),
    *_schema("spec.rollout.analysis.latencyMs.max", ("rollout", "analysis", "latencyMs", "max"), -1, "5"),
    *_schema("spec.rollout.analysis.queueMs.max", ("rollout", "analysis", "queueMs", "max"), -0.5, [1]),
    *_schema("spec.rollout.analysis.maxErrorRateIncrease", ("rollout", "analysis", "maxErrorRateIncrease"), 1.1, -1, "0.1"),
    *[_schema_together(names, (("rollout", "analysis", "provider"), "prometheus"),
                       (("rollout", "analysis", "prometheus"), {"url": "http://prometheus:9090"}),
                       (("rollout", "analysis", "custom"), custom))
      for names, custom in (
          ("spec.rollout.analysis.custom", [{"name": "p99", "query": "x"}]),
          ("spec.rollout.analysis.custom", [{"name": "", "query": "x", "max": 1}]),
          ("spec.rollout.analysis.custom", [{"name": "p99", "max": 1}]),
          ("spec.rollout.analysis.custom", [{"name": "p99", "query": "x", "max": "1"}]),
          ("spec.rollout.analysis.custom", [{"name": f"c{i}", "query": "x", "max": 1} for i in range(17)]),
      )],
    _schema_together("spec.rollout.analysis.custom", (("rollout", "analysis", "provider"), "triton"),
                     (("rollout", "analysis", "custom"), [{"name": "p99", "query": "x", "max": 1}])),
    *[_schema("spec.rollout.analysis.golden", ("rollout", "analysis", "golden"), golden)[0]
      for golden in (
          {}, {"configMapRef": {}}, {"configMapRef": {"name": ""}}, {"configMapRef": {"name": "g"}, "atol": -1e-9},
          {"configMapRef": {"name": "g"}, "rtol": -1}, {"configMapRef": {"name": "g"}, "atol": "0.1"},
          {"configMapRef": {"name": "g"}, "timeoutSeconds": 0}, {"configMapRef": {"name": "g"}, "timeoutSeconds": 61},
          {"configMapRef": {"name": "g"}, "maxErrorRate": 1.5}, {"configMapRef": {"name": "g"}, "maxLatencyMs": -1},
          {"configMapRef": {"name": "g"}, "outputs": [{"atol": 1}]}, {"configMapRef": {"name": "g"}, "outputs": [{"name": "y", "rtol": -1}]},
          {"configMapRef": {"name": "g"}, "outputs": [{"name": "y"}, {"name": "y"}]},
      )],
    *_schema("spec.rollout.analysis.golden", ("rollout", "analysis", "golden"), *_NOT_OBJECT),
    *_schema("spec.rollout", ("rollout",), *_NOT_OBJECT),
    # spec.traffic
    *_schema("spec.traffic.router", ("traffic", "router"), "istio", "GatewayAPI", *_NOT_STRING),
    _schema_together("spec.traffic.gatewayAPI", (("traffic", "router"), "gatewayAPI"), (("traffic", "gatewayAPI"), {"parentRefs": []})),
    _schema_together("spec.traffic.gatewayAPI", (("traffic", "router"), "gatewayAPI"), (("traffic", "gatewayAPI"), _DELETE)),
    *_schema("spec.traffic.gatewayAPI.parentRefs", ("traffic", "gatewayAPI", "parentRefs"), [{}], [{"name": ""}], ["gw"], *_NOT_LIST),
    *_operator("spec.traffic.gatewayAPI.parentRefs[0].port", ("traffic", "gatewayAPI", "parentRefs"), [{"name": "gw", "port": "80"}]),
    *_schema("spec.traffic.gatewayAPI.hostnames", ("traffic", "gatewayAPI", "hostnames"), [1], *_NOT_LIST),
    *_schema("spec.traffic", ("traffic",), *_NOT_OBJECT),
    # spec.service and spec.monitoring
    *_schema("spec.service.type", ("service", "type"), "Headless", "clusterip", *_NOT_STRING),
    *_schema("spec.service.annotations", ("service", "annotations"), {"a": 1}, {"a": None}, *_NOT_OBJECT),
    *_cluster(("service", "annotations"), {"not a key!": "x"}),
    *_schema("spec.monitoring.serviceMonitor", ("monitoring", "serviceMonitor"), *_NOT_BOOLEAN),
    *_schema("spec.monitoring", ("monitoring",), *_NOT_OBJECT),
])


# -- valid specs -------------------------------------------------------------------------------------------


def _optional(target: dict[str, Any], key: str, draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> None:
    """Set `key` to a drawn value, or leave it absent (the schema defaults it)."""
    if draw(st.booleans()):
        target[key] = draw(strategy)


_DNS_LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?\Z")
_REPOSITORIES = st.one_of(
    st.sampled_from(["s3://models/repo", "gs://bucket", "as://account/container/models", "s3://b/" + "p" * 2000]),
    _DNS_LABEL.map(lambda claim: f"pvc://{claim}"),
    _DNS_LABEL.map(lambda claim: f"pvc://{claim}/models/v1"),
    st.sampled_from(["file:///models", "file:///"]),
)
_ENV = st.lists(
    st.one_of(
        st.builds(lambda name, value: {"name": name, "value": value}, st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,8}\Z"), st.text(max_size=8)),
        st.just({"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
    ),
    max_size=3,
    unique_by=lambda variable: variable["name"],
)
_TOLERATIONS = st.lists(
    st.sampled_from([
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
        {"operator": "Exists"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
    ]),
    max_size=2,
)
_AFFINITIES = st.sampled_from([
    {},
    {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}},
    {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}},
    {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "triton"}}}}]}},
])


@st.composite
def _gpu(draw: st.DrawFn) -> dict[str, Any]:
    gpu: dict[str, Any] = {}
    count = draw(st.sampled_from([0, 0, 0, 1, 2, 64]))
    gpu["count"] = count
    _optional(gpu, "resourceName", draw, st.sampled_from(["nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "nvidia.com/mig-7g.80gb"]))
    if count > 0:
        _optional(gpu, "products", draw, st.lists(st.sampled_from(["NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3", "p" * 63]),
                                                 max_size=3, unique=True))
    else:
        _optional(gpu, "products", draw, st.just([]))
    return gpu


@st.composite
def _server(draw: st.DrawFn) -> dict[str, Any]:
    server: dict[str, Any] = {}
    # GPUs are drawn always: a pod that asks none runs anywhere, one that asks many waits for capacity.
    server["gpu"] = draw(_gpu())
    _optional(server, "image", draw, st.sampled_from(["nvcr.io/nvidia/tritonserver:25.08-py3", "registry.local/triton:dev"]))
    _optional(server, "args", draw, st.lists(st.sampled_from(["--log-verbose=1", "--strict-readiness=true", "x" * 1024]), max_size=3))
    _optional(server, "env", draw, _ENV)
    _optional(server, "resources", draw, st.sampled_from([{}, {"requests": {"cpu": "100m", "memory": "64Mi"}}, {"limits": {"cpu": 2}},
                                                           {"requests": {"cpu": 1}, "limits": {"cpu": "1500m", "memory": "1Gi"}}]))
    _optional(server, "shmSize", draw, st.sampled_from(["1Gi", "512Mi", "1", "64M", "0.5Gi"]))
    _optional(server, "startupTimeoutSeconds", draw, st.sampled_from([10, 86400, 600, 11]))
    _optional(server, "nodeSelector", draw, st.dictionaries(st.sampled_from(["zone", "kubernetes.io/os"]), st.sampled_from(["a", "linux"]),
                                                             max_size=1))
    _optional(server, "tolerations", draw, _TOLERATIONS)
    _optional(server, "affinity", draw, _AFFINITIES)
    _optional(server, "priorityClassName", draw, st.sampled_from(["", "system-node-critical"]))
    _optional(server, "serviceAccountName", draw, st.sampled_from(["", "default"]))
    _optional(server, "imagePullSecrets", draw, st.lists(st.builds(lambda name: {"name": name}, _DNS_LABEL), max_size=2))
    if draw(st.booleans()):
        names = draw(st.lists(_DNS_LABEL.filter(lambda name: name not in ("dshm", "model-repository")), min_size=1, max_size=3, unique=True))
        server["volumes"] = [{"name": name, "emptyDir": {}} for name in names]
        mounted = draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True))
        server["volumeMounts"] = [
            {"name": name, "mountPath": f"/mnt/{name}", **({"readOnly": True} if index % 2 else {})} for index, name in enumerate(mounted)
        ]
    return server


@st.composite
def _autoscaling(draw: st.DrawFn) -> dict[str, Any]:
    autoscaling: dict[str, Any] = {}
    _optional(autoscaling, "enabled", draw, st.booleans())
    low = draw(st.sampled_from([1, 2, 4]))
    if draw(st.booleans()):
        autoscaling["minReplicas"] = low
        autoscaling["maxReplicas"] = draw(st.sampled_from([low, low + 1, 1000]))
    _optional(autoscaling, "metrics", draw, st.sampled_from([[], [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]]))
    _optional(autoscaling, "behavior", draw, st.sampled_from([{}, {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [
        {"type": "Pods", "value": 1, "periodSeconds": 60}]}}]))
    return autoscaling


@st.composite
def _analysis(draw: st.DrawFn) -> dict[str, Any]:
    analysis: dict[str, Any] = {}
    provider = draw(st.sampled_from([None, "triton", "prometheus"]))
    if provider is not None:
        analysis["provider"] = provider
    if provider == "prometheus" or draw(st.booleans()):
        analysis["prometheus"] = {"url": draw(st.sampled_from(["http://prometheus.monitoring:9090", "https://p.example/api"]))}
    if provider == "prometheus":
        _optional(analysis, "custom", draw, st.sampled_from([[], [{"name": "p99", "query": "histogram_quantile(0.99, x)", "max": 250}],
                                                              [{"name": "rps", "query": "sum(rate(x[1m]))", "min": 0.5, "max": 1e6}]]))
    _optional(analysis, "intervalSeconds", draw, st.sampled_from([1, 3600, 15]))
    _optional(analysis, "failureLimit", draw, st.sampled_from([1, 100]))
    _optional(analysis, "minRequests", draw, st.sampled_from([0, 10**9]))
    _optional(analysis, "successRate", draw, st.sampled_from([{}, {"min": 0}, {"min": 1}, {"min": 0.99}]))
    _optional(analysis, "latencyMs", draw, st.sampled_from([{}, {"max": 0}, {"max": 250.5}, {"max": 10**6}]))
    _optional(analysis, "queueMs", draw, st.sampled_from([{"max": 5}]))
    _optional(analysis, "maxErrorRateIncrease", draw, st.sampled_from([0, 1, 0.05]))
    return analysis


@st.composite
def _rollout(draw: st.DrawFn) -> dict[str, Any]:
    rollout: dict[str, Any] = {}
    _optional(rollout, "strategy", draw, st.sampled_from(["Canary", "Immediate"]))
    _optional(rollout, "steps", draw, st.lists(st.integers(1, 99), min_size=1, max_size=20, unique=True).map(sorted))
    _optional(rollout, "stepSeconds", draw, st.sampled_from([0, 86400, 60]))
    _optional(rollout, "progressDeadlineSeconds", draw, st.sampled_from([10, 86400]))
    _optional(rollout, "paused", draw, st.booleans())
    capacity: dict[str, Any] = {}
    mode = draw(st.sampled_from([None, "Surge", "Swap", "Auto"]))
    if mode is not None:
        capacity["mode"] = mode
    _optional(capacity, "maxUnavailable", draw, st.sampled_from([1, 1000] if mode == "Swap" else [0, 1, 1000]))
    _optional(capacity, "onDeadline", draw, st.sampled_from(["Rollback", "Hold"]))
    _optional(rollout, "capacity", draw, st.just(capacity))
    _optional(rollout, "analysis", draw, _analysis())
    return rollout


@st.composite
def _traffic(draw: st.DrawFn) -> dict[str, Any]:
    traffic: dict[str, Any] = {}
    router = draw(st.sampled_from([None, "replicas", "gatewayAPI"]))
    if router is not None:
        traffic["router"] = router
    if router == "gatewayAPI" or draw(st.booleans()):
        gateway: dict[str, Any] = {"parentRefs": [{"name": "gateway", **draw(st.sampled_from([{}, {"namespace": "infra", "port": 80}]))}]}
        _optional(gateway, "hostnames", draw, st.lists(st.sampled_from(["models.example.com", "*.example.com"]), max_size=2))
        traffic["gatewayAPI"] = gateway
    return traffic


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec the schema and the operator accept: every field valid or absent, bounds included."""
    model: dict[str, Any] = {"repository": draw(_REPOSITORIES), "version": draw(st.sampled_from(["1", "2", "9999999999", "10"]))}
    _optional(model, "name", draw, st.sampled_from(["", "resnet", "m" * 253]))
    if model["repository"].split("://")[0] in ("s3", "gs", "as"):
        _optional(model, "credentialsSecretRef", draw, st.just({"name": "creds"}))
    spec: dict[str, Any] = {"model": model, "server": draw(_server())}
    # Pods are bounded by the fuzzing namespace's quota, so 1000 replicas cost a Deployment, not 1000 pods.
    _optional(spec, "replicas", draw, st.sampled_from([0, 1, 2, 1000]))
    _optional(spec, "autoscaling", draw, _autoscaling())
    _optional(spec, "rollout", draw, _rollout())
    _optional(spec, "traffic", draw, _traffic())
    _optional(spec, "service", draw, st.sampled_from([{}, {"type": "NodePort"}, {"type": "ClusterIP", "annotations": {"a": "b"}},
                                                      {"type": "LoadBalancer"}]))
    _optional(spec, "monitoring", draw, st.builds(lambda enabled: {"serviceMonitor": enabled}, st.booleans()))
    # An unknown field is pruned by the API server, never refused.
    _optional(spec, "unknownField", draw, st.just({"x": 1}))
    return spec


@st.composite
def cases(draw: st.DrawFn, *, levels: Sequence[Level] = ("schema", "operator", "cluster")) -> Case:
    """A valid spec, one broken at exactly one place, or chaos: several breaks at once."""
    spec = draw(valid_specs())
    breaks = [candidate for candidate in BREAKS if candidate.level in levels]
    mode: Mode = draw(st.sampled_from(["valid", "broken", "broken", "broken", "chaos"]))
    if mode == "valid":
        return Case(mode=mode, spec=spec)
    if mode == "broken":
        chosen = draw(st.sampled_from(breaks))
        return Case(mode=mode, spec=chosen.apply(spec), broken=chosen)
    for chosen in draw(st.lists(st.sampled_from(breaks), min_size=2, max_size=4)):
        spec = chosen.apply(spec)
    return Case(mode=mode, spec=spec)


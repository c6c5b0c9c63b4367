"""The ModelDeployment spec, typed: parsed once, from the body as the API server stored it.

The API server fills in every default of the CRD's schema before the operator reads a body, so
parsing indexes the defaulted fields and repeats none of the defaults. The Kubernetes structures the
spec passes through (core/v1 and autoscaling/v2 parts, several of them
x-kubernetes-preserve-unknown-fields) keep their Kubernetes form, frozen, once the shapes that the
builders and Kubernetes rely on are checked. Whatever the schema let through but the operator cannot
build from raises InvalidSpecError naming the field.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from tritonops.errors import InvalidSpecError

Strategy = Literal["Canary", "Immediate"]
CapacityMode = Literal["Surge", "Swap", "Auto"]
DeadlineAction = Literal["Rollback", "Hold"]
InconclusiveAction = Literal["Rollback", "Hold"]
ProviderName = Literal["triton", "prometheus"]
RouterName = Literal["replicas", "gatewayAPI"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]

_STRATEGIES: tuple[Strategy, ...] = ("Canary", "Immediate")
_CAPACITY_MODES: tuple[CapacityMode, ...] = ("Surge", "Swap", "Auto")
_DEADLINE_ACTIONS: tuple[DeadlineAction, ...] = ("Rollback", "Hold")
_INCONCLUSIVE_ACTIONS: tuple[InconclusiveAction, ...] = ("Rollback", "Hold")
_PROVIDERS: tuple[ProviderName, ...] = ("triton", "prometheus")
_ROUTERS: tuple[RouterName, ...] = ("replicas", "gatewayAPI")
_SERVICE_TYPES: tuple[ServiceType, ...] = ("ClusterIP", "NodePort", "LoadBalancer")

# A defaulted field can only be missing when the CRD installed predates this operator (Helm never
# upgrades a chart's CRDs) or when a body was written by hand.
_MISSING = "is missing; the CRD's schema requires or defaults it: is the installed CRD older than the operator?"

_Choice = TypeVar("_Choice", bound=str)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """spec.model: which model Triton serves, and from where."""

    # Empty means metadata.name; ModelDeployment.model_name resolves it.
    name: str
    repository: str
    version: str
    credentials_secret_name: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class GpuSpec:
    """spec.server.gpu: the GPUs (or MIG slices) of each Triton pod."""

    count: int
    resource_name: str
    # None when the field is absent. Either way any product is accepted, but revisions have always
    # hashed an absent list unlike an empty one, and a changed hash restarts a rollout.
    products: tuple[str, ...] | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerSpec:
    """spec.server: how the Triton pods run. Kubernetes structures stay in their Kubernetes form, frozen."""

    image: str
    args: tuple[str, ...]
    env: tuple[Mapping[str, Any], ...]
    resources: Mapping[str, Mapping[str, int | str]]
    gpu: GpuSpec
    shm_size: str
    startup_timeout_seconds: int
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...]
    affinity: Mapping[str, Any]
    priority_class_name: str
    service_account_name: str
    image_pull_secrets: tuple[str, ...]
    # core/v1 Volume and VolumeMount lists for the Triton container: a shared Python environment for
    # the python backend, a cache, a licence file. The model repository and /dev/shm are the operator's.
    volumes: tuple[Mapping[str, Any], ...]
    volume_mounts: tuple[Mapping[str, Any], ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class AutoscalingSpec:
    """spec.autoscaling: the HPA that writes spec.replicas through the scale subresource."""

    enabled: bool
    min_replicas: int
    max_replicas: int
    # autoscaling/v2 MetricSpec list and HorizontalPodAutoscalerBehavior, passed through.
    metrics: tuple[Mapping[str, Any], ...]
    behavior: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomCheckSpec:
    """One spec.rollout.analysis.custom check: a PromQL query and its bounds."""

    name: str
    query: str
    minimum: float | None
    maximum: float | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutputToleranceSpec:
    """One spec.rollout.analysis.golden.outputs entry: tolerances for one output; None keeps the gate's."""

    name: str
    absolute: float | None
    relative: float | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class GoldenSpec:
    """spec.rollout.analysis.golden: the golden set's ConfigMap and how its answers are judged."""

    config_map_name: str
    config_map_key: str
    absolute: float
    relative: float
    outputs: tuple[OutputToleranceSpec, ...]
    timeout_seconds: float
    # None: the probes' latency is reported, not judged.
    max_latency_ms: float | None
    max_error_rate: float

    def tolerance_of(self, output: str) -> tuple[float, float]:
        """(atol, rtol) for one output: its override where the spec names it, else the gate's."""
        for override in self.outputs:
            if override.name == output:
                return (self.absolute if override.absolute is None else override.absolute,
                        self.relative if override.relative is None else override.relative)
        return self.absolute, self.relative


@dataclasses.dataclass(frozen=True, kw_only=True)
class AnalysisSpec:
    """spec.rollout.analysis: the checks run against the canary every interval.

    Bounds keep the number as written (an integer stays one), so thresholds in status read as the
    user wrote them. None: that check is not asked for.
    """

    provider: ProviderName
    prometheus_url: str | None
    interval_seconds: int
    failure_limit: int
    min_requests: int
    success_rate_min: float | None
    latency_ms_max: float | None
    queue_ms_max: float | None
    max_error_rate_increase: float | None
    custom: tuple[CustomCheckSpec, ...]
    # Consecutive inconclusive analyses after which on_inconclusive acts; 0: never.
    inconclusive_limit: int
    on_inconclusive: InconclusiveAction
    # None: no golden gate.
    golden: GoldenSpec | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class CapacitySpec:
    """spec.rollout.capacity: how a rollout finds GPUs for the new revision while the old one serves."""

    mode: CapacityMode
    max_unavailable: int
    on_deadline: DeadlineAction


@dataclasses.dataclass(frozen=True, kw_only=True)
class RolloutSpec:
    """spec.rollout: how a new revision replaces the running one."""

    strategy: Strategy
    steps: tuple[int, ...]
    step_seconds: int
    progress_deadline_seconds: int
    paused: bool
    capacity: CapacitySpec
    analysis: AnalysisSpec


@dataclasses.dataclass(frozen=True, kw_only=True)
class GatewayApiSpec:
    """spec.traffic.gatewayAPI: where the gatewayAPI router's routes attach."""

    # gateway.networking.k8s.io ParentReference objects, passed through.
    parent_refs: tuple[Mapping[str, Any], ...]
    hostnames: tuple[str, ...]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrafficSpec:
    """spec.traffic: how traffic is split between the stable and canary revisions."""

    router: RouterName
    gateway_api: GatewayApiSpec


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """spec.service: the Service in front of every Triton pod."""

    type: ServiceType
    annotations: Mapping[str, str]


@dataclasses.dataclass(frozen=True, kw_only=True)
class MonitoringSpec:
    """spec.monitoring: the prometheus-operator integration."""

    service_monitor: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class Spec:
    """The whole ModelDeployment spec."""

    model: ModelSpec
    server: ServerSpec
    replicas: int
    autoscaling: AutoscalingSpec
    rollout: RolloutSpec
    traffic: TrafficSpec
    service: ServiceSpec
    monitoring: MonitoringSpec


def thaw(value: Any) -> Any:
    """A plain, mutable copy of a frozen pass-through value (dicts and lists), to put into a manifest."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return types.MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return value


def _kind(value: Any) -> str:
    """The JSON type of a value, as a message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


# -- shapes: what a pass-through value must look like --------------------------------------------------


class _Shape:
    """A check of one value's shape; raises InvalidSpecError naming the first field that does not fit."""

    # What an absent field reads as: Kubernetes treats an unset list or object like an empty one.
    empty: ClassVar[Any] = None

    def check(self, value: Any, path: str) -> None:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class _Scalar(_Shape):
    description: str
    kinds: tuple[type, ...]
    non_empty: bool = False

    def check(self, value: Any, path: str) -> None:
        # bool is an int subclass, yet `true` is never a count or a quantity.
        wrong = (isinstance(value, bool) and bool not in self.kinds) or not isinstance(value, self.kinds)
        if wrong or (self.non_empty and value == ""):
            raise InvalidSpecError(field=path, message=f"must be {self.description}, not {_kind(value)}")


@dataclasses.dataclass(frozen=True)
class _List(_Shape):
    item: _Shape
    empty: ClassVar[Any] = ()

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise InvalidSpecError(field=path, message=f"must be a list, not {_kind(value)}")
        for index, item in enumerate(value):
            self.item.check(item, f"{path}[{index}]")


@dataclasses.dataclass(frozen=True)
class _Map(_Shape):
    """An object keyed by arbitrary strings: labels, annotations, quantities by resource name."""

    value: _Shape
    empty: ClassVar[Any] = types.MappingProxyType({})

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise InvalidSpecError(field=path, message=f"must be an object, not {_kind(value)}")
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidSpecError(field=path, message=f"must have string keys, not {_kind(key)} ({key!r})")
            self.value.check(item, f"{path}[{key}]")


@dataclasses.dataclass(frozen=True)
class _Object(_Shape):
    """An object whose listed fields are checked where set; fields not listed pass through unchecked."""

    fields: Mapping[str, _Shape]
    required: tuple[str, ...] = ()
    empty: ClassVar[Any] = types.MappingProxyType({})

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise InvalidSpecError(field=path, message=f"must be an object, not {_kind(value)}")
        for key in self.required:
            if value.get(key) is None:
                raise InvalidSpecError(field=f"{path}.{key}", message="is required")
        for key, shape in self.fields.items():
            # JSON null leaves a field unset, as Kubernetes reads it.
            if value.get(key) is not None:
                shape.check(value[key], f"{path}.{key}")


_STRING = _Scalar("a string", (str,))
_NAME = _Scalar("a non-empty string", (str,), non_empty=True)
_INTEGER = _Scalar("an integer", (int,))
_NUMBER = _Scalar("a number", (int, float))
_BOOLEAN = _Scalar("a boolean", (bool,))
_QUANTITY = _Scalar("a quantity (an integer, or a string such as 500m or 8Gi)", (int, str))
_STRINGS = _List(_STRING)
_INTEGERS = _List(_INTEGER)
_ANY_OBJECT = _Object({})
_LABELS = _Map(_STRING)

# core/v1 NodeSelectorRequirement and meta/v1 LabelSelectorRequirement share this shape.
_REQUIREMENT = _Object({"key": _STRING, "operator": _STRING, "values": _STRINGS}, required=("key", "operator"))
_LABEL_SELECTOR = _Object({"matchLabels": _LABELS, "matchExpressions": _List(_REQUIREMENT)})
# The builder appends the GPU product requirement to every term's matchExpressions.
_NODE_SELECTOR_TERM = _Object({"matchExpressions": _List(_REQUIREMENT), "matchFields": _List(_REQUIREMENT)})
_POD_AFFINITY_TERM = _Object(
    {"labelSelector": _LABEL_SELECTOR, "namespaceSelector": _LABEL_SELECTOR, "namespaces": _STRINGS, "topologyKey": _STRING},
    required=("topologyKey",),
)
_POD_AFFINITY = _Object({
    "requiredDuringSchedulingIgnoredDuringExecution": _List(_POD_AFFINITY_TERM),
    "preferredDuringSchedulingIgnoredDuringExecution": _List(
        _Object({"weight": _INTEGER, "podAffinityTerm": _POD_AFFINITY_TERM}, required=("weight", "podAffinityTerm"))
    ),
})
_AFFINITY = _Object({
    "nodeAffinity": _Object({
        "requiredDuringSchedulingIgnoredDuringExecution": _Object({"nodeSelectorTerms": _List(_NODE_SELECTOR_TERM)}),
        "preferredDuringSchedulingIgnoredDuringExecution": _List(
            _Object({"weight": _INTEGER, "preference": _NODE_SELECTOR_TERM}, required=("weight", "preference"))
        ),
    }),
    "podAffinity": _POD_AFFINITY,
    "podAntiAffinity": _POD_AFFINITY,
})
_TOLERATION = _Object({"key": _STRING, "operator": _STRING, "value": _STRING, "effect": _STRING, "tolerationSeconds": _INTEGER})
_KEY_REFERENCE = _Object({"name": _STRING, "key": _STRING, "optional": _BOOLEAN}, required=("key",))
_ENV_VAR = _Object(
    {
        "name": _NAME,
        "value": _STRING,
        "valueFrom": _Object({
            "fieldRef": _Object({"apiVersion": _STRING, "fieldPath": _STRING}, required=("fieldPath",)),
            "resourceFieldRef": _Object({"containerName": _STRING, "resource": _STRING, "divisor": _QUANTITY}, required=("resource",)),
            "configMapKeyRef": _KEY_REFERENCE,
            "secretKeyRef": _KEY_REFERENCE,
        }),
    },
    required=("name",),
)
_RESOURCES = _Object({"requests": _Map(_QUANTITY), "limits": _Map(_QUANTITY)})
# The volume source passes through: the API server validates it when the Deployment is applied.
_VOLUME = _Object({"name": _NAME}, required=("name",))
_VOLUME_MOUNT = _Object(
    {"name": _NAME, "mountPath": _NAME, "subPath": _STRING, "readOnly": _BOOLEAN, "mountPropagation": _STRING},
    required=("name", "mountPath"),
)
_METRIC_TARGET = _Object({"type": _STRING, "value": _QUANTITY, "averageValue": _QUANTITY, "averageUtilization": _INTEGER}, required=("type",))
_METRIC_IDENTIFIER = _Object({"name": _STRING, "selector": _LABEL_SELECTOR}, required=("name",))
_METRIC = _Object(
    {
        "type": _STRING,
        "resource": _Object({"name": _STRING, "target": _METRIC_TARGET}, required=("name", "target")),
        "containerResource": _Object({"name": _STRING, "container": _STRING, "target": _METRIC_TARGET}, required=("name", "container", "target")),
        "pods": _Object({"metric": _METRIC_IDENTIFIER, "target": _METRIC_TARGET}, required=("metric", "target")),
        "object": _Object(
            {"describedObject": _Object({"apiVersion": _STRING, "kind": _STRING, "name": _STRING}, required=("kind", "name")),
             "metric": _METRIC_IDENTIFIER, "target": _METRIC_TARGET},
            required=("describedObject", "metric", "target"),
        ),
        "external": _Object({"metric": _METRIC_IDENTIFIER, "target": _METRIC_TARGET}, required=("metric", "target")),
    },
    required=("type",),
)
_SCALING_RULES = _Object({
    "stabilizationWindowSeconds": _INTEGER,
    "selectPolicy": _STRING,
    "tolerance": _QUANTITY,
    "policies": _List(_Object({"type": _STRING, "value": _INTEGER, "periodSeconds": _INTEGER}, required=("type", "value", "periodSeconds"))),
})
_BEHAVIOR = _Object({"scaleUp": _SCALING_RULES, "scaleDown": _SCALING_RULES})
_PARENT_REFERENCE = _Object(
    {"group": _STRING, "kind": _STRING, "namespace": _STRING, "name": _NAME, "sectionName": _STRING, "port": _INTEGER},
    required=("name",),
)


# -- reading the typed fields -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Section:
    """One object of the spec and its field path, read one checked field at a time."""

    raw: Mapping[str, Any]
    path: str

    @classmethod
    def of(cls, value: Any, path: str) -> _Section:
        _ANY_OBJECT.check(value, path)
        return cls(value, path)

    def _optional(self, key: str, shape: _Shape) -> Any:
        value = self.raw.get(key)
        if value is not None:
            shape.check(value, f"{self.path}.{key}")
        return value

    def _required(self, key: str, shape: _Shape) -> Any:
        value = self._optional(key, shape)
        if value is None:
            raise InvalidSpecError(field=f"{self.path}.{key}", message=_MISSING)
        return value

    def section(self, key: str) -> _Section:
        return _Section(self._required(key, _ANY_OBJECT), f"{self.path}.{key}")

    def optional_section(self, key: str) -> _Section | None:
        value = self._optional(key, _ANY_OBJECT)
        return None if value is None else _Section(value, f"{self.path}.{key}")

    def sections(self, key: str) -> tuple[_Section, ...]:
        values = self._optional(key, _List(_ANY_OBJECT)) or ()
        return tuple(_Section(value, f"{self.path}.{key}[{index}]") for index, value in enumerate(values))

    def string(self, key: str) -> str:
        value: str = self._required(key, _STRING)
        return value

    def optional_string(self, key: str) -> str | None:
        value: str | None = self._optional(key, _STRING)
        return value

    def integer(self, key: str) -> int:
        value: int = self._required(key, _INTEGER)
        return value

    def boolean(self, key: str) -> bool:
        value: bool = self._required(key, _BOOLEAN)
        return value

    def number(self, key: str) -> float:
        value: float = self._required(key, _NUMBER)
        return value

    def optional_number(self, key: str) -> float | None:
        value: float | None = self._optional(key, _NUMBER)
        return value

    def choice(self, key: str, choices: tuple[_Choice, ...]) -> _Choice:
        value = self.string(key)
        for choice in choices:
            if value == choice:
                return choice
        raise InvalidSpecError(field=f"{self.path}.{key}", message=f"must be one of {', '.join(choices)}, not {value!r}")

    def strings(self, key: str) -> tuple[str, ...]:
        return tuple(self._optional(key, _STRINGS) or ())

    def optional_strings(self, key: str) -> tuple[str, ...] | None:
        values = self._optional(key, _STRINGS)
        return None if values is None else tuple(values)

    def integers(self, key: str) -> tuple[int, ...]:
        return tuple(self._required(key, _INTEGERS))

    def passed_through(self, key: str, shape: _Shape) -> Any:
        """A Kubernetes structure, checked and frozen; unset reads as empty, as Kubernetes reads it."""
        value = self._optional(key, shape)
        return _freeze(shape.empty if value is None else value)


# -- parsing --------------------------------------------------------------------------------------------


def _model(section: _Section) -> ModelSpec:
    credentials = section.optional_section("credentialsSecretRef")
    return ModelSpec(
        name=section.optional_string("name") or "",
        repository=section.string("repository"),
        version=section.string("version"),
        credentials_secret_name=None if credentials is None else credentials.string("name"),
    )


def _gpu(section: _Section) -> GpuSpec:
    return GpuSpec(
        count=section.integer("count"),
        resource_name=section.string("resourceName"),
        products=section.optional_strings("products"),
    )


def _server(section: _Section) -> ServerSpec:
    return ServerSpec(
        image=section.string("image"),
        args=section.strings("args"),
        env=section.passed_through("env", _List(_ENV_VAR)),
        resources=section.passed_through("resources", _RESOURCES),
        gpu=_gpu(section.section("gpu")),
        shm_size=section.string("shmSize"),
        startup_timeout_seconds=section.integer("startupTimeoutSeconds"),
        node_selector=section.passed_through("nodeSelector", _LABELS),
        tolerations=section.passed_through("tolerations", _List(_TOLERATION)),
        affinity=section.passed_through("affinity", _AFFINITY),
        priority_class_name=section.optional_string("priorityClassName") or "",
        service_account_name=section.optional_string("serviceAccountName") or "",
        image_pull_secrets=tuple(secret.string("name") for secret in section.sections("imagePullSecrets")),
        volumes=section.passed_through("volumes", _List(_VOLUME)),
        volume_mounts=section.passed_through("volumeMounts", _List(_VOLUME_MOUNT)),
    )


def _autoscaling(section: _Section) -> AutoscalingSpec:
    return AutoscalingSpec(
        enabled=section.boolean("enabled"),
        min_replicas=section.integer("minReplicas"),
        max_replicas=section.integer("maxReplicas"),
        metrics=section.passed_through("metrics", _List(_METRIC)),
        behavior=section.passed_through("behavior", _BEHAVIOR),
    )


def _bound(section: _Section, key: str, bound: str) -> float | None:
    check = section.optional_section(key)
    return None if check is None else check.optional_number(bound)


def _custom_check(section: _Section) -> CustomCheckSpec:
    return CustomCheckSpec(
        name=section.string("name"),
        query=section.string("query"),
        minimum=section.optional_number("min"),
        maximum=section.optional_number("max"),
    )


def _golden(section: _Section | None) -> GoldenSpec | None:
    if section is None:
        return None
    reference = section.section("configMapRef")
    return GoldenSpec(
        config_map_name=reference.string("name"),
        config_map_key=reference.string("key"),
        absolute=section.number("atol"),
        relative=section.number("rtol"),
        outputs=tuple(
            OutputToleranceSpec(name=output.string("name"), absolute=output.optional_number("atol"), relative=output.optional_number("rtol"))
            for output in section.sections("outputs")
        ),
        timeout_seconds=section.number("timeoutSeconds"),
        max_latency_ms=section.optional_number("maxLatencyMs"),
        max_error_rate=section.number("maxErrorRate"),
    )


def _analysis(section: _Section) -> AnalysisSpec:
    prometheus = section.optional_section("prometheus")
    return AnalysisSpec(
        provider=section.choice("provider", _PROVIDERS),
        prometheus_url=None if prometheus is None else prometheus.optional_string("url"),
        interval_seconds=section.integer("intervalSeconds"),
        failure_limit=section.integer("failureLimit"),
        min_requests=section.integer("minRequests"),
        success_rate_min=_bound(section, "successRate", "min"),
        latency_ms_max=_bound(section, "latencyMs", "max"),
        queue_ms_max=_bound(section, "queueMs", "max"),
        max_error_rate_increase=section.optional_number("maxErrorRateIncrease"),
        custom=tuple(_custom_check(check) for check in section.sections("custom")),
        inconclusive_limit=section.integer("inconclusiveLimit"),
        on_inconclusive=section.choice("onInconclusive", _INCONCLUSIVE_ACTIONS),
        golden=_golden(section.optional_section("golden")),
    )


def _capacity(section: _Section) -> CapacitySpec:
    return CapacitySpec(
        mode=section.choice("mode", _CAPACITY_MODES),
        max_unavailable=section.integer("maxUnavailable"),
        on_deadline=section.choice("onDeadline", _DEADLINE_ACTIONS),
    )


def _rollout(section: _Section) -> RolloutSpec:
    return RolloutSpec(
        strategy=section.choice("strategy", _STRATEGIES),
        steps=section.integers("steps"),
        step_seconds=section.integer("stepSeconds"),
        progress_deadline_seconds=section.integer("progressDeadlineSeconds"),
        paused=section.boolean("paused"),
        capacity=_capacity(section.section("capacity")),
        analysis=_analysis(section.section("analysis")),
    )


def _traffic(section: _Section) -> TrafficSpec:
    gateway_api = section.optional_section("gatewayAPI") or _Section({}, f"{section.path}.gatewayAPI")
    return TrafficSpec(
        router=section.choice("router", _ROUTERS),
        gateway_api=GatewayApiSpec(
            parent_refs=gateway_api.passed_through("parentRefs", _List(_PARENT_REFERENCE)),
            hostnames=gateway_api.strings("hostnames"),
        ),
    )


def _service(section: _Section) -> ServiceSpec:
    return ServiceSpec(type=section.choice("type", _SERVICE_TYPES), annotations=section.passed_through("annotations", _LABELS))


def parse_spec(raw: Mapping[str, Any]) -> Spec:
    """The typed spec of a body's `spec`, defaults filled in as the API server stores it.

    Raises InvalidSpecError, naming the field, for anything it cannot read; nothing else.
    """
    spec = _Section.of(raw, "spec")
    return Spec(
        model=_model(spec.section("model")),
        server=_server(spec.section("server")),
        replicas=spec.integer("replicas"),
        autoscaling=_autoscaling(spec.section("autoscaling")),
        rollout=_rollout(spec.section("rollout")),
        traffic=_traffic(spec.section("traffic")),
        service=_service(spec.section("service")),
        monitoring=MonitoringSpec(service_monitor=spec.section("monitoring").boolean("serviceMonitor")),
    )


def try_parse_spec(raw: Any) -> Spec | None:
    """parse_spec, or None where it raises: for readers that show what they can of any body (the CLI)."""
    try:
        return parse_spec(raw)
    except InvalidSpecError:
        return None

"""What the I/O layer saw of a ModelDeployment's children, reduced to what decisions need."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence

from tritonops.engine.analysis import Verdict


@dataclasses.dataclass(frozen=True)
class DeploymentObservation:
    """One revision's Deployment as last seen."""

    name: str
    revision: str
    replicas: int
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    # False while the Deployment controller has not yet acted on the latest spec.
    caught_up: bool = True

    def ready(self) -> bool:
        return self.caught_up and self.ready_replicas >= self.replicas and self.updated_replicas >= self.replicas


@dataclasses.dataclass(frozen=True)
class UnschedulablePod:
    name: str
    revision: str
    message: str


@dataclasses.dataclass(frozen=True)
class PodFailure:
    """A Triton container that died: a crash, or a model that failed to load (Triton then exits)."""

    name: str
    revision: str
    reason: str  # CanaryCrashed | ModelLoadFailed | OutOfMemory | ImageUnavailable | ModelStorageUnreadable
    message: str


@dataclasses.dataclass(frozen=True)
class ServedContent:
    """The content digest one pod's model-storage container copied or hashed in place."""

    pod: str
    revision: str
    digest: str


@dataclasses.dataclass(frozen=True)
class Room:
    """How many more pods of the spec's revision the cluster's free GPUs hold right now."""

    pods: int
    # The same if every pod of the stable revision gave its GPUs back: a swap can only help when this
    # is larger (a canary pod that needs more GPUs than any node frees never fits, whatever is swapped).
    pods_if_released: int = 0
    # The canary's pods that the same fresh listing shows without a node: a pod that the watch still
    # shows as refused may have been bound since, and must not count as waiting.
    unplaced: int | None = None
    # The stable's pods that the same listing shows holding GPUs on a node: more than its Deployment
    # keeps means a swap is still giving GPUs back, even before the watch shows the pod leaving.
    releasing_pods: int | None = None
    # The free GPUs per matching node, for messages.
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Observations:
    deployments: Mapping[str, DeploymentObservation] = dataclasses.field(default_factory=dict)  # by revision
    unschedulable: Sequence[UnschedulablePod] = ()
    autoscaler_exists: bool = False
    pod_failures: Sequence[PodFailure] = ()
    served: Sequence[ServedContent] = ()
    # Pods of each revision that are being deleted: they still hold their GPUs until they are gone.
    leaving: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # Free room for the canary's pods; looked at only when the engine has pods to place (None: not looked).
    room: Room | None = None
    # The analysis window measured in this pass, when one was due.
    analysis: Verdict | None = None
    # Names of route and revision-Service children that exist (gatewayAPI router), to delete leftovers.
    routing_children: Sequence[tuple[str, str]] = ()
    # Whether the cluster serves prometheus-operator's ServiceMonitor; None when nobody asked.
    service_monitor_supported: bool | None = None
    # When the API server last answered again after an outage that this process saw, or now while one
    # lasts (None: none seen): meanwhile no pod could report progress, so the progress clock restarts there.
    control_plane_back_at: datetime.datetime | None = None

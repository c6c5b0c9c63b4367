"""The replicas router: no mesh, so the weight is the share of pods behind the one Service. Pure."""

from __future__ import annotations

import dataclasses

from tritonops.resource import ModelDeployment
from tritonops.routers import TrafficPlan


@dataclasses.dataclass(frozen=True)
class ReplicaSplit:
    stable: int
    canary: int

    @property
    def effective_weight(self) -> int:
        """The percentage of pods (and so of traffic behind one Service) that the canary gets."""
        total = self.stable + self.canary
        return round(100 * self.canary / total) if total else 0


def split(*, total: int, weight: int) -> ReplicaSplit:
    """Split `total` replicas for a canary `weight` (0-100); a canary at any weight above 0 gets a pod."""
    if weight <= 0:
        return ReplicaSplit(stable=total, canary=0)
    if weight >= 100:
        return ReplicaSplit(stable=0, canary=max(total, 1))
    canary = max(1, round(total * weight / 100))
    # Keep at least one stable pod while the canary is only being tried.
    stable = max(1, total - canary)
    return ReplicaSplit(stable=stable, canary=canary)


def route(resource: ModelDeployment, *, stable: str, canary: str | None, weight: int, total: int) -> TrafficPlan:
    """The Service selects every Triton pod, so pods are the split and the weight is their ratio."""
    if canary is None:
        return TrafficPlan(stable_replicas=total, canary_replicas=0, effective_weight=0)
    replicas = split(total=total, weight=weight)
    return TrafficPlan(stable_replicas=replicas.stable, canary_replicas=replicas.canary, effective_weight=replicas.effective_weight)

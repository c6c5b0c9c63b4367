"""How many pods each revision runs at each stage of a rollout, never below the serving floor. Pure.

A rollout moves pods from the stable revision to the canary (canary steps, promotion) or back
(rollback). Pods are only given up once others are Ready to take their traffic, except for the
`maxUnavailable` pods that Swap may give back so that the canary can bind their GPUs: the Ready
pods serving never fall below `replicas - maxUnavailable`, and in Surge never below what served
before the stage began.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from tritonops.spec import CapacityMode

# What Auto resolves to for one rollout: it surges while there is room and swaps once there is not.
ResolvedMode = Literal["Surge", "Swap"]


@dataclasses.dataclass(frozen=True)
class Targets:
    """The pods each revision has once a stage is complete."""

    stable: int
    canary: int


@dataclasses.dataclass(frozen=True)
class PodCounts:
    """The replicas to set on each revision's Deployment in this pass."""

    stable: int
    canary: int


def step_targets(*, total: int, weight: int, surge: bool) -> Targets:
    """The pods of a canary step at `weight` percent of `total` replicas.

    The canary gets the whole number of pods that does not exceed its weight, and at least one; the
    stable keeps the rest, and at least one while there is more than one replica. With a single
    replica a step is only a canary if the stable pod stays: Surge keeps it (two pods run), Swap
    hands it over (the canary serves alone, as `maxUnavailable` allowed).
    """
    if total <= 0:
        return Targets(stable=0, canary=0)
    if weight >= 100:
        return Targets(stable=0, canary=total)
    if weight <= 0:
        return Targets(stable=total, canary=0)
    if total == 1:
        return Targets(stable=1 if surge else 0, canary=1)
    canary = min(total - 1, max(1, total * weight // 100))
    return Targets(stable=total - canary, canary=canary)


def resolve_mode(*, configured: CapacityMode, recorded: ResolvedMode | None, room: int | None, pods_to_place: int) -> ResolvedMode:
    """Auto surges while the cluster has room for the pods to place and swaps from then on.

    The choice is recorded for the rest of the rollout: once stable pods were given back, a surge
    decision in a later pass would take them back and undo the swap. `room` is None when nobody
    looked (nothing to place, or no GPUs requested), which never changes a recorded choice.
    """
    if configured != "Auto":
        return configured
    if recorded == "Swap":
        return "Swap"
    if room is not None and pods_to_place > room:
        return "Swap"
    return "Surge"


def forward(
    *, total: int, max_unavailable: int, mode: ResolvedMode, targets: Targets, stable_ready: int, canary_ready: int
) -> PodCounts:
    """Pods while the canary grows towards its target (a step or a promotion).

    The canary's Deployment asks for its target at once. The stable shrinks only by what the canary's
    Ready pods already cover, plus (in Swap) the `maxUnavailable` pods whose GPUs the canary needs.
    Pods the stable already lost count against that allowance: the floor is on Ready pods.
    """
    give_back = 0 if mode == "Surge" else max_unavailable
    covered = total - give_back - canary_ready
    # A stable that is short of Ready pods gives back the unready ones first (the Deployment controller
    # deletes those before Ready ones), so the count above is what keeps serving at the floor.
    stable = min(total, max(targets.stable, covered))
    return PodCounts(stable=max(0, stable), canary=targets.canary)


def backward(*, total: int, max_unavailable: int, stable_ready: int, canary_ready: int) -> PodCounts:
    """Pods while a rolled-back canary goes: the stable back to full strength, the canary kept only
    while its Ready pods are needed to stay at the floor (pods that are not Ready serve nothing)."""
    needed = max(0, total - max_unavailable - stable_ready)
    return PodCounts(stable=total, canary=min(canary_ready, needed))


def serving_share(*, stable_ready: int, canary_ready: int) -> int:
    """The percentage of Ready pods that are the canary's: the traffic they really take behind one Service."""
    serving = stable_ready + canary_ready
    return round(100 * canary_ready / serving) if serving else 0


def gated_weight(*, planned: int, stable_ready: int, canary_ready: int) -> int:
    """A route weight that never exceeds the share of traffic the canary's Ready pods can carry."""
    return min(planned, serving_share(stable_ready=stable_ready, canary_ready=canary_ready))


def pods_to_place(*, counts: PodCounts, canary_replicas: int, unschedulable: int) -> int:
    """Canary pods that need a node: those about to be created and those the scheduler refused."""
    return max(0, counts.canary - canary_replicas) + unschedulable


def shortfall(*, waiting: int, room: int, released: int) -> int:
    """Canary pods that can neither bind a free GPU nor one the stable is giving back right now."""
    return max(0, waiting - room - released)

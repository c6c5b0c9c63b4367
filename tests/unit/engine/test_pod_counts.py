"""Pod counts per revision in every stage of a rollout, and the serving floor they keep."""

from __future__ import annotations

import dataclasses

import pytest

from tritonops.engine.pod_counts import (
    PodCounts,
    ResolvedMode,
    Targets,
    backward,
    forward,
    gated_weight,
    resolve_mode,
    serving_share,
    shortfall,
    step_targets,
)


@pytest.mark.parametrize(
    ("total", "weight", "surge", "expected"),
    [
        (0, 10, True, Targets(stable=0, canary=0)),  # replicas 0: no pods to start
        (1, 10, True, Targets(stable=1, canary=1)),  # Surge keeps the one stable pod beside the canary
        (1, 10, False, Targets(stable=0, canary=1)),  # Swap hands the one pod over
        (2, 10, True, Targets(stable=1, canary=1)),
        (3, 50, True, Targets(stable=2, canary=1)),  # never 67% for a 50% step
        (4, 25, True, Targets(stable=3, canary=1)),
        (4, 50, False, Targets(stable=2, canary=2)),
        (10, 25, True, Targets(stable=8, canary=2)),
        (10, 99, True, Targets(stable=1, canary=9)),  # a stable pod stays until promotion
        (4, 100, True, Targets(stable=0, canary=4)),  # promotion
        (4, 0, True, Targets(stable=4, canary=0)),
    ],
)
def test_step_targets(total: int, weight: int, surge: bool, expected: Targets) -> None:
    assert step_targets(total=total, weight=weight, surge=surge) == expected


@pytest.mark.parametrize(
    ("configured", "recorded", "room", "to_place", "expected"),
    [
        ("Surge", None, 0, 3, "Surge"),
        ("Swap", None, 10, 1, "Swap"),
        ("Auto", None, 2, 2, "Surge"),
        ("Auto", None, 1, 2, "Swap"),
        ("Auto", None, None, 2, "Surge"),  # nobody looked: no GPUs requested
        ("Auto", "Swap", 10, 1, "Swap"),  # a swap in progress is never undone
        ("Auto", "Surge", 0, 1, "Swap"),  # a later step without room swaps
    ],
)
def test_resolve_mode(configured: str, recorded: ResolvedMode | None, room: int | None, to_place: int, expected: str) -> None:
    assert resolve_mode(configured=configured, recorded=recorded, room=room, pods_to_place=to_place) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "stable_ready", "canary_ready", "expected"),
    [
        # Surge: the stable stays whole until the canary's pods are Ready, then shrinks by as many.
        ("Surge", 4, 0, PodCounts(stable=4, canary=1)),
        ("Surge", 4, 1, PodCounts(stable=3, canary=1)),
        # Swap: one stable pod goes at once so that the canary can bind its GPU.
        ("Swap", 4, 0, PodCounts(stable=3, canary=1)),
        ("Swap", 3, 1, PodCounts(stable=3, canary=1)),
    ],
)
def test_forward_at_a_25_percent_step_of_four(mode: ResolvedMode, stable_ready: int, canary_ready: int, expected: PodCounts) -> None:
    targets = step_targets(total=4, weight=25, surge=mode == "Surge")
    assert forward(total=4, max_unavailable=1, mode=mode, targets=targets, stable_ready=stable_ready, canary_ready=canary_ready) == expected


def test_a_swap_never_gives_back_more_than_max_unavailable_beyond_what_the_canary_covers() -> None:
    promotion = Targets(stable=0, canary=4)
    counts = forward(total=4, max_unavailable=1, mode="Swap", targets=promotion, stable_ready=2, canary_ready=2)
    assert counts == PodCounts(stable=1, canary=4)


@pytest.mark.parametrize(
    ("stable_ready", "canary_ready", "max_unavailable", "expected_canary"),
    [
        (3, 1, 1, 0),  # the stable alone is at the floor: the canary goes at once
        (2, 2, 1, 1),  # one canary pod serves until the stable has one more Ready pod
        (2, 2, 0, 2),
        (0, 0, 1, 0),  # a canary with no Ready pod serves nothing and is not kept
        (1, 0, 1, 0),
    ],
)
def test_backward(stable_ready: int, canary_ready: int, max_unavailable: int, expected_canary: int) -> None:
    counts = backward(total=4, max_unavailable=max_unavailable, stable_ready=stable_ready, canary_ready=canary_ready)
    assert counts == PodCounts(stable=4, canary=expected_canary)


@pytest.mark.parametrize(
    ("planned", "stable_ready", "canary_ready", "expected"),
    [
        (10, 4, 0, 0),  # no Ready canary pod: no traffic, whatever the step says
        (10, 4, 1, 10),
        (50, 3, 1, 25),  # the step's second pod is not Ready yet
        (100, 2, 2, 50),  # promotion: full traffic only once the stable's pods are gone
        (100, 0, 4, 100),
        (0, 4, 1, 0),
    ],
)
def test_gated_weight(planned: int, stable_ready: int, canary_ready: int, expected: int) -> None:
    assert gated_weight(planned=planned, stable_ready=stable_ready, canary_ready=canary_ready) == expected


def test_serving_share_and_shortfall() -> None:
    assert serving_share(stable_ready=0, canary_ready=0) == 0
    assert serving_share(stable_ready=2, canary_ready=1) == 33
    assert shortfall(waiting=2, room=0, released=1) == 1
    assert shortfall(waiting=1, room=0, released=1) == 0


@dataclasses.dataclass
class _PackedCluster:
    """GPUs that fit exactly `gpus` pods, pods that turn Ready one pass after they bind a GPU."""

    gpus: int
    stable_pods: int
    stable_ready: int
    canary_pods: int = 0
    canary_ready: int = 0

    def settle(self, counts: PodCounts) -> None:
        # Removals first (the Deployment controller deletes the unready pods first), then binds.
        drop_stable = max(0, self.stable_pods - counts.stable)
        self.stable_ready -= max(0, drop_stable - (self.stable_pods - self.stable_ready))
        self.stable_pods -= drop_stable
        drop_canary = max(0, self.canary_pods - counts.canary)
        self.canary_ready -= max(0, drop_canary - (self.canary_pods - self.canary_ready))
        self.canary_pods -= drop_canary
        self.stable_ready, self.canary_ready = self.stable_pods, self.canary_pods  # last pass's binds are Ready
        free = self.gpus - self.stable_pods - self.canary_pods
        grow_canary = min(free, max(0, counts.canary - self.canary_pods))
        self.canary_pods += grow_canary
        free -= grow_canary
        self.stable_pods += min(free, max(0, counts.stable - self.stable_pods))


@pytest.mark.parametrize("total", [2, 3, 4, 8])
@pytest.mark.parametrize("max_unavailable", [1, 2])
def test_a_swap_on_a_packed_cluster_reaches_promotion_and_back_without_dropping_below_the_floor(total: int, max_unavailable: int) -> None:
    floor = total - max_unavailable
    cluster = _PackedCluster(gpus=total, stable_pods=total, stable_ready=total)
    for weight in (10, 25, 50, 100):
        targets = step_targets(total=total, weight=weight, surge=False)
        for _ in range(3 * total):
            counts = forward(total=total, max_unavailable=max_unavailable, mode="Swap", targets=targets,
                             stable_ready=cluster.stable_ready, canary_ready=cluster.canary_ready)
            cluster.settle(counts)
            assert cluster.stable_ready + cluster.canary_ready >= floor
        assert (cluster.stable_pods, cluster.canary_pods) == (targets.stable, targets.canary)
    # And a rollback from a half-way step of the same swap.
    cluster = _PackedCluster(gpus=total, stable_pods=total - total // 2, stable_ready=total - total // 2,
                             canary_pods=total // 2, canary_ready=total // 2)
    for _ in range(3 * total):
        counts = backward(total=total, max_unavailable=max_unavailable, stable_ready=cluster.stable_ready, canary_ready=cluster.canary_ready)
        cluster.settle(counts)
        assert cluster.stable_ready + cluster.canary_ready >= floor
    assert (cluster.stable_pods, cluster.canary_pods) == (total, 0)

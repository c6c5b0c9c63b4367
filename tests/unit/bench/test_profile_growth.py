"""Milliseconds per object of kube-apiserver's busiest functions at each size."""

from __future__ import annotations

from typing import Any

from bench.profile_growth import growth, milliseconds_per_object


def profile(**cumulative_seconds: float) -> dict[str, Any]:
    return {"by_cumulative_cpu": [{"function": name, "cumulative_seconds": seconds} for name, seconds in cumulative_seconds.items()]}


def size(objects: int, *, baseline: dict[str, Any] | None = None, operator: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"objects": objects, "baseline": {"apiserver_cpu_profile": baseline} if baseline else {},
            "while_converging": {"apiserver_cpu_profile": operator} if operator else {}}


def test_milliseconds_per_object_divides_by_the_objects() -> None:
    assert milliseconds_per_object(profile(serve=30.0, apply=4.5), objects=1000) == {"serve": 30.0, "apply": 4.5}


def test_growth_lists_the_largest_sizes_busiest_functions_at_every_size() -> None:
    sizes = [size(1000, baseline=profile(serve=40.0, watch=5.0)), size(4000, baseline=profile(serve=220.0, watch=60.0, gc=30.0))]
    assert growth(sizes, phase="baseline", functions=2) == [
        {"function": "serve", "ms_per_object": {"1000": 40.0, "4000": 55.0}},
        {"function": "watch", "ms_per_object": {"1000": 5.0, "4000": 15.0}},
    ]
    # A function below a smaller size's cut is unknown there, not zero.
    assert growth(sizes, phase="baseline")[2] == {"function": "gc", "ms_per_object": {"1000": None, "4000": 7.5}}


def test_growth_reads_each_phase_apart_and_skips_sizes_without_a_profile() -> None:
    sizes = [size(1000, operator=profile(serve=60.0)), size(2000, baseline=profile(serve=1.0)), size(4000, operator=profile(serve=320.0))]
    assert growth(sizes, phase="operator") == [{"function": "serve", "ms_per_object": {"1000": 60.0, "4000": 80.0}}]
    assert growth(sizes, phase="baseline") == [{"function": "serve", "ms_per_object": {"2000": 0.5}}]
    assert growth([size(1000)], phase="operator") == []

"""Where kube-apiserver's CPU per object goes at each size of bench-scale, from its whole-phase profiles.

A function whose milliseconds per object grow with the number of objects is a part of the non-linear
growth; one that stays flat is not. The functions compared are the busiest, by cumulative CPU, at the
largest size (cumulative: a function and all it calls, so that "the watch cache" or "server-side apply"
is one row however many leaves it has).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PHASES = {"baseline": ("baseline",), "operator": ("while_converging",)}


def _profile(size: Mapping[str, Any], phase: str) -> Mapping[str, Any] | None:
    section: Any = size
    for key in PHASES[phase]:
        section = section.get(key) or {}
    profile = section.get("apiserver_cpu_profile")
    return profile if profile and profile.get("by_cumulative_cpu") else None


def milliseconds_per_object(profile: Mapping[str, Any], *, objects: int) -> dict[str, float]:
    """Each listed function's cumulative CPU, in milliseconds per object."""
    return {str(entry["function"]): round(1000 * float(entry["cumulative_seconds"]) / objects, 2) for entry in profile["by_cumulative_cpu"]}


def growth(sizes: Sequence[Mapping[str, Any]], *, phase: str, functions: int = 15) -> list[dict[str, Any]]:
    """Rows of (function, ms per object at each size), the largest size's busiest first; a function a
    smaller size's profile does not list has None there (below that profile's cut, not zero)."""
    profiled = [(int(size["objects"]), profile) for size in sizes if (profile := _profile(size, phase)) is not None]
    if not profiled:
        return []
    by_size = {objects: milliseconds_per_object(profile, objects=objects) for objects, profile in profiled}
    largest = max(by_size)
    busiest = sorted(by_size[largest], key=lambda function: -by_size[largest][function])[:functions]
    return [{"function": function, "ms_per_object": {str(objects): by_size[objects].get(function) for objects in sorted(by_size)}}
            for function in busiest]

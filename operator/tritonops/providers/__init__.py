"""Metric providers: where an analysis window's measurements come from. One interface, one module each.

`triton` scrapes each revision's pods' own /metrics; `prometheus` asks a Prometheus server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Protocol

from tritonops.engine.analysis import CustomValue, WindowMeasurement
from tritonops.spec import CustomCheckSpec


@dataclasses.dataclass(frozen=True)
class RevisionTarget:
    """One revision to measure: its identity, its Triton model version and its Ready pods."""

    key: tuple[str, str]  # the ModelDeployment's namespace and name
    revision: str
    model: str
    version: str
    pods: Mapping[str, str]  # pod name -> pod IP


class Provider(Protocol):
    def measure(self, target: RevisionTarget, *, window_seconds: int) -> WindowMeasurement | None:
        """The window ending now; None when there is no window yet (its first sample was just taken)."""
        ...

    def custom(self, checks: Sequence[CustomCheckSpec], *, window_seconds: int) -> dict[str, CustomValue]:
        """Each custom query's number, or why there is none; never raises."""
        ...

    def forget(self, key: tuple[str, str]) -> None:
        """Drop whatever is remembered for one ModelDeployment."""
        ...

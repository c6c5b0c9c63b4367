"""What the pure core asks the I/O layer to do."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal


@dataclasses.dataclass(frozen=True)
class ChildReference:
    api_version: str
    kind: str
    name: str


@dataclasses.dataclass(frozen=True)
class Scale:
    """Set the replicas of an existing Deployment of another revision, whose template we no longer hold."""

    name: str
    replicas: int


@dataclasses.dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str
    # A transition's identity within its object (revision, rollout, step): an event with one records that
    # transition once, however often a pass that makes it is retried, so it is posted before the status
    # that records the transition. None for a report of a condition, which may repeat (event_series.py).
    key: str | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    status: Mapping[str, Any]
    apply: Sequence[Mapping[str, Any]] = ()
    scale: Sequence[Scale] = ()
    delete: Sequence[ChildReference] = ()
    events: Sequence[Event] = ()
    # One-shot annotations (promote, abort, retry) read in this pass; removed once status is written.
    remove_annotations: Sequence[str] = ()
    # Reconcile again after this many seconds even if nothing changes (analysis, step and deadline timers).
    requeue_after: float | None = None
    promoted: bool = False
    rollback_reason: str | None = None

"""metav1.Condition bookkeeping: a transition time changes only when the status does."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any


def timestamp(now: datetime.datetime) -> str:
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    existing: Sequence[Mapping[str, Any]],
    *,
    type: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime.datetime,
) -> list[dict[str, Any]]:
    value = "True" if status else "False"
    previous = next((condition for condition in existing if condition.get("type") == type), None)
    transition = previous.get("lastTransitionTime") if previous and previous.get("status") == value else None
    updated = {
        "type": type,
        "status": value,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": transition or timestamp(now),
    }
    others = [dict(condition) for condition in existing if condition.get("type") != type]
    return sorted([*others, updated], key=lambda condition: str(condition["type"]))

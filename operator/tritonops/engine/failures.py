"""How a failed reconcile shows in status. Pure.

The same failure gives the same status, so a failure repeated by retries and resyncs writes nothing
more and its event is posted once. A `Reconciled` condition appears with the first failure and turns
True with the next success; it stays True afterwards (like `RolledBack` stays False), so a converged
object costs no write for it, and an object that never failed never carries it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from tritonops.engine import conditions

RECONCILED = "Reconciled"
INVALID_SPEC = "InvalidSpec"
RECONCILE_FAILED = "ReconcileFailed"


def _conditions(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(condition) for condition in status.get("conditions") or []]


def invalid_spec(status: Mapping[str, Any], *, generation: int, message: str, now: datetime.datetime) -> dict[str, Any]:
    """A spec the CRD let through but the operator cannot build from: final for this generation."""
    return not_deployable(status, generation=generation, reason=INVALID_SPEC, message=message, now=now)


def not_deployable(status: Mapping[str, Any], *, generation: int, reason: str, message: str, now: datetime.datetime) -> dict[str, Any]:
    """A generation that cannot be carried out as it stands: an invalid spec, or a child the cluster refuses.

    `observedGeneration` advances, so Argo CD shows Degraded with the message instead of Progressing
    forever. Children and the rollout state are left as they were: whatever serves keeps serving, and
    the next valid spec carries on from there.
    """
    updated = {**status, "observedGeneration": generation, "phase": "Failed", "message": message}
    changed = _conditions(status)
    for type_ in ("Ready", "Progressing", RECONCILED):
        changed = conditions.set_condition(changed, type=type_, status=False, reason=reason, message=message, generation=generation, now=now)
    updated["conditions"] = changed
    return updated


def reconcile_failed(status: Mapping[str, Any], *, generation: int, message: str, now: datetime.datetime) -> dict[str, Any]:
    """Any other failure: the status says it, and nothing else about the object changes.

    `observedGeneration` stays where it was: this generation was not carried out, and the phase still
    describes what runs. An object that never had a status shows `Pending` with the message.
    """
    updated = dict(status)
    if not updated.get("phase"):
        updated.update(phase="Pending", message=message)
    updated["conditions"] = conditions.set_condition(
        _conditions(status), type=RECONCILED, status=False, reason=RECONCILE_FAILED, message=message, generation=generation, now=now
    )
    return updated


def succeeded(status: Mapping[str, Any], *, generation: int, now: datetime.datetime) -> Mapping[str, Any]:
    """A successful pass's status: a `Reconciled` condition, if an earlier failure left one, turns True."""
    if not any(condition.get("type") == RECONCILED for condition in status.get("conditions") or []):
        return status
    updated = dict(status)
    updated["conditions"] = conditions.set_condition(
        _conditions(status), type=RECONCILED, status=True, reason="ReconcileSucceeded", message="the last reconcile succeeded",
        generation=generation, now=now,
    )
    return updated

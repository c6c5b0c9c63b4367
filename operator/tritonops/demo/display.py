"""What `make demo` prints while a rollout runs: a line per change of phase, weight or step, a line per analysis. Pure.

Each line comes from the ModelDeployment's status as the operator wrote it (the same fields `tritonops
status` renders), so what the demo shows is what the cluster says, read twice a second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from tritonops import status_report

PHASE_WIDTH = 12


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _version(revision: Any) -> str | None:
    version = _mapping(revision).get("version")
    return None if version in (None, "") else str(version)


@dataclasses.dataclass(frozen=True)
class RolloutView:
    """The fields whose changes are worth a line; `message` is shown with a new phase but is not compared."""

    phase: str | None
    stable: str | None
    canary: str | None
    weight: int | None
    step: str | None
    ready: str | None
    failed_analyses: int
    message: str | None = dataclasses.field(default=None, compare=False)


def view(body: Mapping[str, Any]) -> RolloutView:
    status = _mapping(body.get("status"))
    canary = _version(status.get("canaryRevision"))
    weight = status.get("canaryWeight")
    replicas, ready = status.get("replicas"), status.get("readyReplicas")
    ready_text = status.get("readyText") or (f"{ready or 0}/{replicas}" if isinstance(replicas, int) else None)
    failed = status.get("failedAnalyses")
    return RolloutView(
        phase=status_report.phase(body),
        stable=_version(status.get("stableRevision")),
        canary=canary,
        weight=weight if isinstance(weight, int) and not isinstance(weight, bool) and canary else None,
        step=status_report.step_text(current_step=status.get("currentStep"), steps=status_report.rollout_steps(body)) if canary else None,
        ready=str(ready_text) if ready_text else None,
        failed_analyses=failed if isinstance(failed, int) and not isinstance(failed, bool) and canary else 0,
        message=str(status["message"]) if status.get("message") else None,
    )


def view_line(current: RolloutView, previous: RolloutView | None = None) -> str:
    """`Canary      stable v1  canary v2 weight 33%  step 1/2 (33%)  ready 3/3`, and the message on a new phase."""
    parts = [f"{current.phase or 'no status yet':<{PHASE_WIDTH}}"]
    parts.append(f"stable v{current.stable}" if current.stable else "stable -")
    if current.canary:
        canary = f"canary v{current.canary}"
        if current.weight is not None:
            canary += f" weight {current.weight}%"
        parts.append(canary)
        if current.step:
            parts.append(current.step)
        if current.failed_analyses:
            parts.append(f"{current.failed_analyses} failed {'analysis' if current.failed_analyses == 1 else 'analyses'}")
    if current.ready:
        parts.append(f"ready {current.ready}")
    line = "  ".join(parts)
    if current.message and (previous is None or previous.phase != current.phase):
        line += f"\n{'':>{PHASE_WIDTH}}  {current.message}"
    return line


def analysis_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """What identifies one analysis: its time and result (None before the first one)."""
    analysis = _mapping(_mapping(body.get("status")).get("lastAnalysis"))
    if not analysis.get("at"):
        return None
    return str(analysis["at"]), str(analysis.get("result") or "")


def _measurement(entry: Mapping[str, Any]) -> str:
    if "passed" not in entry:
        # A reading (the stable revision's value of a quantity), reported beside the checks, not judged.
        return f"{entry.get('revision')} {entry.get('check')} {status_report.format_value(entry.get('value'))}"
    passed = entry.get("passed")
    # null: the window could not judge this check.
    verdict = "ok" if passed is True else "FAILED" if passed is False else "n/a"
    return f"{entry.get('check')} {status_report.format_value(entry.get('value'))} ({entry.get('threshold')}) {verdict}"


def analysis_line(body: Mapping[str, Any]) -> str | None:
    """`analysis Passed  canary 31 / stable 62 requests: successRate 1 (>= 0.95) ok, latencyMs 2.4 (<= 250) ok`."""
    analysis = _mapping(_mapping(body.get("status")).get("lastAnalysis"))
    if not analysis.get("at"):
        return None
    result = str(analysis.get("result") or "?")
    requests = _mapping(analysis.get("requests"))
    counted = " / ".join(f"{revision} {count}" for revision, count in requests.items())
    head = f"analysis {result:<12}" + (f" {counted} requests" if counted else "")
    listed = analysis.get("measurements")
    measurements: Sequence[Any] = listed if isinstance(listed, list) else []
    if measurements:
        return head + ": " + ", ".join(_measurement(_mapping(entry)) for entry in measurements)
    return head + (f": {analysis['reason']}" if analysis.get("reason") else "")


def revisions(body: Mapping[str, Any]) -> dict[str, str]:
    """Revision hash to model version, from every revision the status names."""
    status = _mapping(body.get("status"))
    named = [status.get("stableRevision"), status.get("canaryRevision"), status.get("failedRevision"), *(status.get("history") or [])]
    found: dict[str, str] = {}
    for revision in named:
        entry = _mapping(revision)
        if entry.get("hash") and _version(entry):
            found[str(entry["hash"])] = str(_version(entry))
    return found


def load_line(counts: Mapping[str, tuple[int, int]]) -> str:
    """`load: v1 812 ok / 0 failed, v2 0 ok / 96 failed`, from (successes, failures) by version."""
    if not counts:
        return "load: no request answered yet"
    return "load: " + ", ".join(f"v{version} {ok} ok / {failed} failed" for version, (ok, failed) in sorted(counts.items()))

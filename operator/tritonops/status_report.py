"""What `tritonops status` shows: pure functions from a ModelDeployment body to a rich renderable, text or JSON.

Every status field is optional and may be of an unexpected type (an operator mid-upgrade, a status written by
hand), so each accessor falls back to "absent" instead of raising.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from tritonops.spec import try_parse_spec

# Phases after which nothing changes without a new spec or a manual control: `--watch` stops there.
SETTLED_PHASES = frozenset({"Ready", "RolledBack", "Failed"})

_PHASE_STYLES = {
    "Ready": "bold green",
    "Promoting": "bold green",
    "Pending": "bold cyan",
    "Progressing": "bold cyan",
    "Canary": "bold cyan",
    "WaitingForCapacity": "bold yellow",
    "Degraded": "bold red",
    "RolledBack": "bold red",
    "Failed": "bold red",
}
_RESULT_STYLES = {"Passed": "green", "Failed": "red", "Inconclusive": "yellow", "Promoted": "green", "RolledBack": "red"}
ABSENT = "-"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _integer(value: Any) -> int | None:
    # bool is an int subclass, but `true` is never a step or a weight.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any, style: str = "") -> Text:
    """A cell as literal text: values such as "[abc]" must not be read as rich markup."""
    if value is None or value == "":
        return Text(ABSENT, style="dim")
    return Text(str(value), style=style)


def format_value(value: Any) -> str:
    """A measured value: up to four decimals without trailing zeros; no value at all is "no data"."""
    if value is None:
        return "no data"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    formatted = f"{value:.4f}".rstrip("0").rstrip(".")
    return formatted if formatted not in ("", "-0") else "0"


def _passed_text(passed: Any) -> Text:
    if passed is True:
        return Text("yes", style="green")
    if passed is False:
        return Text("NO", style="bold red")
    # null: the window had too few requests to judge.
    return Text("n/a", style="yellow")


def revision_text(revision: Any) -> str | None:
    """`HASH  version V  IMAGE` for a revision object, or None when there is none."""
    revision = _mapping(revision)
    if not revision:
        return None
    parts = [str(revision.get("hash") or ABSENT)]
    if revision.get("version") not in (None, ""):
        parts.append(f"version {revision['version']}")
    if revision.get("image"):
        parts.append(str(revision["image"]))
    return "  ".join(parts)


def rollout_steps(body: Mapping[str, Any]) -> list[int]:
    """spec.rollout.steps; none when the spec cannot be read."""
    spec = try_parse_spec(body.get("spec"))
    return list(spec.rollout.steps) if spec is not None else []


def is_paused(body: Mapping[str, Any]) -> bool:
    spec = try_parse_spec(body.get("spec"))
    return spec is not None and spec.rollout.paused


def step_text(*, current_step: Any, steps: Sequence[Any]) -> str | None:
    """`currentStep` is a 0-based index into `spec.rollout.steps`: index 1 of [10, 25, 50] is "step 2/3 (25%)"."""
    index = _integer(current_step)
    if index is None or index < 0:
        return None
    if index < len(steps):
        return f"step {index + 1}/{len(steps)} ({steps[index]}%)"
    # The steps were edited under a running rollout: the index no longer names a step of the spec.
    return f"step {index + 1}/{len(steps)}" if steps else f"step {index + 1}"


def phase(body: Mapping[str, Any]) -> str | None:
    value = _mapping(body.get("status")).get("phase")
    return str(value) if value else None


def is_settled(body: Mapping[str, Any]) -> bool:
    """A settled phase that describes the latest spec: an older observedGeneration means the operator has not caught up."""
    status = _mapping(body.get("status"))
    if status.get("phase") not in SETTLED_PHASES:
        return False
    generation = _integer(_mapping(body.get("metadata")).get("generation"))
    observed = _integer(status.get("observedGeneration"))
    return generation is None or observed is None or observed >= generation


def summary(body: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of `status`: identity, the rollout settings needed to read the status, and the status as written."""
    metadata = _mapping(body.get("metadata"))
    status = _mapping(body.get("status"))
    return {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "generation": metadata.get("generation"),
        "paused": is_paused(body),
        "steps": rollout_steps(body),
        "step": step_text(current_step=status.get("currentStep"), steps=rollout_steps(body)) if status.get("canaryRevision") else None,
        "settled": is_settled(body),
        "status": dict(status),
    }


def _measurements_table(measurements: Sequence[Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("Check", "Revision", "Value", "Threshold", "Passed"):
        table.add_column(column, justify="right" if column == "Value" else "left")
    for entry in measurements:
        measurement = _mapping(entry)
        table.add_row(
            _text(measurement.get("check")),
            _text(measurement.get("revision")),
            Text(format_value(measurement.get("value"))),
            _text(measurement.get("threshold")),
            # No `passed` at all: the stable revision's reading, shown beside the checks and not judged.
            _passed_text(measurement.get("passed")) if "passed" in measurement else Text(""),
        )
    return table


def _overview(body: Mapping[str, Any]) -> Table:
    metadata = _mapping(body.get("metadata"))
    status = _mapping(body.get("status"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    current_phase = status.get("phase")
    phase_line = Text()
    phase_line.append_text(_text(current_phase or "Unknown (no status yet)", _PHASE_STYLES.get(str(current_phase), "bold")))
    if status.get("message"):
        phase_line.append(f"  {status['message']}")
    grid.add_row("Phase", phase_line)

    generation = _integer(metadata.get("generation"))
    observed = _integer(status.get("observedGeneration"))
    if generation is not None and observed is not None and observed < generation:
        grid.add_row("Generation", Text(f"observed {observed} of {generation}: the operator has not acted on the latest spec yet", style="yellow"))
    if status.get("model"):
        grid.add_row("Model", _text(status["model"]))
    grid.add_row("Stable", _text(revision_text(status.get("stableRevision"))))

    canary = revision_text(status.get("canaryRevision"))
    if canary is None:
        grid.add_row("Canary", Text("none", style="dim"))
    else:
        grid.add_row("Canary", _text(canary))
        weight = _integer(status.get("canaryWeight"))
        rollout = Text(f"weight {weight}%" if weight is not None else f"weight {ABSENT}")
        step = step_text(current_step=status.get("currentStep"), steps=rollout_steps(body))
        if step:
            rollout.append(f"  {step}")
        if status.get("stepStartedAt"):
            rollout.append(f"  since {status['stepStartedAt']}")
        failed_analyses = _integer(status.get("failedAnalyses"))
        if failed_analyses:
            rollout.append(f"  {failed_analyses} failed {'analysis' if failed_analyses == 1 else 'analyses'}", style="red")
        grid.add_row("Rollout", rollout)
    grid.add_row("Paused", Text("yes", style="bold yellow") if is_paused(body) else Text("no"))
    for entry in _sequence(status.get("servedDigests")):
        item = _mapping(entry)
        served = Text(f"{item.get('revision')} version {item.get('version')}: {item.get('digest')}")
        if item.get("changedTo"):
            served.append(f"  changed to {item['changedTo']}", style="bold red")
        grid.add_row("Serves", served)

    replicas, ready = _integer(status.get("replicas")), _integer(status.get("readyReplicas"))
    if status.get("readyText"):
        grid.add_row("Ready", _text(status["readyText"]))
    elif replicas is not None or ready is not None:
        grid.add_row("Ready", Text(f"{ready if ready is not None else 0}/{replicas if replicas is not None else ABSENT}"))

    endpoints = _mapping(status.get("endpoints"))
    if endpoints:
        grid.add_row("Endpoints", Text("  ".join(f"{key} {value}" for key, value in endpoints.items())))
    return grid


def _analysis(status: Mapping[str, Any]) -> RenderableType | None:
    analysis = _mapping(status.get("lastAnalysis"))
    if not analysis:
        return None
    result = analysis.get("result")
    line = Text.assemble(("Last analysis", "bold"), "  ")
    line.append_text(_text(analysis.get("at")))
    line.append("  ")
    line.append_text(_text(result, _RESULT_STYLES.get(str(result), "")))
    if analysis.get("reason"):
        line.append(f"  {analysis['reason']}")
    requests = _mapping(analysis.get("requests"))
    if requests:
        line.append("  requests " + ", ".join(f"{revision} {count}" for revision, count in requests.items()), style="dim")
    measurements = _sequence(analysis.get("measurements"))
    if not measurements:
        return line
    return Group(line, _measurements_table(measurements))


def _failed_revision(status: Mapping[str, Any]) -> RenderableType | None:
    failed = _mapping(status.get("failedRevision"))
    if not failed:
        return None
    line = Text.assemble(("Failed revision", "bold red"), "  ")
    line.append(revision_text(failed) or ABSENT)
    if failed.get("at"):
        line.append(f"  at {failed['at']}")
    if failed.get("reason"):
        line.append(f"  {failed['reason']}")
    measurements = _sequence(failed.get("measurements"))
    if not measurements:
        return line
    return Group(line, _measurements_table(measurements))


def _history(status: Mapping[str, Any]) -> Table | None:
    entries = _sequence(status.get("history"))
    if not entries:
        return None
    table = Table(title="History", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, show_edge=False)
    # The digest column only where the content was recorded (object-store repositories).
    digests = any(_mapping(entry).get("digest") for entry in entries)
    for column in ("Hash", "Version", "Outcome", "At", "Reason", *(("Digest",) if digests else ())):
        table.add_column(column)
    for entry in entries:
        item = _mapping(entry)
        outcome = item.get("outcome")
        table.add_row(
            _text(item.get("hash")),
            _text(item.get("version")),
            _text(outcome, _RESULT_STYLES.get(str(outcome), "")),
            _text(item.get("at")),
            _text(item.get("reason")),
            *((_text(item.get("digest")),) if digests else ()),
        )
    return table


def _conditions(status: Mapping[str, Any]) -> Table | None:
    entries = _sequence(status.get("conditions"))
    if not entries:
        return None
    table = Table(title="Conditions", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("Type", "Status", "Reason", "Message", "Since"):
        table.add_column(column)
    for entry in entries:
        condition = _mapping(entry)
        state = condition.get("status")
        table.add_row(
            _text(condition.get("type")),
            _text(state, {"True": "green", "False": "red"}.get(str(state), "yellow")),
            _text(condition.get("reason")),
            _text(condition.get("message")),
            _text(condition.get("lastTransitionTime")),
        )
    return table


def render(body: Mapping[str, Any]) -> RenderableType:
    """The whole report for one ModelDeployment body."""
    metadata = _mapping(body.get("metadata"))
    status = _mapping(body.get("status"))
    title = Text(f"ModelDeployment {metadata.get('namespace') or ABSENT}/{metadata.get('name') or ABSENT}", style="bold underline")
    parts: list[RenderableType] = [title, _overview(body)]
    for section in (_analysis(status), _failed_revision(status), _history(status), _conditions(status)):
        if section is not None:
            parts.extend([Text(""), section])
    return Group(*parts)


def render_text(body: Mapping[str, Any], *, width: int = 160) -> str:
    """The report as plain text (no colours), as a terminal of `width` columns would show it."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, legacy_windows=False)
    with console.capture() as capture:
        console.print(render(body))
    return capture.get()

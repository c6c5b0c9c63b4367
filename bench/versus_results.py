"""What `make bench-versus` measured: each run's outcome and seconds, their summary per tool, the ratio,
and the figures, bars, table and sentences made from them (pure)."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench import report
from bench.versus_settings import CANARY_RATE, LATENCY_MAX_MS, PROGRESS_DEADLINE_SECONDS, RATE, SETTINGS, SUCCESS_RATE_MIN, TOOLS

# What a run ended in, and so what its seconds measure.
ROLLED_BACK, PROMOTED = "rolled back", "promoted"
CLOCKS = {
    ROLLED_BACK: "seconds from the fault's onset to every canary pod being deleted (all traffic on stable)",
    PROMOTED: "seconds from every canary pod Ready to promotion (Canary phase Succeeded): the bad version was kept, no rollback time",
}
TOOL_NAMES = {"tritonops": "tritonops", "flagger": "Flagger"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    """One run of one tool: its outcome, and the seconds its clock measured (CLOCKS[outcome])."""

    seconds: float
    outcome: str = ROLLED_BACK


def summary(runs: Sequence[Run]) -> dict[str, Any]:
    """Median and maximum of one tool's runs, with their outcome: "mixed" (and no clock) when the runs differ."""
    seconds = [run.seconds for run in runs]
    outcomes = [run.outcome for run in runs]
    outcome = outcomes[0] if len(set(outcomes)) == 1 else "mixed"
    return {"outcome": outcome, "rolled_back": outcome == ROLLED_BACK, "clock": CLOCKS.get(outcome),
            "outcomes": outcomes, "seconds": [round(value, 2) for value in seconds],
            "median_seconds": round(statistics.median(seconds), 2), "max_seconds": round(max(seconds), 2)}


def ratio(numerator: float, denominator: float) -> float | None:
    """Flagger / tritonops; None when tritonops' time rounds to zero (no finite ratio to report)."""
    return round(numerator / denominator, 1) if denominator > 0 else None


Results = Mapping[str, Mapping[str, Mapping[str, Sequence[Run]]]]  # setting -> fault -> tool -> runs


def figures(results: Results, *, runs: int) -> dict[str, Any]:
    found: dict[str, Any] = {
        "runs_per_fault": runs,
        "rate_per_second": {"tritonops_service": RATE, "canary": CANARY_RATE, "flagger_primary": RATE - CANARY_RATE},
        "thresholds": {"success_rate_min": SUCCESS_RATE_MIN, "latency_max_ms": LATENCY_MAX_MS, "progress_deadline_seconds": PROGRESS_DEADLINE_SECONDS},
        "settings": {name: {"description": setting.description,
                            "tritonops": {"interval_seconds": setting.tritonops_interval_seconds, "failure_limit": setting.tritonops_failure_limit},
                            "flagger": {"interval_seconds": setting.flagger_interval_seconds, "threshold": setting.flagger_threshold}}
                     for name, setting in SETTINGS.items() if name in results},
    }
    for setting, kinds in results.items():
        by_kind: dict[str, Any] = {}
        for kind, tools in kinds.items():
            entry: dict[str, Any] = {tool: summary(runs) for tool, runs in tools.items()}
            # Rollback times compare; a promotion's seconds are not a rollback time.
            if all(tool in entry and entry[tool]["rolled_back"] for tool in TOOLS):
                entry["ratio_median"] = ratio(entry["flagger"]["median_seconds"], entry["tritonops"]["median_seconds"])
                entry["ratio_max"] = ratio(entry["flagger"]["max_seconds"], entry["tritonops"]["max_seconds"])
            by_kind[kind] = entry
        found[setting] = by_kind
    return found


def bar(entry: Mapping[str, Any]) -> report.Bar:
    """A rollback's median with a whisker to its maximum; for any other outcome no bar, only a note."""
    if entry["rolled_back"]:
        return report.Bar(value=entry["median_seconds"], high=entry["max_seconds"])
    return report.Bar(value=None, note=f"{entry['outcome']} after {entry['median_seconds']:.0f} s: no rollback")


def bars(found: Mapping[str, Any]) -> dict[str, dict[str, dict[str, report.Bar]]]:
    """One panel per setting, one group per fault, one bar per tool: the median, a whisker to the maximum."""
    panels: dict[str, dict[str, dict[str, report.Bar]]] = {}
    for name, setting in SETTINGS.items():
        if name not in found:
            continue
        panels[f"{name}: {setting.description}"] = {
            kind: {tool: bar(entry[tool]) for tool in TOOLS if tool in entry}
            for kind, entry in found[name].items()
        }
    return panels


def _cell(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "-"
    seconds = f"{entry['median_seconds']:.2f}/{entry['max_seconds']:.2f}s"
    return seconds if entry["rolled_back"] else f"{entry['outcome']} {seconds}"


def table(found: Mapping[str, Any]) -> list[str]:
    lines = [f"{'setting':<8} {'fault':<13} {'tritonops median/max':>24} {'Flagger median/max':>24} {'ratio':>7}"]
    for name in SETTINGS:
        for kind, entry in (found.get(name) or {}).items():
            cells = [_cell(entry.get(tool)) for tool in TOOLS]
            shown = entry.get("ratio_median")
            lines.append(f"{name:<8} {kind:<13} {cells[0]:>24} {cells[1]:>24} {'-' if shown is None else f'{shown:g}x':>7}")
    return lines


def outcome_lines(found: Mapping[str, Any]) -> list[str]:
    """A sentence for each tool that did not roll a bad version back, with what the other tool did."""
    lines = []
    for name in SETTINGS:
        for kind, entry in (found.get(name) or {}).items():
            for tool in TOOLS:
                if tool not in entry or entry[tool]["rolled_back"]:
                    continue
                others = [f"{TOOL_NAMES[other]} rolled it back after {entry[other]['median_seconds']:g} s"
                          for other in TOOLS if other != tool and other in entry and entry[other]["rolled_back"]]
                what = (f"promoted the wrong version after {entry[tool]['median_seconds']:.0f} s" if entry[tool]["outcome"] == PROMOTED
                        else f"{entry[tool]['outcome']} outcomes {entry[tool]['outcomes']}")
                lines.append(f"{TOOL_NAMES[tool]}: {what} ({'; '.join([f'{name} {kind}', *others])})")
    return lines


def _kept_runs(entry: Mapping[str, Any]) -> list[Run]:
    # Results saved before outcomes were recorded hold rollbacks only: every run then checked for one.
    outcomes = entry.get("outcomes") or [ROLLED_BACK] * len(entry["seconds"])
    return [Run(seconds=seconds, outcome=outcome) for seconds, outcome in zip(entry["seconds"], outcomes, strict=True)]


def kept_results(document: Mapping[str, Any]) -> dict[str, dict[str, dict[str, list[Run]]]]:
    """The runs of an earlier bench/results/versus.json (setting -> fault -> tool -> runs), for --keep."""
    found = document.get("figures") or {}
    return {
        setting: {kind: {tool: _kept_runs(entry[tool]) for tool in TOOLS if tool in entry} for kind, entry in found[setting].items()}
        for setting in SETTINGS if isinstance(found.get(setting), dict)
    }

"""Judge the golden probes of one analysis: what each revision's pods answered to the golden set, as checks. Pure.

Checks (canary, with the stable revision's values of the same quantities as readings beside them):
- `golden:<output>`: the worst absolute difference from the expected output over every pod and case;
  it fails when any element is outside atol + rtol * |expected|, or the output is missing or misshapen.
- `goldenErrorRate`: the share of golden requests that ended in an error response or a timeout.
- `goldenLatencyMs`: the slowest golden request's client-side latency (judged when maxLatencyMs is set).

The stable revision is the baseline: a check the stable fails as well is the golden set's fault (or the
environment's), not the canary's, so it is inconclusive rather than failed. Requests the probe could not
send before its deadline leave an otherwise passing probe inconclusive: never a pass on part of the set.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from tritonops.engine.analysis import Check, Reading, Verdict
from tritonops.golden.compare import Comparison
from tritonops.spec import GoldenSpec

CANARY = "canary"
STABLE = "stable"
ERROR_RATE = "goldenErrorRate"
LATENCY = "goldenLatencyMs"


def output_check(output: str) -> str:
    """The check name of one output's comparison."""
    return f"golden:{output}"


@dataclasses.dataclass(frozen=True)
class CaseResult:
    """One golden request to one pod: each expected output's comparison, or why there is none."""

    case: str
    comparisons: Mapping[str, Comparison] = dataclasses.field(default_factory=dict)
    error: str | None = None  # an error response, or a failure to connect
    timed_out: bool = False
    latency_ms: float | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.timed_out


@dataclasses.dataclass(frozen=True)
class PodProbe:
    pod: str
    cases: Sequence[CaseResult]


@dataclasses.dataclass(frozen=True)
class RevisionProbe:
    """What one revision's Ready pods answered."""

    pods: Sequence[PodProbe] = ()
    # Requests not sent because the probe's deadline passed first.
    skipped: int = 0
    # Why nothing could be probed (no Ready pods, none reachable); None when it was.
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class _Summary:
    """One revision's probe reduced to the values its checks judge."""

    worst: Mapping[str, float]  # by output: the largest absolute difference
    mismatch: Mapping[str, str]  # by output: the first mismatch, "pod P case C: reason"
    compared: Mapping[str, int]  # by output: comparisons made
    sent: int
    errors: int
    first_error: str | None
    slowest_ms: float | None


def _summarise(probe: RevisionProbe, outputs: Sequence[str]) -> _Summary:
    worst: dict[str, float] = {}
    mismatch: dict[str, str] = {}
    compared = dict.fromkeys(outputs, 0)
    sent = errors = 0
    first_error: str | None = None
    slowest: float | None = None
    for pod in probe.pods:
        for case in pod.cases:
            sent += 1
            if case.latency_ms is not None:
                slowest = case.latency_ms if slowest is None else max(slowest, case.latency_ms)
            if case.failed:
                errors += 1
                if first_error is None:
                    first_error = f"pod {pod.pod} case {case.case}: " + (case.error or "timed out")
                continue
            for output, comparison in case.comparisons.items():
                compared[output] = compared.get(output, 0) + 1
                worst[output] = max(worst.get(output, 0.0), comparison.worst_absolute)
                if not comparison.matches and output not in mismatch:
                    mismatch[output] = f"pod {pod.pod} case {case.case}: {comparison.reason}"
    return _Summary(worst, mismatch, compared, sent, errors, first_error, slowest)


def _checks(golden: GoldenSpec, summary: _Summary, *, revision: str, outputs: Sequence[str]) -> list[Check]:
    checks: list[Check] = []
    for output in outputs:
        absolute, relative = golden.tolerance_of(output)
        threshold = f"|difference| <= {absolute:g} + {relative:g} * |expected|"
        if not summary.compared.get(output):
            checks.append(Check(output_check(output), revision, None, threshold, None, "no answer to compare (every request failed)"))
            continue
        value = summary.worst.get(output, 0.0)
        problem = summary.mismatch.get(output)
        message = problem if problem is None or math.isfinite(value) else f"{problem} (worst difference {value})"
        checks.append(Check(output_check(output), revision, value, threshold, problem is None, message))
    rate = summary.errors / summary.sent if summary.sent else None
    checks.append(Check(ERROR_RATE, revision, rate, f"<= {golden.max_error_rate:g}",
                        None if rate is None else rate <= golden.max_error_rate, summary.first_error))
    if golden.max_latency_ms is not None:
        slowest = summary.slowest_ms
        checks.append(Check(LATENCY, revision, slowest, f"<= {golden.max_latency_ms:g}", None if slowest is None else slowest <= golden.max_latency_ms))
    return checks


def expected_outputs(output_names: Sequence[str]) -> tuple[str, ...]:
    """The outputs every check is made for, in a stable order."""
    return tuple(sorted(set(output_names)))


def judge_golden(*, golden: GoldenSpec, outputs: Sequence[str], canary: RevisionProbe, stable: RevisionProbe | None) -> Verdict:
    """The golden checks of one analysis: the canary judged, the stable's values beside them as the baseline."""
    names = expected_outputs(outputs)
    if canary.problem is not None:
        check = Check("golden", CANARY, None, "every golden case answered", None, canary.problem)
        return Verdict("Inconclusive", (check,), f"golden probe: {canary.problem}")
    canary_checks = _checks(golden, _summarise(canary, names), revision=CANARY, outputs=names)
    stable_checks: dict[str, Check] = {}
    readings: list[Reading] = []
    if stable is not None and stable.problem is None:
        for check in _checks(golden, _summarise(stable, names), revision=STABLE, outputs=names):
            stable_checks[check.check] = check
            readings.append(Reading(check.check, STABLE, check.value))
    judged: list[Check] = []
    for check in canary_checks:
        baseline = stable_checks.get(check.check)
        if check.passed is False and baseline is not None and baseline.passed is False:
            said = f"the stable revision fails it too ({baseline.message or _shown(baseline.value)}): the golden set or the environment is at fault, not the canary"
            check = dataclasses.replace(check, passed=None, message=f"{check.message}; {said}" if check.message else said)
        judged.append(check)
    failed = [check for check in judged if check.passed is False]
    if failed:
        return Verdict("Failed", judged, "; ".join(_failure(check) for check in failed), readings=readings)
    unknown = [check for check in judged if check.passed is None]
    if unknown:
        return Verdict("Inconclusive", judged, "golden probe: no verdict for " + ", ".join(f"{c.check} ({c.message})" if c.message else c.check for c in unknown),
                       readings=readings)
    if canary.skipped:
        return Verdict("Inconclusive", judged, f"golden probe: {canary.skipped} golden request(s) not sent before the probe's deadline", readings=readings)
    return Verdict("Passed", judged, "every golden case answered within tolerance", readings=readings)


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _failure(check: Check) -> str:
    said = f"{check.check} {_shown(check.value)} not {check.threshold}"
    return f"{said} ({check.message})" if check.message else said


def combine(metrics: Verdict, golden: Verdict) -> Verdict:
    """One analysis from the metric checks and the golden checks: a failure of either fails it (a wrong
    answer is wrong however few requests the window saw); otherwise either inconclusive leaves it so."""
    checks = tuple(metrics.checks) + tuple(golden.checks)
    readings = tuple(metrics.readings) + tuple(golden.readings)
    failed = [verdict.reason for verdict in (metrics, golden) if verdict.result == "Failed"]
    if failed:
        return Verdict("Failed", checks, "; ".join(failed), metrics.requests, readings)
    unsure = [verdict.reason for verdict in (metrics, golden) if verdict.result == "Inconclusive"]
    if unsure:
        return Verdict("Inconclusive", checks, "; ".join(unsure), metrics.requests, readings)
    return Verdict("Passed", checks, "every check passed", metrics.requests, readings)


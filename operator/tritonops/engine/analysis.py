"""Judge one analysis window: measurements in, Passed / Failed / Inconclusive out. Pure."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from tritonops.spec import AnalysisSpec

Result = Literal["Passed", "Failed", "Inconclusive"]


@dataclasses.dataclass(frozen=True)
class WindowMeasurement:
    """What one revision did during one window (from either provider)."""

    requests: int
    successes: int
    mean_latency_ms: float | None = None
    mean_queue_ms: float | None = None

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.requests if self.requests else None

    @property
    def error_rate(self) -> float | None:
        rate = self.success_rate
        return None if rate is None else 1.0 - rate


@dataclasses.dataclass(frozen=True)
class CustomValue:
    """A custom query's answer: its number, or why there is none (shown with the check in status)."""

    value: float | None
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class Check:
    check: str
    revision: str
    value: float | None
    threshold: str
    passed: bool | None  # None: could not be judged
    message: str | None = None  # why there is no value, or what a value JSON cannot hold was

    def as_status(self) -> dict[str, Any]:
        # Status is JSON, which has no NaN or infinity: such a value is shown in the message instead.
        value = self.value if self.value is None or math.isfinite(self.value) else None
        status: dict[str, Any] = {"check": self.check, "revision": self.revision, "value": value, "threshold": self.threshold, "passed": self.passed}
        if self.message:
            status["message"] = self.message
        return status


@dataclasses.dataclass(frozen=True)
class Reading:
    """A value reported beside the checks but not judged: the stable revision's, so both can be compared."""

    check: str
    revision: str
    value: float | None

    def as_status(self) -> dict[str, Any]:
        if self.value is not None and not math.isfinite(self.value):
            # JSON has no infinity (an output that is missing or misshapen differs without bound).
            return {"check": self.check, "revision": self.revision, "value": None, "message": f"value {self.value}"}
        return {"check": self.check, "revision": self.revision, "value": self.value}


@dataclasses.dataclass(frozen=True)
class Verdict:
    result: Result
    checks: Sequence[Check]
    reason: str
    # Requests each revision served in the window, for the record in status.
    requests: Mapping[str, int] = dataclasses.field(default_factory=dict)
    readings: Sequence[Reading] = ()

    @property
    def failed_checks(self) -> int:
        return sum(1 for check in self.checks if check.passed is False)


def judge(
    *,
    analysis: AnalysisSpec,
    canary: WindowMeasurement,
    stable: WindowMeasurement | None,
    custom_values: Mapping[str, CustomValue] | None = None,
) -> Verdict:
    """Apply spec.rollout.analysis to one window.

    Too few canary requests make the window Inconclusive whatever the values say: a handful of
    requests can neither prove a version good nor condemn it. The same minRequests holds for the stable
    side of every comparison with stable (errorRateIncrease): fewer stable requests (at least one) make
    that check Inconclusive, never a pass.
    """
    minimum = analysis.min_requests
    requests = {"canary": canary.requests, **({"stable": stable.requests} if stable is not None else {})}
    readings = _readings(analysis, canary=canary, stable=stable)
    if canary.requests < minimum:
        return Verdict(
            "Inconclusive", (), f"{canary.requests} canary requests in the window, fewer than minRequests {minimum}", requests, readings
        )
    checks: list[Check] = []
    if (success_min := analysis.success_rate_min) is not None:
        value = canary.success_rate
        checks.append(Check("successRate", "canary", value, f">= {success_min}", value is not None and value >= success_min))
    if (latency_max := analysis.latency_ms_max) is not None:
        value = canary.mean_latency_ms
        checks.append(Check("latencyMs", "canary", value, f"<= {latency_max}", None if value is None else value <= latency_max))
    if (queue_max := analysis.queue_ms_max) is not None:
        value = canary.mean_queue_ms
        checks.append(Check("queueMs", "canary", value, f"<= {queue_max}", None if value is None else value <= queue_max))
    if (allowed := analysis.max_error_rate_increase) is not None:
        stable_errors = stable.error_rate if stable is not None else None
        canary_errors = canary.error_rate
        if stable is None or stable.requests < max(minimum, 1):
            # The stable side is held to minRequests too: its 3 requests with one failure would excuse a
            # canary error rate of 34%.
            count = 0 if stable is None else stable.requests
            said = f"{count} stable requests in the window, fewer than minRequests {minimum}" if count < minimum else "no stable requests in the window"
            checks.append(Check("errorRateIncrease", "canary", None, f"<= {allowed}", None, said))
        elif stable_errors is None or canary_errors is None:
            checks.append(Check("errorRateIncrease", "canary", None, f"<= {allowed}", None))
        else:
            increase = canary_errors - stable_errors
            checks.append(Check("errorRateIncrease", "canary", increase, f"<= {allowed}", increase <= allowed))
    for custom in analysis.custom:
        answer = (custom_values or {}).get(custom.name) or CustomValue(None, "the provider gave no answer")
        value = answer.value
        bounds = []
        passed: bool | None = None if value is None or math.isnan(value) else True
        if custom.minimum is not None:
            bounds.append(f">= {custom.minimum}")
            passed = passed and value is not None and value >= custom.minimum
        if custom.maximum is not None:
            bounds.append(f"<= {custom.maximum}")
            passed = passed and value is not None and value <= custom.maximum
        message = answer.problem
        if value is not None and not math.isfinite(value):
            message = f"the query returned {'NaN' if math.isnan(value) else '+Inf' if value > 0 else '-Inf'}"
        checks.append(Check(custom.name, "canary", value, " and ".join(bounds), passed, message))
    failed = [check for check in checks if check.passed is False]
    if failed:
        return Verdict("Failed", checks, "; ".join(f"{c.check} {_shown(c.value)} not {c.threshold}" for c in failed), requests, readings)
    if any(check.passed is None for check in checks):
        unknown = ", ".join(f"{check.check} ({check.message})" if check.message else check.check for check in checks if check.passed is None)
        return Verdict("Inconclusive", checks, f"no value for {unknown}", requests, readings)
    return Verdict("Passed", checks, "every check passed", requests, readings)


def _readings(analysis: AnalysisSpec, *, canary: WindowMeasurement, stable: WindowMeasurement | None) -> tuple[Reading, ...]:
    """The stable revision's value of each quantity a built-in check judges on the canary, and for
    errorRateIncrease both error rates it subtracts. Custom queries are not per revision: none for them."""
    if stable is None:
        return ()
    readings: list[Reading] = []
    if analysis.success_rate_min is not None:
        readings.append(Reading("successRate", "stable", stable.success_rate))
    if analysis.latency_ms_max is not None:
        readings.append(Reading("latencyMs", "stable", stable.mean_latency_ms))
    if analysis.queue_ms_max is not None:
        readings.append(Reading("queueMs", "stable", stable.mean_queue_ms))
    if analysis.max_error_rate_increase is not None:
        readings += [Reading("errorRate", "canary", canary.error_rate), Reading("errorRate", "stable", stable.error_rate)]
    return tuple(readings)


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"

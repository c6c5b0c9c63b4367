"""Judge one analysis window: measurements in, Passed / Failed / Inconclusive out. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

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
class Check:
    check: str
    revision: str
    value: float | None
    threshold: str
    passed: bool | None  # None: could not be judged

    def as_status(self) -> dict[str, Any]:
        return {"check": self.check, "revision": self.revision, "value": self.value, "threshold": self.threshold, "passed": self.passed}


@dataclasses.dataclass(frozen=True)
class Verdict:
    result: Result
    checks: Sequence[Check]
    reason: str
    # Requests each revision served in the window, for the record in status.
    requests: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def failed_checks(self) -> int:
        return sum(1 for check in self.checks if check.passed is False)


def judge(
    *,
    analysis: Mapping[str, Any],
    canary: WindowMeasurement,
    stable: WindowMeasurement | None,
    custom_values: Mapping[str, float | None] | None = None,
) -> Verdict:
    """Apply spec.rollout.analysis to one window.

    Too few canary requests make the window Inconclusive whatever the values say: a handful of
    requests can neither prove a version good nor condemn it.
    """
    minimum = int(analysis.get("minRequests", 20))
    requests = {"canary": canary.requests, **({"stable": stable.requests} if stable is not None else {})}
    if canary.requests < minimum:
        return Verdict(
            "Inconclusive", (), f"{canary.requests} canary requests in the window, fewer than minRequests {minimum}", requests
        )
    checks: list[Check] = []
    success = analysis.get("successRate") or {}
    if "min" in success:
        value = canary.success_rate
        checks.append(Check("successRate", "canary", value, f">= {success['min']}", value is not None and value >= float(success["min"])))
    latency = analysis.get("latencyMs") or {}
    if "max" in latency:
        value = canary.mean_latency_ms
        checks.append(Check("latencyMs", "canary", value, f"<= {latency['max']}", None if value is None else value <= float(latency["max"])))
    queue = analysis.get("queueMs") or {}
    if "max" in queue:
        value = canary.mean_queue_ms
        checks.append(Check("queueMs", "canary", value, f"<= {queue['max']}", None if value is None else value <= float(queue["max"])))
    if "maxErrorRateIncrease" in analysis:
        allowed = float(analysis["maxErrorRateIncrease"])
        stable_errors = stable.error_rate if stable is not None else None
        canary_errors = canary.error_rate
        if stable_errors is None or canary_errors is None:
            checks.append(Check("errorRateIncrease", "canary", None, f"<= {allowed}", None))
        else:
            increase = canary_errors - stable_errors
            checks.append(Check("errorRateIncrease", "canary", increase, f"<= {allowed}", increase <= allowed))
    for custom in analysis.get("custom") or []:
        value = (custom_values or {}).get(custom["name"])
        bounds = []
        passed: bool | None = None if value is None else True
        if "min" in custom:
            bounds.append(f">= {custom['min']}")
            passed = passed and value is not None and value >= float(custom["min"])
        if "max" in custom:
            bounds.append(f"<= {custom['max']}")
            passed = passed and value is not None and value <= float(custom["max"])
        checks.append(Check(str(custom["name"]), "canary", value, " and ".join(bounds), passed))
    failed = [check for check in checks if check.passed is False]
    if failed:
        return Verdict("Failed", checks, "; ".join(f"{c.check} {_shown(c.value)} not {c.threshold}" for c in failed), requests)
    if any(check.passed is None for check in checks):
        unknown = ", ".join(check.check for check in checks if check.passed is None)
        return Verdict("Inconclusive", checks, f"no value for {unknown}", requests)
    return Verdict("Passed", checks, "every check passed", requests)


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"

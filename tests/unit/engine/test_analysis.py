from __future__ import annotations

from typing import Any

import pytest

from tests.harness.specs import model_deployment
from tritonops.engine.analysis import CustomValue, Reading, WindowMeasurement, judge
from tritonops.spec import AnalysisSpec


def typed(analysis: dict[str, Any]) -> AnalysisSpec:
    """spec.rollout.analysis as the operator reads it, the CRD's defaults filled in."""
    return model_deployment({"rollout": {"analysis": analysis}}).spec.rollout.analysis


ANALYSIS = typed({"minRequests": 20, "successRate": {"min": 0.99}, "latencyMs": {"max": 250}, "queueMs": {"max": 100}, "maxErrorRateIncrease": 0.01})
HEALTHY = WindowMeasurement(requests=100, successes=100, mean_latency_ms=20, mean_queue_ms=1)


def test_too_few_requests_is_inconclusive_even_with_terrible_values() -> None:
    verdict = judge(analysis=ANALYSIS, canary=WindowMeasurement(requests=19, successes=0, mean_latency_ms=9999), stable=HEALTHY)
    assert verdict.result == "Inconclusive"
    assert "minRequests 20" in verdict.reason
    assert verdict.checks == ()


def test_healthy_canary_passes_every_check() -> None:
    verdict = judge(analysis=ANALYSIS, canary=HEALTHY, stable=HEALTHY)
    assert verdict.result == "Passed"
    assert [c.check for c in verdict.checks] == ["successRate", "latencyMs", "queueMs", "errorRateIncrease"]
    assert all(c.passed for c in verdict.checks)


@pytest.mark.parametrize(
    ("canary", "failing"),
    [
        (WindowMeasurement(requests=100, successes=90, mean_latency_ms=20, mean_queue_ms=1), {"successRate", "errorRateIncrease"}),
        (WindowMeasurement(requests=100, successes=100, mean_latency_ms=400, mean_queue_ms=1), {"latencyMs"}),
        (WindowMeasurement(requests=100, successes=100, mean_latency_ms=20, mean_queue_ms=150), {"queueMs"}),
    ],
    ids=["errors", "slow", "queueing"],
)
def test_each_breach_fails_its_check(canary: WindowMeasurement, failing: set[str]) -> None:
    verdict = judge(analysis=ANALYSIS, canary=canary, stable=HEALTHY)
    assert verdict.result == "Failed"
    assert {c.check for c in verdict.checks if c.passed is False} == failing
    assert verdict.failed_checks == len(failing)


def test_error_rate_increase_compares_with_stable_in_the_same_window() -> None:
    analysis = typed({"minRequests": 20, "maxErrorRateIncrease": 0.05})
    noisy_stable = WindowMeasurement(requests=100, successes=90)
    assert judge(analysis=analysis, canary=WindowMeasurement(requests=100, successes=88), stable=noisy_stable).result == "Passed"
    assert judge(analysis=analysis, canary=WindowMeasurement(requests=100, successes=80), stable=noisy_stable).result == "Failed"
    assert judge(analysis=analysis, canary=WindowMeasurement(requests=100, successes=80), stable=WindowMeasurement(requests=0, successes=0)).result == "Inconclusive"


def test_too_few_stable_requests_make_the_comparison_inconclusive_not_a_pass() -> None:
    # 3 stable requests with one failure (33%) would hide a 34% canary error rate under a 0.01 allowance.
    analysis = typed({"minRequests": 20, "maxErrorRateIncrease": 0.01})
    canary = WindowMeasurement(requests=100, successes=66)
    verdict = judge(analysis=analysis, canary=canary, stable=WindowMeasurement(requests=3, successes=2))
    assert verdict.result == "Inconclusive"
    check = next(c for c in verdict.checks if c.check == "errorRateIncrease")
    assert check.passed is None and check.message == "3 stable requests in the window, fewer than minRequests 20"
    assert "fewer than minRequests 20" in verdict.reason
    # Enough stable requests: the same canary fails.
    assert judge(analysis=analysis, canary=canary, stable=WindowMeasurement(requests=20, successes=20)).result == "Failed"


def test_custom_checks_use_their_bounds() -> None:
    analysis = typed({"minRequests": 1, "custom": [{"name": "p99", "query": "q", "max": 300}, {"name": "hit", "query": "q", "min": 0.5, "max": 1}]})
    canary = WindowMeasurement(requests=10, successes=10)
    assert judge(analysis=analysis, canary=canary, stable=None, custom_values={"p99": CustomValue(120), "hit": CustomValue(0.7)}).result == "Passed"
    failed = judge(analysis=analysis, canary=canary, stable=None, custom_values={"p99": CustomValue(350), "hit": CustomValue(0.7)})
    assert failed.result == "Failed" and [c.check for c in failed.checks if c.passed is False] == ["p99"]
    assert judge(analysis=analysis, canary=canary, stable=None, custom_values={"p99": CustomValue(120)}).result == "Inconclusive"


def test_a_custom_query_without_a_number_is_an_inconclusive_check_that_says_why() -> None:
    analysis = typed({"minRequests": 1, "custom": [{"name": "p99", "query": "q", "max": 300}]})
    problem = "the query returned 3 series, not one number"
    verdict = judge(analysis=analysis, canary=WindowMeasurement(requests=10, successes=10), stable=None,
                    custom_values={"p99": CustomValue(None, problem)})
    assert verdict.result == "Inconclusive" and problem in verdict.reason
    assert verdict.checks[0].as_status() == {"check": "p99", "revision": "canary", "value": None, "threshold": "<= 300", "passed": None,
                                             "message": problem}


def test_a_custom_problem_never_hides_a_failed_check() -> None:
    analysis = typed({"minRequests": 1, "successRate": {"min": 0.99}, "custom": [{"name": "p99", "query": "q", "max": 300}]})
    verdict = judge(analysis=analysis, canary=WindowMeasurement(requests=10, successes=5), stable=None,
                    custom_values={"p99": CustomValue(None, "the query returned NaN")})
    assert verdict.result == "Failed"


def test_an_infinite_custom_value_is_judged_and_shown_as_text() -> None:
    # histogram_quantile() says +Inf when the quantile is above the last bucket: far over any max.
    analysis = typed({"minRequests": 1, "custom": [{"name": "p99", "query": "q", "max": 300}]})
    verdict = judge(analysis=analysis, canary=WindowMeasurement(requests=10, successes=10), stable=None,
                    custom_values={"p99": CustomValue(float("inf"))})
    assert verdict.result == "Failed"
    # JSON (and so status) has no infinity.
    assert verdict.checks[0].as_status()["value"] is None and verdict.checks[0].as_status()["message"] == "the query returned +Inf"


def test_checks_render_for_status() -> None:
    check = judge(analysis=ANALYSIS, canary=WindowMeasurement(requests=100, successes=93, mean_latency_ms=20, mean_queue_ms=1), stable=HEALTHY).checks[0]
    assert check.as_status() == {"check": "successRate", "revision": "canary", "value": 0.93, "threshold": ">= 0.99", "passed": False}


def test_the_stable_revision_values_are_reported_beside_the_canary_checks() -> None:
    stable = WindowMeasurement(requests=200, successes=198, mean_latency_ms=18, mean_queue_ms=0.5)
    canary = WindowMeasurement(requests=100, successes=97, mean_latency_ms=30, mean_queue_ms=2)
    verdict = judge(analysis=ANALYSIS, canary=canary, stable=stable)
    assert list(verdict.readings) == [
        Reading("successRate", "stable", 0.99),
        Reading("latencyMs", "stable", 18),
        Reading("queueMs", "stable", 0.5),
        Reading("errorRate", "canary", pytest.approx(0.03)),
        Reading("errorRate", "stable", pytest.approx(0.01)),
    ]
    # A reading is reported, not judged: no threshold, no passed.
    assert verdict.readings[0].as_status() == {"check": "successRate", "revision": "stable", "value": 0.99}
    assert all(check.revision == "canary" for check in verdict.checks)


def test_stable_values_are_reported_even_when_the_canary_had_too_few_requests() -> None:
    verdict = judge(analysis=typed({"minRequests": 20, "successRate": {"min": 0.99}}), canary=WindowMeasurement(requests=3, successes=3),
                    stable=WindowMeasurement(requests=50, successes=49))
    assert verdict.result == "Inconclusive" and list(verdict.readings) == [Reading("successRate", "stable", 0.98)]
    assert judge(analysis=ANALYSIS, canary=HEALTHY, stable=None).readings == ()

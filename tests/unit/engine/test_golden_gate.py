"""The golden gate's judgement: probes in, checks and a result out (canary judged, stable the baseline)."""

from __future__ import annotations

import math

import pytest

from tritonops.engine.analysis import Check, Verdict
from tritonops.engine.golden_gate import CaseResult, PodProbe, RevisionProbe, combine, judge_golden
from tritonops.golden.compare import Comparison
from tritonops.spec import GoldenSpec, OutputToleranceSpec

GOLDEN = GoldenSpec(config_map_name="g", config_map_key="golden.json", absolute=1e-4, relative=1e-3, outputs=(), timeout_seconds=5,
                    max_latency_ms=None, max_error_rate=0)
SAME = Comparison(True, "", 0.0, 0.0, None, 0)
CLOSE = Comparison(True, "", 3e-5, 1e-5, 2, 0)
WRONG = Comparison(False, "1 of 2 elements outside atol 0.0001 + rtol 0.001, first at index 1, worst |difference| 0.5", 0.5, 0.25, 1, 1)
MISSING = Comparison(False, "the answer has no such output", math.inf, math.inf, None, 0)


def answered(*comparisons: Comparison, latency: float = 3.0, case: str = "c0") -> CaseResult:
    return CaseResult(case=case, comparisons={"y": comparison for comparison in comparisons}, latency_ms=latency)


def revision(*cases: CaseResult, pod: str = "p-1", skipped: int = 0) -> RevisionProbe:
    return RevisionProbe(pods=(PodProbe(pod=pod, cases=cases),), skipped=skipped)


ERROR = CaseResult(case="c1", error="InferenceServerException: [400] model raised", latency_ms=2.0)
TIMEOUT = CaseResult(case="c1", timed_out=True, error="no answer within 5s", latency_ms=5000.0)


def by_check(verdict: Verdict) -> dict[str, Check]:
    return {check.check: check for check in verdict.checks}


@pytest.mark.parametrize(
    ("name", "canary", "stable", "golden", "result", "checks"),
    [
        ("right answers pass", revision(answered(SAME), answered(CLOSE, case="c1")), revision(answered(SAME)), GOLDEN, "Passed",
         {"golden:y": (3e-5, True), "goldenErrorRate": (0.0, True)}),
        ("a wrong answer fails with its difference", revision(answered(SAME), answered(WRONG, case="c1")), revision(answered(SAME)), GOLDEN,
         "Failed", {"golden:y": (0.5, False), "goldenErrorRate": (0.0, True)}),
        ("an error response fails the error rate", revision(answered(SAME), ERROR), revision(answered(SAME)), GOLDEN, "Failed",
         {"golden:y": (0.0, True), "goldenErrorRate": (0.5, False)}),
        ("a timeout fails the error rate", revision(answered(SAME), TIMEOUT), revision(answered(SAME)), GOLDEN, "Failed",
         {"goldenErrorRate": (0.5, False)}),
        ("errors within maxErrorRate pass", revision(answered(SAME), ERROR), None, GoldenSpec(**{**GOLDEN.__dict__, "max_error_rate": 0.5}),
         "Passed", {"goldenErrorRate": (0.5, True)}),
        ("every request failing leaves the outputs unjudged but fails", revision(ERROR), None, GOLDEN, "Failed",
         {"golden:y": (None, None), "goldenErrorRate": (1.0, False)}),
        ("a missing output fails without bound", revision(answered(MISSING)), None, GOLDEN, "Failed", {"golden:y": (math.inf, False)}),
        ("the stable failing the same check makes it inconclusive", revision(answered(WRONG)), revision(answered(WRONG)), GOLDEN,
         "Inconclusive", {"golden:y": (0.5, None)}),
        ("the stable failing another check does not excuse the canary", revision(answered(WRONG)), revision(ERROR), GOLDEN, "Failed",
         {"golden:y": (0.5, False)}),
        ("slow answers fail maxLatencyMs", revision(answered(SAME, latency=80.0)), None, GoldenSpec(**{**GOLDEN.__dict__, "max_latency_ms": 50}),
         "Failed", {"goldenLatencyMs": (80.0, False)}),
        ("fast answers pass maxLatencyMs", revision(answered(SAME, latency=8.0)), None, GoldenSpec(**{**GOLDEN.__dict__, "max_latency_ms": 50}),
         "Passed", {"goldenLatencyMs": (8.0, True)}),
        ("requests skipped at the deadline leave a pass inconclusive", revision(answered(SAME), skipped=3), None, GOLDEN, "Inconclusive",
         {"golden:y": (0.0, True)}),
        ("requests skipped do not hide a failure", revision(answered(WRONG), skipped=3), None, GOLDEN, "Failed", {"golden:y": (0.5, False)}),
        ("no Ready canary pods is inconclusive", RevisionProbe(problem="no Ready pods to probe"), None, GOLDEN, "Inconclusive",
         {"golden": (None, None)}),
    ],
)
def test_judge_golden(name: str, canary: RevisionProbe, stable: RevisionProbe | None, golden: GoldenSpec, result: str,
                      checks: dict[str, tuple[float | None, bool | None]]) -> None:
    verdict = judge_golden(golden=golden, outputs=("y",), canary=canary, stable=stable)
    assert verdict.result == result, verdict.reason
    seen = by_check(verdict)
    for check, (value, passed) in checks.items():
        assert (seen[check].value, seen[check].passed) == (value, passed), (check, seen[check])
    assert all(check.revision == "canary" for check in verdict.checks)


def test_the_failure_names_the_pod_case_and_difference() -> None:
    verdict = judge_golden(golden=GOLDEN, outputs=("y",), canary=revision(answered(SAME), answered(WRONG, case="cat"), pod="m-abc"), stable=None)
    assert "golden:y 0.5 not |difference| <= 0.0001 + 0.001 * |expected|" in verdict.reason
    assert "pod m-abc case cat: 1 of 2 elements outside" in verdict.reason


def test_the_stable_values_are_readings_beside_the_canary_checks() -> None:
    verdict = judge_golden(golden=GOLDEN, outputs=("y",), canary=revision(answered(WRONG)), stable=revision(answered(CLOSE, latency=4.0)))
    assert {(reading.check, reading.revision, reading.value) for reading in verdict.readings} == {
        ("golden:y", "stable", 3e-5), ("goldenErrorRate", "stable", 0.0)}


def test_per_output_tolerances_appear_in_the_threshold() -> None:
    golden = GoldenSpec(**{**GOLDEN.__dict__, "outputs": (OutputToleranceSpec(name="y", absolute=0.01, relative=None),)})
    verdict = judge_golden(golden=golden, outputs=("y",), canary=revision(answered(SAME)), stable=None)
    assert by_check(verdict)["golden:y"].threshold == "|difference| <= 0.01 + 0.001 * |expected|"


def test_an_unbounded_difference_reaches_status_as_a_message() -> None:
    verdict = judge_golden(golden=GOLDEN, outputs=("y",), canary=revision(answered(MISSING)), stable=revision(answered(MISSING)))
    status = by_check(verdict)["golden:y"].as_status()
    assert status["value"] is None and "no such output" in status["message"]
    assert [reading.as_status() for reading in verdict.readings][0] == {"check": "golden:y", "revision": "stable", "value": None, "message": "value inf"}


METRICS_PASSED = Verdict("Passed", (Check("successRate", "canary", 1.0, ">= 0.99", True),), "every check passed", {"canary": 40})
METRICS_FEW = Verdict("Inconclusive", (), "3 canary requests in the window, fewer than minRequests 20", {"canary": 3})
METRICS_FAILED = Verdict("Failed", (Check("successRate", "canary", 0.5, ">= 0.99", False),), "successRate 0.5 not >= 0.99", {"canary": 40})
GOLDEN_PASSED = Verdict("Passed", (Check("golden:y", "canary", 0.0, "t", True),), "every golden case answered within tolerance")
GOLDEN_FAILED = Verdict("Failed", (Check("golden:y", "canary", 0.5, "t", False),), "golden:y 0.5 not t")
GOLDEN_UNSURE = Verdict("Inconclusive", (Check("golden:y", "canary", None, "t", None),), "golden probe: no verdict")


@pytest.mark.parametrize(
    ("metrics", "golden", "result"),
    [
        (METRICS_PASSED, GOLDEN_PASSED, "Passed"),
        (METRICS_PASSED, GOLDEN_FAILED, "Failed"),
        # A wrong answer is wrong however few requests the window saw.
        (METRICS_FEW, GOLDEN_FAILED, "Failed"),
        (METRICS_FEW, GOLDEN_PASSED, "Inconclusive"),
        (METRICS_PASSED, GOLDEN_UNSURE, "Inconclusive"),
        (METRICS_FAILED, GOLDEN_PASSED, "Failed"),
    ],
)
def test_combine(metrics: Verdict, golden: Verdict, result: str) -> None:
    combined = combine(metrics, golden)
    assert combined.result == result
    assert [check.check for check in combined.checks] == [c.check for c in metrics.checks] + [c.check for c in golden.checks]
    assert combined.requests == metrics.requests
    assert combined.failed_checks == sum(1 for c in combined.checks if c.passed is False)


"""bench-versus's results: the summary of its runs, their ratio, outcomes and what a rerun keeps."""

from __future__ import annotations

import json

from bench import report, versus_results
from bench.versus_results import PROMOTED, ROLLED_BACK, Run


def _runs(*seconds: float, outcome: str = ROLLED_BACK) -> list[Run]:
    return [Run(seconds=value, outcome=outcome) for value in seconds]


def test_summary_and_ratio() -> None:
    assert versus_results.summary(_runs(30.04, 20.0, 29.96)) == {
        "outcome": ROLLED_BACK, "rolled_back": True, "clock": versus_results.CLOCKS[ROLLED_BACK], "outcomes": [ROLLED_BACK] * 3,
        "seconds": [30.04, 20.0, 29.96], "median_seconds": 29.96, "max_seconds": 30.04}
    assert versus_results.ratio(30.0, 20.0) == 1.5
    assert versus_results.ratio(54.0, 0.0) is None


def test_figures_give_each_fault_both_tools_and_their_ratio() -> None:
    results = {"common": {"errors": {"tritonops": _runs(20.1, 20.3, 19.9), "flagger": _runs(30.0, 30.2, 29.8)},
                          "crash": {"tritonops": _runs(0.13)}}}
    found = versus_results.figures(results, runs=3)
    errors = found["common"]["errors"]
    assert errors["tritonops"]["median_seconds"] == 20.1 and errors["flagger"]["max_seconds"] == 30.2
    assert errors["ratio_median"] == 1.5 and errors["ratio_max"] == 1.5
    # A fault measured for one tool only has no ratio.
    assert "ratio_median" not in found["common"]["crash"]
    assert set(found["settings"]) == {"common"}
    assert found["settings"]["common"]["flagger"] == {"interval_seconds": 10, "threshold": 2}
    panels = versus_results.bars(found)
    assert list(panels) == ["common: both at 10 s x 2"]
    assert panels["common: both at 10 s x 2"]["errors"]["flagger"] == report.Bar(value=30.0, high=30.2)
    lines = versus_results.table(found)
    assert any("errors" in line and "1.5x" in line for line in lines)
    assert any("crash" in line and line.rstrip().endswith("-") for line in lines)


def test_a_rerun_keeps_the_runs_of_the_saved_results() -> None:
    results = {"common": {"errors": {"tritonops": _runs(20.1), "flagger": _runs(30.0)},
                          "wrong-answer": {"tritonops": _runs(0.4), "flagger": _runs(112.3, outcome=PROMOTED)}},
               "fastest": {"errors": {"tritonops": _runs(10.1)}}}
    document = {"figures": {**versus_results.figures(results, runs=1), "failed_runs": {}}}
    assert versus_results.kept_results(json.loads(json.dumps(document))) == results


def test_results_saved_before_outcomes_were_recorded_are_kept_as_rollbacks() -> None:
    # Every run of that series checked for its rollback (RolledBack, or Failed at 0 replicas).
    document = {"figures": {"common": {"crash": {"tritonops": {"seconds": [0.03], "median_seconds": 0.03, "max_seconds": 0.03}}}}}
    assert versus_results.kept_results(document) == {"common": {"crash": {"tritonops": _runs(0.03)}}}


def test_a_promotion_is_recorded_as_such_with_no_rollback_time_and_no_ratio() -> None:
    results = {"common": {"wrong-answer": {"tritonops": _runs(0.42), "flagger": _runs(112.3, outcome=PROMOTED)}}}
    found = versus_results.figures(results, runs=1)
    entry = found["common"]["wrong-answer"]
    assert entry["tritonops"]["rolled_back"] is True and entry["tritonops"]["outcome"] == ROLLED_BACK
    assert entry["flagger"]["rolled_back"] is False and entry["flagger"]["outcome"] == PROMOTED
    assert entry["flagger"]["median_seconds"] == 112.3 and "promotion" in entry["flagger"]["clock"]
    assert "ratio_median" not in entry and "ratio_max" not in entry
    bars = versus_results.bars(found)["common: both at 10 s x 2"]["wrong-answer"]
    assert bars["tritonops"] == report.Bar(value=0.42, high=0.42)
    assert bars["flagger"] == report.Bar(value=None, note="promoted after 112 s: no rollback")
    assert any("wrong-answer" in line and "promoted 112.30/112.30s" in line and line.rstrip().endswith("-") for line in versus_results.table(found))
    assert versus_results.outcome_lines(found) == [
        "Flagger: promoted the wrong version after 112 s (common wrong-answer; tritonops rolled it back after 0.42 s)"]


def test_runs_with_different_outcomes_are_mixed_and_not_a_rollback() -> None:
    found = versus_results.summary([Run(seconds=0.4), Run(seconds=110.0, outcome=PROMOTED)])
    assert found["outcome"] == "mixed" and found["rolled_back"] is False and found["clock"] is None
    assert found["outcomes"] == [ROLLED_BACK, PROMOTED]


def test_every_rollback_gives_no_outcome_line() -> None:
    found = versus_results.figures({"common": {"errors": {"tritonops": _runs(20.0), "flagger": _runs(30.0)}}}, runs=1)
    assert versus_results.outcome_lines(found) == []

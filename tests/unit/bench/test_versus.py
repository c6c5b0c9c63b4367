"""The benchmark's pure parts: the two tools' settings and objects, and the summary of its runs."""

from __future__ import annotations

import json
import pathlib

import pytest

from bench import golden, report, versus
from bench.versus import PROMOTED, ROLLED_BACK, Run
from tritonops import constants


def test_flaggers_fastest_setting_is_its_common_one_so_its_runs_are_shared() -> None:
    common, fastest = versus.SETTINGS["common"], versus.SETTINGS["fastest"]
    assert common.parameters("tritonops") == (10, 2) and common.parameters("flagger") == (10, 2)
    assert fastest.parameters("tritonops") == (5, 2)
    # Flagger's interval floor is 10 s and its threshold is tritonops' failureLimit.
    assert fastest.parameters("flagger") == common.parameters("flagger")
    assert fastest.tritonops_failure_limit == fastest.flagger_threshold
    assert set(fastest.kinds) == {"errors", "latency"} and set(common.kinds) == set(versus.KINDS)


def test_both_tools_judge_with_the_same_thresholds() -> None:
    setting = versus.SETTINGS["common"]
    analysis = versus.flagger_analysis(setting)
    body = versus.tritonops_body(setting, repository=pathlib.Path("/r"))
    tritonops = body["spec"]["rollout"]["analysis"]
    assert tritonops["intervalSeconds"] == analysis.interval_seconds == 10
    assert tritonops["failureLimit"] == analysis.threshold == 2
    assert tritonops["successRate"]["min"] * 100 == analysis.success_rate_min_percent == 99
    assert tritonops["latencyMs"]["max"] == analysis.latency_max_ms
    assert body["spec"]["rollout"]["progressDeadlineSeconds"] == analysis.progress_deadline_seconds


def test_five_percent_errors_fail_the_success_rate_check() -> None:
    assert 1 - versus.KINDS["errors"].failure_rate < versus.SUCCESS_RATE_MIN
    assert versus.KINDS["latency"].delay_ms > versus.LATENCY_MAX_MS
    assert versus.KINDS["never-ready"].hang_load and versus.KINDS["load-failure"].fail_load


def test_flaggers_target_runs_the_pods_tritonops_builds_for_the_same_spec() -> None:
    setting = versus.SETTINGS["common"]
    version_1 = versus.flagger_target(setting, repository=pathlib.Path("/r"), namespace="ns", version="1")
    version_2 = versus.flagger_target(setting, repository=pathlib.Path("/r"), namespace="ns", version="2")
    assert version_1["metadata"]["name"] == "doubler" and version_1["spec"]["replicas"] == 1
    pod = version_1["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == versus.real_node_server_spec()["image"]
    assert "--load-model=doubler" in pod["containers"][0]["args"]
    # The next release differs in the version it mounts and in the revision label, as tritonops' canary does.
    assert version_1["spec"]["template"]["metadata"]["labels"][constants.LABEL_REVISION] != \
        version_2["spec"]["template"]["metadata"]["labels"][constants.LABEL_REVISION]
    assert version_1["spec"]["selector"] == version_2["spec"]["selector"] == {"matchLabels": {"app": "doubler"}}
    mounts = {mount["mountPath"] for mount in version_2["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert "/models/doubler/2" in mounts


def test_the_canarys_load_is_what_tritonops_canary_gets_at_its_step() -> None:
    # Two replicas at one 50 % step: one stable and one canary pod share the Service's load evenly.
    assert versus.CANARY_RATE == versus.RATE * versus.STEP_PERCENT / 100


def _runs(*seconds: float, outcome: str = ROLLED_BACK) -> list[Run]:
    return [Run(seconds=value, outcome=outcome) for value in seconds]


def test_summary_and_ratio() -> None:
    assert versus.summary(_runs(30.04, 20.0, 29.96)) == {
        "outcome": ROLLED_BACK, "rolled_back": True, "clock": versus.CLOCKS[ROLLED_BACK], "outcomes": [ROLLED_BACK] * 3,
        "seconds": [30.04, 20.0, 29.96], "median_seconds": 29.96, "max_seconds": 30.04}
    assert versus.ratio(30.0, 20.0) == 1.5
    assert versus.ratio(54.0, 0.0) is None


def test_figures_give_each_fault_both_tools_and_their_ratio() -> None:
    results = {"common": {"errors": {"tritonops": _runs(20.1, 20.3, 19.9), "flagger": _runs(30.0, 30.2, 29.8)},
                          "crash": {"tritonops": _runs(0.13)}}}
    found = versus.figures(results, runs=3)
    errors = found["common"]["errors"]
    assert errors["tritonops"]["median_seconds"] == 20.1 and errors["flagger"]["max_seconds"] == 30.2
    assert errors["ratio_median"] == 1.5 and errors["ratio_max"] == 1.5
    # A fault measured for one tool only has no ratio.
    assert "ratio_median" not in found["common"]["crash"]
    assert set(found["settings"]) == {"common"}
    assert found["settings"]["common"]["flagger"] == {"interval_seconds": 10, "threshold": 2}
    panels = versus.bars(found)
    assert list(panels) == ["common: both at 10 s x 2"]
    assert panels["common: both at 10 s x 2"]["errors"]["flagger"] == report.Bar(value=30.0, high=30.2)
    lines = versus.table(found)
    assert any("errors" in line and "1.5x" in line for line in lines)
    assert any("crash" in line and line.rstrip().endswith("-") for line in lines)


def test_save_bars_writes_the_figures_the_bars_and_the_machine(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    panels = {"common": {"errors": {"tritonops": report.Bar(20.1, 20.3), "flagger": report.Bar(30.0)}}}
    json_path, png_path = report.save_bars("versus", figures={"runs_per_fault": 1}, panels=panels, y_label="s", title="t")
    document = json.loads(json_path.read_text())
    assert document["benchmark"] == "versus" and "cpus" in document["machine"]
    assert document["bars"]["common"]["errors"]["tritonops"] == {"value": 20.1, "high": 20.3, "note": None}
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_bars_without_results_still_writes_both_files(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    json_path, png_path = report.save_bars("versus", figures={"failed_runs": {"common/errors/flagger": ["timed out"]}}, panels={}, y_label="s", title="t")
    assert json.loads(json_path.read_text())["bars"] == {} and png_path.exists()


def test_save_bars_draws_an_absent_bar_as_its_note(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    panels = {"common": {"wrong-answer": {"tritonops": report.Bar(0.4), "flagger": report.Bar(None, note="promoted after 112 s: no rollback")}}}
    json_path, png_path = report.save_bars("versus", figures={}, panels=panels, y_label="s", title="t")
    absent = json.loads(json_path.read_text())["bars"]["common"]["wrong-answer"]["flagger"]
    assert absent == {"value": None, "high": None, "note": "promoted after 112 s: no rollback"}
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_keeps_the_runs_of_the_saved_results() -> None:
    results = {"common": {"errors": {"tritonops": _runs(20.1), "flagger": _runs(30.0)},
                          "wrong-answer": {"tritonops": _runs(0.4), "flagger": _runs(112.3, outcome=PROMOTED)}},
               "fastest": {"errors": {"tritonops": _runs(10.1)}}}
    document = {"figures": {**versus.figures(results, runs=1), "failed_runs": {}}}
    assert versus.kept_results(json.loads(json.dumps(document))) == results


def test_results_saved_before_outcomes_were_recorded_are_kept_as_rollbacks() -> None:
    # Every run of that series checked for its rollback (RolledBack, or Failed at 0 replicas).
    document = {"figures": {"common": {"crash": {"tritonops": {"seconds": [0.03], "median_seconds": 0.03, "max_seconds": 0.03}}}}}
    assert versus.kept_results(document) == {"common": {"crash": {"tritonops": _runs(0.03)}}}


def test_the_wrong_answer_is_written_before_the_rollout_and_only_tritonops_golden_gate_sees_it() -> None:
    assert versus.KINDS["wrong-answer"].factor == 2.5
    assert "wrong-answer" not in versus.SWITCHED and "wrong-answer" in versus.SETTINGS["common"].kinds
    assert "wrong-answer" not in versus.SETTINGS["fastest"].kinds
    setting = versus.SETTINGS["common"]
    gated = versus.tritonops_body(setting, repository=pathlib.Path("/r"), kind="wrong-answer")["spec"]["rollout"]["analysis"]
    assert gated["golden"] == golden.GOLDEN
    assert "golden" not in versus.tritonops_body(setting, repository=pathlib.Path("/r"), kind="errors")["spec"]["rollout"]["analysis"]
    # Flagger's checks are its two metrics only: nothing in them reads an answer.
    checks = versus.flagger.canary(name="doubler", namespace="ns", analysis=versus.flagger_analysis(setting))["spec"]["analysis"]["metrics"]
    assert [check["name"] for check in checks] == [versus.flagger.SUCCESS_RATE, versus.flagger.LATENCY]


def test_a_promotion_is_recorded_as_such_with_no_rollback_time_and_no_ratio() -> None:
    results = {"common": {"wrong-answer": {"tritonops": _runs(0.42), "flagger": _runs(112.3, outcome=PROMOTED)}}}
    found = versus.figures(results, runs=1)
    entry = found["common"]["wrong-answer"]
    assert entry["tritonops"]["rolled_back"] is True and entry["tritonops"]["outcome"] == ROLLED_BACK
    assert entry["flagger"]["rolled_back"] is False and entry["flagger"]["outcome"] == PROMOTED
    assert entry["flagger"]["median_seconds"] == 112.3 and "promotion" in entry["flagger"]["clock"]
    assert "ratio_median" not in entry and "ratio_max" not in entry
    bars = versus.bars(found)["common: both at 10 s x 2"]["wrong-answer"]
    assert bars["tritonops"] == report.Bar(value=0.42, high=0.42)
    assert bars["flagger"] == report.Bar(value=None, note="promoted after 112 s: no rollback")
    assert any("wrong-answer" in line and "promoted 112.30/112.30s" in line and line.rstrip().endswith("-") for line in versus.table(found))
    assert versus.outcome_lines(found) == [
        "Flagger: promoted the wrong version after 112 s (common wrong-answer; tritonops rolled it back after 0.42 s)"]


def test_runs_with_different_outcomes_are_mixed_and_not_a_rollback() -> None:
    found = versus.summary([Run(seconds=0.4), Run(seconds=110.0, outcome=PROMOTED)])
    assert found["outcome"] == "mixed" and found["rolled_back"] is False and found["clock"] is None
    assert found["outcomes"] == [ROLLED_BACK, PROMOTED]


def test_every_rollback_gives_no_outcome_line() -> None:
    found = versus.figures({"common": {"errors": {"tritonops": _runs(20.0), "flagger": _runs(30.0)}}}, runs=1)
    assert versus.outcome_lines(found) == []

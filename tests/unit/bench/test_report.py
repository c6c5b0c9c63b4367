"""The bars chart of the benchmarks: figures, bars and the machine, also with no result or an absent bar."""

from __future__ import annotations

import json
import pathlib

import pytest

from bench import report


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

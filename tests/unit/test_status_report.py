"""`tritonops status` rendering: a pure function of the ModelDeployment body, checked on text without a cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness.specs import model_deployment_body
from tritonops import status_report

STABLE = {"hash": "5f2c9a1e", "version": "2", "image": "nvcr.io/nvidia/tritonserver:25.08-py3"}
CANARY = {"hash": "8d04b7c3", "version": "3", "image": "nvcr.io/nvidia/tritonserver:25.08-py3"}


def body(status: dict[str, Any], *, spec: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    """A body as the API server stores it (schema defaults filled in: steps [10, 25, 50])."""
    body = model_deployment_body(spec, status=status)
    body["metadata"]["generation"] = generation
    return body


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def row(text: str, label: str) -> str:
    """The overview line whose label is `label`."""
    return next(line for line in text.splitlines() if line.startswith(label + " "))


READY = {
    "phase": "Ready",
    "message": "2/2 replicas of 5f2c9a1e ready",
    "observedGeneration": 1,
    "model": "resnet",
    "stableRevision": STABLE,
    "replicas": 2,
    "readyReplicas": 2,
    "readyText": "2/2",
    "endpoints": {"http": "resnet.vision.svc:8000", "grpc": "resnet.vision.svc:8001", "metrics": "resnet.vision.svc:8002"},
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "Available", "message": "all replicas ready", "lastTransitionTime": "2026-01-02T03:04:05Z"},
        {"type": "Progressing", "status": "False", "reason": "Stable", "message": "", "lastTransitionTime": "2026-01-02T03:04:05Z"},
    ],
}

MID_CANARY = {
    "phase": "Canary",
    "message": "analysing the canary",
    "observedGeneration": 2,
    "stableRevision": STABLE,
    "canaryRevision": CANARY,
    "canaryWeight": 25,
    "currentStep": 1,
    "stepStartedAt": "2026-01-02T03:00:00Z",
    "failedAnalyses": 1,
    "lastAnalysis": {
        "at": "2026-01-02T03:01:00Z",
        "result": "Failed",
        "reason": "successRate [canary] below threshold",
        "failedChecks": 1,
        "requests": {"canary": 120, "stable": 800},
        "measurements": [
            {"check": "successRate", "revision": "canary", "value": 0.93, "threshold": ">= 0.99", "passed": False},
            {"check": "latencyMs", "revision": "canary", "value": 12.345678, "threshold": "<= 250", "passed": True},
            {"check": "queueMs", "revision": "canary", "value": None, "threshold": "<= 100", "passed": None},
            {"check": "successRate", "revision": "stable", "value": 0.999},
        ],
    },
}

ROLLED_BACK = {
    "phase": "RolledBack",
    "message": "8d04b7c3 rolled back: 2 failed analyses",
    "observedGeneration": 2,
    "stableRevision": STABLE,
    "failedRevision": {
        "hash": "8d04b7c3",
        "version": "3",
        "reason": "AnalysisFailed: successRate 0.93 < 0.99",
        "at": "2026-01-02T03:05:00Z",
        "measurements": [{"check": "successRate", "revision": "canary", "value": 0.93, "threshold": ">= 0.99", "passed": False}],
    },
    "history": [
        {"hash": "5f2c9a1e", "version": "2", "outcome": "Promoted", "at": "2026-01-01T00:00:00Z", "reason": "all steps passed"},
        {"hash": "8d04b7c3", "version": "3", "outcome": "RolledBack", "at": "2026-01-02T03:05:00Z", "reason": "AnalysisFailed"},
    ],
}


def test_steady_ready_shows_phase_stable_revision_and_conditions() -> None:
    text = status_report.render_text(body(READY))
    assert "ModelDeployment vision/resnet" in text
    assert row(text, "Phase").split()[1:3] == ["Ready", "2/2"]
    assert "5f2c9a1e  version 2  nvcr.io/nvidia/tritonserver:25.08-py3" in row(text, "Stable")
    assert row(text, "Canary").split() == ["Canary", "none"]
    assert row(text, "Paused").split() == ["Paused", "no"]
    assert "Rollout" not in text and "Last analysis" not in text and "History" not in text
    ready_condition = lines_with(text, "Available")[0].split()
    assert ready_condition[:3] == ["Ready", "True", "Available"]
    assert "2026-01-02T03:04:05Z" in ready_condition
    assert "grpc resnet.vision.svc:8001" in text


def test_mid_canary_shows_weight_step_and_the_failed_measurement() -> None:
    text = status_report.render_text(body(MID_CANARY, spec={"rollout": {"paused": True}}, generation=2))
    assert "8d04b7c3  version 3" in row(text, "Canary")
    rollout = row(text, "Rollout")
    # currentStep 1 of the default steps [10, 25, 50] is the second step.
    assert "weight 25%" in rollout and "step 2/3 (25%)" in rollout and "1 failed analysis" in rollout
    assert row(text, "Paused").split() == ["Paused", "yes"]
    analysis = lines_with(text, "Last analysis")[0]
    assert "2026-01-02T03:01:00Z" in analysis and "Failed" in analysis
    # Square brackets in a reason are text, not rich markup.
    assert "successRate [canary] below threshold" in analysis
    assert "canary 120, stable 800" in analysis
    assert lines_with(text, "successRate")[-2].split() == ["successRate", "canary", "0.93", ">=", "0.99", "NO"]
    assert lines_with(text, "latencyMs")[0].split() == ["latencyMs", "canary", "12.3457", "<=", "250", "yes"]
    assert lines_with(text, "queueMs")[0].split() == ["queueMs", "canary", "no", "data", "<=", "100", "n/a"]
    # The stable revision's value is shown beside the canary's, not judged.
    assert lines_with(text, "successRate")[-1].split() == ["successRate", "stable", "0.999", "-"]


def test_rolled_back_shows_the_failed_revision_and_history() -> None:
    text = status_report.render_text(body(ROLLED_BACK, generation=2))
    assert row(text, "Phase").split()[1] == "RolledBack"
    failed = lines_with(text, "Failed revision")[0]
    assert "8d04b7c3  version 3" in failed and "at 2026-01-02T03:05:00Z" in failed and "AnalysisFailed: successRate 0.93 < 0.99" in failed
    assert lines_with(text, ">= 0.99")[0].split() == ["successRate", "canary", "0.93", ">=", "0.99", "NO"]
    history = text[text.index("History"):]
    assert lines_with(history, "Promoted")[0].split()[:5] == ["5f2c9a1e", "2", "Promoted", "2026-01-01T00:00:00Z", "all"]
    assert lines_with(history, "RolledBack")[0].split() == ["8d04b7c3", "3", "RolledBack", "2026-01-02T03:05:00Z", "AnalysisFailed"]
    assert row(text, "Canary").split() == ["Canary", "none"]


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"metadata": {"name": "resnet"}},
        {"metadata": {"name": "resnet", "namespace": "vision"}, "status": None},
        # Wrong types everywhere: a status written by hand or by an older operator must still render.
        {
            "metadata": {"name": "resnet", "generation": "x"},
            "spec": {"rollout": "fast"},
            "status": {
                "phase": 3,
                "canaryRevision": {"hash": "8d04b7c3"},
                "canaryWeight": "lots",
                "currentStep": True,
                "lastAnalysis": {"measurements": [None, {"value": "high"}]},
                "failedRevision": "yes",
                "history": [None, "x"],
                "conditions": {"type": "Ready"},
            },
        },
    ],
)
def test_missing_or_malformed_fields_render_without_error(document: dict[str, Any]) -> None:
    text = status_report.render_text(document)
    assert "ModelDeployment" in text and "Phase" in text
    assert json.dumps(status_report.summary(document))


def test_no_status_yet_says_so() -> None:
    text = status_report.render_text({"metadata": {"name": "resnet", "namespace": "vision"}})
    assert row(text, "Phase").split()[1:] == ["Unknown", "(no", "status", "yet)"]
    assert row(text, "Stable").split() == ["Stable", "-"]


def test_a_lagging_observed_generation_is_shown_and_is_not_settled() -> None:
    lagging = body(READY, generation=2)
    assert "observed 1 of 2" in status_report.render_text(lagging)
    assert not status_report.is_settled(lagging)
    assert status_report.is_settled(body(READY, generation=1))


@pytest.mark.parametrize(
    ("current_step", "steps", "expected"),
    [
        (0, [10, 25, 50], "step 1/3 (10%)"),
        (2, [10, 25, 50], "step 3/3 (50%)"),
        (3, [10, 25, 50], "step 4/3"),
        (1, [], "step 2"),
        (None, [10], None),
        (-1, [10], None),
        ("1", [10, 25], None),
    ],
)
def test_step_text(current_step: Any, steps: list[Any], expected: str | None) -> None:
    assert status_report.step_text(current_step=current_step, steps=steps) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.93, "0.93"), (1.0, "1"), (0, "0"), (12.345678, "12.3457"), (-0.00001, "0"), (None, "no data"), ("NaN", "NaN")],
)
def test_format_value(value: Any, expected: str) -> None:
    assert status_report.format_value(value) == expected


@pytest.mark.parametrize(
    ("phase", "settled"),
    [("Ready", True), ("RolledBack", True), ("Failed", True), ("Canary", False), ("Progressing", False), ("Degraded", False), (None, False)],
)
def test_settled_phases(phase: str | None, settled: bool) -> None:
    assert status_report.is_settled({"status": {"phase": phase}}) is settled


def test_summary_carries_the_status_as_written_and_the_step() -> None:
    document = status_report.summary(body(MID_CANARY, generation=2))
    assert document["name"] == "resnet" and document["namespace"] == "vision"
    assert document["status"] == MID_CANARY
    assert document["steps"] == [10, 25, 50]
    assert document["step"] == "step 2/3 (25%)"
    assert document["paused"] is False and document["settled"] is False
    assert status_report.summary(body(READY))["step"] is None


GOLDEN_MEASUREMENTS = [
    {"check": "successRate", "revision": "canary", "value": 1.0, "threshold": ">= 0.99", "passed": True},
    {"check": "golden:logits", "revision": "canary", "value": 0.4375, "threshold": "|difference| <= 0.0001 + 0.001 * |expected|",
     "passed": False, "message": "pod resnet-8d04-x case cat: 3 of 10 elements outside atol 0.0001 + rtol 0.001, first at index 2"},
    {"check": "golden:probabilities", "revision": "canary", "value": None, "threshold": "|difference| <= 0.0001 + 0.001 * |expected|",
     "passed": False, "message": "pod resnet-8d04-x case cat: the answer has no such output (worst difference inf)"},
    {"check": "goldenErrorRate", "revision": "canary", "value": 0.0, "threshold": "<= 0", "passed": True},
    {"check": "golden:logits", "revision": "stable", "value": 2e-05},
    {"check": "golden:probabilities", "revision": "stable", "value": 0.0},
]
GOLDEN_FAILED = {**ROLLED_BACK, "lastAnalysis": {"at": "2026-01-02T03:05:00Z", "result": "Failed", "reason": "golden:logits 0.4375 not ...",
                                                 "measurements": GOLDEN_MEASUREMENTS}}


def test_golden_results_show_the_worst_difference_per_output() -> None:
    text = status_report.render_text(body(GOLDEN_FAILED, generation=2), width=240)
    assert lines_with(text, "Golden gate (worst |difference| per output)")
    logits = [line for line in lines_with(text, "logits") if "pod resnet-8d04-x" in line][0].split()
    assert logits[:3] == ["logits", "0.438", "2e-05"] and "NO" in logits
    probabilities = [line for line in lines_with(text, "probabilities") if "no such output" in line][0].split()
    assert probabilities[:3] == ["probabilities", "unbounded", "0"]
    document = status_report.summary(body(GOLDEN_FAILED, generation=2))
    assert [(row["output"], row["canary"], row["stable"], row["passed"]) for row in document["golden"]] == [
        ("logits", 0.4375, 2e-05, False), ("probabilities", "unbounded", 0.0, False)]


def test_no_golden_gate_no_golden_table() -> None:
    assert "Golden gate" not in status_report.render_text(body(MID_CANARY, generation=2))
    assert status_report.summary(body(MID_CANARY, generation=2))["golden"] == []

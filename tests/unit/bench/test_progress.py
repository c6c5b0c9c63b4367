from __future__ import annotations

import itertools
from typing import Any

import pytest

from bench import progress
from bench.progress import Poller, converged, ready_deployments


@pytest.mark.parametrize(
    ("statuses", "ready"),
    [
        ([], 0),
        ([None, {}], 0),
        ([{"readyReplicas": 0}, {"readyReplicas": 1}, {"readyReplicas": 3}], 2),
        ([{"replicas": 1, "availableReplicas": 1}], 0),  # readiness is readyReplicas, not availability
    ],
)
def test_deployments_count_as_ready_with_one_ready_pod(statuses: list[Any], ready: int) -> None:
    assert ready_deployments([{"status": status} for status in statuses]) == ready


def _model_deployment(*, phase: str | None, observed: int | None, generation: int) -> dict[str, Any]:
    status = {key: value for key, value in (("phase", phase), ("observedGeneration", observed)) if value is not None}
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(
    ("items", "count"),
    [
        ([_model_deployment(phase="Ready", observed=1, generation=1)], 1),
        ([_model_deployment(phase="Ready", observed=1, generation=2)], 0),  # Ready for a spec it no longer has
        ([_model_deployment(phase="Progressing", observed=1, generation=1)], 0),
        ([_model_deployment(phase=None, observed=None, generation=1), {"metadata": {"generation": 1}}], 0),
    ],
)
def test_model_deployments_converge_when_ready_for_their_generation(items: list[dict[str, Any]], count: int) -> None:
    assert converged(items) == count


def test_the_poller_stops_once_done_and_keeps_every_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.01)
    counts = itertools.count(1)
    polled: list[float] = []
    poller = Poller(counters={"ready": lambda: next(counts)}, done=lambda seen: seen["ready"] >= 3, timeout_seconds=10, on_poll=polled.append)
    poller.start()
    elapsed = poller.wait()
    assert poller.finished
    assert [value for _, value in poller.timelines["ready"]] == [1, 2, 3]
    assert poller.last("ready") == 3
    assert len(polled) == 3 and elapsed == polled[-1]


def test_the_poller_gives_up_at_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.01)
    poller = Poller(counters={"ready": lambda: 0}, done=lambda seen: False, timeout_seconds=0.2)
    poller.start()
    elapsed = poller.wait()
    assert not poller.finished
    assert 0.0 <= elapsed <= 0.5 and poller.last("ready") == 0


def test_own_cpu_seconds_grows_with_work() -> None:
    before = progress.own_cpu_seconds()
    sum(index * index for index in range(2_000_000))
    assert progress.own_cpu_seconds() > before


def test_a_failed_poll_is_recorded_and_the_next_one_reads_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.01)
    answers = iter([TimeoutError("read timed out"), 5])

    def count() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    poller = Poller(counters={"ready": count}, done=lambda seen: seen["ready"] == 5, timeout_seconds=10)
    poller.start()
    poller.wait()
    assert poller.finished and poller.last("ready") == 5
    assert poller.errors == ["TimeoutError: read timed out"]


def test_a_process_cpu_is_read_from_proc_and_grows_with_work():
    import os

    before = progress.process_cpu_seconds(os.getpid())
    sum(index * index for index in range(2_000_000))
    assert progress.process_cpu_seconds(os.getpid()) > before

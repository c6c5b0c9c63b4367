from __future__ import annotations

import itertools
from typing import Any

import pytest

from bench import progress
from bench.progress import Poller, has_ready_pod, is_converged


@pytest.mark.parametrize(
    ("status", "ready"),
    [
        (None, False),
        ({}, False),
        ({"readyReplicas": 0}, False),
        ({"readyReplicas": 1}, True),
        ({"readyReplicas": 3}, True),
        ({"replicas": 1, "availableReplicas": 1}, False),  # readiness is readyReplicas, not availability
    ],
)
def test_a_deployment_counts_as_ready_with_one_ready_pod(status: Any, ready: bool) -> None:
    assert has_ready_pod({"status": status}) is ready


def _model_deployment(*, phase: str | None, observed: int | None, generation: int) -> dict[str, Any]:
    status = {key: value for key, value in (("phase", phase), ("observedGeneration", observed)) if value is not None}
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(
    ("item", "converged"),
    [
        (_model_deployment(phase="Ready", observed=1, generation=1), True),
        (_model_deployment(phase="Ready", observed=1, generation=2), False),  # Ready for a spec it no longer has
        (_model_deployment(phase="Progressing", observed=1, generation=1), False),
        (_model_deployment(phase=None, observed=None, generation=1), False),
        ({"metadata": {"generation": 1}}, False),
    ],
)
def test_a_model_deployment_converges_when_ready_for_its_generation(item: dict[str, Any], converged: bool) -> None:
    assert is_converged(item) is converged


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


@pytest.mark.parametrize(
    ("before", "after", "seconds", "cores"),
    [
        ({"kube-apiserver": 10.0}, {"kube-apiserver": 40.0}, 30.0, {"kube-apiserver": 1.0}),
        ({"etcd": 1.0, "kwok": 2.0}, {"etcd": 1.0, "kwok": 2.5}, 10.0, {"etcd": 0.0, "kwok": 0.05}),
        ({}, {"tritonops": 3.0}, 60.0, {"tritonops": 0.05}),  # started after the first reading
        ({"gone": 5.0}, {}, 10.0, {}),  # a process that ended is not reported
    ],
)
def test_cores_are_cpu_seconds_per_second_between_two_readings(before: dict[str, float], after: dict[str, float], seconds: float,
                                                               cores: dict[str, float]) -> None:
    assert progress.cores_between(before, after, seconds=seconds) == cores

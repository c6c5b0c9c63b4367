"""The API server probe's state: when an outage counts, and when the API server is back."""

from __future__ import annotations

import datetime

import pytest

from tritonops.control_plane import MINIMUM_OUTAGE_SECONDS, ControlPlaneProbe, Reachability

T0 = datetime.datetime(2026, 12, 7, 20, 0, tzinfo=datetime.timezone.utc)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def after(probes: list[tuple[float, bool]]) -> Reachability:
    state = Reachability()
    for seconds, answered in probes:
        state = state.after_probe(answered=answered, now=at(seconds))
    return state


@pytest.mark.parametrize(("probes", "expected"), [
    ([], Reachability()),
    ([(0, True), (2, True)], Reachability()),
    # Unanswered since the first failure; later failures keep that start.
    ([(0, True), (2, False), (4, False)], Reachability(unanswered_since=at(2))),
    # An outage of at least the minimum: back at the first answer.
    ([(2, False), (4, False), (2 + MINIMUM_OUTAGE_SECONDS, True)], Reachability(back_at=at(2 + MINIMUM_OUTAGE_SECONDS))),
    # One slow answer of a busy API server is no outage.
    ([(2, False), (4, True)], Reachability()),
    # A short blip after an outage keeps the outage's return.
    ([(0, False), (10, True), (20, False), (22, True)], Reachability(back_at=at(10))),
    # The latest outage's return wins.
    ([(0, False), (10, True), (20, False), (40, True)], Reachability(back_at=at(40))),
    # Down again: the earlier return stays until the next one.
    ([(0, False), (10, True), (20, False)], Reachability(unanswered_since=at(20), back_at=at(10))),
])
def test_reachability_after_probes(probes: list[tuple[float, bool]], expected: Reachability) -> None:
    assert after(probes) == expected


class Clock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> datetime.datetime:
        return at(self.seconds)


@pytest.mark.parametrize(("probes", "now", "expected"), [
    ([], 10, None),
    ([(0, False), (10, True)], 30, at(10)),
    # While an outage lasts the clock stands still: it restarts at every pass.
    ([(0, False), (MINIMUM_OUTAGE_SECONDS, False)], 30, at(30)),
    # Not yet an outage: the last return, or none.
    ([(0, False)], MINIMUM_OUTAGE_SECONDS - 1, None),
    ([(0, False), (10, True), (20, False)], 21, at(10)),
])
def test_where_the_progress_clock_restarts(probes: list[tuple[float, bool]], now: float, expected: datetime.datetime | None) -> None:
    assert after(probes).progress_restart(now=at(now)) == expected


def test_progress_restart_asks_again_while_the_api_server_has_not_answered() -> None:
    """A pass right after an outage must see the return, not the probe state from before it."""
    answers: list[bool] = [False]
    asked: list[float] = []
    clock = Clock()

    def ask() -> None:
        asked.append(clock.seconds)
        if not answers[-1]:
            raise ConnectionRefusedError("refused")

    probe = ControlPlaneProbe(ask, wall_clock=clock)
    probe.probe()
    assert probe.progress_restart() is None and asked == [0.0, 0.0]  # asked again: down, but not for long yet
    clock.seconds = 10.0
    assert probe.progress_restart() == at(10) and asked == [0.0, 0.0, 10.0]  # still down: the clock stands still
    clock.seconds, answers[-1] = 30.0, True
    assert probe.progress_restart() == at(30) and asked == [0.0, 0.0, 10.0, 30.0]
    clock.seconds = 40.0
    assert probe.progress_restart() == at(30) and asked == [0.0, 0.0, 10.0, 30.0]  # answered since: no request

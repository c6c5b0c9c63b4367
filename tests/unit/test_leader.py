from __future__ import annotations

import copy
import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tritonops.leader import LeaderElection, Leadership, Observed, Timings, decide

WALL = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)
TIMINGS = Timings(lease_seconds=10, renew_deadline_seconds=7.0, retry_seconds=2.0)


def spec(holder: str, *, renewed: datetime.datetime = WALL, transitions: int = 0) -> dict[str, object]:
    return {"holderIdentity": holder, "leaseDurationSeconds": 10, "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "acquireTime": "2026-11-22T11:00:00.000000Z", "leaseTransitions": transitions}


def test_a_missing_lease_is_taken() -> None:
    decision = decide(None, observed=None, identity="a", lease_seconds=10, now=100.0, wall=WALL)
    assert decision.acquire and decision.spec["holderIdentity"] == "a" and decision.spec["leaseTransitions"] == 0


def test_another_holders_lease_is_judged_by_how_long_it_stayed_unchanged_here_not_by_its_renew_time() -> None:
    # renewTime says an hour ago (the holder's clock is behind ours), but we have only just seen it.
    stale_looking = spec("b", renewed=WALL - datetime.timedelta(hours=1))
    first = decide(stale_looking, observed=None, identity="a", lease_seconds=10, now=100.0, wall=WALL)
    assert not first.acquire and first.observed == Observed(spec=stale_looking, since=100.0)
    # Unchanged for 9.9 s of local time: still held. The count runs from the first sight, not from each read.
    again = decide(stale_looking, observed=first.observed, identity="a", lease_seconds=10, now=109.9, wall=WALL)
    assert not again.acquire and again.observed == first.observed
    taken = decide(stale_looking, observed=again.observed, identity="a", lease_seconds=10, now=110.0, wall=WALL)
    assert taken.acquire and taken.spec["holderIdentity"] == "a"


def test_a_renew_time_in_the_future_does_not_keep_a_dead_holder_alive() -> None:
    # The holder's clock ran an hour ahead; it stopped renewing 10 s of our time ago.
    ahead = spec("b", renewed=WALL + datetime.timedelta(hours=1), transitions=2)
    observed = Observed(spec=ahead, since=90.0)
    decision = decide(ahead, observed=observed, identity="a", lease_seconds=10, now=100.0, wall=WALL)
    assert decision.acquire
    assert decision.spec["holderIdentity"] == "a" and decision.spec["leaseTransitions"] == 3
    assert decision.spec["acquireTime"] == decision.spec["renewTime"] == "2026-11-22T12:00:00.000000Z"


def test_every_change_of_the_record_restarts_the_count() -> None:
    observed = Observed(spec=spec("b", renewed=WALL - datetime.timedelta(hours=1)), since=90.0)
    renewed = spec("b", renewed=WALL - datetime.timedelta(minutes=59))
    decision = decide(renewed, observed=observed, identity="a", lease_seconds=10, now=100.0, wall=WALL)
    assert not decision.acquire and decision.observed == Observed(spec=renewed, since=100.0)


def test_the_holders_own_duration_counts() -> None:
    short = {**spec("b"), "leaseDurationSeconds": 1}
    decision = decide(short, observed=Observed(spec=short, since=99.0), identity="a", lease_seconds=10, now=100.0, wall=WALL)
    assert decision.acquire


def test_the_holder_renews_and_keeps_its_acquire_time() -> None:
    decision = decide(spec("a", transitions=1), observed=None, identity="a", lease_seconds=10, now=100.0, wall=WALL)
    assert decision.acquire
    assert decision.spec["acquireTime"] == "2026-11-22T11:00:00.000000Z" and decision.spec["leaseTransitions"] == 1


@pytest.mark.parametrize(("lease", "deadline", "retry"), [(10, 10.0, 2.0), (10, 12.0, 2.0), (10, 2.0, 2.0), (10, 7.0, 0.0)])
def test_timings_that_could_let_two_replicas_act_are_refused(lease: int, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError):
        Timings(lease_seconds=lease, renew_deadline_seconds=deadline, retry_seconds=retry)


# -- the elector, against an in-memory Lease and fake clocks --------------------------------------


@dataclasses.dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class FakeLeases:
    """One Lease with the apiserver's optimistic concurrency; `down` makes every request fail."""

    name: str = "ns/lease"
    lease: dict[str, Any] | None = None
    version: int = 0
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("connection refused")

    def get(self) -> dict[str, Any] | None:
        self._check()
        return copy.deepcopy(self.lease)

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._check()
        if self.lease is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        return self._store(body)

    def replace(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._check()
        if self.lease is None or body["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        return self._store(body)

    def _store(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = {"metadata": {"resourceVersion": str(self.version)}, "spec": copy.deepcopy(dict(body["spec"]))}
        return copy.deepcopy(self.lease)


def elector(leases: FakeLeases, identity: str, clock: Clock, *, wall_offset_hours: float = 0) -> LeaderElection:
    wall = WALL + datetime.timedelta(hours=wall_offset_hours)
    return LeaderElection(leases, identity=identity, timings=TIMINGS, clock=clock, wall_clock=lambda: wall + datetime.timedelta(seconds=clock.now))


def run_for(seconds: float, clock: Clock, *electors: LeaderElection) -> None:
    """Step each elector when its wait is over, advancing the shared fake clock in small ticks."""
    due = {id(each): clock.now for each in electors}
    end = clock.now + seconds
    while clock.now < end:
        for each in electors:
            if clock.now >= due[id(each)]:
                due[id(each)] = clock.now + each.step()
        clock.now = round(clock.now + 0.1, 6)


def test_a_standby_on_a_skewed_clock_leaves_a_renewing_leader_alone_and_takes_over_once_it_stops() -> None:
    leases, clock = FakeLeases(), Clock()
    # The leader's wall clock is an hour behind the standby's: its renewTime always looks expired there.
    leader, standby = elector(leases, "a", clock, wall_offset_hours=-1), elector(leases, "b", clock)
    run_for(60, clock, leader, standby)
    assert leader.leadership.is_set() and not standby.leadership.is_set()
    assert leases.lease is not None and leases.lease["spec"]["holderIdentity"] == "a"

    died = clock.now  # the leader is killed: it never steps again
    while not standby.leadership.is_set():
        run_for(0.1, clock, standby)
        assert clock.now - died < 30, "the standby never took over"
    # Never before a full lease of unchanged record; at most a lease plus a retry period (its lag in seeing
    # the last renewal) after the leader's death.
    assert TIMINGS.lease_seconds - TIMINGS.retry_seconds <= clock.now - died <= TIMINGS.lease_seconds + TIMINGS.retry_seconds + 0.5
    assert leases.lease["spec"]["holderIdentity"] == "b" and leases.lease["spec"]["leaseTransitions"] == 1


def test_a_leader_cut_off_from_the_apiserver_stops_acting_before_anyone_may_take_over_and_resumes_after() -> None:
    leases, clock = FakeLeases(), Clock()
    leader, standby = elector(leases, "a", clock), elector(leases, "b", clock)
    run_for(10, clock, leader, standby)
    assert leader.leadership.is_set() and leader.leadership.term == 1

    leases.down = True  # the apiserver is gone for 30 s: every request fails, no step raises
    outage_started = clock.now
    acted_until = outage_started
    while clock.now < outage_started + 30:
        run_for(0.1, clock, leader, standby)
        if leader.leadership.is_set():
            acted_until = clock.now
        assert not standby.leadership.is_set()
    # It stopped within the renew deadline of its last renewal (at most a retry period before the outage),
    # well before a standby could take over.
    earliest = outage_started + TIMINGS.renew_deadline_seconds - TIMINGS.retry_seconds - 0.5
    assert earliest <= acted_until < outage_started + TIMINGS.renew_deadline_seconds < outage_started + TIMINGS.lease_seconds

    leases.down = False
    run_for(2 * TIMINGS.retry_seconds, clock, leader, standby)
    # The Lease went unrenewed for longer than its duration: either may have it now, but exactly one.
    assert leader.leadership.is_set() != standby.leadership.is_set()
    assert leases.lease is not None and leases.lease["spec"]["holderIdentity"] in ("a", "b")


def test_a_lone_leader_survives_an_outage_and_leads_again_in_a_new_term() -> None:
    leases, clock = FakeLeases(), Clock()
    leader = elector(leases, "a", clock)
    run_for(10, clock, leader)
    leases.down = True
    run_for(30, clock, leader)
    assert not leader.leadership.is_set()
    leases.down = False
    run_for(TIMINGS.retry_seconds + 0.2, clock, leader)
    # The Lease still names it, so it renews, in a new term (the handlers then resync everything).
    assert leader.leadership.is_set() and leader.leadership.term == 2
    assert leases.lease is not None and leases.lease["spec"]["holderIdentity"] == "a" and leases.lease["spec"]["leaseTransitions"] == 0


def test_a_leader_that_finds_another_holder_stops_at_once() -> None:
    leases, clock = FakeLeases(), Clock()
    leader = elector(leases, "a", clock)
    leader.step()
    assert leader.leadership.is_set() and leases.lease is not None
    leases.lease["spec"]["holderIdentity"] = "b"  # as after a takeover this replica did not see coming
    leader.step()
    assert not leader.leadership.is_set()


def test_leadership_lapses_by_itself_at_its_deadline() -> None:
    clock = Clock()
    leadership = Leadership(clock=clock)
    assert not leadership.is_set() and leadership.term == 0
    leadership.hold_until(clock.now + 7)
    clock.now += 6.9
    assert leadership.is_set()
    leadership.hold_until(clock.now + 7)  # a renewal in time: the same term
    clock.now += 7
    assert not leadership.is_set() and not leadership.wait(timeout=0)
    leadership.hold_until(clock.now + 7)
    assert leadership.is_set() and leadership.term == 2


def test_a_released_lease_is_taken_over_at_the_standbys_next_attempt() -> None:
    leases, clock = FakeLeases(), Clock()
    leader, standby = elector(leases, "a", clock), elector(leases, "b", clock)
    run_for(10, clock, leader, standby)
    assert leader.release()
    assert not leader.leadership.is_set()
    assert leases.lease is not None
    released = leases.lease["spec"]
    assert released["holderIdentity"] == "" and released["leaseDurationSeconds"] == 1 and released["leaseTransitions"] == 0
    assert released["renewTime"] == released["acquireTime"]
    stopped = clock.now
    while not standby.leadership.is_set():
        run_for(0.1, clock, standby)
        assert clock.now - stopped < TIMINGS.lease_seconds, "the standby waited as if the Lease had not been released"
    assert clock.now - stopped <= TIMINGS.retry_seconds + 0.2
    assert leases.lease["spec"]["holderIdentity"] == "b" and leases.lease["spec"]["leaseTransitions"] == 1


def test_only_the_holder_releases_and_a_lease_taken_meanwhile_is_left_alone() -> None:
    leases, clock = FakeLeases(), Clock()
    leader, standby = elector(leases, "a", clock), elector(leases, "b", clock)
    run_for(4, clock, leader, standby)
    assert not standby.release()
    assert leases.lease is not None and leases.lease["spec"]["holderIdentity"] == "a"
    # Another replica wrote the Lease after our last renewal: the release conflicts, and says so without raising.
    leases._store({"spec": {**leases.lease["spec"], "holderIdentity": "c"}})
    assert not leader.release()
    assert leases.lease["spec"]["holderIdentity"] == "c"

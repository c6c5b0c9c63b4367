from __future__ import annotations

import datetime

from tritonops.leader import decide

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.timezone.utc)


def spec(holder: str, *, renewed_seconds_ago: float, transitions: int = 0) -> dict[str, object]:
    renewed = NOW - datetime.timedelta(seconds=renewed_seconds_ago)
    return {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "acquireTime": "2026-11-22T11:00:00.000000Z", "leaseTransitions": transitions}


def test_a_missing_lease_is_taken() -> None:
    decision = decide(None, identity="a", lease_seconds=15, now=NOW)
    assert decision.acquire and decision.spec["holderIdentity"] == "a" and decision.spec["leaseTransitions"] == 0


def test_a_lease_another_holder_renews_is_left_alone() -> None:
    decision = decide(spec("b", renewed_seconds_ago=5), identity="a", lease_seconds=15, now=NOW)
    assert not decision.acquire


def test_an_expired_lease_is_taken_over_and_counted() -> None:
    decision = decide(spec("b", renewed_seconds_ago=16, transitions=2), identity="a", lease_seconds=15, now=NOW)
    assert decision.acquire
    assert decision.spec["holderIdentity"] == "a" and decision.spec["leaseTransitions"] == 3
    assert decision.spec["acquireTime"] == decision.spec["renewTime"] == "2026-11-22T12:00:00.000000Z"


def test_the_holder_renews_and_keeps_its_acquire_time() -> None:
    decision = decide(spec("a", renewed_seconds_ago=5, transitions=1), identity="a", lease_seconds=15, now=NOW)
    assert decision.acquire
    assert decision.spec["acquireTime"] == "2026-11-22T11:00:00.000000Z" and decision.spec["leaseTransitions"] == 1

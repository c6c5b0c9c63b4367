from __future__ import annotations

import threading

from tritonops.workqueue import WorkQueue


def test_a_waiting_key_is_queued_once() -> None:
    queue = WorkQueue()
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert len(queue) == 2
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["a", "b"]
    assert queue.get(timeout=0) is None


def test_a_key_added_while_processing_goes_round_again_after_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")
    queue.add("a")
    assert queue.get(timeout=0) is None, "not handed to a second worker while the first holds it"
    queue.done("a")
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    assert queue.get(timeout=0) is None


def test_close_wakes_waiting_workers() -> None:
    queue = WorkQueue()
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(queue.get(timeout=10)))
    worker.start()
    queue.close()
    worker.join(timeout=5)
    assert results == [None]
    queue.add("late")
    assert len(queue) == 0


def test_a_delayed_key_arrives_after_its_delay_and_the_earliest_request_wins() -> None:
    import time

    queue = WorkQueue()
    started = time.monotonic()
    queue.add_after("a", 0.3)
    queue.add_after("a", 5.0)  # later than the pending one: ignored
    assert queue.get(timeout=0.1) is None
    assert queue.get(timeout=2.0) == "a"
    assert 0.25 <= time.monotonic() - started < 2.0
    queue.done("a")
    assert queue.get(timeout=0.5) is None
    queue.close()


def test_error_delays_follow_kopfs_throttler_capped_at_a_minute() -> None:
    from tritonops.workqueue import Backoff

    backoff, delays = Backoff(), []
    for _ in range(14):
        backoff = backoff.after_failure()
        delays.append(backoff.delay())
    assert delays == [1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 60, 60, 60, 60]
    assert Backoff().delay() == 0
    assert Backoff(failures=3).delay(delays=(0.1, 0.2)) == 0.2, "past the end of the sequence its last delay repeats"


def test_a_failing_key_is_retried_later_each_time_and_a_success_resets_the_pace() -> None:
    import time

    queue = WorkQueue(error_delays=(0.2, 0.6))
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    started = time.monotonic()
    assert queue.add_rate_limited("a") == 0.2
    queue.done("a")
    assert queue.get(timeout=0.1) is None, "not retried at once"
    assert queue.get(timeout=2.0) == "a" and 0.15 <= time.monotonic() - started < 0.5
    started = time.monotonic()
    assert queue.add_rate_limited("a") == 0.6
    queue.done("a")
    assert queue.get(timeout=0.4) is None
    assert queue.get(timeout=2.0) == "a" and 0.55 <= time.monotonic() - started < 1.0
    assert queue.failures("a") == 2
    queue.forget("a")  # the pass succeeded
    queue.done("a")
    assert queue.failures("a") == 0
    assert queue.add_rate_limited("a") == 0.2, "the sequence starts over after a success"
    assert queue.failures("b") == 0, "keys back off independently"
    queue.close()

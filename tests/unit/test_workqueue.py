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

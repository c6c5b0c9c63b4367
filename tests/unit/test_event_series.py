from __future__ import annotations

import dataclasses
import datetime
import threading

from tritonops.event_series import EventKey, EventSeries

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)
KEY = EventKey(namespace="vision", name="resnet", uid="u1", type="Warning", reason="InsufficientGPU", message="needs 1 more GPU")


def test_a_new_event_has_no_series_and_a_repeat_counts_on_the_first() -> None:
    series = EventSeries()
    assert series.repeat_of(KEY, now=NOW) is None
    series.started(KEY, event_name="resnet.abc", now=NOW)
    later = NOW + datetime.timedelta(seconds=30)
    repeat = series.repeat_of(KEY, now=later)
    assert repeat is not None and (repeat.event_name, repeat.count, repeat.first, repeat.last) == ("resnet.abc", 2, NOW, later)
    assert series.repeat_of(KEY, now=later).count == 3  # type: ignore[union-attr]


def test_another_message_reason_or_object_is_its_own_event() -> None:
    series = EventSeries()
    series.started(KEY, event_name="resnet.abc", now=NOW)
    for changed in (dataclasses.replace(KEY, message="needs 2 more GPUs"), dataclasses.replace(KEY, reason="Promoted"),
                    dataclasses.replace(KEY, uid="u2"), dataclasses.replace(KEY, name="bert")):
        assert series.repeat_of(changed, now=NOW) is None


def test_a_repeat_after_the_window_starts_a_new_event() -> None:
    series = EventSeries(window=datetime.timedelta(minutes=10))
    series.started(KEY, event_name="resnet.abc", now=NOW)
    assert series.repeat_of(KEY, now=NOW + datetime.timedelta(minutes=9)) is not None
    # The window runs from the last occurrence, as client-go's does.
    assert series.repeat_of(KEY, now=NOW + datetime.timedelta(minutes=18)) is not None
    assert series.repeat_of(KEY, now=NOW + datetime.timedelta(minutes=29)) is None


def test_the_oldest_series_go_beyond_the_limit_and_a_lost_event_restarts() -> None:
    series = EventSeries(limit=2)
    keys = [EventKey(namespace="n", name=f"m{index}", uid="u", type="Normal", reason="R", message="x") for index in range(3)]
    for key in keys:
        series.started(key, event_name=key.name, now=NOW)
    assert series.repeat_of(keys[0], now=NOW) is None
    assert series.repeat_of(keys[2], now=NOW) is not None
    series.lost(keys[2])
    assert series.repeat_of(keys[2], now=NOW) is None


def test_threads_counting_one_series_lose_no_count() -> None:
    series = EventSeries()
    series.started(KEY, event_name="resnet.abc", now=NOW)
    threads = [threading.Thread(target=lambda: [series.repeat_of(KEY, now=NOW) for _ in range(500)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert series.repeat_of(KEY, now=NOW).count == 2002  # type: ignore[union-attr]

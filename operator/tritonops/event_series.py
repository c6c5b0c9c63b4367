"""Which events repeat an earlier one: the same event again is a higher count on the first, not a new object.

As client-go's event correlator does: an event equal in object, type, reason and message to one posted
within the window is that event's series. Pure, bounded, and safe to share between worker threads.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import threading

# client-go keeps a series for ten minutes and at most 4096 of them.
SERIES_WINDOW = datetime.timedelta(minutes=10)
SERIES_LIMIT = 4096


@dataclasses.dataclass(frozen=True)
class EventKey:
    namespace: str
    name: str
    uid: str
    type: str
    reason: str
    message: str


@dataclasses.dataclass(frozen=True)
class Series:
    """An event already posted: its object name, how often it happened, and when first and last."""

    event_name: str
    count: int
    first: datetime.datetime
    last: datetime.datetime


class EventSeries:
    def __init__(self, *, window: datetime.timedelta = SERIES_WINDOW, limit: int = SERIES_LIMIT) -> None:
        self._window = window
        self._limit = limit
        self._series: collections.OrderedDict[EventKey, Series] = collections.OrderedDict()
        self._lock = threading.Lock()

    def repeat_of(self, key: EventKey, *, now: datetime.datetime) -> Series | None:
        """The series this event continues, with its count and last time already advanced; None if it is new."""
        with self._lock:
            series = self._series.get(key)
            if series is None or now - series.last > self._window:
                return None
            advanced = dataclasses.replace(series, count=series.count + 1, last=now)
            self._series[key] = advanced
            self._series.move_to_end(key)
            return advanced

    def started(self, key: EventKey, *, event_name: str, now: datetime.datetime) -> None:
        """A new event object was posted for this key: later repeats count on it."""
        with self._lock:
            self._series[key] = Series(event_name=event_name, count=1, first=now, last=now)
            self._series.move_to_end(key)
            while len(self._series) > self._limit:
                self._series.popitem(last=False)

    def lost(self, key: EventKey) -> None:
        """Its event object is gone (expired by the API server's TTL): the next one starts a new series."""
        with self._lock:
            self._series.pop(key, None)

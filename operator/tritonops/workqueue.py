"""A deduplicating queue of object keys, in the manner of client-go's workqueue.

Watch events only mark a key as needing work; workers reconcile each key from the latest state. A
burst of events for one object then costs one reconciliation, and no event body waits in a queue.

A key whose reconciliation failed comes back on its own, later each time it fails again in a row
(`add_rate_limited`), and at the normal pace once a pass succeeds (`forget`). Events and resyncs still
add it at once: a spec fix or a changed child deserves a try now, and that try, if it fails, only
pushes the next retry further out.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Hashable, Sequence

# kopf's own error delays (its throttler's `settings.queueing.error_delays`), capped at a minute: a
# passing failure is retried within a second, a lasting one costs one attempt a minute, never a hot loop.
ERROR_DELAYS: tuple[float, ...] = (1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 60)


@dataclasses.dataclass(frozen=True)
class Backoff:
    """The failures in a row of one key, as kopf's throttler counts them, but as a plain value."""

    failures: int = 0

    def after_failure(self) -> Backoff:
        return Backoff(failures=self.failures + 1)

    def delay(self, *, delays: Sequence[float] = ERROR_DELAYS) -> float:
        """Seconds to wait after the latest failure: the n-th failure in a row waits the n-th delay, and
        past the end of the sequence its last delay repeats (as kopf reuses its last delay)."""
        if self.failures <= 0 or not delays:
            return 0.0
        return float(delays[min(self.failures, len(delays)) - 1])


class WorkQueue:
    def __init__(self, *, error_delays: Sequence[float] = ERROR_DELAYS) -> None:
        self._condition = threading.Condition()
        self._order: collections.deque[Hashable] = collections.deque()
        self._waiting: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        # Keys added while being processed: they go round once more when their worker is done.
        self._dirty: set[Hashable] = set()
        self._closed = False
        # Delayed keys: (due time, tie-breaker, key), served by one timer thread started on first use.
        self._delayed: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, float] = {}
        self._counter = itertools.count()
        self._timer: threading.Thread | None = None
        self._error_delays = tuple(error_delays)
        # Only keys whose last pass failed have an entry: a success removes it.
        self._backoff: dict[Hashable, Backoff] = {}

    def add_rate_limited(self, key: Hashable) -> float:
        """Retry `key` after its last pass failed, later for each failure in a row; returns the delay."""
        with self._condition:
            backoff = self._backoff.get(key, Backoff()).after_failure()
            self._backoff[key] = backoff
        delay = backoff.delay(delays=self._error_delays)
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        """The pass of `key` succeeded (or needs no retry): its next failure starts the delays over."""
        with self._condition:
            self._backoff.pop(key, None)

    def failures(self, key: Hashable) -> int:
        with self._condition:
            backoff = self._backoff.get(key)
            return backoff.failures if backoff is not None else 0

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add `key` after `delay` seconds; an earlier pending time for the same key wins."""
        due = time.monotonic() + max(0.0, delay)
        with self._condition:
            if self._closed or self._due.get(key, float("inf")) <= due:
                return
            self._due[key] = due
            heapq.heappush(self._delayed, (due, next(self._counter), key))
            if self._timer is None:
                self._timer = threading.Thread(target=self._release_due_keys, name="workqueue-timer", daemon=True)
                self._timer.start()
            self._condition.notify_all()

    def _release_due_keys(self) -> None:
        while True:
            with self._condition:
                if self._closed:
                    return
                now = time.monotonic()
                ready: list[Hashable] = []
                while self._delayed and self._delayed[0][0] <= now:
                    due, _, key = heapq.heappop(self._delayed)
                    if self._due.get(key) == due:
                        del self._due[key]
                        ready.append(key)
                wait = min(1.0, self._delayed[0][0] - now) if self._delayed else 1.0
            for key in ready:
                self.add(key)
            with self._condition:
                if not ready and not self._closed:
                    self._condition.wait(timeout=max(0.01, wait))

    def add(self, key: Hashable) -> None:
        with self._condition:
            if self._closed or key in self._waiting:
                return
            if key in self._processing:
                self._dirty.add(key)
                return
            self._waiting.add(key)
            self._order.append(key)
            self._condition.notify()

    def get(self, *, timeout: float | None = None) -> Hashable | None:
        """The next key to work on, or None when the queue is closed or the timeout passed."""
        with self._condition:
            if not self._condition.wait_for(lambda: self._order or self._closed, timeout=timeout) or self._closed:
                return None
            key = self._order.popleft()
            self._waiting.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: Hashable) -> None:
        with self._condition:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._waiting.add(key)
                self._order.append(key)
                self._condition.notify()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def __len__(self) -> int:
        with self._condition:
            return len(self._order)

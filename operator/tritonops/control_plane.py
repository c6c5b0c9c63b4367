"""Whether the API server answers, probed in the background: an outage stops every pod and controller
from reporting progress, so the rollout engine's progress clock stands still while one lasts and restarts
when the API server is back.

The probe asks `/readyz`, which every client may read (system:public-info-viewer) and which fails while
etcd is down too. Only an outage that lasts MINIMUM_OUTAGE_SECONDS counts: one slow answer of a busy API
server must not extend every canary's deadline.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
from collections.abc import Callable

from tritonops import metrics

logger = logging.getLogger(__name__)
PROBE_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 5.0
MINIMUM_OUTAGE_SECONDS = 5.0
WallClock = Callable[[], datetime.datetime]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Reachability:
    """What the probes so far say: since when the API server has not answered, and when it last came back."""

    unanswered_since: datetime.datetime | None = None
    back_at: datetime.datetime | None = None

    def after_probe(self, *, answered: bool, now: datetime.datetime) -> Reachability:
        if not answered:
            return dataclasses.replace(self, unanswered_since=self.unanswered_since or now)
        if self.unanswered_since is None:
            return self
        return Reachability(back_at=now if self._outage(now=now) else self.back_at)

    def _outage(self, *, now: datetime.datetime) -> bool:
        return self.unanswered_since is not None and (now - self.unanswered_since).total_seconds() >= MINIMUM_OUTAGE_SECONDS

    def progress_restart(self, *, now: datetime.datetime) -> datetime.datetime | None:
        """Where the progress clock restarts: now while an outage lasts (the API server may already take
        writes before it answers ready, and a pass then must not judge a deadline), else its last return."""
        return now if self._outage(now=now) else self.back_at


class ControlPlaneProbe:
    """Probes the API server every PROBE_SECONDS on a daemon thread; `progress_restart` is what the engine reads."""

    def __init__(self, ask: Callable[[], None], *, wall_clock: WallClock = _utc_now) -> None:
        # `ask` returns when the API server answered ready and raises otherwise.
        self._ask = ask
        self._wall_clock = wall_clock
        self._state = Reachability()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def probe(self) -> Reachability:
        failure: object = None
        try:
            self._ask()
        except Exception as error:  # refused, timed out, or not ready (etcd down): all the same here
            metrics.control_plane_probe_failures_total.inc()
            failure = getattr(error, "reason", None) or error
        answered = failure is None
        now = self._wall_clock()
        with self._lock:
            before = self._state
            self._state = after = before.after_probe(answered=answered, now=now)
        if not answered and before.unanswered_since is None:
            logger.warning("the API server does not answer /readyz: %s", failure)
        elif answered and before.unanswered_since is not None:
            logger.info("the API server answers again after %.1f s", (now - before.unanswered_since).total_seconds())
        return after

    def progress_restart(self) -> datetime.datetime | None:
        """See `Reachability.progress_restart`; asks the API server first if it has not answered since, so
        that a pass that runs just after an outage does not read a state that is one probe old."""
        with self._lock:
            state = self._state
        if state.unanswered_since is not None:
            state = self.probe()
        return state.progress_restart(now=self._wall_clock())

    def run(self) -> None:
        while not self._stop.is_set():
            self.probe()
            self._stop.wait(PROBE_SECONDS)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="control-plane-probe", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 2 * PROBE_TIMEOUT_SECONDS) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

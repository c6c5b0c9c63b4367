"""Leader election on a coordination.k8s.io Lease, the way client-go's leaderelection does it.

Every replica watches and keeps its indexes warm; only the leader's workers reconcile. Expiry is judged
on the local monotonic clock only, never by comparing another machine's renewTime with ours: a candidate
remembers the record it last saw and when, locally, it last changed (`Observed`), and takes the Lease
only once it has stayed unchanged for leaseDurationSeconds. The leader acts only until renewDeadline
after the start of its last successful renewal, shorter than the lease duration, so it has stopped
before anyone may take over; it keeps campaigning without exiting and acts again once it renews. On a
graceful stop it releases the Lease (client-go's ReleaseOnCancel), so that a standby takes over at once.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kubernetes.client.rest import ApiException

from tritonops import constants
from tritonops.kube import request_json

logger = logging.getLogger(__name__)
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"
REQUEST_TIMEOUT_SECONDS = 5.0
Clock = Callable[[], float]
WallClock = Callable[[], datetime.datetime]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _stamp(wall: datetime.datetime) -> str:
    return wall.astimezone(datetime.timezone.utc).strftime(MICROTIME)


@dataclasses.dataclass(frozen=True)
class Timings:
    """client-go's leaseDuration, renewDeadline and retryPeriod (defaults in `constants`)."""

    # How long a candidate waits, from the last change it saw, before it takes the Lease over.
    lease_seconds: int = constants.LEADER_LEASE_SECONDS
    # How long the leader acts after the start of its last successful renewal.
    renew_deadline_seconds: float = constants.LEADER_RENEW_DEADLINE_SECONDS
    # Pause between attempts to take or renew the Lease.
    retry_seconds: float = constants.LEADER_RETRY_SECONDS

    def __post_init__(self) -> None:
        # client-go's checks: the leader must stop before the lease can expire, and must be able to
        # retry at least once within the deadline.
        if not self.lease_seconds > self.renew_deadline_seconds:
            raise ValueError("the lease duration must be longer than the renew deadline")
        if not self.renew_deadline_seconds > 1.2 * self.retry_seconds > 0:
            raise ValueError("the renew deadline must be longer than 1.2 times the retry period, which must be positive")


@dataclasses.dataclass(frozen=True)
class Observed:
    """The Lease spec last seen, and the local monotonic time at which it was first seen as it is."""

    spec: Mapping[str, Any]
    since: float

    def expires(self, *, default_seconds: float) -> float:
        """Local time from which another holder's unchanged record may be taken over."""
        return self.since + float(self.spec.get("leaseDurationSeconds") or default_seconds)


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether to write the Lease (take or renew it), the spec to write, and what is now observed."""

    acquire: bool
    spec: Mapping[str, Any]
    observed: Observed | None


def observe(spec: Mapping[str, Any], *, previous: Observed | None, now: float) -> Observed:
    """Keep the time of the last change: a record seen unchanged again does not restart the count."""
    if previous is not None and dict(previous.spec) == dict(spec):
        return previous
    return Observed(spec=dict(spec), since=now)


def decide(
    lease_spec: Mapping[str, Any] | None, *, observed: Observed | None, identity: str, lease_seconds: int,
    now: float, wall: datetime.datetime,
) -> Decision:
    """Take a lease that is ours, free, or unchanged for its duration; leave one another holder renews.

    `now` is local monotonic time; `wall` only fills renewTime and acquireTime for people to read.
    """
    stamp = _stamp(wall)
    if lease_spec is None:
        created = {"holderIdentity": identity, "leaseDurationSeconds": lease_seconds, "renewTime": stamp,
                   "acquireTime": stamp, "leaseTransitions": 0}
        return Decision(acquire=True, spec=created, observed=None)
    seen = observe(lease_spec, previous=observed, now=now)
    holder = lease_spec.get("holderIdentity") or ""
    if holder and holder != identity and now < seen.expires(default_seconds=lease_seconds):
        return Decision(acquire=False, spec=seen.spec, observed=seen)
    ours = holder == identity
    transitions = int(lease_spec.get("leaseTransitions") or 0)
    updated = {
        **lease_spec,
        "holderIdentity": identity,
        "leaseDurationSeconds": lease_seconds,
        "renewTime": stamp,
        "acquireTime": lease_spec.get("acquireTime", stamp) if ours else stamp,
        # As client-go counts: every change of holder, a released Lease's included.
        "leaseTransitions": transitions if ours else transitions + 1,
    }
    return Decision(acquire=True, spec=updated, observed=seen)


def released(lease_spec: Mapping[str, Any], *, wall: datetime.datetime) -> dict[str, Any]:
    """The spec that hands a Lease back (client-go's ReleaseOnCancel): no holder, expired a second later."""
    stamp = _stamp(wall)
    return {**lease_spec, "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": stamp, "acquireTime": stamp}


class Leadership:
    """Whether this replica may act now: until a local monotonic deadline that each renewal moves on.

    The deadline passes by itself, so the workers stop even while a renewal hangs on a dead connection.
    It offers the `is_set` and `wait` of the threading.Event that the workers wait on.
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._until = -math.inf
        self._changed = threading.Condition()
        # How many times leadership has begun: each new term makes the handlers resync everything.
        self.term = 0

    def _holds(self) -> bool:
        return self._clock() < self._until

    def hold_until(self, until: float) -> None:
        with self._changed:
            if not self._holds() and self._clock() < until:
                self.term += 1
            self._until = until
            self._changed.notify_all()

    def set(self) -> None:
        """Lead for good: the operator runs without leader election."""
        self.hold_until(math.inf)

    def clear(self) -> None:
        with self._changed:
            self._until = -math.inf

    def is_set(self) -> bool:
        with self._changed:
            return self._holds()

    def wait(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(self._holds, timeout=timeout)


class LeaseStore(Protocol):
    """Reads and writes one Lease; `replace` must fail when the Lease changed since it was read."""

    name: str

    def get(self) -> dict[str, Any] | None: ...

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def replace(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


class ApiLeaseStore:
    def __init__(self, api_client: Any, *, namespace: str, name: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.name = f"{namespace}/{name}"
        self._collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self._path = f"{self._collection}/{name}"
        self._lease_name = name

    def get(self) -> dict[str, Any] | None:
        try:
            return request_json(self.api_client, "GET", self._path, timeout=REQUEST_TIMEOUT_SECONDS)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        document = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self._lease_name, "namespace": self.namespace}, **body}
        return request_json(self.api_client, "POST", self._collection, body=document, timeout=REQUEST_TIMEOUT_SECONDS)

    def replace(self, body: Mapping[str, Any]) -> dict[str, Any]:
        # The body's resourceVersion makes the write fail if another replica wrote the Lease first.
        return request_json(self.api_client, "PUT", self._path, body=dict(body), timeout=REQUEST_TIMEOUT_SECONDS)


class LeaderElection:
    """Campaigns for the Lease and renews it; `leadership` says whether this replica may act now."""

    def __init__(
        self,
        store: LeaseStore,
        *,
        identity: str,
        timings: Timings = Timings(),
        leadership: Leadership | None = None,
        clock: Clock = time.monotonic,
        wall_clock: WallClock = _utc_now,
    ) -> None:
        self.store, self.identity, self.timings = store, identity, timings
        self.clock, self.wall_clock = clock, wall_clock
        self.leadership = leadership if leadership is not None else Leadership(clock=clock)
        self.observed: Observed | None = None
        # The Lease as last read or written: its resourceVersion guards the release.
        self._lease: dict[str, Any] | None = None
        self._announced = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _try_once(self, *, now: float) -> bool:
        """True when this replica holds the Lease now; False when another replica does."""
        lease = self.store.get()
        decision = decide(
            None if lease is None else (lease.get("spec") or {}), observed=self.observed, identity=self.identity,
            lease_seconds=self.timings.lease_seconds, now=now, wall=self.wall_clock(),
        )
        self.observed, self._lease = decision.observed, lease
        if not decision.acquire:
            return False
        if lease is None:
            written = self.store.create({"spec": dict(decision.spec)})
        else:
            written = self.store.replace({**lease, "spec": dict(decision.spec)})
        self._lease = written
        self.observed = Observed(spec=dict(written.get("spec") or decision.spec), since=self.clock())
        return True

    def step(self) -> float:
        """One attempt to take or renew the Lease; returns the seconds to wait before the next."""
        started = self.clock()
        try:
            held: bool | None = self._try_once(now=started)
        except Exception as error:  # every failure (refused, timed out, a conflict) is one failed attempt
            logger.warning("leader election: %s: %s", self.store.name, getattr(error, "reason", None) or error)
            held = None
        if held:
            # From before the read: the record the others saw changed no earlier than that.
            self.leadership.hold_until(started + self.timings.renew_deadline_seconds)
        elif held is False:
            self.leadership.clear()
        # A failed attempt leaves the deadline as it was: leadership then lapses by itself.
        self._announce()
        return self._next_wait(now=self.clock())

    def _announce(self) -> None:
        leading = self.leadership.is_set()
        if leading and not self._announced:
            logger.info("leader election: %s now leads %s", self.identity, self.store.name)
        elif self._announced and not leading:
            # Stop acting, but stay up: the watches stay warm and a renewal resumes leadership.
            logger.error("leader election: %s lost %s; standing by", self.identity, self.store.name)
        self._announced = leading

    def _next_wait(self, *, now: float) -> float:
        """The retry period, shorter when another holder's lease expires sooner, so that takeover is prompt."""
        wait = self.timings.retry_seconds
        observed = self.observed
        if not self.leadership.is_set() and observed is not None and observed.spec.get("holderIdentity") not in (None, "", self.identity):
            remaining = observed.expires(default_seconds=self.timings.lease_seconds) - now
            if remaining > 0:  # once expired, a failed takeover waits the full period like any failure
                wait = min(wait, remaining)
        return wait

    def release(self) -> bool:
        """Hand the Lease back if this replica holds it; True when it did. Call after the workers stopped."""
        self.leadership.clear()
        lease = self._lease
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return False
        try:
            self.store.replace({**lease, "spec": released(lease.get("spec") or {}, wall=self.wall_clock())})
        except Exception as error:  # a conflict (no longer ours) or an outage: the Lease then simply expires
            logger.warning("leader election: could not release %s: %s", self.store.name, getattr(error, "reason", None) or error)
            return False
        self._lease = None
        logger.info("leader election: %s released %s", self.identity, self.store.name)
        return True

    def run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.step())

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 2 * REQUEST_TIMEOUT_SECONDS) -> None:
        """Stop campaigning; waits for an attempt in flight, so that nothing renews after a release."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

"""The triton provider: read Triton's own /metrics counters and turn two samples into a window.

Parsing and window math are pure; `TritonProvider` adds the scrape of each pod's metrics port.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Protocol

from tritonops import constants
from tritonops.engine.analysis import CustomValue, WindowMeasurement
from tritonops.providers import RevisionTarget, bounded_http
from tritonops.providers.bounded_http import Deadline, DeadlineExceeded
from tritonops.spec import CustomCheckSpec

logger = logging.getLogger(__name__)
# The whole scrape of one pod, connecting and every byte of the answer, not each socket read.
SCRAPE_DEADLINE_SECONDS = 2.0
# Scrapes in flight at once, across every object and worker: a few slow pods cannot start hundreds of threads.
SCRAPE_CONCURRENCY = 8
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=SCRAPE_CONCURRENCY, thread_name_prefix="tritonops-scrape")

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclasses.dataclass(frozen=True)
class TritonCounters:
    """Cumulative counters of one model version on one Triton server."""

    success: float = 0.0
    failure: float = 0.0
    request_duration_us: float = 0.0
    queue_duration_us: float = 0.0

    def __add__(self, other: TritonCounters) -> TritonCounters:
        return TritonCounters(
            self.success + other.success,
            self.failure + other.failure,
            self.request_duration_us + other.request_duration_us,
            self.queue_duration_us + other.queue_duration_us,
        )


_FIELDS = {
    "nv_inference_request_success": "success",
    "nv_inference_request_failure": "failure",
    "nv_inference_request_duration_us": "request_duration_us",
    "nv_inference_queue_duration_us": "queue_duration_us",
}


def parse_counters(metrics_text: str, *, model: str, version: str | None = None) -> TritonCounters:
    """Sum the counters of `model` (one version, or all) from a Prometheus text exposition."""
    totals = dict.fromkeys(_FIELDS.values(), 0.0)
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group("name") not in _FIELDS:
            continue
        labels = dict(_LABEL.findall(match.group("labels")))
        if labels.get("model") != model or (version is not None and labels.get("version") != version):
            continue
        totals[_FIELDS[match.group("name")]] += float(match.group("value"))
    return TritonCounters(**totals)


def _delta(before: float, after: float) -> float:
    # A counter that went down means the server restarted: everything it counted since is new.
    return after - before if after >= before else after


def window(before: TritonCounters, after: TritonCounters) -> WindowMeasurement:
    """One server's window from two samples of its counters."""
    success = _delta(before.success, after.success)
    failure = _delta(before.failure, after.failure)
    requests = int(round(success + failure))
    duration = _delta(before.request_duration_us, after.request_duration_us)
    queue = _delta(before.queue_duration_us, after.queue_duration_us)
    successes = int(round(success))
    # Triton adds to its duration counters for successful requests only, so the means are per success.
    return WindowMeasurement(
        requests=requests,
        successes=successes,
        mean_latency_ms=duration / successes / 1000 if successes else None,
        mean_queue_ms=queue / successes / 1000 if successes else None,
    )


def combine(windows: Iterable[WindowMeasurement]) -> WindowMeasurement:
    """One revision's window across its pods, weighting the means by each pod's successful requests."""
    collected = list(windows)
    requests = sum(w.requests for w in collected)
    successes = sum(w.successes for w in collected)
    if not requests:
        return WindowMeasurement(requests=0, successes=0)

    def weighted(values: list[tuple[float | None, int]]) -> float | None:
        known = [(value, count) for value, count in values if value is not None and count]
        total = sum(count for _, count in known)
        return sum(value * count for value, count in known) / total if total else None

    return WindowMeasurement(
        requests=requests,
        successes=successes,
        mean_latency_ms=weighted([(w.mean_latency_ms, w.successes) for w in collected]),
        mean_queue_ms=weighted([(w.mean_queue_ms, w.successes) for w in collected]),
    )


class Fetch(Protocol):
    def __call__(self, url: str, *, deadline: Deadline) -> str:
        """The text at `url`, or an OSError (DeadlineExceeded when it was not over by `deadline`)."""
        ...


def http_fetch(url: str, *, deadline: Deadline) -> str:
    response = bounded_http.get(url, deadline=deadline)
    if response.status != 200:
        raise OSError(f"{url} answered HTTP {response.status} {response.reason}")
    return response.body.decode()


Samples = dict[str, TritonCounters]  # pod name -> its counters when last scraped


class TritonProvider:
    """Scrapes every Ready pod of a revision; a window is the counters' growth since the last scrape.

    The last samples stay in memory: after a restart the first call only takes a sample, so a window
    never mixes traffic from before the restart with the current step's. A revision's pods are scraped
    in parallel on a small shared pool, all within one deadline: a pod that misses it leaves the window
    inconclusive, and the worker moves on.
    """

    def __init__(
        self,
        *,
        fetch: Fetch = http_fetch,
        allowed: Callable[[str], bool] = lambda address: True,
        scrape_deadline_seconds: float = SCRAPE_DEADLINE_SECONDS,
        pool: concurrent.futures.Executor = _POOL,
    ) -> None:
        self.fetch = fetch
        self.allowed = allowed
        self.scrape_deadline_seconds = scrape_deadline_seconds
        self._pool = pool
        # Worker threads measure while the event loop forgets deleted objects: every access holds the lock.
        self._lock = threading.Lock()
        self._samples: dict[tuple[str, str], dict[str, Samples]] = {}  # object -> revision -> samples

    def _scrape(self, target: RevisionTarget, *, deadline: Deadline) -> Samples:
        futures: dict[str, concurrent.futures.Future[str]] = {}
        for pod, address in sorted(target.pods.items()):
            if not self.allowed(address):
                logger.warning("not scraping pod %s at %s: outside the allowed scrape networks", pod, address)
                continue
            futures[pod] = self._pool.submit(self.fetch, f"http://{address}:{constants.METRICS_PORT}/metrics", deadline=deadline)
        # Wait no longer than the deadline even for a fetch that overruns it; whatever has not started is dropped.
        _, late = concurrent.futures.wait(futures.values(), timeout=deadline.remaining())
        for future in late:
            future.cancel()
        missed = [pod for pod, future in futures.items() if future in late]
        samples: Samples = {}
        for pod, future in futures.items():
            if future in late:
                continue
            try:
                text = future.result()
            except DeadlineExceeded:
                missed.append(pod)
                continue
            except OSError as error:
                logger.info("scrape of pod %s at %s failed: %s", pod, target.pods[pod], error)
                continue
            samples[pod] = parse_counters(text, model=target.model, version=target.version)
        if missed:
            # Judging the pods that did answer could pass a canary whose slow pod is the broken one.
            raise DeadlineExceeded(
                f"the metrics of pod {', '.join(sorted(missed))} of revision {target.revision} did not arrive within the scrape deadline"
            )
        return samples

    def measure(self, target: RevisionTarget, *, window_seconds: int, deadline: Deadline | None = None) -> WindowMeasurement | None:
        """The window ending now (see Provider); DeadlineExceeded when a pod missed the deadline, and then
        nothing is remembered of this scrape: the next window starts at the last whole sample."""
        scrape_deadline = (deadline or Deadline.after(self.scrape_deadline_seconds)).within(self.scrape_deadline_seconds)
        current = self._scrape(target, deadline=scrape_deadline)
        with self._lock:
            revisions = self._samples.setdefault(target.key, {})
            previous = revisions.get(target.revision)
            revisions[target.revision] = {**(previous or {}), **current}
        if previous is None:
            return None
        # A pod with no earlier sample started within the window: all it counted is new.
        return combine(window(previous.get(pod, TritonCounters()), counters) for pod, counters in current.items())

    def within(self, deadline: Deadline) -> Bounded:
        """This provider with every measurement over by `deadline`."""
        return Bounded(provider=self, deadline=deadline)

    def custom(self, checks: Sequence[CustomCheckSpec], *, window_seconds: int) -> dict[str, CustomValue]:
        # The CRD allows custom checks with the prometheus provider only; an older CRD may not have said so.
        return {check.name: CustomValue(None, "custom queries need the prometheus provider") for check in checks}

    def has_sample(self, key: tuple[str, str], revision: str) -> bool:
        with self._lock:
            return revision in self._samples.get(key, {})

    def sampled(self, key: tuple[str, str]) -> dict[str, frozenset[str]]:
        """Revision -> the pods with a remembered sample, for one object."""
        with self._lock:
            return {revision: frozenset(samples) for revision, samples in self._samples.get(key, {}).items()}

    def retain(self, key: tuple[str, str], *, revisions: Collection[str], pods: Collection[str]) -> None:
        """Drop the samples of revisions no longer measured and of pods that no longer exist.

        `pods` are all the object's pods, Ready or not: a pod that is briefly not Ready keeps its sample,
        so its next window starts there instead of counting its whole life as new."""
        with self._lock:
            remembered = self._samples.get(key)
            if remembered is not None:
                self._samples[key] = {
                    revision: {pod: counters for pod, counters in samples.items() if pod in pods}
                    for revision, samples in remembered.items()
                    if revision in revisions
                }

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._samples.pop(key, None)


@dataclasses.dataclass(frozen=True)
class Bounded:
    """The triton provider for one analysis: every measurement is over by the analysis' deadline."""

    provider: TritonProvider
    deadline: Deadline

    def measure(self, target: RevisionTarget, *, window_seconds: int) -> WindowMeasurement | None:
        return self.provider.measure(target, window_seconds=window_seconds, deadline=self.deadline)

    def custom(self, checks: Sequence[CustomCheckSpec], *, window_seconds: int) -> dict[str, CustomValue]:
        return self.provider.custom(checks, window_seconds=window_seconds)

    def forget(self, key: tuple[str, str]) -> None:
        self.provider.forget(key)

"""The triton provider: read Triton's own /metrics counters and turn two samples into a window.

Parsing and window math are pure; `TritonProvider` adds the scrape of each pod's metrics port.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import urllib.request
from collections.abc import Callable, Iterable, Sequence

from tritonops import constants
from tritonops.engine.analysis import CustomValue, WindowMeasurement
from tritonops.providers import RevisionTarget
from tritonops.spec import CustomCheckSpec

logger = logging.getLogger(__name__)
SCRAPE_TIMEOUT_SECONDS = 2.0

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


Fetch = Callable[[str], str]


def http_fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_SECONDS) as response:
        return str(response.read().decode())


class TritonProvider:
    """Scrapes every Ready pod of a revision; a window is the counters' growth since the last scrape.

    The last samples stay in memory: after a restart the first call only takes a sample, so a window
    never mixes traffic from before the restart with the current step's.
    """

    def __init__(self, *, fetch: Fetch = http_fetch, allowed: Callable[[str], bool] = lambda address: True) -> None:
        self.fetch = fetch
        self.allowed = allowed
        self._samples: dict[tuple[tuple[str, str], str], dict[str, TritonCounters]] = {}

    def _scrape(self, target: RevisionTarget) -> dict[str, TritonCounters]:
        samples: dict[str, TritonCounters] = {}
        for pod, address in sorted(target.pods.items()):
            if not self.allowed(address):
                logger.warning("not scraping pod %s at %s: outside the allowed scrape networks", pod, address)
                continue
            try:
                text = self.fetch(f"http://{address}:{constants.METRICS_PORT}/metrics")
            except OSError as error:
                logger.info("scrape of pod %s at %s failed: %s", pod, address, error)
                continue
            samples[pod] = parse_counters(text, model=target.model, version=target.version)
        return samples

    def measure(self, target: RevisionTarget, *, window_seconds: int) -> WindowMeasurement | None:
        current = self._scrape(target)
        previous = self._samples.get((target.key, target.revision))
        self._samples[(target.key, target.revision)] = {**(previous or {}), **current}
        if previous is None:
            return None
        # A pod with no earlier sample started within the window: all it counted is new.
        return combine(window(previous.get(pod, TritonCounters()), counters) for pod, counters in current.items())

    def custom(self, checks: Sequence[CustomCheckSpec], *, window_seconds: int) -> dict[str, CustomValue]:
        # The CRD allows custom checks with the prometheus provider only; an older CRD may not have said so.
        return {check.name: CustomValue(None, "custom queries need the prometheus provider") for check in checks}

    def has_sample(self, key: tuple[str, str], revision: str) -> bool:
        return (key, revision) in self._samples

    def forget(self, key: tuple[str, str]) -> None:
        for remembered in [k for k in self._samples if k[0] == key]:
            del self._samples[remembered]

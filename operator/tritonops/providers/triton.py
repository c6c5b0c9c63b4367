"""The triton provider: read Triton's own /metrics counters and turn two samples into a window. Pure."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from tritonops.engine.analysis import WindowMeasurement

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

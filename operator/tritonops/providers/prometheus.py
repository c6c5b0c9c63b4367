"""The prometheus provider: the same window as the triton provider, computed by PromQL.

Series are told apart by revision through the pod label that a ServiceMonitor's podTargetLabels
copies onto them (`inference.tritonops.dev/revision` becomes `inference_tritonops_dev_revision`).
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from tritonops.engine.analysis import WindowMeasurement
from tritonops.providers import RevisionTarget
from tritonops.spec import CustomCheckSpec

REVISION_LABEL = "inference_tritonops_dev_revision"
Query = Callable[[str], float | None]


def window_queries(*, model: str, revision: str, window_seconds: int) -> dict[str, str]:
    """PromQL for one revision's window; every query returns one number (or nothing).

    A window needs at least two scrapes of each pod inside it: with a Prometheus that scrapes less often
    than every intervalSeconds / 2 the window is empty, which judges as too few requests (inconclusive).
    """
    selector = f'model="{model}",{REVISION_LABEL}="{revision}"'

    def growth(metric: str) -> str:
        # Per series (one per pod), then summed: sum(x) - sum(x offset w) would subtract the counts of a pod
        # that went away within the window (a scale-in, a step, a restart) from the pods that stayed, and
        # add a new pod's whole history. increase() takes each series' growth from its own samples inside
        # the window, so a pod that left counts up to its last scrape, one that came counts from its first,
        # and a Triton restart (its counters start again at zero) counts as a reset, not as a drop. Its
        # extrapolation to the window's edges scales a pod's successes and failures alike (they are scraped
        # together), so rates and means hold; counts are rounded to whole requests by measurement_from.
        return f"sum(increase({metric}{{{selector}}}[{window_seconds}s]))"

    return {
        "successes": growth("nv_inference_request_success"),
        "failures": growth("nv_inference_request_failure"),
        # Triton adds to the duration counters for successful requests only.
        "request_duration_us": growth("nv_inference_request_duration_us"),
        "queue_duration_us": growth("nv_inference_queue_duration_us"),
    }


def measurement_from(values: Mapping[str, float | None]) -> WindowMeasurement:
    successes = int(round(values.get("successes") or 0.0))
    failures = int(round(values.get("failures") or 0.0))
    duration, queue = values.get("request_duration_us"), values.get("queue_duration_us")
    return WindowMeasurement(
        requests=successes + failures,
        successes=successes,
        mean_latency_ms=duration / successes / 1000 if successes and duration is not None else None,
        mean_queue_ms=queue / successes / 1000 if successes and queue is not None else None,
    )


def measure(query: Query, *, model: str, revision: str, window_seconds: int) -> WindowMeasurement:
    return measurement_from({name: query(promql) for name, promql in window_queries(model=model, revision=revision, window_seconds=window_seconds).items()})


def http_query(base_url: str, *, timeout_seconds: float = 5.0) -> Query:
    """An instant-query function against one Prometheus server."""

    def query(promql: str) -> float | None:
        address = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(address, timeout=timeout_seconds) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {promql!r}: {body.get('error')}")
        result = body["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    return query


class PrometheusProvider:
    """The same window as PromQL over Prometheus' copy of the pods' Triton metrics; nothing to remember."""

    def __init__(self, query: Query) -> None:
        self.query = query

    def measure(self, target: RevisionTarget, *, window_seconds: int) -> WindowMeasurement | None:
        return measure(self.query, model=target.model, revision=target.revision, window_seconds=window_seconds)

    def custom(self, checks: Sequence[CustomCheckSpec], *, window_seconds: int) -> dict[str, float | None]:
        return {check.name: self.query(check.query) for check in checks}

    def forget(self, key: tuple[str, str]) -> None:
        return None

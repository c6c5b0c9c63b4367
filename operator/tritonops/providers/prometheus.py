"""The prometheus provider: the same window as the triton provider, computed by PromQL.

Series are told apart by revision through the pod label that a ServiceMonitor's podTargetLabels
copies onto them (`inference.tritonops.dev/revision` becomes `inference_tritonops_dev_revision`).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Callable, Mapping, Sequence

from tritonops.engine.analysis import WindowMeasurement
from tritonops.providers import RevisionTarget, bounded_http
from tritonops.providers.bounded_http import Deadline
from tritonops.spec import CustomCheckSpec

REVISION_LABEL = "inference_tritonops_dev_revision"
Query = Callable[[str], float | None]


def window_queries(*, model: str, revision: str, window_seconds: int) -> dict[str, str]:
    """PromQL for one revision's window; every query returns one number (or nothing)."""
    selector = f'model="{model}",{REVISION_LABEL}="{revision}"'

    def growth(metric: str) -> str:
        # The difference of two samples, not increase(): increase() extrapolates to the window's edges,
        # and minRequests and small-window rates need whole requests. A series that did not exist at
        # the window's start counts from zero; a restart within the window is clamped at zero.
        series = f"{metric}{{{selector}}}"
        return f"clamp_min(sum({series}) - (sum({series} offset {window_seconds}s) or vector(0)), 0)"

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


def http_query(base_url: str, *, timeout_seconds: float = 5.0, deadline: Deadline | None = None) -> Query:
    """An instant-query function against one Prometheus server: each query is over within
    `timeout_seconds` in all (not per socket read), and none runs past `deadline`."""

    def query(promql: str) -> float | None:
        address = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        response = bounded_http.get(address, deadline=(deadline or Deadline.after(timeout_seconds)).within(timeout_seconds))
        try:
            body = json.loads(response.body)
        except ValueError:
            if response.status != 200:
                raise OSError(f"Prometheus answered HTTP {response.status} {response.reason}") from None
            raise
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

"""The prometheus provider: the same window as the triton provider, computed by PromQL.

Series are told apart by revision through the pod label that a ServiceMonitor's podTargetLabels
copies onto them (`inference.tritonops.dev/revision` becomes `inference_tritonops_dev_revision`).
"""

from __future__ import annotations

import http.client
import json
import math
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tritonops.engine.analysis import CustomValue, WindowMeasurement
from tritonops.providers import RevisionTarget, bounded_http
from tritonops.providers.bounded_http import Deadline
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
        # What a pod serves before Prometheus first scrapes it is in no window: increase() starts at a
        # series' first sample. That loses requests, never turns a failure into a success.
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


class UnexpectedResult(ValueError):
    """Prometheus answered, but not with one number (or nothing); the message says what it sent."""


def _number(sample: Any) -> float:
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str):
        raise UnexpectedResult(f"the query returned a sample it cannot read: {str(sample)[:100]}")
    try:
        value = float(sample[1])
    except ValueError:
        raise UnexpectedResult(f"the query returned a sample it cannot read: {sample[1][:100]!r}") from None
    if math.isnan(value):
        # NaN is no measurement (0/0: nothing happened), and a NaN compares False with every bound.
        raise UnexpectedResult("the query returned NaN, not a number")
    return value


def _labels(series: Any) -> str:
    metric = series.get("metric") if isinstance(series, dict) else None
    pairs = metric.items() if isinstance(metric, dict) else ()
    return "{" + ",".join(f'{name}="{value}"' for name, value in sorted(pairs)) + "}"


def value_of(body: Any) -> float | None:
    """The one number of an instant query's answer; None for an empty vector.

    A scalar counts as one number. A range vector, several series, a string, NaN or anything else raises
    UnexpectedResult saying what came back, so that a custom check can show it; a refusal raises RuntimeError.
    """
    if isinstance(body, dict) and body.get("status") == "error":
        raise RuntimeError(f"Prometheus refused the query: {body.get('errorType', '')}: {str(body.get('error', ''))[:300]}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or "resultType" not in data:
        raise UnexpectedResult(f"Prometheus sent an answer without data: {str(body)[:100]}")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _number(result)
    if kind == "string":
        text = result[1] if isinstance(result, list) and len(result) == 2 else result
        raise UnexpectedResult(f"the query returned a string {str(text)[:100]!r}, not a number")
    if kind == "matrix":
        count = len(result) if isinstance(result, list) else 0
        raise UnexpectedResult(f"the query returned a range vector (matrix) of {count} series, not one number: drop the [range] or wrap it in a function")
    if kind != "vector" or not isinstance(result, list):
        raise UnexpectedResult(f"the query returned a {kind} result, not one number")
    if not result:
        return None
    if len(result) > 1:
        shown = ", ".join(_labels(series) for series in result[:2]) + (", ..." if len(result) > 2 else "")
        raise UnexpectedResult(f"the query returned {len(result)} series ({shown}), not one number: aggregate them, e.g. with max() or sum()")
    series = result[0]
    return _number(series.get("value") if isinstance(series, dict) else series)


def http_query(base_url: str, *, timeout_seconds: float = 5.0, deadline: Deadline | None = None) -> Query:
    """An instant-query function against one Prometheus server: each query is over within
    `timeout_seconds` in all (not per socket read), and none runs past `deadline`."""

    def query(promql: str) -> float | None:
        address = f"{base_url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        try:
            response = bounded_http.get(address, deadline=(deadline or Deadline.after(timeout_seconds)).within(timeout_seconds))
        except (http.client.InvalidURL, bounded_http.UnusableURL):
            # Their messages repeat the URL's text, which may hold a password (user:password@host): status,
            # events and logs must not see it.
            raise ValueError("spec.rollout.analysis.prometheus.url is not a usable URL (its text is not repeated: it may hold a password)") from None
        try:
            body = json.loads(response.body)
        except ValueError:
            if response.status != 200:
                raise OSError(f"Prometheus answered HTTP {response.status} {response.reason}") from None
            raise UnexpectedResult("Prometheus sent an answer that is not JSON") from None
        # Prometheus answers a query it refuses with 400 or 422 and says why in the body.
        return value_of(body)

    return query


class PrometheusProvider:
    """The same window as PromQL over Prometheus' copy of the pods' Triton metrics; nothing to remember."""

    def __init__(self, query: Query) -> None:
        self.query = query

    def measure(self, target: RevisionTarget, *, window_seconds: int) -> WindowMeasurement | None:
        return measure(self.query, model=target.model, revision=target.revision, window_seconds=window_seconds)

    def custom(self, checks: Sequence[CustomCheckSpec], *, window_seconds: int) -> dict[str, CustomValue]:
        return {check.name: self._custom(check) for check in checks}

    def _custom(self, check: CustomCheckSpec) -> CustomValue:
        # Each check on its own: a query that cannot be answered leaves its check inconclusive, and never
        # stops the other checks (one of which may fail) or the reconcile.
        try:
            value = self.query(check.query)
        except (OSError, RuntimeError, ValueError) as error:
            return CustomValue(None, str(error))
        return CustomValue(None, "the query returned no series") if value is None else CustomValue(value)

    def forget(self, key: tuple[str, str]) -> None:
        return None

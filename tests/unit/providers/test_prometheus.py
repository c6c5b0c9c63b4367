from __future__ import annotations

import pytest

from tritonops.providers.prometheus import measure, measurement_from, window_queries


def test_queries_select_model_and_revision_over_the_window() -> None:
    queries = window_queries(model="resnet", revision="abc123", window_seconds=15)
    series = 'nv_inference_request_success{model="resnet",inference_tritonops_dev_revision="abc123"}'
    assert queries["successes"] == f"sum(increase({series}[15s]))"
    assert set(queries) == {"successes", "failures", "request_duration_us", "queue_duration_us"}


@pytest.mark.parametrize("name", ["successes", "failures", "request_duration_us", "queue_duration_us"])
def test_each_series_grows_on_its_own_before_the_sum(name: str) -> None:
    # sum(x) - sum(x offset w) subtracts a pod that left within the window from the ones that stayed;
    # the growth must be taken per series (pod), resets handled, and only then added up.
    query = window_queries(model="m", revision="r", window_seconds=30)[name]
    assert query.startswith("sum(increase(") and query.endswith("[30s]))")
    assert "offset" not in query and query.count("sum(") == 1


def test_measurement_from_values() -> None:
    measured = measurement_from({"successes": 89.6, "failures": 10.2, "request_duration_us": 1_800_000, "queue_duration_us": 90_000})
    assert (measured.requests, measured.successes) == (100, 90)
    assert measured.mean_latency_ms == pytest.approx(20.0)
    assert measured.mean_queue_ms == pytest.approx(1.0)


def test_no_series_is_an_empty_window() -> None:
    measured = measure(lambda promql: None, model="m", revision="r", window_seconds=10)
    assert measured.requests == 0 and measured.mean_latency_ms is None

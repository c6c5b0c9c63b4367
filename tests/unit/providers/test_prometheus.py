from __future__ import annotations

import pytest

import math
from typing import Any

from tritonops.engine.analysis import CustomValue
from tritonops.providers.prometheus import PrometheusProvider, UnexpectedResult, http_query, measure, measurement_from, value_of, window_queries
from tritonops.spec import CustomCheckSpec


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


def answer(result_type: str, result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": result_type, "result": result}}


def sample(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1700000000.0, value]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (answer("vector", [sample("2.5", job="a")]), 2.5),
        (answer("vector", []), None),
        # A scalar is one number: scalar(...) and literals are valid custom queries.
        (answer("scalar", [1700000000.0, "3"]), 3.0),
        (answer("vector", [sample("+Inf")]), math.inf),
    ],
    ids=["one-series", "no-series", "scalar", "infinity"],
)
def test_one_number_or_nothing_is_read(body: dict[str, Any], expected: float | None) -> None:
    assert value_of(body) == expected


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (answer("matrix", [{"metric": {"job": "a"}, "values": [[1.0, "1"], [2.0, "2"]]}]), "a range vector (matrix) of 1 series"),
        (answer("vector", [sample("1", job="a"), sample("2", job="b"), sample("3", job="c")]), '3 series ({job="a"}, {job="b"}, ...)'),
        (answer("vector", [sample("NaN", job="a")]), "NaN"),
        (answer("scalar", [1700000000.0, "NaN"]), "NaN"),
        (answer("string", [1700000000.0, "hello"]), "a string 'hello'"),
        (answer("vector", [{"metric": {}, "value": "oops"}]), "a sample it cannot read"),
        ({"status": "success"}, "an answer without data"),
        ([1, 2], "an answer without data"),
        (answer("histogram", []), "a histogram result"),
    ],
    ids=["matrix", "several-series", "nan-vector", "nan-scalar", "string", "bad-sample", "no-data", "not-an-object", "unknown-type"],
)
def test_every_other_shape_raises_saying_what_came_back(body: Any, said: str) -> None:
    with pytest.raises(UnexpectedResult) as raised:
        value_of(body)
    assert said in str(raised.value)


def test_a_refused_query_names_prometheus_error() -> None:
    with pytest.raises(RuntimeError, match="parse error"):
        value_of({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})


def test_custom_checks_never_raise_they_say_why_there_is_no_value() -> None:
    def query(promql: str) -> float | None:
        if promql == "matrix":
            raise UnexpectedResult("the query returned a range vector (matrix) of 1 series, not one number")
        if promql == "down":
            raise OSError("connection refused")
        return None if promql == "empty" else 7.0

    checks = [CustomCheckSpec(name=name, query=name, minimum=None, maximum=1.0) for name in ("matrix", "down", "empty", "fine")]
    values = PrometheusProvider(query).custom(checks, window_seconds=10)
    assert values["fine"] == CustomValue(7.0)
    assert values["matrix"].value is None and "range vector (matrix)" in str(values["matrix"].problem)
    assert values["down"].value is None and "connection refused" in str(values["down"].problem)
    assert values["empty"] == CustomValue(None, "the query returned no series")


def test_a_url_it_cannot_use_is_never_repeated_it_may_hold_a_password() -> None:
    # http.client reads "user:s3cret@host" as host "user" and port "s3cret@host", and says so in its error.
    with pytest.raises(ValueError) as raised:
        http_query("http://user:s3cret@prometheus.invalid")("up")
    assert "s3cret" not in str(raised.value) and "not a usable URL" in str(raised.value)

from __future__ import annotations

import pytest

from tritonops.providers.triton import TritonCounters, combine, parse_counters, window

METRICS = """# HELP nv_inference_request_success Number of successful inference requests
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="resnet",version="1"} 90
nv_inference_request_success{model="resnet",version="2"} 7
nv_inference_request_success{model="other",version="1"} 1000
nv_inference_request_failure{model="resnet",reason="BACKEND",version="1"} 10
nv_inference_request_failure{model="resnet",reason="REJECTED",version="1"} 0
nv_inference_request_duration_us{model="resnet",version="1"} 2000000
nv_inference_queue_duration_us{model="resnet",version="1"} 100000
nv_inference_count{model="resnet",version="1"} 100
"""


def test_parse_sums_one_model_version_across_failure_reasons() -> None:
    assert parse_counters(METRICS, model="resnet", version="1") == TritonCounters(90, 10, 2_000_000, 100_000)
    assert parse_counters(METRICS, model="resnet").success == 97
    assert parse_counters(METRICS, model="missing") == TritonCounters()


def test_window_from_two_samples() -> None:
    measured = window(TritonCounters(10, 0, 100_000, 1_000), TritonCounters(100, 10, 1_900_000, 91_000))
    assert (measured.requests, measured.successes) == (100, 90)
    assert measured.success_rate == pytest.approx(0.9)
    # Durations count successful requests only: 1.8 s over 90 successes.
    assert measured.mean_latency_ms == pytest.approx(20.0)
    assert measured.mean_queue_ms == pytest.approx(1.0)


def test_counter_reset_counts_everything_after_the_restart() -> None:
    measured = window(TritonCounters(500, 5, 9_000_000, 9_000), TritonCounters(30, 0, 600_000, 3_000))
    assert (measured.requests, measured.successes) == (30, 30)
    assert measured.mean_latency_ms == pytest.approx(20.0)


def test_empty_window_has_no_means() -> None:
    measured = window(TritonCounters(5, 0, 10, 1), TritonCounters(5, 0, 10, 1))
    assert measured.requests == 0 and measured.mean_latency_ms is None and measured.success_rate is None


def test_combine_weights_means_by_successful_requests() -> None:
    fast = window(TritonCounters(), TritonCounters(90, 0, 900_000, 0))  # 10 ms each
    slow = window(TritonCounters(), TritonCounters(10, 5, 1_000_000, 0))  # 100 ms each
    combined = combine([fast, slow])
    assert (combined.requests, combined.successes) == (105, 100)
    assert combined.mean_latency_ms == pytest.approx(19.0)
    assert combine([]).requests == 0

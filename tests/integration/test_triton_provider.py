"""The triton provider's counter parsing and window math against a real tritonserver's /metrics."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable

import numpy as np
import pytest
import tritonclient.http
from tritonclient.utils import InferenceServerException

from tests.harness.models import Faults, write_model
from tritonops.devcluster.triton import TritonServer
from tritonops.providers import RevisionTarget
from tritonops.providers.triton import TritonProvider, parse_counters, window


def test_window_of_a_real_triton_matches_the_requests_sent(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> None:
    write_model(tmp_path / "models", faults=Faults(failure_rate=0.2, delay_ms=30))
    server = start_triton(tmp_path / "models")
    client = tritonclient.http.InferenceServerClient(url=f"{server.address}:{server.http_port}")
    tensor = tritonclient.http.InferInput("INPUT", [1], "FP32")
    tensor.set_data_from_numpy(np.asarray([1.0], dtype=np.float32))
    client.infer("doubler", [tensor])  # warm up: the window below must not include it
    before = parse_counters(server.metrics_text(), model="doubler", version="1")
    for _ in range(40):
        try:
            client.infer("doubler", [tensor])
        except InferenceServerException:
            pass
    measured = window(before, parse_counters(server.metrics_text(), model="doubler", version="1"))
    assert measured.requests == 40
    assert measured.successes == 32
    assert measured.success_rate == pytest.approx(0.8)
    assert measured.mean_latency_ms is not None and measured.mean_latency_ms >= 30
    assert measured.mean_queue_ms is not None and measured.mean_queue_ms >= 0


def test_the_provider_scrapes_a_real_triton_within_its_deadline(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> None:
    write_model(tmp_path / "models")
    server = start_triton(tmp_path / "models")
    client = tritonclient.http.InferenceServerClient(url=f"{server.address}:{server.http_port}")
    tensor = tritonclient.http.InferInput("INPUT", [1], "FP32")
    tensor.set_data_from_numpy(np.asarray([1.0], dtype=np.float32))
    provider = TritonProvider()  # the real fetch: bounded_http against Triton's own metrics server
    target = RevisionTarget(key=("default", "doubler"), revision="r1", model="doubler", version="1", pods={"p-1": server.address, "p-2": server.address})
    assert provider.measure(target, window_seconds=15) is None
    for _ in range(10):
        client.infer("doubler", [tensor])
    # Triton updates its metrics on an interval (2 s by default): wait for them, a bounded number of times.
    measured = None
    for _ in range(20):
        time.sleep(0.5)
        measured = provider.measure(target, window_seconds=15)
        if measured is not None and measured.requests:
            break
    assert measured is not None
    # Both "pods" are the same server: each counts the ten requests once.
    assert (measured.requests, measured.successes) == (20, 20)

"""The prometheus provider against the real Prometheus scraping real tritonservers of two revisions."""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import numpy as np
import tritonclient.http
from tritonclient.utils import InferenceServerException

from tests.harness.models import Faults, write_model
from tritonops.devcluster.processes import wait_until
from tritonops.devcluster.prometheus import PrometheusServer, ScrapeJob
from tritonops.devcluster.triton import TritonServer
from tritonops.providers.prometheus import REVISION_LABEL, http_query, measure


def _send(server: TritonServer, count: int) -> None:
    client = tritonclient.http.InferenceServerClient(url=f"{server.address}:{server.http_port}")
    tensor = tritonclient.http.InferInput("INPUT", [1], "FP32")
    tensor.set_data_from_numpy(np.asarray([1.0], dtype=np.float32))
    for _ in range(count):
        try:
            client.infer("doubler", [tensor])
        except InferenceServerException:
            pass


def test_each_revision_is_measured_from_its_own_series(
    tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer], prometheus: PrometheusServer
) -> None:
    write_model(tmp_path / "stable", faults=Faults())
    write_model(tmp_path / "canary", faults=Faults(failure_rate=0.5))
    stable, canary = start_triton(tmp_path / "stable"), start_triton(tmp_path / "canary")
    prometheus.start(
        jobs=[
            ScrapeJob(name="stable", targets=[f"{stable.address}:8002"], labels={REVISION_LABEL: "stable1"}),
            ScrapeJob(name="canary", targets=[f"{canary.address}:8002"], labels={REVISION_LABEL: "canary1"}),
        ]
    )
    query = http_query(prometheus.url)
    # A first scrape before any traffic, so that increase() sees the counters start at zero.
    wait_until(lambda: query(f'count(nv_inference_request_success{{{REVISION_LABEL}="canary1"}})') == 1, description="first scrape", timeout_seconds=30)
    _send(stable, 40)
    _send(canary, 40)

    def settled() -> bool:
        return all(measure(query, model="doubler", revision=revision, window_seconds=60).requests == 40 for revision in ("stable1", "canary1"))

    wait_until(settled, description="prometheus to see 40 requests of each revision", timeout_seconds=30, interval_seconds=1)
    canary_window = measure(query, model="doubler", revision="canary1", window_seconds=60)
    stable_window = measure(query, model="doubler", revision="stable1", window_seconds=60)
    assert canary_window.successes == 20 and canary_window.success_rate == 0.5
    assert stable_window.requests == 40 and stable_window.success_rate == 1.0
    assert stable_window.mean_latency_ms is not None and stable_window.mean_latency_ms > 0

"""The real Prometheus scrapes a real tritonserver, and PromQL over Triton's counters gives the expected rate."""

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

SUCCESS_RATE = (
    'sum(nv_inference_request_success{model="doubler"}) / '
    '(sum(nv_inference_request_success{model="doubler"}) + sum(nv_inference_request_failure{model="doubler"}))'
)


def test_prometheus_success_rate_of_a_real_triton(
    tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer], prometheus: PrometheusServer
) -> None:
    write_model(tmp_path / "models", faults=Faults(failure_rate=0.2))
    server = start_triton(tmp_path / "models")
    prometheus.start(jobs=[ScrapeJob(name="triton", targets=[f"{server.address}:{server.metrics_port}"])])
    wait_until(
        lambda: set(prometheus.targets_up().values()) == {"up"},
        description="prometheus to scrape triton",
        timeout_seconds=30,
    )

    client = tritonclient.http.InferenceServerClient(url=f"{server.address}:{server.http_port}")
    failures = 0
    for _ in range(50):
        tensor = tritonclient.http.InferInput("INPUT", [1], "FP32")
        tensor.set_data_from_numpy(np.asarray([1.0], dtype=np.float32))
        try:
            client.infer("doubler", [tensor])
        except InferenceServerException:
            failures += 1
    assert failures == 10

    def scraped_success_rate() -> float | None:
        result = prometheus.query(SUCCESS_RATE)
        return float(result[0]["value"][1]) if result else None

    wait_until(lambda: scraped_success_rate() == 0.8, description="PromQL success rate 0.8", timeout_seconds=30)
    failed = prometheus.query('sum(nv_inference_request_failure{model="doubler",reason="BACKEND"})')
    assert float(failed[0]["value"][1]) == 10

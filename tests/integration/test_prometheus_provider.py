"""The prometheus provider against the real Prometheus scraping real tritonservers of two revisions."""

from __future__ import annotations

import math
import pathlib
import time
from collections.abc import Callable

import numpy as np
import tritonclient.http
from tritonclient.utils import InferenceServerException

from tests.harness.models import Faults, write_model
from tritonops.devcluster.processes import wait_until
from tritonops.devcluster.prometheus import PrometheusServer, ScrapeJob
from tritonops.devcluster.triton import TritonServer
from tritonops.engine.analysis import CustomValue
from tritonops.providers.prometheus import REVISION_LABEL, PrometheusProvider, http_query, measure
from tritonops.spec import CustomCheckSpec


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
    # A first scrape of both before any traffic: increase() counts from a series' first sample, so what a
    # pod serves before Prometheus first sees it is not in any window.
    wait_until(lambda: query('count(nv_inference_request_success{model="doubler"})') == 2, description="first scrapes", timeout_seconds=30)
    _send(stable, 40)
    _send(canary, 40)

    def settled() -> bool:
        return all(measure(query, model="doubler", revision=revision, window_seconds=60).requests >= 40 for revision in ("stable1", "canary1"))

    wait_until(settled, description="prometheus to see 40 requests of each revision", timeout_seconds=30, interval_seconds=1)
    # increase() scales a series' growth to the window's end by up to one scrape interval over the time its
    # samples span: ten more seconds of 1s scrapes keep that under 10%.
    time.sleep(10)
    canary_window = measure(query, model="doubler", revision="canary1", window_seconds=60)
    stable_window = measure(query, model="doubler", revision="stable1", window_seconds=60)
    assert 40 <= canary_window.requests <= 44 and canary_window.success_rate == 0.5
    assert 40 <= stable_window.requests <= 44 and stable_window.success_rate == 1.0
    assert stable_window.mean_latency_ms is not None and stable_window.mean_latency_ms > 0


def test_pods_that_leave_restart_or_arrive_within_the_window_count_only_what_they_served_in_it(
    tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer], prometheus: PrometheusServer
) -> None:
    write_model(tmp_path / "repository", faults=Faults())
    leaving, staying = start_triton(tmp_path / "repository"), start_triton(tmp_path / "repository")
    targets = {server.address: f"{server.address}:8002" for server in (leaving, staying)}
    prometheus.start(jobs=[ScrapeJob(name="revision", targets=list(targets.values()), labels={REVISION_LABEL: "r1"})])
    query = http_query(prometheus.url)

    def requests_of(server: TritonServer) -> float | None:
        return query(f'sum(nv_inference_request_success{{instance="{targets[server.address]}"}})')

    wait_until(lambda: query(f'count(nv_inference_request_success{{{REVISION_LABEL}="r1"}})') == 2, description="first scrapes", timeout_seconds=30)
    # Before the window: 30 requests on the pod that will leave.
    _send(leaving, 30)
    wait_until(lambda: requests_of(leaving) == 30, description="prometheus to see the 30 earlier requests", timeout_seconds=30)
    time.sleep(2.5)  # a few more scrapes at 30, so the window can start after that traffic
    window_start = time.time()
    # Within the window: that pod goes away; the other serves 10, restarts (its counters start again at 0), serves 5.
    leaving.stop()
    _send(staying, 10)
    wait_until(lambda: requests_of(staying) == 10, description="prometheus to see 10 requests", timeout_seconds=30)
    staying.stop()
    wait_until(lambda: requests_of(staying) is None, description="the restarting pod's series to go stale", timeout_seconds=30)
    staying.start()
    _send(staying, 5)
    wait_until(lambda: requests_of(staying) == 5, description="prometheus to see 5 requests after the restart", timeout_seconds=30)
    assert requests_of(leaving) is None, "the pod that left should have no current series"
    time.sleep(3)
    window_seconds = math.floor(time.time() - window_start)
    measured = measure(query, model="doubler", revision="r1", window_seconds=window_seconds)
    # sum(x) - sum(x offset w) says 5 - 30 -> 0 here. Per series: 0 (the leaver) + 10 + 5; increase()
    # extrapolates to the window's end by at most one scrape interval (1s of the ~10s or more here).
    assert 15 <= measured.requests <= 17, measured
    assert measured.success_rate == 1.0 and measured.mean_latency_ms is not None and measured.mean_latency_ms > 0


def test_custom_queries_of_every_shape_come_back_as_a_number_or_the_reason_there_is_none(prometheus: PrometheusServer) -> None:
    # Prometheus scraping itself under two jobs: `up` has two series.
    itself = f"127.0.0.1:{prometheus.port}"
    prometheus.start(jobs=[ScrapeJob(name="one", targets=[itself]), ScrapeJob(name="two", targets=[itself])])
    query = http_query(prometheus.url)
    wait_until(lambda: query("count(up)") == 2, description="both jobs scraped", timeout_seconds=30)
    shapes = {
        "one": "sum(up)",
        "scalar": "scalar(sum(up))",
        "none": 'up{job="absent"}',
        "several": "up",
        "matrix": "up[1m]",
        "nan": "0 / 0",
        "infinite": "sum(up) / 0",
        "text": '"hello"',
        "refused": "sum(",
    }
    checks = [CustomCheckSpec(name=name, query=promql, minimum=None, maximum=10.0) for name, promql in shapes.items()]
    values = PrometheusProvider(query).custom(checks, window_seconds=10)
    assert values["one"] == CustomValue(2.0) and values["scalar"] == CustomValue(2.0)
    assert values["infinite"] == CustomValue(float("inf"))
    assert values["none"] == CustomValue(None, "the query returned no series")
    said = {name: str(values[name].problem) for name in ("several", "matrix", "nan", "text", "refused")}
    assert all(values[name].value is None for name in said), values
    assert "2 series" in said["several"] and 'job="one"' in said["several"], said
    assert "range vector (matrix)" in said["matrix"], said
    assert "NaN" in said["nan"], said
    assert "string 'hello'" in said["text"], said
    assert "Prometheus refused the query" in said["refused"] and "parse error" in said["refused"], said

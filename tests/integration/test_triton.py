"""The real tritonserver from the nvidia-pytriton wheel: health, inference, metrics and injected faults."""

from __future__ import annotations

import pathlib
import re
import signal
import time
from collections.abc import Callable

import numpy as np
import pytest
import tritonclient.grpc
import tritonclient.http
from tritonclient.utils import InferenceServerException

from tests.harness.models import Faults, set_faults, set_version_faults, write_model
from tritonops.devcluster.processes import wait_until
from tritonops.devcluster.triton import TritonServer


def counter(metrics: str, name: str, **labels: str) -> float:
    """Sum the samples of one metric whose labels include all of `labels`."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{key}="{value}"' in match.group(1) for key, value in labels.items()):
            total += float(match.group(2))
    return total


def infer_http(server: TritonServer, values: list[float]) -> np.ndarray:
    client = tritonclient.http.InferenceServerClient(url=f"{server.address}:{server.http_port}")
    tensor = tritonclient.http.InferInput("INPUT", [len(values)], "FP32")
    tensor.set_data_from_numpy(np.asarray(values, dtype=np.float32))
    return client.infer("doubler", [tensor]).as_numpy("OUTPUT")


def test_health_inference_over_http_and_grpc_and_success_counter(
    tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]
) -> None:
    write_model(tmp_path / "models")
    server = start_triton(tmp_path / "models")
    assert server.ready()

    np.testing.assert_array_equal(infer_http(server, [1.0, 2.5]), np.asarray([2.0, 5.0], dtype=np.float32))

    grpc_client = tritonclient.grpc.InferenceServerClient(url=server.grpc_target)
    assert grpc_client.is_model_ready("doubler")
    tensor = tritonclient.grpc.InferInput("INPUT", [3], "FP32")
    tensor.set_data_from_numpy(np.asarray([1.0, -1.0, 4.0], dtype=np.float32))
    answer = grpc_client.infer("doubler", [tensor]).as_numpy("OUTPUT")
    np.testing.assert_array_equal(answer, np.asarray([2.0, -2.0, 8.0], dtype=np.float32))
    grpc_client.close()

    metrics = server.metrics_text()
    assert counter(metrics, "nv_inference_request_success", model="doubler", version="1") == 2
    assert counter(metrics, "nv_inference_request_failure", model="doubler", version="1") == 0


def test_injected_failures_count_as_backend_failures(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> None:
    write_model(tmp_path / "models", faults=Faults(failure_rate=0.25))
    server = start_triton(tmp_path / "models")
    failures = 0
    for _ in range(20):
        try:
            infer_http(server, [1.0])
        except InferenceServerException as error:
            assert "injected failure" in str(error)
            failures += 1
    assert failures == 5
    # Triton may count the last failure just after its error response has gone out.
    wait_until(
        lambda: counter(server.metrics_text(), "nv_inference_request_failure", model="doubler", version="1", reason="BACKEND") == 5,
        description="5 failures counted",
        timeout_seconds=5,
    )
    metrics = server.metrics_text()
    assert counter(metrics, "nv_inference_request_success", model="doubler", version="1") == 15


def test_fault_file_changes_a_running_model(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> None:
    fault_file = tmp_path / "faults.json"
    write_model(tmp_path / "models", fault_file=fault_file)
    server = start_triton(tmp_path / "models")
    infer_http(server, [1.0])
    set_faults(fault_file, Faults(failure_rate=1.0, delay_ms=50))

    def failing() -> bool:
        try:
            infer_http(server, [1.0])
        except InferenceServerException:
            return True
        return False

    wait_until(failing, description="the model to start failing", timeout_seconds=10)
    metrics = server.metrics_text()
    assert counter(metrics, "nv_inference_request_failure", model="doubler", reason="BACKEND") >= 1
    # Latency follows the injected delay: the mean request duration is at least ~50 ms over the failing calls.
    set_faults(fault_file, Faults(delay_ms=200))
    wait_until(lambda: not failing(), description="the model to recover", timeout_seconds=10)
    before = server.metrics_text()
    infer_http(server, [1.0])
    after = server.metrics_text()
    duration_us = counter(after, "nv_inference_request_duration_us", model="doubler") - counter(
        before, "nv_inference_request_duration_us", model="doubler"
    )
    assert duration_us >= 200_000


def test_model_that_fails_to_load_is_not_ready(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> None:
    write_model(tmp_path / "models", faults=Faults(fail_load=True))
    server = start_triton(tmp_path / "models", wait_ready=False)
    assert server.process is not None
    # Triton exits when a model in the repository fails to load; readiness never turns true.
    wait_until(lambda: not server.process.running(), description="tritonserver to exit", timeout_seconds=30)
    assert server.process.popen.returncode != 0
    assert not server.ready()
    assert "configured to fail to load" in server.process.log_tail(20000)


def test_a_version_whose_load_never_returns_keeps_triton_running_and_never_ready(
    tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]
) -> None:
    write_model(tmp_path / "models", version=1, version_faults=Faults(hang_load=True))
    server = start_triton(tmp_path / "models", wait_ready=False)
    assert server.process is not None
    # Several times what a healthy load takes here: neither an exit nor readiness comes.
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        assert server.process.running(), server.process.log_tail(4000)
        assert not server.ready()
        time.sleep(1)


def test_version_faults_file_fails_the_load_of_that_version_only(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> None:
    # config.pbtxt is shared by both versions; version 2's own faults.json makes it fail to load.
    write_model(tmp_path / "models", version=1)
    write_model(tmp_path / "models", version=2, version_faults=Faults(fail_load=True))
    server = start_triton(tmp_path / "models", wait_ready=False)
    assert server.process is not None
    wait_until(lambda: not server.process.running(), description="tritonserver to exit", timeout_seconds=30)
    assert server.process.popen.returncode != 0
    log = server.process.log_tail(20000)
    assert "configured to fail to load" in log and "version 2" in log


def test_crash_after_requests_kills_tritonserver_itself(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> None:
    model = write_model(tmp_path / "models", version=1)
    server = start_triton(tmp_path / "models")
    assert server.process is not None
    for _ in range(3):
        infer_http(server, [1.0])
    # Changed while it runs: after 5 requests in all, the next one takes the whole server down.
    set_version_faults(model, 1, Faults(crash_after_requests=5))
    time.sleep(0.6)
    for _ in range(2):
        infer_http(server, [1.0])
    with pytest.raises(Exception):
        infer_http(server, [1.0])
    wait_until(lambda: not server.process.running(), description="tritonserver to die", timeout_seconds=10)
    assert server.process.popen.returncode == -signal.SIGKILL

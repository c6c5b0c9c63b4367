"""Session fixtures: the real local control plane, real tritonserver processes and a real Prometheus."""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Callable, Iterator

import pytest

from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.prometheus import PrometheusServer
from tritonops.devcluster.triton import TritonServer

# Each Triton server gets its own loopback address so all of them can use the standard ports.
_loopback_hosts = (f"127.0.{third}.{fourth}" for third, fourth in itertools.product(range(10, 250), range(2, 250)))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(directory=tmp_path_factory.mktemp("cluster"))
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kube_client(cluster: LocalCluster) -> Iterator[object]:
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def start_triton(tmp_path: pathlib.Path) -> Iterator[Callable[..., TritonServer]]:
    """Start tritonserver processes on fresh loopback addresses; all are stopped after the test."""
    started: list[TritonServer] = []

    def start(model_repository: pathlib.Path, *, wait_ready: bool = True) -> TritonServer:
        address = next(_loopback_hosts)
        server = TritonServer(address=address, model_repository=model_repository, log=tmp_path / f"triton-{address}.log")
        started.append(server)
        server.start(wait_ready=wait_ready)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def prometheus(tmp_path: pathlib.Path) -> Iterator[PrometheusServer]:
    server = PrometheusServer(directory=tmp_path / "prometheus")
    try:
        yield server
    finally:
        server.stop()

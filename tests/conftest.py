"""Fixtures shared by the integration and e2e tiers: the real local control plane, a namespace per test,
the CRD, the operator process, real tritonserver processes and a real Prometheus."""

from __future__ import annotations

import itertools
import pathlib
import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client

from tests.harness.basetemp import protect_from_pytest_cleanup
from tests.harness.kubectl import kubectl
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until
from tritonops.devcluster.prometheus import PrometheusServer
from tritonops.devcluster.triton import TritonServer

CRD_DIRECTORY = pathlib.Path(__file__).parents[1] / "crds"

# Each Triton server gets its own loopback address so all of them can use the standard ports.
_loopback_hosts = (f"127.0.{third}.{fourth}" for third, fourth in itertools.product(range(10, 250), range(2, 250)))


@pytest.fixture(scope="session", autouse=True)
def protected_basetemp(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """This session's temporary tree, safe from the cleanup of pytest runs without --basetemp (tests/harness/basetemp.py)."""
    basetemp = tmp_path_factory.getbasetemp()
    protect_from_pytest_cleanup(basetemp)
    return basetemp


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
def namespace(kube_client: client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_client)
    core.create_namespace(body={"metadata": {"name": name}})
    # Pods are refused until the service-account controller has made the namespace's default account.
    wait_until(
        lambda: core.read_namespaced_service_account("default", name) is not None,
        description=f"the default ServiceAccount in {name}",
        timeout_seconds=30,
    )
    try:
        yield name
    finally:
        core.delete_namespace(name=name)


@pytest.fixture(scope="session")
def crd_installed(cluster: LocalCluster, kube_client: client.ApiClient) -> None:
    kubectl(cluster.kubeconfig, "apply", "--server-side", "-f", str(CRD_DIRECTORY))
    extensions = client.ApiextensionsV1Api(kube_client)

    def established() -> bool:
        crd = extensions.read_custom_resource_definition("modeldeployments.inference.tritonops.dev")
        return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))

    wait_until(established, description="the ModelDeployment CRD to be established", timeout_seconds=30)


@pytest.fixture(scope="session")
def operator(cluster: LocalCluster, crd_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig=cluster.kubeconfig, log=tmp_path_factory.mktemp("operator") / "operator.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


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

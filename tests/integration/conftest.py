from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.harness.kubectl import kubectl
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import wait_until


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


CRD_DIRECTORY = pathlib.Path(__file__).parents[2] / "crds"


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

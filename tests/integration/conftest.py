from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

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

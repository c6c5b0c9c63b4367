"""e2e fixtures: the test node agent, which runs pods bound to the agent nodes as real tritonserver.

The shared fixtures (`cluster`, `kube_client`, `namespace`, `crd_installed`, `operator`) live in
tests/conftest.py. Pods reach the agent nodes by tolerating their taint: tests/harness/agent.py.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.node_agent import NodeAgentProcess


@pytest.fixture(scope="session")
def node_agent(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeAgentProcess]:
    """The agent with all of nodes.AGENT_NODES registered and Ready; stopped (and its nodes gone) at the end."""
    agent = NodeAgentProcess(kubeconfig=cluster.kubeconfig, work_dir=tmp_path_factory.mktemp("node-agent"))
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture
def model_repository(tmp_path: pathlib.Path) -> pathlib.Path:
    """A directory for file:// model repositories that agent pods mount with hostPath."""
    repository = tmp_path / "repository"
    repository.mkdir()
    return repository

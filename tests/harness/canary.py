"""The e2e canary scenario shared by tests/e2e/test_canary.py and tests/e2e/test_chaos.py: version 1 of the
`doubler` model on three Triton pods on the real nodes, then a rollout of version 2."""

from __future__ import annotations

import pathlib
from typing import Any

from kubernetes import client

from tests.harness.models import Faults, write_model
from tests.harness.real_node import real_node_server_spec
from tests.harness.resources import create, model_deployment, read, wait_phase
from tritonops.devcluster.processes import wait_until

NAME = "doubler"
ANALYSIS = {
    "intervalSeconds": 3,
    "failureLimit": 2,
    "minRequests": 20,
    "successRate": {"min": 0.95},
    "latencyMs": {"max": 80},
    "maxErrorRateIncrease": 0.05,
}
ROLLOUT = {"steps": [25, 50], "stepSeconds": 8, "progressDeadlineSeconds": 90, "analysis": ANALYSIS}


def deploy(
    kube_client: client.ApiClient,
    namespace: str,
    repository: pathlib.Path,
    *,
    rollout: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
) -> str:
    """Version 1 on three Ready Triton pods; returns its revision hash."""
    body = model_deployment(
        NAME,
        replicas=3,
        model={"repository": f"file://{repository}", "version": "1"},
        server={**real_node_server_spec(), "startupTimeoutSeconds": 60, **(server or {})},
        rollout={**ROLLOUT, **(rollout or {})},
    )
    create(kube_client, namespace, body)
    return str(wait_phase(kube_client, namespace, NAME, "Ready", timeout=120)["status"]["stableRevision"]["hash"])


def write_versions(repository: pathlib.Path, second: Faults) -> None:
    write_model(repository, name=NAME, version=1, version_faults=Faults())
    write_model(repository, name=NAME, version=2, version_faults=second)


def settled(status: Any) -> bool:
    """The rollout of version 2 is over: promoted, or rolled back to version 1."""
    status = status or {}
    return status.get("phase") in ("Ready", "RolledBack") and status.get("stableRevision", {}).get("version") in ("1", "2") and (
        status.get("phase") == "RolledBack" or status["stableRevision"]["version"] == "2"
    )


def wait_settled(kube_client: client.ApiClient, namespace: str, *, timeout: float = 150) -> dict[str, Any]:
    wait_until(lambda: settled(read(kube_client, namespace, NAME).get("status")), description="the rollout of version 2 to settle",
               timeout_seconds=timeout)
    return read(kube_client, namespace, NAME)

"""DRAFT, not collected (no test_ prefix): its first run failed, see the chaos branch report. Chaos on the real cluster: control-plane outages in the middle of a canary rollout.

Each test prints the outage's length and how long the operator took to act after it, as figures for the report;
none of them is asserted as a timing.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable

import pytest
from kubernetes import client

from tests.e2e.test_canary import NAME, deploy, wait_settled, write_versions
from tests.harness.load import LoadGenerator
from tests.harness.models import Faults
from tests.harness.resources import deployment_replicas, event_reasons_once, patch_spec, read
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import wait_until

pytestmark = pytest.mark.usefixtures("operator")

OUTAGE_SECONDS = 15


def _status_changes_after(kube_client: client.ApiClient, namespace: str, *, before: str) -> float:
    """Seconds until the object's resourceVersion moves past `before` (the operator wrote again)."""
    started = time.monotonic()
    wait_until(
        lambda: str(read(kube_client, namespace, NAME)["metadata"]["resourceVersion"]) != before,
        description="the operator to write after the outage",
        timeout_seconds=120,
        interval_seconds=0.2,
    )
    return time.monotonic() - started


@pytest.mark.parametrize(
    "component",
    ["kube-apiserver", "etcd"],
)
def test_a_control_plane_outage_mid_canary_is_survived(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path, cluster: LocalCluster, component: str
) -> None:
    stop: Callable[[], None] = cluster.stop_apiserver if component == "kube-apiserver" else cluster.stop_etcd
    start: Callable[[], None] = cluster.start_apiserver if component == "kube-apiserver" else cluster.start_etcd
    write_versions(model_repository, Faults())
    deploy(kube_client, namespace, model_repository, rollout={"stepSeconds": 12})
    with LoadGenerator(kube_client, namespace, NAME, rate=40, max_seconds=300):
        patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
        wait_until(lambda: read(kube_client, namespace, NAME)["status"].get("currentStep") == 0 and
                   "canaryRevision" in read(kube_client, namespace, NAME)["status"],
                   description="the canary's first step", timeout_seconds=90)
        before = str(read(kube_client, namespace, NAME)["metadata"]["resourceVersion"])
        outage_started = time.monotonic()
        stop()
        try:
            time.sleep(OUTAGE_SECONDS)
        finally:
            start()
        outage = time.monotonic() - outage_started
        after = _status_changes_after(kube_client, namespace, before=before)
        print(f"\nFIGURE {component} outage {outage:.1f} s -> operator wrote {after:.1f} s after it was back")
        final = wait_settled(kube_client, namespace, timeout=240)
    status = final["status"]
    assert status["phase"] == "Ready" and status["stableRevision"]["version"] == "2", status.get("message")
    assert [entry["outcome"] for entry in status["history"]].count("Promoted") == 1
    new = status["stableRevision"]["hash"]
    wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {new: 3}, description="the old Deployment gone", timeout_seconds=60)
    # The next spec change after the outage is reconciled too: the watch came back, not only the resync.
    changed = time.monotonic()
    patch_spec(kube_client, namespace, NAME, {"replicas": 2})
    wait_until(lambda: deployment_replicas(kube_client, namespace, NAME) == {new: 2}, description="the next change reconciled", timeout_seconds=60)
    print(f"FIGURE {component}: next spec change reconciled in {time.monotonic() - changed:.1f} s")
    reasons = event_reasons_once(kube_client, namespace, NAME, "Promoted")
    assert reasons.count("Promoted") == 1

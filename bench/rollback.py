"""`make bench-rollback`: how fast a bad canary loses its traffic, per kind of fault (SPEC section 7).

Each run deploys version 1 of the test model on two real Triton pods (containers run by the real
kubelets of the local cluster), sends load, rolls out version 2 as a canary and then makes it fail:
- errors and latency: switched on once the canary has passed an analysis; the clock starts at the
  switch (fault onset) and the target is intervalSeconds x failureLimit + 3 s;
- crash and load failure: the clock starts when the kubelet's pod status shows the dead container
  (restart count, exit code), and the target is 5 s;
- out of memory and an image that cannot be pulled: version 2 writes 300 MiB as it loads (every pod's
  limit is 150 MiB), or the canary names an image that no node holds; the clock starts when the pod
  status shows OOMKilled or the failed pull, and the target is 5 s;
- a wrong answer: version 2 loads, answers fast and never errors, but its OUTPUT is 2.5 x INPUT instead
  of 2 x; only the golden gate (spec.rollout.analysis.golden) can see it. The clock starts when every
  canary pod is Ready (the first moment the gate can probe it), and the target is 5 s: the gate probes at
  once and one failure rolls back. The load goes through the Service's selector, so it also shows that no
  request reached the wrong version.
The operator runs with its production resync (60 s), so no timer is helped by a short one.
It stops when every canary pod is being deleted: no canary pod is Ready behind the Service, so the
stable revision has all the traffic. Median and maximum per kind go to bench/results/rollback.{json,png}.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client

from bench import golden as golden_gate
from bench import report
from bench.fault_clock import all_ready, poll, shows_dead_container
from bench.real_cluster import real_cluster
from tests.harness.load import LoadGenerator
from tests.harness.models import Faults, set_version_faults, write_model
from tests.harness.real_node import host_directory, real_node_server_spec
from tests.harness.resources import create, model_deployment, patch_spec, read, wait_phase
from tritonops import constants
from tritonops.devcluster.processes import wait_until

NAME = "doubler"
INTERVAL_SECONDS, FAILURE_LIMIT = 5, 2
METRIC_TARGET = INTERVAL_SECONDS * FAILURE_LIMIT + 3
POD_TARGET = 5.0
KINDS: dict[str, tuple[Faults, float]] = {
    "errors": (Faults(failure_rate=0.5), METRIC_TARGET),
    "latency": (Faults(delay_ms=120), METRIC_TARGET),
    "crash": (Faults(crash_after_requests=0), POD_TARGET),
    "load-failure": (Faults(fail_load=True), POD_TARGET),
    "out-of-memory": (Faults(allocate_mb=300), POD_TARGET),
    "image-unavailable": (Faults(), POD_TARGET),
    "wrong-answer": (Faults(factor=2.5), POD_TARGET),
}
# What the canary's spec changes besides the version, for the faults that the kubelet reports.
SERVER_CHANGES: dict[str, dict[str, Any]] = {
    "out-of-memory": {},
    "image-unavailable": {"image": "localhost/tritonops/absent:1"},
}
POD_FAULTS = ("crash", "load-failure", "out-of-memory", "image-unavailable")
# Faults written into version 2 before the rollout starts (the others are switched on mid-canary).
LOADED_FAULTS = ("load-failure", "out-of-memory", "wrong-answer")


def _canary_pods(core: client.CoreV1Api, namespace: str, revision: str) -> list[Any]:
    selector = f"{constants.LABEL_MODEL_DEPLOYMENT}={NAME},{constants.LABEL_REVISION}={revision}"
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def one_run(api: client.ApiClient, repository: pathlib.Path, kind: str) -> float:
    faults, _ = KINDS[kind]
    core = client.CoreV1Api(api)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace(body={"metadata": {"name": namespace}})
    wait_until(lambda: core.read_namespaced_service_account("default", namespace) is not None, description="default SA", timeout_seconds=30)
    model_directory = write_model(repository, name=NAME, version=1, version_faults=Faults())
    pod_fault = kind in POD_FAULTS
    write_model(repository, name=NAME, version=2, version_faults=faults if kind in LOADED_FAULTS else Faults())
    analysis: dict[str, Any] = {"intervalSeconds": INTERVAL_SECONDS, "failureLimit": FAILURE_LIMIT, "minRequests": 10,
                                "successRate": {"min": 0.95}, "latencyMs": {"max": 80}}
    golden = kind == "wrong-answer"
    if golden:
        analysis["golden"] = golden_gate.GOLDEN
        golden_gate.create_config_map(core, namespace=namespace)
    body = model_deployment(
        NAME, replicas=2, model={"repository": f"file://{repository}", "version": "1"},
        server={**real_node_server_spec(), "startupTimeoutSeconds": 60, "resources": {"limits": {"memory": "150Mi"}}},
        rollout={"steps": [50], "stepSeconds": 600, "progressDeadlineSeconds": 120, "analysis": analysis},
    )
    try:
        create(api, namespace, body)
        wait_phase(api, namespace, NAME, "Ready", timeout=120)
        with LoadGenerator(api, namespace, NAME, rate=40, max_seconds=240, service=NAME if golden else None) as load:
            patch_spec(api, namespace, NAME, {"model": {"version": "2"}, "server": SERVER_CHANGES.get(kind, {})})
            status = wait_phase(api, namespace, NAME, "Canary", timeout=60)["status"]
            canary = status["canaryRevision"]["hash"]
            if golden:
                onset = poll(lambda: all_ready(_canary_pods(core, namespace, canary)), timeout=90,
                              description="every canary pod Ready, held out of traffic by the golden gate")
            elif kind in ("load-failure", *SERVER_CHANGES):
                onset = poll(lambda: any(shows_dead_container(p) for p in _canary_pods(core, namespace, canary)), timeout=90,
                              description=f"the canary pod's status to show the {kind}")
            else:
                poll(lambda: (read(api, namespace, NAME)["status"].get("lastAnalysis") or {}).get("result") == "Passed",
                      timeout=90, description="a passed analysis of the healthy canary")
                set_version_faults(model_directory, 2, faults)
                onset = time.time()
                if pod_fault:
                    onset = poll(lambda: any(shows_dead_container(p) for p in _canary_pods(core, namespace, canary)), timeout=60,
                                  description="the canary pod's status to show the crash")
            gone = poll(
                lambda: all(p.metadata.deletion_timestamp for p in _canary_pods(core, namespace, canary)),
                timeout=120, description="every canary pod to be deleted",
            )
            reached = load.snapshot().get(canary)
        final = read(api, namespace, NAME)["status"]
        if final.get("phase") != "RolledBack":
            raise RuntimeError(f"{kind}: expected RolledBack, got {final.get('phase')}: {final.get('message')}")
        if golden and reached is not None and reached.total:
            raise RuntimeError(f"{kind}: {reached.total} requests reached the wrong version before its rollback")
        print(f"  {kind}: {gone - onset:.2f}s ({final['failedRevision']['reason']})", flush=True)
        return gone - onset
    finally:
        core.delete_namespace(name=namespace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per kind of fault")
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=list(KINDS))
    arguments = parser.parse_args()
    results: dict[str, list[float]] = {}
    with real_cluster(name="rollback") as setting:
        for kind in arguments.kinds:
            print(f"{kind}: {arguments.runs} runs", flush=True)
            results[kind] = [one_run(setting.api, host_directory(setting.root, prefix=f"repository-{kind}-{run}-"), kind)
                             for run in range(arguments.runs)]
    figures: dict[str, Any] = {"interval_seconds": INTERVAL_SECONDS, "failure_limit": FAILURE_LIMIT, "runs_per_kind": arguments.runs}
    for kind, seconds in results.items():
        target = KINDS[kind][1]
        figures[f"{kind}_median_seconds"] = round(statistics.median(seconds), 2)
        figures[f"{kind}_max_seconds"] = round(max(seconds), 2)
        figures[f"{kind}_target_seconds"] = target
        figures[f"{kind}_met"] = max(seconds) <= target
        print(f"{kind}: median {statistics.median(seconds):.2f}s, max {max(seconds):.2f}s, target {target:g}s", flush=True)
    json_path, png_path = report.save(
        "rollback", figures=figures,
        series={kind: [(float(index + 1), value) for index, value in enumerate(seconds)] for kind, seconds in results.items()},
        x_label="run", y_label="seconds from fault to 100% traffic on stable", title="Rollback time per kind of fault",
    )
    print(f"saved {json_path} and {png_path}")


if __name__ == "__main__":
    main()

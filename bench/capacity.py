"""`make bench-capacity`: version changes on a GPU cluster with no spare GPU, and with some (SPEC section 7).

The local cluster's two real nodes (a real kubelet and containerd each) advertise 4 GPUs each. Each
scenario deploys version 1 of the test model, sends load, changes the version and samples the Ready
pods of each revision every quarter second until the rollout settles:
- packed-promote: 4 pods of 2 GPUs fill every GPU; Auto swaps one pod at a time (maxUnavailable 1) and
  version 2 is promoted;
- packed-rollback: the same, with a version 2 that fails half its requests: rolled back, and the stable
  gets every GPU back;
- spare-surge: 2 pods of 2 GPUs leave half the GPUs free; Auto surges and version 2 is promoted.
The operator runs with its production resync (60 s). Per scenario: the outcome, the seconds from the
spec change to the settled phase, the lowest number of Ready serving pods against the floor
`replicas - maxUnavailable`, the seconds spent in WaitingForCapacity and the mode Auto chose. Median and
worst over the runs go to bench/results/capacity.{json,png}, the plot shows the Ready pods over time of
the first run of each scenario: Ready pods per revision and the canary's weight.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import time
import uuid
from typing import Any

from kubernetes import client

from bench import report
from bench.real_cluster import real_cluster
from tests.harness.capacity import Sample, Sampler, gpus_in_use_on_real_nodes
from tests.harness.load import LoadGenerator
from tests.harness.models import Faults, write_model
from tests.harness.real_node import host_directory, real_node_server_spec
from tests.harness.resources import create, model_deployment, patch_spec, read, wait_phase
from tritonops.devcluster import nodes
from tritonops.devcluster.processes import wait_until

NAME = "packed"
MAX_UNAVAILABLE = 1
ANALYSIS = {"intervalSeconds": 3, "failureLimit": 2, "minRequests": 20, "successRate": {"min": 0.95}, "maxErrorRateIncrease": 0.05}
ROLLOUT = {"steps": [25, 50], "stepSeconds": 8, "progressDeadlineSeconds": 180, "analysis": ANALYSIS}
SETTLE_TIMEOUT_SECONDS = 360.0
TOTAL_GPUS = sum(node.gpus for node in nodes.REAL_NODES)


@dataclasses.dataclass(frozen=True)
class Scenario:
    replicas: int
    gpus_per_pod: int
    faults: Faults
    expected: str  # the phase the rollout must settle in: Ready (promoted) or RolledBack


SCENARIOS = {
    "packed-promote": Scenario(replicas=4, gpus_per_pod=TOTAL_GPUS // 4, faults=Faults(), expected="Ready"),
    "packed-rollback": Scenario(replicas=4, gpus_per_pod=TOTAL_GPUS // 4, faults=Faults(failure_rate=0.5), expected="RolledBack"),
    "spare-surge": Scenario(replicas=2, gpus_per_pod=TOTAL_GPUS // 8, faults=Faults(), expected="Ready"),
}


@dataclasses.dataclass(frozen=True)
class Run:
    phase: str
    seconds: float
    lowest_ready: int
    waiting_seconds: float
    capacity_mode: str
    waiting_messages: tuple[str, ...]  # what status said while WaitingForCapacity, each once
    # (seconds since the change, value): Ready pods of the old and the new revision, and the new one's weight.
    old_ready: list[tuple[float, float]]
    new_ready: list[tuple[float, float]]
    weight: list[tuple[float, float]]


def _settled(status: dict[str, Any]) -> bool:
    return status.get("phase") == "RolledBack" or (status.get("phase") == "Ready" and status.get("stableRevision", {}).get("version") == "2")


def _waiting_seconds(samples: list[Sample]) -> float:
    return sum(later.at - sample.at for sample, later in zip(samples, samples[1:]) if sample.phase == "WaitingForCapacity")


def one_run(api: client.ApiClient, repository: pathlib.Path, scenario: Scenario) -> Run:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace(body={"metadata": {"name": namespace}})
    wait_until(lambda: gpus_in_use_on_real_nodes(api) == 0, description="the real nodes' GPUs free", timeout_seconds=180)
    write_model(repository, name=NAME, version=1, version_faults=Faults())
    write_model(repository, name=NAME, version=2, version_faults=scenario.faults)
    server = {**real_node_server_spec(), "startupTimeoutSeconds": 60}
    server["gpu"] = {**server["gpu"], "count": scenario.gpus_per_pod}
    create(api, namespace, model_deployment(
        NAME, replicas=scenario.replicas, model={"repository": f"file://{repository}", "version": "1"}, server=server,
        rollout={**ROLLOUT, "capacity": {"mode": "Auto", "maxUnavailable": MAX_UNAVAILABLE}}, autoscaling={"enabled": False},
    ))
    old = str(wait_phase(api, namespace, NAME, "Ready", timeout=180)["status"]["stableRevision"]["hash"])
    mode = ""
    with LoadGenerator(api, namespace, NAME, model=NAME, rate=40, max_seconds=SETTLE_TIMEOUT_SECONDS + 60), \
            Sampler(api, namespace, NAME, max_seconds=SETTLE_TIMEOUT_SECONDS + 30) as sampler:
        time.sleep(1)  # a second of the steady state before the change
        changed = time.monotonic()
        patch_spec(api, namespace, NAME, {"model": {"version": "2"}})
        deadline = changed + SETTLE_TIMEOUT_SECONDS
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = read(api, namespace, NAME).get("status") or {}
            mode = mode or str(status.get("capacityMode") or "")
            if _settled(status):
                break
            time.sleep(0.25)
        settled = time.monotonic()
        # The plot goes on until the stable is back at full strength alone (rollback) or the new revision
        # serves alone (promotion), within a minute.
        kept = old if status.get("phase") == "RolledBack" else str((status.get("stableRevision") or {}).get("hash"))
        wait_until(lambda: sampler.samples[-1].ready == {kept: scenario.replicas}, description="one revision serving on every pod",
                   timeout_seconds=60)
    samples = [sample for sample in sampler.samples if sample.at >= changed]
    client.CoreV1Api(api).delete_namespace(namespace)
    return Run(
        phase=str(status.get("phase")),
        seconds=settled - changed,
        lowest_ready=min(sum(sample.ready.values()) for sample in samples),
        waiting_seconds=_waiting_seconds(samples),
        capacity_mode=mode,
        waiting_messages=tuple(dict.fromkeys(sample.message for sample in samples if sample.phase == "WaitingForCapacity")),
        old_ready=[(round(sample.at - changed, 2), float(sample.ready.get(old, 0))) for sample in samples],
        new_ready=[(round(sample.at - changed, 2), float(sum(count for revision, count in sample.ready.items() if revision != old)))
                   for sample in samples],
        weight=[(round(sample.at - changed, 2), sample.canary_weight / 100 * scenario.replicas) for sample in samples],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario")
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    arguments = parser.parse_args()
    results: dict[str, list[Run]] = {}
    with real_cluster(name="capacity") as setting:
        for name in arguments.scenarios:
            scenario = SCENARIOS[name]
            results[name] = []
            for run in range(arguments.runs):
                outcome = one_run(setting.api, host_directory(setting.root, prefix=f"repository-{name}-{run}-"), scenario)
                results[name].append(outcome)
                print(f"{name} run {run + 1}: {outcome.phase} in {outcome.seconds:.1f}s ({outcome.capacity_mode}), "
                      f"lowest {outcome.lowest_ready} Ready of {scenario.replicas}, waiting {outcome.waiting_seconds:.1f}s", flush=True)
                for message in outcome.waiting_messages:
                    print(f"  WaitingForCapacity: {message}", flush=True)
    figures: dict[str, Any] = {"runs_per_scenario": arguments.runs, "max_unavailable": MAX_UNAVAILABLE, "gpus": TOTAL_GPUS}
    for name, runs in results.items():
        scenario = SCENARIOS[name]
        floor = scenario.replicas - MAX_UNAVAILABLE
        seconds = [run.seconds for run in runs]
        figures[f"{name}_outcomes"] = [run.phase for run in runs]
        figures[f"{name}_as_expected"] = all(run.phase == scenario.expected for run in runs)
        figures[f"{name}_capacity_modes"] = sorted({run.capacity_mode for run in runs})
        figures[f"{name}_median_seconds"] = round(statistics.median(seconds), 1)
        figures[f"{name}_max_seconds"] = round(max(seconds), 1)
        figures[f"{name}_lowest_ready_pods"] = min(run.lowest_ready for run in runs)
        figures[f"{name}_floor"] = floor
        figures[f"{name}_floor_held"] = all(run.lowest_ready >= floor for run in runs)
        figures[f"{name}_waiting_for_capacity_seconds"] = round(max(run.waiting_seconds for run in runs), 1)
        figures[f"{name}_waiting_messages"] = sorted({message for run in runs for message in run.waiting_messages})
        print(f"{name}: {figures[f'{name}_outcomes']}, median {figures[f'{name}_median_seconds']}s, max {figures[f'{name}_max_seconds']}s, "
              f"lowest Ready {figures[f'{name}_lowest_ready_pods']} (floor {floor}), "
              f"WaitingForCapacity at most {figures[f'{name}_waiting_for_capacity_seconds']}s", flush=True)
    json_path, png_path = report.save(
        "capacity", figures=figures,
        series={
            f"{name} {label}": points
            for name, runs in results.items() if runs
            for label, points in (("v1 Ready", runs[0].old_ready), ("v2 Ready", runs[0].new_ready), ("v2 weight x replicas", runs[0].weight))
        },
        x_label="seconds since the version change", y_label="Ready pods",
        title="Ready pods per revision and canary weight (as pods) during a version change, first run of each scenario",
        panels={name: [f"{name} {label}" for label in ("v1 Ready", "v2 Ready", "v2 weight x replicas")] for name, runs in results.items() if runs},
    )
    print(f"saved {json_path} and {png_path}")


if __name__ == "__main__":
    main()

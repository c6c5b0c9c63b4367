"""`make bench-spec-change`: time from a ModelDeployment spec change to its child Deployment updated.

Creates converged ModelDeployments, then changes each one's `spec.replicas` in turn and times, from
the moment the API server accepted the patch, until a watch on Deployments delivers the child with
the new replica count. SPEC section 7 target: p50 at most 200 ms.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import threading
import time
from typing import Any

from kubernetes import client, config, watch

from bench import report
from tests.harness.kubectl import kubectl
from tests.harness.resources import create, model_deployment, patch_spec, read
from tritonops import constants
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

CRDS = pathlib.Path(__file__).parents[1] / "crds"
NAMESPACE = "bench"


class DeploymentReplicas:
    """Records when each Deployment was first seen by a watch with a given replica count."""

    def __init__(self, api: client.ApiClient) -> None:
        self.apps = client.AppsV1Api(api)
        self.seen: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 900
        while not self._stop.is_set() and time.monotonic() < deadline:
            stream = watch.Watch().stream(self.apps.list_namespaced_deployment, NAMESPACE, timeout_seconds=30)
            for event in stream:
                deployment: Any = event["object"]
                owner = deployment.metadata.labels.get(constants.LABEL_MODEL_DEPLOYMENT)
                self.seen.setdefault((owner, deployment.spec.replicas), time.monotonic())
                if self._stop.is_set():
                    return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=50)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tritonops-bench-spec-") as scratch:
        root = pathlib.Path(scratch)
        cluster = LocalCluster(directory=root / "cluster", real_node_specifications=())
        cluster.start()
        operator = OperatorProcess(kubeconfig=cluster.kubeconfig, log=root / "operator.log", resync_seconds=600)
        try:
            kubectl(cluster.kubeconfig, "apply", "--server-side", "-f", str(CRDS))
            operator.start()
            api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
            client.CoreV1Api(api).create_namespace(body={"metadata": {"name": NAMESPACE}})
            wait_until(lambda: client.CoreV1Api(api).read_namespaced_service_account("default", NAMESPACE) is not None,
                       description="default SA", timeout_seconds=30)
            names = [f"model-{index:03d}" for index in range(arguments.objects)]
            for name in names:
                create(api, NAMESPACE, model_deployment(name, server={"gpu": {"count": 0}}))
            wait_until(lambda: all((read(api, NAMESPACE, name).get("status") or {}).get("phase") == "Ready" for name in names),
                       description="every object Ready", timeout_seconds=300)
            recorder = DeploymentReplicas(api)
            recorder.start()
            time.sleep(1)
            latencies: list[float] = []
            for name in names:
                patch_spec(api, NAMESPACE, name, {"replicas": 2})
                accepted = time.monotonic()
                wait_until(lambda: (name, 2) in recorder.seen, description=f"{name}'s Deployment at 2 replicas", timeout_seconds=30)
                # The patch's own round trip is the client's, not the operator's: time from its answer.
                latencies.append(max(0.0, recorder.seen[(name, 2)] - accepted))
                time.sleep(0.2)  # one change at a time, as a user makes them
            recorder.stop()
        finally:
            operator.stop()
            cluster.stop()
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000
    figures = {"objects": arguments.objects, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "max_ms": round(ordered[-1] * 1000, 1),
               "target_p50_ms": 200, "met": p50 <= 200}
    print(figures, flush=True)
    report.save("spec_change", figures=figures, series={"spec change to Deployment updated": [(float(i + 1), v * 1000) for i, v in enumerate(latencies)]},
                x_label="change", y_label="milliseconds", title="Spec change to child Deployment updated")


if __name__ == "__main__":
    main()

"""The setting of the benchmarks that run Triton pods: the local cluster with its real nodes, the CRD,
and the operator at its production resync (60 s), in a scratch directory removed afterwards."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import tempfile
from collections.abc import Iterator

from kubernetes import client, config

from tests.harness.kubectl import kubectl
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess

CRDS = pathlib.Path(__file__).parents[1] / "crds"
PRODUCTION_RESYNC_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class RealCluster:
    root: pathlib.Path  # open to uid 1000: the Triton pods read repositories under it through hostPath
    api: client.ApiClient
    # For other clients of the same cluster (kubectl, Flagger in `make bench-versus`).
    kubeconfig: pathlib.Path


@contextlib.contextmanager
def real_cluster(*, name: str) -> Iterator[RealCluster]:
    with tempfile.TemporaryDirectory(prefix=f"tritonops-bench-{name}-") as scratch:
        root = pathlib.Path(scratch)
        cluster = LocalCluster(directory=root / "cluster")
        cluster.start()
        operator = OperatorProcess(kubeconfig=cluster.kubeconfig, log=root / "operator.log", resync_seconds=PRODUCTION_RESYNC_SECONDS)
        root.chmod(0o755)
        try:
            kubectl(cluster.kubeconfig, "apply", "--server-side", "-f", str(CRDS))
            operator.start()
            api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
            try:
                yield RealCluster(root=root, api=api, kubeconfig=cluster.kubeconfig)
            finally:
                api.close()
        finally:
            operator.stop()
            cluster.stop()

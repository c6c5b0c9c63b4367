"""The operator as users run it: the chart installed with `helm install`, from the image the Containerfile builds.

There is no kube-proxy in the local cluster, so the operator's pod uses its node's network (the
loopback-only namespace) and reaches the API server at its loopback address with its ServiceAccount's
token. It runs on a real node, from the image imported into that node's containerd.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from tritonops.devcluster import gobuild, images, network, nodes, versions
from tritonops.devcluster.cluster import LocalCluster

CHART = pathlib.Path(__file__).resolve().parents[3] / "charts" / "tritonops"
RELEASE = "tritonops"
POD_SELECTOR = "app.kubernetes.io/name=tritonops"
HELM_TIMEOUT_SECONDS = 240


def helm_environment(home: pathlib.Path) -> dict[str, str]:
    """Helm's cache, config and data under `home`, so that nothing touches the user's own."""
    return {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}


def run_helm(helm: pathlib.Path, environment: Mapping[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *arguments], capture_output=True, text=True, timeout=HELM_TIMEOUT_SECONDS, check=False, env=dict(environment))


def local_values(
    *, cluster: LocalCluster, watch_namespaces: Sequence[str], metrics_port: int, health_port: int, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Chart values for the local cluster: host network, the API server on loopback, a real node, the local image."""
    return {
        "watchNamespaces": list(watch_namespaces),
        "hostNetwork": True,
        "extraEnv": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(cluster.ports.apiserver)},
        ],
        "metrics": {"port": metrics_port},
        "healthPort": health_port,
        "scrapeNetworks": ["127.0.0.0/8"],
        "nodeSelector": {nodes.REAL_NODE_LABEL: "true"},
        "tolerations": [dict(nodes.REAL_NODE_TOLERATION)],
        "image": {"pullPolicy": "Never"},
        **(extra or {}),
    }


@dataclasses.dataclass(frozen=True)
class OperatorRelease:
    """An installed release: where its pod runs and where its endpoints answer."""

    namespace: str
    pod_name: str
    metrics_url: str
    health_url: str


class HelmOperator:
    """Installs the chart into a namespace of its own and uninstalls it again."""

    def __init__(
        self, *, cluster: LocalCluster, home: pathlib.Path, watch_namespaces: Sequence[str], values: Mapping[str, Any] | None = None
    ) -> None:
        self.cluster = cluster
        self.home = home
        self.watch_namespaces = tuple(watch_namespaces)
        self.values = dict(values or {})
        self.release: OperatorRelease | None = None

    def _helm(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        helm = gobuild.ensure_binaries([versions.HELM])["helm"]
        return run_helm(helm, helm_environment(self.home), *arguments, f"--kubeconfig={self.cluster.kubeconfig}")

    def install(self) -> OperatorRelease:
        """`helm install --wait`: returns once the operator's pod is Ready."""
        from kubernetes import client, config

        self.cluster.load_image(images.image_archives(names=("operator",))["operator"].archive)
        namespace = f"tritonops-{uuid.uuid4().hex[:6]}"
        metrics_port, health_port = network.free_port(), network.free_port()
        values = local_values(
            cluster=self.cluster, watch_namespaces=self.watch_namespaces, metrics_port=metrics_port, health_port=health_port, extra=self.values
        )
        self.home.mkdir(parents=True, exist_ok=True)
        values_file = self.home / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        api_client = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
        try:
            core = client.CoreV1Api(api_client)
            core.create_namespace(body={"metadata": {"name": namespace}})  # type: ignore[arg-type]
            installed = self._helm(
                "install", RELEASE, str(CHART), "--namespace", namespace, "--wait", "--timeout=120s", f"--values={values_file}"
            )
            if installed.returncode != 0:
                raise RuntimeError(f"helm install failed ({installed.returncode}): {installed.stderr.strip()}")
            (pod,) = core.list_namespaced_pod(namespace, label_selector=POD_SELECTOR).items
            assert pod.metadata is not None
        finally:
            api_client.close()
        self.release = OperatorRelease(
            namespace=namespace, pod_name=str(pod.metadata.name),
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics", health_url=f"http://127.0.0.1:{health_port}/healthz",
        )
        return self.release

    def uninstall(self) -> None:
        """`helm uninstall --wait` and the release's namespace; nothing to do if nothing was installed."""
        from kubernetes import client, config

        release, self.release = self.release, None
        if release is None:
            return
        self._helm("uninstall", RELEASE, "--namespace", release.namespace, "--wait")
        api_client = config.new_client_from_config(config_file=str(self.cluster.kubeconfig))
        try:
            client.CoreV1Api(api_client).delete_namespace(release.namespace)
        finally:
            api_client.close()

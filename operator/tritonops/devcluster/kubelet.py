"""A real kubelet's configuration and command line for one node of the local cluster."""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from tritonops.devcluster import pki

KUBELET_PORT = 10250
HEALTHZ_PORT = 10248


@dataclasses.dataclass(frozen=True)
class KubeletPaths:
    directory: pathlib.Path

    @property
    def root(self) -> pathlib.Path:
        """A short path of its own: the kubelet listens on unix sockets below it (pod-resources, plugins),
        whose paths are limited to 108 bytes, and test and user directories can be long."""
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:12]
        return pathlib.Path(tempfile.gettempdir()) / f"tritonops-kubelet-{digest}"

    @property
    def config(self) -> pathlib.Path:
        return self.directory / "kubelet-config.yaml"

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.directory / "kubelet.kubeconfig"

    @property
    def pod_logs(self) -> pathlib.Path:
        return self.directory / "pod-logs"

    @property
    def certificates(self) -> pathlib.Path:
        return self.directory / "kubelet-pki"

    @property
    def log(self) -> pathlib.Path:
        return self.directory / "kubelet.log"


def configuration(
    *, address: str, cgroup_root: str, client_ca: pathlib.Path, runtime_socket: pathlib.Path, paths: KubeletPaths
) -> dict[str, Any]:
    """KubeletConfiguration for these machines (hybrid cgroup v1, no CAP_SYS_RESOURCE, loopback only)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": address,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": address,
        "healthzPort": HEALTHZ_PORT,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        # Kubelet 1.36 refuses cgroup v1 unless told otherwise; the v1 hierarchies have the controllers.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        # Two kubelets on one machine: each keeps its pods under a root of its own.
        "cgroupRoot": cgroup_root,
        "failSwapOn": False,
        # No process here can lower its OOM score, so the kubelet must not try.
        "oomScoreAdj": 0,
        # The host's resolver is not on loopback; pods get no nameserver at all.
        "resolvConf": "",
        "podLogsDir": str(paths.pod_logs),
        "maxPods": 30,
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusUpdateFrequency": "10s",
        "nodeStatusReportFrequency": "1m",
        "syncFrequency": "10s",
        # Small test disks: evict only when nearly full, and never collect the preloaded images.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "imageMinimumGCAge": "876000h",
        "localStorageCapacityIsolation": True,
        "enableServer": True,
        "clusterDomain": "cluster.local",
        "shutdownGracePeriod": "0s",
    }


def kubeconfig_document(*, server: str, ca: pki.KeyPair, client: pki.KeyPair) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca.certificate)}}],
        "users": [{"name": "kubelet", "user": {"client-certificate": str(client.certificate), "client-key": str(client.key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "kubelet"}}],
        "current-context": "local",
    }


def command(
    *,
    binary: pathlib.Path,
    address: str,
    paths: KubeletPaths,
    labels: Mapping[str, str],
    taints: Sequence[str],
) -> list[str]:
    """The kubelet's flags; `--hostname-override` with a loopback address makes it the InternalIP.

    `--node-ip` refuses a loopback address, while a hostname that is an IP becomes the node's address,
    which `kubectl logs`/`exec` (through the apiserver) and metrics-server then use.
    """
    arguments = [
        str(binary),
        f"--config={paths.config}",
        f"--kubeconfig={paths.kubeconfig}",
        f"--root-dir={paths.root}",
        f"--cert-dir={paths.certificates}",
        f"--hostname-override={address}",
        "--v=1",
    ]
    if labels:
        arguments.append("--node-labels=" + ",".join(f"{key}={value}" for key, value in sorted(labels.items())))
    if taints:
        arguments.append("--register-with-taints=" + ",".join(taints))
    return arguments

"""Real nodes of the local cluster: containerd and a kubelet each, run inside the loopback-only sandbox.

Start order per node: its cgroup root, its pod network config, containerd, the locally built images
(imported, since no registry is reachable), the kubelet, then GPU capacity on the Node's status as
extended resources (the way the Kubernetes docs advertise a node-level resource without a device
plugin). Teardown is the fragile part: containerd's shims leave its process group and containers keep
running without them, so the node is cordoned and its pods deleted first, then every process in the
node's cgroup tree is killed, its mounts are undone, its cgroups and bridge removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import yaml

from tritonops.devcluster import cgroups, containerd, kubelet, nodes, pki, pod_network
from tritonops.devcluster.processes import ManagedProcess, processes_with_argument, start_process, stop_process_group, wait_until

Progress = Callable[[str], None]
# Created by kubelets and containerd outside their configured directories; removed after the last node
# if they did not exist before the first.
STRAY_DIRECTORIES = (
    pathlib.Path("/var/lib/kubelet"),
    pathlib.Path("/var/lib/cni"),
    pathlib.Path("/run/containerd"),
    pathlib.Path("/opt/containerd"),
)
POD_DRAIN_SECONDS = 30.0


def _print_progress(message: str) -> None:
    print(f"[tritonops nodes] {message}", file=sys.stderr, flush=True)


def cgroup_root(directory: pathlib.Path) -> str:
    """The node's cgroup, named after its directory: cgroups are machine-wide, and two clusters (a test's
    own beside the session's) may run nodes of the same address in two network namespaces at once."""
    return f"tritonops-node-{hashlib.sha256(str(directory).encode()).hexdigest()[:12]}"


def mount_points_under(directory: pathlib.Path) -> list[str]:
    """Mount points at or below `directory`, deepest first (octal escapes of mountinfo decoded)."""
    prefix = str(directory)
    found: list[str] = []
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(set(found), key=lambda point: point.count("/"), reverse=True)


def unmount_under(directory: pathlib.Path) -> list[str]:
    """Lazily unmount everything below `directory`; returns what is still mounted."""
    for _ in range(3):
        points = mount_points_under(directory)
        if not points:
            return []
        for point in points:
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False, timeout=10)
    return mount_points_under(directory)


@dataclasses.dataclass(frozen=True)
class NodeSetup:
    """What every real node of a cluster is started with."""

    apiserver_url: str
    cluster_pki: pki.ClusterPki
    binaries: Mapping[str, pathlib.Path]
    sandbox_image: str
    image_archives: Sequence[pathlib.Path]


@dataclasses.dataclass
class RealNodeProcesses:
    """One real node: its containerd and its kubelet, and everything they write under `directory`."""

    node: nodes.RealNode
    directory: pathlib.Path
    runtime: containerd.Containerd | None = None
    kubelet_process: ManagedProcess | None = None

    @property
    def cgroup_root(self) -> str:
        return cgroup_root(self.directory)

    @property
    def kubelet_paths(self) -> kubelet.KubeletPaths:
        return kubelet.KubeletPaths(self.directory)

    def start(self, setup: NodeSetup) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        cgroups.create(self.cgroup_root)
        paths = containerd.ContainerdPaths(self.directory / "containerd")
        pod_network.write_cni_configuration(
            directory=paths.cni_config_directory,
            node_name=self.node.name,
            subnet=self.node.pod_subnet,
            ipam_directory=self.directory / "ipam",
        )
        self.runtime = containerd.Containerd(paths=paths, binaries=setup.binaries, sandbox_image=setup.sandbox_image)
        self.runtime.start()
        self.runtime.import_images(setup.image_archives)
        kubelet_paths = self.kubelet_paths
        ca = setup.cluster_pki.ca
        client = pki.node_client_credentials(ca, node_name=self.node.name, directory=kubelet_paths.certificates)
        kubelet_paths.kubeconfig.write_text(yaml.safe_dump(kubelet.kubeconfig_document(server=setup.apiserver_url, ca=ca, client=client)))
        kubelet_paths.config.write_text(
            yaml.safe_dump(
                kubelet.configuration(
                    address=self.node.address,
                    cgroup_root=f"/{self.cgroup_root}",
                    client_ca=ca.certificate,
                    runtime_socket=paths.socket,
                    paths=kubelet_paths,
                )
            )
        )
        self.kubelet_process = start_process(
            name=f"kubelet@{self.node.name}",
            command=kubelet.command(
                binary=setup.binaries["kubelet"],
                address=self.node.address,
                paths=kubelet_paths,
                labels=self.node.labels(),
                taints=self.node.taints(),
            ),
            log=kubelet_paths.log,
        )

    def watched(self) -> list[ManagedProcess]:
        processes = [self.kubelet_process] if self.kubelet_process else []
        if self.runtime is not None and self.runtime.process is not None:
            processes.append(self.runtime.process)
        return processes

    def advertise_gpus(self, core: Any) -> None:
        """Extended-resource capacity on the Node's status; the kubelet copies capacity to allocatable."""
        if not self.node.gpus:
            return
        resource = nodes.GPU_RESOURCE.replace("/", "~1")
        core.patch_node_status(
            self.node.name,
            body=[{"op": "add", "path": f"/status/capacity/{resource}", "value": str(self.node.gpus)}],
        )

    def stop(self, core: Any | None) -> list[str]:
        """Tear the node down; returns what could not be removed (empty when the teardown was clean)."""
        problems: list[str] = []
        if core is not None and self.kubelet_process is not None and self.kubelet_process.running():
            problems.extend(self._drain(core))
        if self.kubelet_process is not None:
            stop_process_group(self.kubelet_process.pid)
            self.kubelet_process = None
        # Containers outlive both the kubelet and their shims; the node's cgroup tree holds them all.
        problems.extend(f"cgroup {group}" for group in cgroups.kill_and_remove(self.cgroup_root))
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        problems.extend(f"mount {point}" for point in unmount_under(self.directory))
        problems.extend(_remove_kubelet_root(self.kubelet_paths.root))
        pod_network.delete_bridge(self.node.name)
        if core is not None:
            try:
                core.delete_node(self.node.name)
            except Exception as error:  # the control plane may already be gone
                if getattr(error, "status", None) != 404:
                    problems.append(f"node {self.node.name}: {error}")
        return problems

    def _drain(self, core: Any) -> list[str]:
        """Cordon, delete every pod bound here with no grace, and wait for the kubelet to stop them."""
        try:
            core.patch_node(self.node.name, body={"spec": {"unschedulable": True}})
            pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.node.name}").items
            for pod in pods:
                core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except Exception as error:
            return [f"drain of {self.node.name}: {error}"]
        runtime = self.runtime
        if runtime is None:
            return []
        # Bounded: whatever the kubelet has not stopped by then is killed with the node's cgroup tree.
        deadline = time.monotonic() + POD_DRAIN_SECONDS
        while time.monotonic() < deadline and runtime.ctr("tasks", "list", "--quiet", timeout=10).stdout.strip():
            time.sleep(0.25)
        return []


class RealNodes:
    """Every real node of one cluster, started together and stopped together."""

    def __init__(self, *, directory: pathlib.Path, specifications: Sequence[nodes.RealNode], progress: Progress = _print_progress) -> None:
        self.directory = directory
        self.specifications = tuple(specifications)
        self.progress = progress
        self.nodes: list[RealNodeProcesses] = []
        self._stray_before = {path: path.exists() for path in STRAY_DIRECTORIES}

    def start(self, setup: NodeSetup, *, core: Any) -> None:
        if not self.specifications:
            return
        if not containerd.runc_available():
            raise RuntimeError(f"runc is not installed at {containerd.RUNC}: apt-get install runc")
        pod_network.prepare_namespace()
        started = time.monotonic()
        for specification in self.specifications:
            self.progress(f"starting containerd and kubelet for real node {specification.name}")
            node = RealNodeProcesses(node=specification, directory=self.directory / specification.name)
            self.nodes.append(node)
            node.start(setup)
        watched = [process for node in self.nodes for process in node.watched()]
        names = {node.node.name for node in self.nodes}

        def registered() -> bool:
            return names <= {node.metadata.name for node in core.list_node().items}

        wait_until(registered, description="real nodes registered", timeout_seconds=60, watched=watched)
        for node in self.nodes:
            node.advertise_gpus(core)

        def ready() -> bool:
            ready_names = set()
            for listed in core.list_node().items:
                if listed.metadata.name not in names:
                    continue
                specification = next(node.node for node in self.nodes if node.node.name == listed.metadata.name)
                allocatable = listed.status.allocatable or {}
                conditions = listed.status.conditions or []
                gpus_ok = not specification.gpus or allocatable.get(nodes.GPU_RESOURCE) == str(specification.gpus)
                # The node lifecycle controller lifts its not-ready taints a moment after Ready.
                untainted = not any(taint.key.startswith("node.kubernetes.io/") for taint in listed.spec.taints or [])
                if gpus_ok and untainted and any(c.type == "Ready" and c.status == "True" for c in conditions):
                    ready_names.add(listed.metadata.name)
            return ready_names == names

        wait_until(ready, description="real nodes Ready, untainted, with their GPUs allocatable", timeout_seconds=90, watched=watched)
        self.progress(f"{len(self.nodes)} real nodes Ready in {time.monotonic() - started:.1f}s")

    def stop(self, core: Any | None) -> list[str]:
        problems: list[str] = []
        for node in reversed(self.nodes):
            problems.extend(node.stop(core))
        self.nodes.clear()
        problems.extend(_remove_strays(path for path, existed in self._stray_before.items() if not existed))
        return problems

    def state(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "nodes": [dataclasses.asdict(node.node) for node in self.nodes],
            "strays": [str(path) for path, existed in self._stray_before.items() if not existed],
        }

    @staticmethod
    def clean_up_from_state(state: Mapping[str, Any]) -> list[str]:
        """Tear down nodes that another process started (`tritonops dev down`), without the apiserver."""
        directory = pathlib.Path(state["directory"])
        problems: list[str] = []
        # The kubelets, containerds and shims all name a path under the nodes' directory.
        for pid in processes_with_argument(str(directory)):
            stop_process_group(pid, grace_seconds=5)
        for pid in processes_with_argument(str(directory)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for recorded in state.get("nodes") or []:
            node = nodes.RealNode(**recorded)
            problems.extend(f"cgroup {group}" for group in cgroups.kill_and_remove(cgroup_root(directory / node.name)))
            problems.extend(_remove_kubelet_root(kubelet.KubeletPaths(directory / node.name).root))
            pod_network.delete_bridge(node.name)
        problems.extend(f"mount {point}" for point in unmount_under(directory))
        problems.extend(_remove_strays(pathlib.Path(path) for path in state.get("strays") or []))
        return problems


def _remove_kubelet_root(root: pathlib.Path) -> list[str]:
    """The kubelet's root (pod volumes are mounted below it): unmounted, then removed."""
    still = [f"mount {point}" for point in unmount_under(root)]
    if not still:
        shutil.rmtree(root, ignore_errors=True)
    return still


def _remove_strays(paths: Iterable[pathlib.Path]) -> list[str]:
    problems: list[str] = []
    for path in paths:
        if path.exists():
            problems.extend(f"mount {point}" for point in unmount_under(path))
            shutil.rmtree(path, ignore_errors=True)
    return problems

"""Real nodes: a real kubelet and containerd run pods as containers, and their teardown leaves nothing behind."""

from __future__ import annotations

import pathlib
import subprocess
import tempfile
from typing import Any

import pytest
from kubernetes import client

from tests.harness.kubectl import kubectl
from tritonops.devcluster import cgroups, containerd, images, network, nodes, pod_network, real_nodes, versions
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import processes_with_argument, wait_until


def _pod(name: str, *, command: str, node: str | None = None, restart: str = "Always") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": restart,
        "tolerations": [dict(nodes.REAL_NODE_TOLERATION)],
        "nodeSelector": {nodes.REAL_NODE_LABEL: "true"},
        "terminationGracePeriodSeconds": 1,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "main",
                "image": images.TRITON,
                "imagePullPolicy": "Never",
                # args, not command: the image's entrypoint (tini) stays PID 1, as in the Triton pods.
                "args": ["sh", "-c", command],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    }
    if node is not None:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _container_status(core: client.CoreV1Api, namespace: str, name: str) -> Any:
    statuses = core.read_namespaced_pod(name, namespace).status.container_statuses or []
    return statuses[0] if statuses else None


def _running(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    status = _container_status(core, namespace, name)
    return bool(status is not None and status.ready and status.state.running is not None)


def test_real_nodes_are_registered_by_real_kubelets_with_gpus(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    for specification in nodes.REAL_NODES:
        node = core.read_node(specification.name)
        info = node.status.node_info
        assert info.kubelet_version == versions.KUBERNETES_VERSION
        assert info.container_runtime_version == f"containerd://{versions.CONTAINERD_VERSION.removeprefix('v')}"
        assert {"type": "InternalIP", "address": specification.address} in [a.to_dict() for a in node.status.addresses]
        assert node.status.allocatable[nodes.GPU_RESOURCE] == str(specification.gpus)
        assert node.metadata.labels[nodes.PRODUCT_LABEL] == nodes.L4
        assert [(t.key, t.effect) for t in node.spec.taints or []] == [(nodes.REAL_NODE_LABEL, "NoSchedule")]


def test_a_pod_runs_as_a_container_with_logs_exec_and_a_loopback_ip(
    cluster: LocalCluster, kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_pod(namespace, _pod("sleeper", command="echo started; exec sleep 600"))
    wait_until(lambda: _running(core, namespace, "sleeper"), description="the pod running", timeout_seconds=60)
    pod = core.read_namespaced_pod("sleeper", namespace)
    assert pod.status.pod_ip.startswith("127.88.")
    assert pod.spec.node_name in {node.name for node in nodes.REAL_NODES}
    assert kubectl(cluster.kubeconfig, "logs", "-n", namespace, "sleeper").strip() == "started"
    # The image's user and the pod's own process namespace: what only a real container has.
    assert kubectl(cluster.kubeconfig, "exec", "-n", namespace, "sleeper", "--", "id", "-u").strip() == "1000"
    assert kubectl(cluster.kubeconfig, "exec", "-n", namespace, "sleeper", "--", "cat", "/proc/1/comm").strip() == "tini"
    assert kubectl(cluster.kubeconfig, "exec", "-n", namespace, "sleeper", "--", "sh", "-c", "command -v tritonserver").strip()


def test_a_crashing_container_is_restarted_with_its_exit_code(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_pod(namespace, _pod("crasher", command="echo dying >&2; exit 3"))

    def restarted() -> bool:
        status = _container_status(core, namespace, "crasher")
        return bool(status is not None and status.restart_count >= 1 and status.last_state.terminated is not None)

    wait_until(restarted, description="a restart after the crash", timeout_seconds=90)
    status = _container_status(core, namespace, "crasher")
    assert status.last_state.terminated.exit_code == 3
    wait_until(
        lambda: (_container_status(core, namespace, "crasher").state.waiting or client.V1ContainerStateWaiting()).reason
        == "CrashLoopBackOff",
        description="CrashLoopBackOff",
        timeout_seconds=90,
    )


def test_an_image_no_node_holds_is_refused_without_a_pull(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    body = _pod("missing", command="true")
    body["spec"]["containers"][0]["image"] = "localhost/tritonops/absent:1"
    core.create_namespaced_pod(namespace, body)

    def waiting_reason() -> str:
        status = _container_status(core, namespace, "missing")
        return str(status.state.waiting.reason) if status is not None and status.state.waiting else ""

    wait_until(lambda: waiting_reason() == "ErrImageNeverPull", description="ErrImageNeverPull", timeout_seconds=60)


def _leftovers(node: nodes.RealNode, directory: pathlib.Path) -> dict[str, object]:
    return {
        "processes": processes_with_argument(str(directory)),
        "cgroup processes": sorted(cgroups.process_ids(real_nodes.cgroup_root(directory))),
        "cgroups": cgroups.exists(real_nodes.cgroup_root(directory)),
        "mounts": real_nodes.mount_points_under(directory),
        "bridge": pod_network.bridge_name(node.name) in network.network_interfaces(),
    }


@pytest.mark.timeout(300)
def test_teardown_leaves_no_process_mount_cgroup_or_interface(
    cluster: LocalCluster, kube_client: client.ApiClient, namespace: str
) -> None:
    """A node of its own, joined to the session's cluster, runs a pod and is torn down."""
    assert cluster.pki is not None
    core = client.CoreV1Api(kube_client)
    extra = nodes.RealNode(address="127.0.0.19", pod_subnet="127.88.19.0/24", gpus=0)
    # Short: the kubelet puts unix sockets under its root directory, and their paths are limited.
    directory = pathlib.Path(tempfile.mkdtemp(prefix="tn-", dir=cluster.directory))
    interfaces_before = set(network.network_interfaces())
    archives = images.image_archives(names=("pause", "triton"))
    node_set = real_nodes.RealNodes(directory=directory, specifications=[extra])
    try:
        setup = real_nodes.NodeSetup(
            apiserver_url=cluster.apiserver_url,
            cluster_pki=cluster.pki,
            binaries={component.name: path for component, path in _binaries().items()},
            sandbox_image=archives["pause"].reference,
            image_archives=[archives["pause"].archive, archives["triton"].archive],
        )
        node_set.start(setup, core=core)
        core.create_namespaced_pod(namespace, _pod("on-extra", command="exec sleep 600", node=extra.name))
        wait_until(lambda: _running(core, namespace, "on-extra"), description="the pod on the extra node", timeout_seconds=60)
        during = _leftovers(extra, directory / extra.name)
        assert during["processes"] and during["cgroup processes"] and during["mounts"] and during["bridge"], during
        # The bridge and the pod's veth are up, and the namespace still holds nothing but loopback addresses.
        assert network.is_loopback_only_namespace(), network.interface_addresses()
    finally:
        problems = node_set.stop(core)
    assert problems == []
    assert _leftovers(extra, directory / extra.name) == {
        "processes": [], "cgroup processes": [], "cgroups": False, "mounts": [], "bridge": False,
    }
    assert set(network.network_interfaces()) <= interfaces_before
    assert not containerd.ContainerdPaths(directory / extra.name / "containerd").socket_directory.exists()
    assert extra.name not in {node.metadata.name for node in core.list_node().items}
    # The runtime's own state directories went with it (nothing under /run or /opt of the machine).
    assert subprocess.run(["findmnt", "--list", "--noheadings", "--output=TARGET"], capture_output=True, text=True, check=True).stdout.count(str(directory)) == 0


def _binaries() -> dict[versions.GoComponent, pathlib.Path]:
    from tritonops.devcluster import gobuild

    wanted = [component for component in versions.ALL_COMPONENTS if component.name in ("kubelet", "containerd", "containerd-shim-runc-v2", "ctr")]
    return {component: gobuild.binary_path(component) for component in wanted}

from __future__ import annotations

import pathlib

from tritonops.devcluster import kubelet, nodes


def _configuration(tmp_path: pathlib.Path) -> dict[str, object]:
    return kubelet.configuration(
        address="127.0.0.11",
        cgroup_root="/tritonops-node-127-0-0-11",
        client_ca=tmp_path / "ca.crt",
        runtime_socket=tmp_path / "containerd.sock",
        paths=kubelet.KubeletPaths(tmp_path),
    )


def test_settings_these_machines_need(tmp_path: pathlib.Path) -> None:
    configuration = _configuration(tmp_path)
    assert configuration["failCgroupV1"] is False
    assert configuration["cgroupDriver"] == "cgroupfs"
    assert configuration["oomScoreAdj"] == 0
    assert configuration["resolvConf"] == ""
    assert configuration["failSwapOn"] is False


def test_everything_it_serves_or_writes_is_its_own(tmp_path: pathlib.Path) -> None:
    configuration = _configuration(tmp_path)
    assert configuration["address"] == configuration["healthzBindAddress"] == "127.0.0.11"
    assert configuration["readOnlyPort"] == 0
    assert configuration["podLogsDir"] == str(tmp_path / "pod-logs")
    assert configuration["containerRuntimeEndpoint"] == f"unix://{tmp_path / 'containerd.sock'}"
    assert configuration["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": str(tmp_path / "ca.crt")},
    }


def test_command_names_the_node_by_its_loopback_address(tmp_path: pathlib.Path) -> None:
    node = nodes.REAL_NODES[0]
    arguments = kubelet.command(
        binary=tmp_path / "kubelet", address=node.address, paths=kubelet.KubeletPaths(tmp_path), labels=node.labels(), taints=node.taints()
    )
    assert f"--hostname-override={node.address}" in arguments
    root = kubelet.KubeletPaths(tmp_path).root
    assert f"--root-dir={root}" in arguments
    # Unix sockets live below the root: its path must leave room for them however long the node's directory.
    assert len(str(root / "pod-resources" / "1132951390")) < 100
    assert kubelet.KubeletPaths(tmp_path / ("x" * 200)).root != root
    labels = next(argument for argument in arguments if argument.startswith("--node-labels="))
    assert f"{nodes.PRODUCT_LABEL}={nodes.L4}" in labels
    assert f"--register-with-taints={nodes.REAL_NODE_LABEL}=true:NoSchedule" in arguments


def test_a_node_without_gpus_has_no_gpu_labels() -> None:
    assert not any(key.startswith("nvidia.com/") for key in nodes.RealNode(address="127.0.0.20", pod_subnet="127.88.20.0/24", gpus=0).labels())

from __future__ import annotations

import pathlib
import tomllib

from tritonops.devcluster import containerd


def test_configuration_keeps_everything_under_the_node_directory(tmp_path: pathlib.Path) -> None:
    paths = containerd.ContainerdPaths(tmp_path)
    parsed = tomllib.loads(containerd.configuration(paths=paths, sandbox_image="localhost/pause:1"))
    assert parsed["version"] == 3
    assert (parsed["root"], parsed["state"], parsed["grpc"]["address"]) == (str(paths.root), str(paths.state), str(paths.socket))
    plugins = parsed["plugins"]
    assert plugins["io.containerd.internal.v1.opt"]["path"] == str(paths.opt)
    runtime = plugins["io.containerd.cri.v1.runtime"]
    assert runtime["cni"]["conf_dir"] == str(paths.cni_config_directory)
    assert runtime["netns_mounts_under_state_dir"] is True
    assert plugins["io.containerd.grpc.v1.cri"]["stream_server_address"] == "127.0.0.1"


def test_runc_without_systemd_and_oom_scores_left_alone(tmp_path: pathlib.Path) -> None:
    parsed = tomllib.loads(containerd.configuration(paths=containerd.ContainerdPaths(tmp_path), sandbox_image="localhost/pause:1"))
    runtime = parsed["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    options = runtime["containerd"]["runtimes"]["runc"]["options"]
    assert options == {"BinaryName": containerd.RUNC, "SystemdCgroup": False}
    assert parsed["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == "localhost/pause:1"

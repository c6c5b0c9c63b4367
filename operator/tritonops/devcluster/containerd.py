"""One containerd per real node: its own root, state and socket, runc as the OCI runtime, CNI on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence

from tritonops.devcluster.processes import ManagedProcess, processes_with_argument, start_process, stop_process_group, wait_until

# The Kubernetes namespace of containerd, where the CRI plugin keeps images and containers.
CRI_NAMESPACE = "k8s.io"
# crun refuses this machine's hybrid cgroup v1 layout; Debian's runc works.
RUNC = "/usr/sbin/runc"
CNI_PLUGIN_DIRECTORY = "/usr/lib/cni"
COMMAND_TIMEOUT_SECONDS = 120


@dataclasses.dataclass(frozen=True)
class ContainerdPaths:
    """Everything one containerd writes lives under its node's directory."""

    directory: pathlib.Path

    @property
    def root(self) -> pathlib.Path:
        return self.directory / "root"

    @property
    def state(self) -> pathlib.Path:
        return self.directory / "state"

    @property
    def socket_directory(self) -> pathlib.Path:
        """A short path of its own: unix socket paths are limited to 104 bytes, test directories are long."""
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:12]
        return pathlib.Path(tempfile.gettempdir()) / f"tritonops-containerd-{digest}"

    @property
    def socket(self) -> pathlib.Path:
        return self.socket_directory / "containerd.sock"

    @property
    def config(self) -> pathlib.Path:
        return self.directory / "config.toml"

    @property
    def cni_config_directory(self) -> pathlib.Path:
        return self.directory / "cni" / "net.d"

    @property
    def opt(self) -> pathlib.Path:
        return self.directory / "opt"

    @property
    def log(self) -> pathlib.Path:
        return self.directory / "containerd.log"


def configuration(*, paths: ContainerdPaths, sandbox_image: str) -> str:
    """containerd's config (version 3) for a kubelet on this machine.

    `restrict_oom_score_adj`: no process here may lower its OOM score (no CAP_SYS_RESOURCE), so
    sandboxes (-998) and Guaranteed pods (-997) would fail to start without it. The sandbox image is
    pinned to a locally imported one because no registry can be reached.
    """
    return f"""version = 3
root = "{paths.root}"
state = "{paths.state}"

[grpc]
  address = "{paths.socket}"

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "{paths.opt}"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "{sandbox_image}"
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    disable_apparmor = true
    restrict_oom_score_adj = true
    # Pod network namespaces are bind-mounted under the state directory, not /run/netns, so that the
    # node's teardown finds them with the rest of its mounts.
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "{RUNC}"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["{CNI_PLUGIN_DIRECTORY}"]
      conf_dir = "{paths.cni_config_directory}"
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
"""


@dataclasses.dataclass
class Containerd:
    """A running containerd and the `ctr` client that talks to its socket."""

    paths: ContainerdPaths
    binaries: Mapping[str, pathlib.Path]
    sandbox_image: str
    process: ManagedProcess | None = None

    def start(self) -> None:
        for directory in (self.paths.root, self.paths.state, self.paths.socket_directory, self.paths.cni_config_directory, self.paths.opt):
            directory.mkdir(parents=True, exist_ok=True)
        self.paths.config.write_text(configuration(paths=self.paths, sandbox_image=self.sandbox_image))
        environment = dict(os.environ)
        # containerd looks its shim up on PATH, and the shim looks up runc by the configured path.
        shim_directory = self.binaries["containerd-shim-runc-v2"].parent
        environment["PATH"] = f"{shim_directory}:{environment.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        self.process = start_process(
            # The node directory holds it: one name per node, as the kubelet has.
            name=f"containerd@{self.paths.directory.parent.name}",
            command=[str(self.binaries["containerd"]), f"--config={self.paths.config}", "--log-level=warn"],
            log=self.paths.log,
            environment=environment,
        )
        wait_until(
            lambda: self.ctr("version").returncode == 0,
            description=f"containerd at {self.paths.socket}",
            timeout_seconds=30,
            interval_seconds=0.2,
            watched=[self.process],
        )

    def ctr(self, *arguments: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binaries["ctr"]), f"--address={self.paths.socket}", f"--namespace={CRI_NAMESPACE}", *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def import_images(self, archives: Sequence[pathlib.Path]) -> None:
        for archive in archives:
            # --no-unpack would leave the first container start to unpack; unpacking now keeps pod starts fast.
            completed = self.ctr("images", "import", "--all-platforms", "--snapshotter=overlayfs", str(archive))
            if completed.returncode != 0:
                raise RuntimeError(f"ctr images import {archive} failed: {completed.stderr.strip()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid)
            self.process = None
        # The shims start sessions of their own, so stopping containerd's group leaves them running.
        for pid in processes_with_argument(str(self.paths.socket)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.paths.socket_directory, ignore_errors=True)


def runc_available() -> bool:
    return pathlib.Path(RUNC).exists()

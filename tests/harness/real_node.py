"""What puts a ModelDeployment's Triton pods on the real nodes (a real kubelet and containerd each)."""

from __future__ import annotations

import pathlib
import tempfile
from typing import Any

from tritonops.devcluster import images, nodes


def real_node_server_spec() -> dict[str, Any]:
    """`spec.server` fields for one-GPU Triton pods on the real nodes, from the locally built Triton image."""
    return {
        "image": images.TRITON,
        "gpu": {"count": 1, "products": [nodes.L4]},
        "tolerations": [dict(nodes.REAL_NODE_TOLERATION)],
    }


def host_directory(parent: pathlib.Path, *, prefix: str) -> pathlib.Path:
    """A directory that a pod's hostPath volume can read: Triton runs as uid 1000, and temporary
    directories are private to root (mode 0700). `parent` must itself be open to others."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    directory.chmod(0o755)
    return directory


def container_processes(container_id: str, *, command: str) -> list[int]:
    """The host pids of the processes named `command` in one container of a real node, found by the
    container's cgroup (the kubelets use the cgroupfs driver: each container's cgroup path ends in its id)."""
    identifier = container_id.split("://", 1)[-1]
    found: list[int] = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if identifier in (entry / "cgroup").read_text() and (entry / "comm").read_text().strip() == command:
                found.append(int(entry.name))
        except OSError:  # a process that exited meanwhile
            continue
    return found

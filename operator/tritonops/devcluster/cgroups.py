"""A cgroup of its own for each real node's pods, in every mounted hierarchy, and its removal.

These machines mount cgroup v1 controllers side by side with a nearly empty cgroup2 hierarchy. Each
kubelet gets its own `cgroupRoot`, so two kubelets on one machine never share `/kubepods`, and a
teardown can find (and kill) every process a node started by reading its tree.
"""

from __future__ import annotations

import os
import pathlib
import signal
import time


def hierarchies() -> list[pathlib.Path]:
    """The mount points of every cgroup (v1) and cgroup2 hierarchy, from /proc/self/mountinfo."""
    found: list[pathlib.Path] = []
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        filesystem = fields[separator + 1]
        if filesystem in ("cgroup", "cgroup2"):
            found.append(pathlib.Path(fields[4]))
    return sorted(set(found))


def create(name: str) -> None:
    """Create /NAME in every hierarchy; a new cpuset starts empty and must inherit its parent's CPUs."""
    for hierarchy in hierarchies():
        group = hierarchy / name
        group.mkdir(exist_ok=True)
        for setting in ("cpuset.cpus", "cpuset.mems"):
            if (group / setting).exists() and not (group / setting).read_text().strip():
                (group / setting).write_text((hierarchy / setting).read_text())


def _groups_deepest_first(name: str) -> list[pathlib.Path]:
    groups: list[pathlib.Path] = []
    for hierarchy in hierarchies():
        top = hierarchy / name
        if top.is_dir():
            groups.extend(pathlib.Path(root) for root, _, _ in os.walk(top))
    return sorted(groups, key=lambda path: len(path.parts), reverse=True)


def process_ids(name: str) -> set[int]:
    pids: set[int] = set()
    for group in _groups_deepest_first(name):
        try:
            pids.update(int(pid) for pid in (group / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def kill_and_remove(name: str, *, timeout_seconds: float = 15.0) -> list[pathlib.Path]:
    """SIGKILL every process in /NAME's trees, then remove the groups; returns groups that would not go."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        pids = process_ids(name)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    left: list[pathlib.Path] = []
    for group in _groups_deepest_first(name):
        for _ in range(50):
            try:
                group.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                # A killed process leaves its group a moment after it is reaped.
                time.sleep(0.1)
        else:
            left.append(group)
    return left


def exists(name: str) -> bool:
    return any((hierarchy / name).exists() for hierarchy in hierarchies())

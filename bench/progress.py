"""How far a bench-scale phase has got: one poller, the same for the baseline and for the operator.

The poller samples counts every POLL_SECONDS; each count is kept by a watch (bench/watched_count.py),
read as plain JSON: the kubernetes client's model classes took 0.5 s of CPU to read one list of 1000
Deployments, and a list per poll costs O(n) per poll over an O(n) phase. Both phases count alike,
from their first write, and the bench's own CPU is counted with the others'.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import resource
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tritonops.devcluster.cluster import LocalCluster

POLL_SECONDS = 2.0
Timeline = list[tuple[float, int]]
Predicate = Callable[[Mapping[str, Any]], bool]


def has_ready_pod(deployment: Mapping[str, Any]) -> bool:
    """A Deployment with at least one Ready pod."""
    return ((deployment.get("status") or {}).get("readyReplicas") or 0) >= 1


def is_converged(model_deployment: Mapping[str, Any]) -> bool:
    """A ModelDeployment Ready for its current generation."""
    status = model_deployment.get("status") or {}
    return status.get("phase") == "Ready" and status.get("observedGeneration") == (model_deployment.get("metadata") or {}).get("generation")


def own_cpu_seconds() -> float:
    """This process's CPU: the bench's creates and polls compete for the same cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process, from /proc."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields of the whole line; 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cores_between(before: Mapping[str, float], after: Mapping[str, float], *, seconds: float) -> dict[str, float]:
    """Cores each process used between two readings of its CPU seconds, `seconds` apart (a process new since `before` from 0)."""
    return {name: round((after[name] - before.get(name, 0.0)) / seconds, 3) for name in after}


def cluster_cpu_seconds(cluster: LocalCluster, extra: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds of each of the cluster's processes and of the `extra` ones (name: pid)."""
    pids = {process.name: process.pid for process in cluster.processes} | dict(extra)
    return {name: process_cpu_seconds(pid) for name, pid in pids.items()}


@dataclasses.dataclass
class Poller:
    """Counts, every POLL_SECONDS from `start()`, what each named list reports, until `done` says so or the time runs out."""

    counters: Mapping[str, Callable[[], int]]
    done: Callable[[Mapping[str, int]], bool]
    timeout_seconds: float
    timelines: dict[str, Timeline] = dataclasses.field(default_factory=dict)
    started: float = 0.0
    # Called after each poll with the elapsed seconds: the operator phase samples its CPU there.
    on_poll: Callable[[float], None] | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    finished: bool = False
    errors: list[str] = dataclasses.field(default_factory=list)

    def start(self) -> None:
        self.started = time.monotonic()
        self.timelines = {name: [] for name in self.counters}
        self._thread = threading.Thread(target=self._run, name="bench-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() - self.started < self.timeout_seconds:
            try:
                counts = {name: count() for name, count in self.counters.items()}
            except Exception as error:  # a slow or refused list under load: the next poll reads again
                self.errors.append(f"{type(error).__name__}: {error}"[:200])
                self._stop.wait(POLL_SECONDS)
                continue
            elapsed = round(time.monotonic() - self.started, 2)
            for name, value in counts.items():
                self.timelines[name].append((elapsed, value))
            if self.on_poll is not None:
                self.on_poll(elapsed)
            if self.done(counts):
                self.finished = True
                return
            self._stop.wait(POLL_SECONDS)

    def wait(self) -> float:
        """Block until done or timed out; the elapsed seconds at the last poll."""
        assert self._thread is not None, "start() first"
        self._thread.join(self.timeout_seconds + 30)
        self._stop.set()
        first = next(iter(self.timelines.values()))
        return first[-1][0] if first else 0.0

    def last(self, name: str) -> int:
        timeline = self.timelines.get(name) or []
        return timeline[-1][1] if timeline else 0

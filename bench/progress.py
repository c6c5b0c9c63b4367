"""How far a bench-scale phase has got: one poller, the same for the baseline and for the operator.

The poller reads lists as plain JSON from the apiserver's watch cache. The kubernetes client's model
classes took 0.5 s of CPU to read one list of 1000 Deployments, a quarter of a core at one poll every
2 s on a 2-core machine: load that only the operator's phase paid, since the baseline polled only
after its creates. Both phases now poll alike, from their first write, and the poller's own CPU is
counted with the others'.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import resource
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubernetes import client

from tritonops.devcluster.cluster import LocalCluster
from tritonops.kube import request_json

POLL_SECONDS = 2.0
Timeline = list[tuple[float, int]]


def ready_deployments(items: Sequence[Mapping[str, Any]]) -> int:
    """Deployments with at least one Ready pod."""
    return sum(1 for item in items if ((item.get("status") or {}).get("readyReplicas") or 0) >= 1)


def converged(items: Sequence[Mapping[str, Any]]) -> int:
    """ModelDeployments Ready for their current generation."""
    return sum(
        1
        for item in items
        if (item.get("status") or {}).get("phase") == "Ready"
        and item["status"].get("observedGeneration") == item["metadata"].get("generation")
    )


def list_items(api_client: client.ApiClient, path: str) -> list[dict[str, Any]]:
    # resourceVersion=0 is served from the watch cache, so that polling does not load what it measures.
    return list(request_json(api_client, "GET", path, query={"resourceVersion": "0"}).get("items") or [])


def own_cpu_seconds() -> float:
    """This process's CPU: the bench's creates and polls compete for the same cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process, from /proc."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields of the whole line; 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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

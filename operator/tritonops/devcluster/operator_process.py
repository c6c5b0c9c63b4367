"""Run `tritonops run` as a real process against the local cluster, on loopback ports."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import signal
import sys
import urllib.request

from tritonops.devcluster import network
from tritonops.devcluster.processes import ManagedProcess, start_process, stop_process_group, wait_until


@dataclasses.dataclass
class OperatorProcess:
    kubeconfig: pathlib.Path
    log: pathlib.Path
    # Production's resync: a timer that works only because of a short resync is a bug the tests must see.
    resync_seconds: float = 60.0
    extra_arguments: tuple[str, ...] = ()
    liveness_port: int = dataclasses.field(default_factory=network.free_port)
    metrics_port: int = dataclasses.field(default_factory=network.free_port)
    process: ManagedProcess | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "tritonops.cli", "run",
            f"--kubeconfig={self.kubeconfig}",
            f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            f"--resync-seconds={self.resync_seconds}",
            # The network rule: whatever a pod's IP says, the operator scrapes loopback only.
            "--scrape-network=127.0.0.0/8",
            *self.extra_arguments,
        ]
        self.process = start_process(name="tritonops", command=command, log=self.log)
        wait_until(self.alive, description="the operator's liveness endpoint", timeout_seconds=60, watched=[self.process])

    def alive(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as response:
            return bool(response.status == 200)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        total = 0.0
        for line in self.metrics_text().splitlines():
            match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
            if match and all(f'{key}="{value}"' in (match.group(1) or "") for key, value in labels.items()):
                total += float(match.group(2))
        return total

    def kill(self) -> None:
        """SIGKILL: the operator gets no chance to finish anything, as when its node dies."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            stop_process_group(self.process.pid, grace_seconds=1)  # reaps it
            self.process = None

    def terminate(self, *, grace_seconds: float = 25.0) -> int:
        """SIGTERM, as Kubernetes stops a pod; its exit status once it has exited (SIGKILL after the grace)."""
        assert self.process is not None, "not started"
        process, self.process = self.process, None
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.popen.wait(timeout=grace_seconds)
        finally:
            stop_process_group(process.pid, grace_seconds=1)

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid)
            self.process = None

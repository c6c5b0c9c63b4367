"""Run the real Prometheus server (Debian package `prometheus`) on loopback with a generated scrape config."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from tritonops.devcluster import network
from tritonops.devcluster.processes import ManagedProcess, start_process, stop_process_group, wait_until


@dataclasses.dataclass(frozen=True)
class ScrapeJob:
    name: str
    targets: Sequence[str]  # host:port, loopback only
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Prometheus file discovery: JSON files of [{targets, labels}] that a test rewrites as pods come and go.
    target_files: Sequence[pathlib.Path] = ()


def scrape_configuration(*, jobs: Sequence[ScrapeJob], interval_seconds: float) -> dict[str, Any]:
    for job in jobs:
        for target in job.targets:
            network.require_loopback_address(target.rsplit(":", 1)[0])
    interval = f"{interval_seconds:g}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": job.name,
                "metrics_path": job.metrics_path,
                "static_configs": [{"targets": list(job.targets), **({"labels": dict(job.labels)} if job.labels else {})}],
                **({"file_sd_configs": [{"files": [str(path) for path in job.target_files], "refresh_interval": "1s"}]} if job.target_files else {}),
            }
            for job in jobs
        ],
    }


@dataclasses.dataclass
class PrometheusServer:
    directory: pathlib.Path
    port: int = dataclasses.field(default_factory=network.free_port)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, jobs: Sequence[ScrapeJob], interval_seconds: float = 1.0, rule_files: Sequence[pathlib.Path] = ()) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed: apt-get install prometheus")
        self.directory.mkdir(parents=True, exist_ok=True)
        configuration = scrape_configuration(jobs=jobs, interval_seconds=interval_seconds)
        if rule_files:
            configuration["rule_files"] = [str(path) for path in rule_files]
        config_file = self.directory / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(configuration))
        self.process = start_process(
            name="prometheus",
            command=[
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            log=self.directory / "prometheus.log",
        )

        def ready() -> bool:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        wait_until(ready, description="prometheus /-/ready", timeout_seconds=30, watched=[self.process])

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Run an instant query and return its result vector."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(address, timeout=5) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {body}")
        return list(body["data"]["result"])

    def targets_up(self) -> dict[str, str]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=5) as response:
            body = json.load(response)
        return {target["scrapeUrl"]: target["health"] for target in body["data"]["activeTargets"]}

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid)
            self.process = None

"""Run the real tritonserver that ships inside the nvidia-pytriton wheel (CPU, python backend) on loopback."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import shutil
import sys
import sysconfig
import urllib.request
from collections.abc import Sequence

from tritonops.devcluster import network, versions
from tritonops.devcluster.processes import ManagedProcess, start_process, stop_process_group, wait_until

# Triton's python backend stub embeds an isolated interpreter that ignores PYTHONPATH, so python models
# that need packages from this environment (numpy, torch) add the paths in this variable themselves.
MODEL_PYTHONPATH_VARIABLE = "TRITONOPS_MODEL_PYTHONPATH"


@dataclasses.dataclass(frozen=True)
class TritonInstallation:
    server: pathlib.Path
    libraries: pathlib.Path
    backends: pathlib.Path

    def environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        existing = environment.get("LD_LIBRARY_PATH")
        environment["LD_LIBRARY_PATH"] = f"{self.libraries}:{existing}" if existing else str(self.libraries)
        environment[MODEL_PYTHONPATH_VARIABLE] = sysconfig.get_paths()["purelib"]
        return environment


def find_installation() -> TritonInstallation:
    """Locate tritonserver in the pytriton wheel and prepare a backend directory with this Python's stub."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise RuntimeError("nvidia-pytriton is not installed: pip install 'tritonops[dev]'")
    package = pathlib.Path(spec.origin).parent
    shipped = package / "tritonserver"
    libraries = package.parent / "nvidia_pytriton.libs"
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = shipped / "python_backend_stubs" / python_version / "triton_python_backend_stub"
    if not stub.exists():
        raise RuntimeError(f"pytriton ships no python backend stub for Python {python_version}")
    # Copying into our cache rather than into site-packages leaves the installed wheel untouched.
    backends = versions.cache_root() / "triton" / f"backends-py{python_version}"
    python_backend = backends / "python"
    if not (python_backend / "triton_python_backend_stub").exists():
        python_backend.mkdir(parents=True, exist_ok=True)
        for item in (shipped / "backends" / "python").iterdir():
            if item.is_file():
                shutil.copy2(item, python_backend / item.name)
        shutil.copy2(stub, python_backend / "triton_python_backend_stub")
    return TritonInstallation(server=shipped / "bin" / "tritonserver", libraries=libraries, backends=backends)


@dataclasses.dataclass
class TritonServer:
    """One tritonserver bound to one loopback address, serving HTTP 8000, gRPC 8001 and metrics 8002."""

    address: str
    model_repository: pathlib.Path
    log: pathlib.Path
    process: ManagedProcess | None = None
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002

    @property
    def http_url(self) -> str:
        return f"http://{self.address}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.address}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}:{self.metrics_port}/metrics"

    def start(self, *, extra_arguments: Sequence[str] = (), wait_ready: bool = True, timeout_seconds: float = 60) -> None:
        network.require_loopback_address(self.address)
        installation = find_installation()
        command = [
            str(installation.server),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={installation.backends}",
            f"--http-address={self.address}",
            f"--grpc-address={self.address}",
            f"--metrics-address={self.address}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--strict-readiness=true",
            "--exit-timeout-secs=5",
            "--allow-gpu-metrics=false",
            "--log-verbose=0",
            *extra_arguments,
        ]
        self.process = start_process(name=f"tritonserver@{self.address}", command=command, log=self.log, environment=installation.environment())
        if wait_ready:
            self.wait_ready(timeout_seconds=timeout_seconds)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/health/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_ready(self, *, timeout_seconds: float = 60) -> None:
        assert self.process is not None
        wait_until(self.ready, description=f"tritonserver at {self.address} ready", timeout_seconds=timeout_seconds, watched=[self.process])

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid)
            self.process = None

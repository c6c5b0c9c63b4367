"""`tritonops dev` without a cluster: the state file, process records, argument parsing, status and down."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tritonops import cli
from tritonops.devcluster import dev


def _state(directory: pathlib.Path, *processes: dev.RecordedProcess) -> dev.DevState:
    return dev.DevState(
        directory=directory,
        kubeconfig=directory / "cluster" / "kubeconfig.yaml",
        apiserver="https://127.0.0.1:6443",
        ports={"apiserver": 6443, "etcd_client": 2379},
        processes=tuple(processes),
        started_at="2026-01-02T03:04:05Z",
        real_nodes=("127.0.0.11", "127.0.0.12"),
        operator=True,
        network_namespace="net:[4026531999]",
    )


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session of its own, as `dev up` starts each one."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


# -- the state file ---------------------------------------------------------------------------------------


def test_the_state_round_trips_through_dev_json(tmp_path: pathlib.Path) -> None:
    state = _state(tmp_path, dev.RecordedProcess("etcd", 11, 1234, "/logs/etcd.log"), dev.RecordedProcess("kubelet@127.0.0.11", 12, None))
    path = dev.write_state(state)
    assert path == tmp_path / dev.STATE_FILE
    document = json.loads(path.read_text())
    assert document["format"] == dev.STATE_FORMAT
    assert document["processes"][0] == {"name": "etcd", "pid": 11, "startTicks": 1234, "log": "/logs/etcd.log"}
    assert dev.read_state(tmp_path) == state
    assert not (tmp_path / f".{dev.STATE_FILE}.tmp").exists()


def test_no_state_file_is_no_state(tmp_path: pathlib.Path) -> None:
    assert dev.read_state(tmp_path) is None
    assert dev.read_state(tmp_path / "missing") is None


@pytest.mark.parametrize("text", ["{not json", json.dumps({"format": 99}), json.dumps({"format": 1, "processes": []}), "[]"])
def test_a_state_file_we_did_not_write_is_refused_with_its_path(tmp_path: pathlib.Path, text: str) -> None:
    (tmp_path / dev.STATE_FILE).write_text(text)
    with pytest.raises(dev.UnreadableState, match=str(tmp_path / dev.STATE_FILE)):
        dev.read_state(tmp_path)


def test_remove_state_removes_only_what_dev_up_writes(tmp_path: pathlib.Path) -> None:
    for directory in (dev.CLUSTER_DIRECTORY,):
        (tmp_path / directory / "deep").mkdir(parents=True)
        (tmp_path / directory / "deep" / "file").write_text("x")
    (tmp_path / dev.STATE_FILE).write_text("{}")
    (tmp_path / dev.OPERATOR_LOG).write_text("log")
    (tmp_path / "notes.txt").write_text("the user's own file")
    dev.remove_state(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    (tmp_path / "notes.txt").unlink()
    dev.remove_state(tmp_path)
    assert not tmp_path.exists()


def test_the_default_state_directory_follows_the_environment(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dev.default_state_directory({dev.STATE_DIRECTORY_VARIABLE: str(tmp_path / "x")}) == tmp_path / "x"
    monkeypatch.setenv("TRITONOPS_CACHE", str(tmp_path / "cache"))
    assert dev.default_state_directory({}) == tmp_path / "cache" / "dev"
    monkeypatch.delenv("TRITONOPS_CACHE")
    assert dev.default_state_directory({}) == pathlib.Path.home() / ".cache" / "tritonops" / "dev"


# -- processes -----------------------------------------------------------------------------------------------


def test_stat_fields_are_counted_from_the_last_parenthesis() -> None:
    fields = " ".join(str(number) for number in range(4, 30))
    assert dev.parse_stat(f"42 (odd) name) (x) S {fields}") == ("S", 22)
    assert dev.parse_stat(f"7 (etcd) Z {fields}") == ("Z", 22)


def test_this_process_is_running_only_with_its_own_start_time() -> None:
    ticks = dev.start_ticks(os.getpid())
    assert ticks is not None
    assert dev.is_running(dev.RecordedProcess("me", os.getpid(), ticks))
    assert dev.is_running(dev.RecordedProcess("me", os.getpid(), None))
    # The same pid with another start time is another process (the recorded one is gone, its pid reused).
    assert not dev.is_running(dev.RecordedProcess("me", os.getpid(), ticks + 1))


def test_a_zombie_is_not_running() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(100):
            stat = dev.process_stat(process.pid)
            if stat is not None and stat[0] == "Z":
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert not dev.is_running(dev.RecordedProcess("child", process.pid, None))
    finally:
        process.wait()
    assert not dev.is_running(dev.RecordedProcess("child", process.pid, None))


def test_terminate_stops_the_recorded_process_and_leaves_others_alone(sleeper: subprocess.Popen[bytes]) -> None:
    ticks = dev.start_ticks(sleeper.pid)
    assert ticks is not None
    assert dev.terminate(dev.RecordedProcess("impostor", sleeper.pid, ticks + 1)) is False
    assert sleeper.poll() is None
    assert dev.terminate(dev.RecordedProcess("sleep", sleeper.pid, ticks), grace_seconds=5) is True
    # terminate() reaps its own children, so Popen only learns that the process is gone.
    assert sleeper.wait(timeout=5) is not None and dev.process_stat(sleeper.pid) is None


def test_exec_enters_the_recorded_network_namespace_of_a_live_process(tmp_path: pathlib.Path, sleeper: subprocess.Popen[bytes]) -> None:
    alive = dev.RecordedProcess("etcd", sleeper.pid, dev.start_ticks(sleeper.pid))
    ours = os.readlink("/proc/self/ns/net")
    inside = dataclasses.replace(_state(tmp_path, alive), network_namespace=ours)
    assert dev.exec_command(inside, ["kubectl", "get", "pods"]) == ["nsenter", f"--net=/proc/{sleeper.pid}/ns/net", "--", "kubectl", "get", "pods"]
    # Outside a namespace of its own, the command runs as it is.
    assert dev.exec_command(dataclasses.replace(inside, network_namespace=""), ["kubectl"]) == ["kubectl"]
    # A pid reused by a process elsewhere, or no live process at all, is refused.
    with pytest.raises(dev.DevError, match="no longer in"):
        dev.exec_command(dataclasses.replace(inside, network_namespace="net:[1]"), ["kubectl"])
    with pytest.raises(dev.DevError, match="namespace is gone"):
        dev.exec_command(dataclasses.replace(inside, processes=(dev.RecordedProcess("etcd", 999_999_999, 1),)), ["kubectl"])


# -- status and down -----------------------------------------------------------------------------------------


def test_status_without_a_cluster_says_how_to_start_one(tmp_path: pathlib.Path) -> None:
    report = dev.status(tmp_path)
    assert report.exit_status == dev.NOT_UP
    assert "tritonops dev up" in dev.render_status(report)[0]
    assert report.as_json()["up"] is False


def test_status_names_each_dead_process_and_an_api_server_that_does_not_answer(tmp_path: pathlib.Path, sleeper: subprocess.Popen[bytes]) -> None:
    alive = dev.RecordedProcess("etcd", sleeper.pid, dev.start_ticks(sleeper.pid), "/logs/etcd.log")
    gone = dev.RecordedProcess("kube-apiserver", 999_999_999, 1, "/logs/kube-apiserver.log")
    dev.write_state(_state(tmp_path, alive, gone))
    report = dev.status(tmp_path)
    assert report.exit_status == dev.UNHEALTHY
    assert report.alive == {"etcd": True, "kube-apiserver": False}
    assert report.apiserver_ok is False
    lines = dev.render_status(report)
    assert lines[0].startswith("dev cluster UNHEALTHY")
    assert any("etcd" in line and "running" in line and "NOT" not in line for line in lines)
    assert any("kube-apiserver" in line and "NOT RUNNING" in line and "/logs/kube-apiserver.log" in line for line in lines)
    assert any("does NOT answer" in line for line in lines)
    document = report.as_json()
    assert [process["running"] for process in document["processes"]] == [True, False]
    assert document["healthy"] is False


def test_down_stops_recorded_processes_and_removes_the_state(tmp_path: pathlib.Path, sleeper: subprocess.Popen[bytes]) -> None:
    dev.write_state(_state(tmp_path, dev.RecordedProcess("etcd", sleeper.pid, dev.start_ticks(sleeper.pid)), dev.RecordedProcess("kwok", 999_999_999, 1)))
    (tmp_path / dev.CLUSTER_DIRECTORY).mkdir()
    said: list[str] = []
    assert dev.down(tmp_path, progress=said.append) == ["etcd"]
    assert sleeper.wait(timeout=5) is not None and dev.process_stat(sleeper.pid) is None
    assert not tmp_path.exists()
    assert said == [f"stopped etcd (pid {sleeper.pid})"]


def test_down_with_nothing_recorded_only_clears_files(tmp_path: pathlib.Path) -> None:
    (tmp_path / dev.STATE_FILE).write_text("garbage")
    said: list[str] = []
    assert dev.down(tmp_path, progress=said.append) == []
    assert not tmp_path.exists()
    assert "unreadable" in said[0]


def test_usage_lines_name_the_kubeconfig_and_how_to_run_the_operator(tmp_path: pathlib.Path) -> None:
    state = _state(tmp_path)
    with_operator = "\n".join(dev.usage_lines(state))
    assert f"export KUBECONFIG={state.kubeconfig}" in with_operator and "the operator runs already" in with_operator
    without = "\n".join(dev.usage_lines(dataclasses.replace(state, operator=False)))
    assert f"tritonops run --kubeconfig {state.kubeconfig}" in without and "--scrape-network 127.0.0.0/8" in without
    assert "tritonops dev exec -- kubectl" in with_operator and "127.0.0.11" in with_operator
    assert "dev exec" not in "\n".join(dev.usage_lines(dataclasses.replace(state, real_nodes=(), network_namespace="")))


# -- the command line ----------------------------------------------------------------------------------------


def test_dev_subcommands_parse() -> None:
    parser = cli._parser()
    up = parser.parse_args(["dev", "up", "--state-dir", "/tmp/x", "--operator"])
    assert (up.command, up.dev_command, up.state_dir, up.operator) == ("dev", "up", pathlib.Path("/tmp/x"), True)
    run = parser.parse_args(["dev", "exec", "--", "kubectl", "get", "pods", "-A"])
    assert run.dev_command == "exec" and run.exec_arguments[-4:] == ["kubectl", "get", "pods", "-A"]
    status = parser.parse_args(["dev", "status", "-o", "json"])
    assert (status.dev_command, status.output, status.state_dir) == ("status", "json", None)
    assert parser.parse_args(["dev", "down"]).dev_command == "down"


@pytest.mark.parametrize("argv", [["dev"], ["dev", "sideways"], ["dev", "status", "-o", "yaml"]])
def test_bad_dev_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli._parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "usage: tritonops dev" in capsys.readouterr().err


def test_status_and_down_through_the_cli_use_the_state_directory(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dev.STATE_DIRECTORY_VARIABLE, str(tmp_path / "from-env"))
    assert cli.main(["dev", "status"]) == dev.NOT_UP
    assert str(tmp_path / "from-env") in capsys.readouterr().out
    assert cli.main(["dev", "status", "--state-dir", str(tmp_path / "given"), "-o", "json"]) == dev.NOT_UP
    assert json.loads(capsys.readouterr().out)["stateDirectory"] == str(tmp_path / "given")
    assert cli.main(["dev", "down", "--state-dir", str(tmp_path / "given")]) == 0
    assert "no dev cluster was running" in capsys.readouterr().out


def test_an_unreadable_state_is_a_one_line_error(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / dev.STATE_FILE).write_text("[]")
    assert cli.main(["dev", "status", "--state-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("tritonops dev status: ") and "remove it to start over" in error


def test_up_runs_with_the_host_network_allowed_and_no_proxy_then_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from tritonops.devcluster import network

    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv(network.ALLOW_HOST_NETWORK_VARIABLE, raising=False)
    with dev._loopback_environment():
        assert os.environ[network.ALLOW_HOST_NETWORK_VARIABLE] == "1"
        assert "https_proxy" not in os.environ
        os.environ["HTTP_PROXY"] = "set inside"
    assert os.environ["https_proxy"] == "http://proxy.example:3128"
    assert network.ALLOW_HOST_NETWORK_VARIABLE not in os.environ and "HTTP_PROXY" not in os.environ

"""The CLI without a cluster: argument parsing, one-line errors, the watch loop, and the controls against a fake API."""

from __future__ import annotations

import copy
import datetime
import functools
import json
import pathlib
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml
from kubernetes.client.rest import ApiException

from tests.harness.specs import model_deployment_body
from tritonops import cli, constants, controls

COMMANDS = ["status", "promote", "abort", "retry", "pause", "resume"]
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)


def kubeconfig_file(directory: pathlib.Path, *, server: str, namespace: str | None = None) -> pathlib.Path:
    context: dict[str, Any] = {"cluster": "local", "user": "admin"}
    if namespace is not None:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "local", "context": context}],
        "current-context": "local",
    }
    path = directory / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_one_line_error(capsys: pytest.CaptureFixture[str], *, contains: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert contains in lines[0]
    assert captured.out == ""
    return lines[0]


# Argument parsing.


def test_status_arguments_and_defaults() -> None:
    arguments = cli._parser().parse_args(["status", "resnet"])
    assert (arguments.name, arguments.namespace, arguments.kubeconfig) == ("resnet", None, None)
    assert (arguments.watch, arguments.interval, arguments.timeout, arguments.output) == (False, 2.0, 600.0, "table")
    arguments = cli._parser().parse_args(
        ["status", "resnet", "-n", "vision", "--kubeconfig", "/k", "--watch", "--interval", "0.5", "--timeout", "30", "--output", "json"]
    )
    assert (arguments.namespace, arguments.kubeconfig, arguments.watch, arguments.interval, arguments.timeout, arguments.output) == (
        "vision", "/k", True, 0.5, 30.0, "json",
    )


@pytest.mark.parametrize("command", COMMANDS[1:])
def test_control_arguments(command: str) -> None:
    arguments = cli._parser().parse_args([command, "resnet", "--namespace", "vision", "--kubeconfig", "/k"])
    assert (arguments.command, arguments.name, arguments.namespace, arguments.kubeconfig) == (command, "resnet", "vision", "/k")


@pytest.mark.parametrize(
    "argv",
    [["promote"], ["status"], ["status", "resnet", "--output", "yaml"], ["status", "resnet", "--interval", "0"], ["status", "resnet", "--timeout", "soon"]],
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage: tritonops" in capsys.readouterr().err


# One-line errors, never a traceback.


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_kubeconfig_is_one_line(command: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, "resnet", "--kubeconfig", str(tmp_path / "nope.yaml")]) == 1
    assert_one_line_error(capsys, contains=f"kubeconfig {tmp_path / 'nope.yaml'} does not exist")


@pytest.mark.parametrize("content", ["garbage: [", "- a\n- b\n", "", "apiVersion: v1\nkind: Config\n"])
def test_a_bad_kubeconfig_is_one_line(content: str, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(content)
    assert cli.main(["status", "resnet", "--kubeconfig", str(path)]) == 1
    line = assert_one_line_error(capsys, contains=f"cannot load kubeconfig {path}")
    assert line.startswith("tritonops status: ")


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_cluster_is_one_line(command: str, closed_port: int, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = kubeconfig_file(tmp_path, server=f"https://127.0.0.1:{closed_port}")
    assert cli.main([command, "resnet", "-n", "vision", "--kubeconfig", str(kubeconfig)]) == 1
    assert_one_line_error(capsys, contains=f"cannot reach the API server at https://127.0.0.1:{closed_port}")


def test_the_namespace_defaults_to_the_context_namespace_else_default(tmp_path: pathlib.Path) -> None:
    with_namespace = kubeconfig_file(tmp_path, server="https://127.0.0.1:6443", namespace="vision")
    assert controls.connect(kubeconfig=str(with_namespace)).default_namespace == "vision"
    without_namespace = kubeconfig_file(tmp_path, server="https://127.0.0.1:6443")
    assert controls.connect(kubeconfig=str(without_namespace)).default_namespace == "default"


def test_api_errors_are_named() -> None:
    missing_object = ApiException(status=404, reason="Not Found")
    missing_object.body = json.dumps({"message": "not found", "details": {"name": "resnet", "group": constants.GROUP, "kind": constants.PLURAL}})
    assert str(controls._api_error(missing_object, namespace="vision", name="resnet")) == 'modeldeployment "resnet" not found in namespace "vision"'
    missing_api = ApiException(status=404, reason="Not Found")
    missing_api.body = "404 page not found\n"
    assert "is the tritonops CRD installed?" in str(controls._api_error(missing_api, namespace="vision", name="resnet"))
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = json.dumps({"message": 'modeldeployments "resnet" is forbidden:\nUser "bob" cannot get'})
    assert str(controls._api_error(forbidden, namespace="vision", name="resnet")) == (
        'the API server refused the request (403): modeldeployments "resnet" is forbidden: User "bob" cannot get'
    )


# The watch loop, on a fake clock.


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def phases(*names: str | None) -> Iterator[dict[str, Any]]:
    for name in names:
        yield {"metadata": {"generation": 1}, "status": {"phase": name, "observedGeneration": 1}}


@pytest.mark.parametrize(
    ("sequence", "expected_status", "reason"),
    [
        (["Progressing", "Canary", "Canary", "Ready"], 0, None),
        (["Canary", "RolledBack"], 1, "the rollout ended in phase RolledBack"),
        (["Failed"], 1, "the rollout ended in phase Failed"),
    ],
)
def test_watch_stops_at_a_settled_phase(sequence: list[str], expected_status: int, reason: str | None) -> None:
    clock, shown = FakeClock(), list[Mapping[str, Any]]()
    bodies = phases(*sequence)
    result = cli.watch(read=lambda: next(bodies), show=shown.append, interval_seconds=2, timeout_seconds=600, clock=clock, sleep=clock.sleep)
    assert result == (expected_status, reason)
    assert [body["status"]["phase"] for body in shown] == sequence
    assert clock.sleeps == [2] * (len(sequence) - 1)


def test_watch_gives_up_at_the_timeout() -> None:
    clock, shown = FakeClock(), list[Mapping[str, Any]]()
    bodies = phases(*["Canary"] * 100)
    status, reason = cli.watch(read=lambda: next(bodies), show=shown.append, interval_seconds=2, timeout_seconds=5, clock=clock, sleep=clock.sleep)
    assert status == 1 and reason == "timed out after 5s waiting for a settled phase (phase Canary)"
    # Reads at 0, 2, 4 and 5: the last sleep is cut to the deadline.
    assert clock.sleeps == [2, 2, 1] and len(shown) == 4


def test_watch_waits_for_the_operator_to_observe_the_latest_generation() -> None:
    clock = FakeClock()
    bodies = iter([
        {"metadata": {"generation": 2}, "status": {"phase": "Ready", "observedGeneration": 1}},
        {"metadata": {"generation": 2}, "status": {"phase": "Ready", "observedGeneration": 2}},
    ])
    assert cli.watch(read=lambda: next(bodies), show=lambda body: None, interval_seconds=1, timeout_seconds=60, clock=clock, sleep=clock.sleep) == (0, None)
    assert clock.sleeps == [1]


# The controls, against a fake CustomObjectsApi.


class FakeApi:
    """Serves one object; patches are recorded and applied as merge patches; `conflicts` 409s come first."""

    def __init__(self, body: dict[str, Any], *, conflicts: int = 0) -> None:
        self.body = body
        self.conflicts = conflicts
        self.reads = 0
        self.patches: list[dict[str, Any]] = []

    def get_namespaced_custom_object(self, **arguments: Any) -> dict[str, Any]:
        assert (arguments["group"], arguments["version"], arguments["plural"]) == (constants.GROUP, constants.VERSION, constants.PLURAL)
        self.reads += 1
        return copy.deepcopy(self.body)

    def patch_namespaced_custom_object(self, **arguments: Any) -> dict[str, Any]:
        assert arguments["_content_type"] == "application/merge-patch+json"
        self.patches.append(copy.deepcopy(arguments["body"]))
        if self.conflicts:
            self.conflicts -= 1
            raise ApiException(status=409, reason="Conflict")
        merge(self.body, arguments["body"])
        return copy.deepcopy(self.body)


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def model(status: dict[str, Any], *, paused: bool = False) -> dict[str, Any]:
    body = model_deployment_body({"rollout": {"steps": [10, 25, 50], "paused": paused}}, name="resnet", namespace="vision", status=status)
    body["metadata"]["resourceVersion"] = "41"
    return body


def connection(api: FakeApi) -> controls.Connection:
    return controls.Connection(api=api, default_namespace="vision", server="https://fake")


WITH_CANARY = {"phase": "Canary", "canaryRevision": {"hash": "8d04b7c3", "version": "3"}, "canaryWeight": 10, "currentStep": 0}
WITH_FAILED = {"phase": "RolledBack", "failedRevision": {"hash": "8d04b7c3", "version": "3", "reason": "AnalysisFailed"}}


def test_promote_without_a_canary_is_refused_without_writing() -> None:
    api = FakeApi(model({"phase": "Ready"}))
    with pytest.raises(controls.ControlError, match=r"^vision/resnet: nothing to promote: no canary is running \(phase Ready\)$"):
        controls.request(connection(api), control="promote", namespace="vision", name="resnet", now=NOW)
    assert api.patches == []


def test_retry_without_a_failed_revision_is_refused_without_writing() -> None:
    api = FakeApi(model(WITH_CANARY))
    with pytest.raises(controls.ControlError, match="nothing to retry: no revision has failed"):
        controls.request(connection(api), control="retry", namespace="vision", name="resnet", now=NOW)
    assert api.patches == []


@pytest.mark.parametrize(
    ("control", "status", "annotation"),
    [("promote", WITH_CANARY, constants.ANNOTATION_PROMOTE), ("retry", WITH_FAILED, constants.ANNOTATION_RETRY)],
)
def test_guarded_controls_write_the_timestamp_with_the_resource_version_they_checked(control: str, status: dict[str, Any], annotation: str) -> None:
    api = FakeApi(model(status))
    message = controls.request(connection(api), control=control, namespace="vision", name="resnet", now=NOW)
    assert api.patches == [{"metadata": {"annotations": {annotation: "2026-01-02T03:04:05Z"}, "resourceVersion": "41"}}]
    assert message.startswith("vision/resnet: ") and f"{annotation}=2026-01-02T03:04:05Z" in message


def test_abort_writes_without_a_precondition() -> None:
    api = FakeApi(model({"phase": "Ready"}))
    controls.request(connection(api), control="abort", namespace="vision", name="resnet", now=NOW)
    assert api.patches == [{"metadata": {"annotations": {constants.ANNOTATION_ABORT: "2026-01-02T03:04:05Z"}}}]


def test_a_conflict_is_checked_again_and_retried() -> None:
    api = FakeApi(model(WITH_CANARY), conflicts=2)
    controls.request(connection(api), control="promote", namespace="vision", name="resnet", now=NOW)
    assert len(api.patches) == 3 and api.reads == 3
    assert api.body["metadata"]["annotations"] == {constants.ANNOTATION_PROMOTE: "2026-01-02T03:04:05Z"}


def test_endless_conflicts_end_in_one_error() -> None:
    api = FakeApi(model(WITH_CANARY), conflicts=100)
    with pytest.raises(controls.ControlError, match="kept changing"):
        controls.request(connection(api), control="promote", namespace="vision", name="resnet", now=NOW)
    assert len(api.patches) == controls.CONFLICT_ATTEMPTS


def test_pause_and_resume_patch_the_spec_only_when_it_changes() -> None:
    api = FakeApi(model({}))
    assert controls.set_paused(connection(api), namespace="vision", name="resnet", paused=True) == "vision/resnet: rollout paused"
    assert controls.set_paused(connection(api), namespace="vision", name="resnet", paused=True) == "vision/resnet: rollout already paused"
    assert controls.set_paused(connection(api), namespace="vision", name="resnet", paused=False) == "vision/resnet: rollout resumed"
    assert api.patches == [{"spec": {"rollout": {"paused": True}}}, {"spec": {"rollout": {"paused": False}}}]


# main() end to end with the fake API in place of a cluster.


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    api = FakeApi(model(WITH_CANARY))
    seen: list[str | None] = []

    def connect(*, kubeconfig: str | None) -> controls.Connection:
        seen.append(kubeconfig)
        return connection(api)

    monkeypatch.setattr(controls, "connect", connect)
    return api


def test_main_promote_prints_one_line_and_exits_0(fake_api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["promote", "resnet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("vision/resnet: promotion requested") and captured.out.count("\n") == 1
    assert constants.ANNOTATION_PROMOTE in fake_api.body["metadata"]["annotations"]


def test_main_refusal_exits_1_with_one_line(fake_api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["retry", "resnet"]) == 1
    assert_one_line_error(capsys, contains="tritonops retry: vision/resnet: nothing to retry")
    assert fake_api.patches == []


def test_main_status_json(fake_api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "resnet", "-o", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == WITH_CANARY and document["step"] == "step 1/3 (10%)"


def test_main_status_table(fake_api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "resnet"]) == 0
    out = capsys.readouterr().out
    assert "ModelDeployment vision/resnet" in out and "8d04b7c3" in out and "step 1/3 (10%)" in out


def test_main_watch_outside_a_terminal_prints_each_change_once(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    states = iter([{"phase": "Canary"}, {"phase": "Canary"}, {"phase": "Promoting"}, {"phase": "Ready"}])

    def next_state(seconds: float) -> None:
        fake_api.body["status"] = next(states)

    monkeypatch.setattr(cli, "watch", functools.partial(cli.watch, sleep=next_state))
    fake_api.body["status"] = {"phase": "Progressing"}
    assert cli.main(["status", "resnet", "--watch", "--interval", "0.01", "--timeout", "5", "-o", "json"]) == 0
    shown = [json.loads(line)["status"]["phase"] for line in capsys.readouterr().out.splitlines()]
    assert shown == ["Progressing", "Canary", "Promoting", "Ready"]


def test_main_watch_in_a_terminal_redraws_in_place(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    states = iter([{"phase": "Promoting", "stableRevision": {"hash": "8d04b7c3"}}, {"phase": "Ready", "stableRevision": {"hash": "8d04b7c3"}}])

    def next_state(seconds: float) -> None:
        fake_api.body["status"] = next(states)

    monkeypatch.setattr(cli, "watch", functools.partial(cli.watch, sleep=next_state))
    assert cli.main(["status", "resnet", "--watch", "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    # Each redraw moves the cursor up over the previous frame instead of printing it again below.
    assert "\x1b[1A" in out or "\x1b[2K" in out
    assert "Canary" in out and "Promoting" in out and "Ready" in out


def test_no_kubeconfig_at_all_is_one_line(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(controls.config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cli.main(["pause", "resnet"]) == 1
    assert_one_line_error(capsys, contains=f"no kubeconfig: {tmp_path / 'absent'} does not exist")


def test_ctrl_c_during_watch_exits_130_without_a_traceback(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "watch", functools.partial(cli.watch, sleep=interrupt))
    assert cli.main(["status", "resnet", "--watch", "-o", "json"]) == cli.INTERRUPTED
    assert capsys.readouterr().err == ""

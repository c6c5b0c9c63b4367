"""The pure parts of the test node agent: Triton's command line, the model repository, the pod status."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from tests.harness.specs import model_deployment
from tritonops.desired.deployment import build_deployment
from tritonops.devcluster import node_agent
from tritonops.devcluster.node_agent import ContainerRecord, PodRecord, UnsupportedPod


def triton_pod_spec(repository: str, *, version: str = "2", args: list[str] | None = None) -> dict[str, Any]:
    """The pod spec the operator itself builds for this repository."""
    resource = model_deployment(
        {"model": {"repository": repository, "version": version, "name": "doubler"}, "server": {"args": args or []}}, name="md"
    )
    return build_deployment(resource, resource.revision, replicas=1)["spec"]["template"]["spec"]


def test_the_program_name_is_dropped_from_the_operators_arguments() -> None:
    container = triton_pod_spec("file:///srv/models")["containers"][0]
    arguments = node_agent.container_arguments(container)
    assert arguments[0] == "--model-repository=/models"
    assert "--load-model=doubler" in arguments


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({"command": ["/opt/tritonserver/bin/tritonserver"], "args": ["--model-repository=/m"]}, ["--model-repository=/m"]),
        ({"args": ["--model-repository=/m"]}, ["--model-repository=/m"]),
        ({"command": ["tritonserver", "--model-repository", "/m"]}, ["--model-repository", "/m"]),
    ],
)
def test_container_arguments(container: dict[str, Any], expected: list[str]) -> None:
    assert node_agent.container_arguments(container) == expected


def test_a_container_that_is_not_tritonserver_is_refused() -> None:
    with pytest.raises(UnsupportedPod) as refused:
        node_agent.container_arguments({"command": ["sleep", "3600"]})
    assert refused.value.reason == "UnsupportedCommand"


def test_rewrite_sets_repository_addresses_and_backends_and_keeps_everything_else() -> None:
    arguments = [
        "--model-repository=/models",
        "--model-control-mode=explicit",
        "--load-model=doubler",
        "--http-address", "0.0.0.0",
        "--http-port=8000",
        "--backend-directory=/opt/tritonserver/backends",
        "--strict-readiness=true",
    ]
    rewritten = node_agent.rewrite_arguments(arguments, repositories=["/work/pod/repository-0"], address="127.77.0.3", backend_directory="/cache/backends")
    assert rewritten == [
        "--model-control-mode=explicit",
        "--load-model=doubler",
        "--http-port=8000",
        "--strict-readiness=true",
        "--model-repository=/work/pod/repository-0",
        "--backend-directory=/cache/backends",
        "--http-address=127.77.0.3",
        "--grpc-address=127.77.0.3",
        "--metrics-address=127.77.0.3",
    ]


def test_rewrite_refuses_a_non_loopback_address() -> None:
    with pytest.raises(ValueError, match="only 127.0.0.0/8"):
        node_agent.rewrite_arguments(["--model-repository=/m"], repositories=["/x"], address="10.0.0.3", backend_directory="/b")


def test_flag_values_take_both_forms_and_the_last_one_wins() -> None:
    arguments = ["--http-port=8000", "--exit-timeout-secs", "30", "--exit-timeout-secs=5"]
    assert node_agent.flag_value(arguments, "--exit-timeout-secs", "x") == "5"
    assert node_agent.flag_value(arguments, "--http-port", "x") == "8000"
    assert node_agent.flag_value(arguments, "--grpc-port", "8001") == "8001"


def test_the_operators_subpath_mounts_become_links_into_the_host_path() -> None:
    spec = triton_pod_spec("file:///srv/models")
    links = node_agent.repository_links(spec, spec["containers"][0], ["/models"])
    assert {(link.relative, link.source) for link in links} == {
        ("doubler/config.pbtxt", pathlib.Path("/srv/models/doubler/config.pbtxt")),
        ("doubler/2", pathlib.Path("/srv/models/doubler/2")),
    }


def test_a_volume_mounted_at_the_root_itself_is_one_link() -> None:
    spec = {"volumes": [{"name": "repo", "hostPath": {"path": "/srv/repo"}}]}
    container = {"volumeMounts": [{"name": "repo", "mountPath": "/models"}, {"name": "shm", "mountPath": "/dev/shm"}]}
    (link,) = node_agent.repository_links(spec, container, ["/models"])
    assert (link.relative, link.source) == (".", pathlib.Path("/srv/repo"))


@pytest.mark.parametrize(
    ("repository", "reason"),
    [("pvc://claim/models", "UnsupportedVolume"), ("s3://bucket/models", "UnsupportedRepository")],
)
def test_repositories_the_agent_cannot_serve_are_refused(repository: str, reason: str) -> None:
    spec = triton_pod_spec(repository)
    container = spec["containers"][0]
    roots = node_agent.flag_values(node_agent.container_arguments(container), "--model-repository")
    with pytest.raises(UnsupportedPod) as refused:
        node_agent.repository_links(spec, container, roots)
    assert refused.value.reason == reason


def test_built_repository_shows_only_the_mounted_files_and_leaves_the_host_untouched(tmp_path: pathlib.Path) -> None:
    host = tmp_path / "host"
    for version in ("1", "2"):
        (host / "doubler" / version).mkdir(parents=True)
        (host / "doubler" / version / "model.py").write_text(f"version {version}")
    (host / "doubler" / "config.pbtxt").write_text('name: "doubler"')
    spec = triton_pod_spec(f"file://{host}", version="2")
    links = node_agent.repository_links(spec, spec["containers"][0], ["/models"])
    repositories = node_agent.build_repositories(tmp_path / "pod", links)
    model = repositories["/models"] / "doubler"
    assert sorted(path.name for path in model.iterdir()) == ["2", "config.pbtxt"]
    assert (model / "2" / "model.py").read_text() == "version 2"
    assert (model / "config.pbtxt").read_text() == 'name: "doubler"'

    missing = triton_pod_spec(f"file://{host}", version="7")
    links = node_agent.repository_links(missing, missing["containers"][0], ["/models"])
    repositories = node_agent.build_repositories(tmp_path / "pod", links)
    # A kubelet would create the missing subPath; here it is an empty directory and the host is untouched.
    assert list((repositories["/models"] / "doubler" / "7").iterdir()) == []
    assert not (host / "doubler" / "7").exists()


def test_a_missing_host_path_directory_keeps_the_pod_waiting(tmp_path: pathlib.Path) -> None:
    spec = triton_pod_spec(f"file://{tmp_path / 'absent'}")
    with pytest.raises(UnsupportedPod) as refused:
        node_agent.check_host_paths(spec)
    assert refused.value.reason == "ContainerCreating"


def _observed() -> dict[str, Any]:
    scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}
    return {"status": {"phase": "Pending", "conditions": [scheduled, {"type": "Ready", "status": "Unknown"}]}}


def test_status_of_a_ready_running_container() -> None:
    pod = PodRecord(phase="Running", start_time="2025-01-01T00:00:01Z", ready_since="2025-01-01T00:00:03Z")
    container = ContainerRecord(name="triton", image="img", state="running", started_at="2025-01-01T00:00:01Z", ready=True, started=True, container_id="x://1")
    status = node_agent.build_status(_observed(), pod, container, address="127.77.0.2")
    assert (status["phase"], status["podIP"], status["podIPs"], status["hostIP"]) == ("Running", "127.77.0.2", [{"ip": "127.77.0.2"}], "127.0.0.1")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"}
    assert conditions["Ready"]["status"] == conditions["ContainersReady"]["status"] == "True"
    assert conditions["Ready"]["lastTransitionTime"] == "2025-01-01T00:00:03Z"
    # The scheduler's condition is kept as it was.
    assert conditions["PodScheduled"]["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    (reported,) = status["containerStatuses"]
    assert reported["state"] == {"running": {"startedAt": "2025-01-01T00:00:01Z"}}
    assert (reported["ready"], reported["started"], reported["restartCount"], reported["lastState"]) == (True, True, 0, {})


def test_status_of_a_container_in_crash_loop_back_off() -> None:
    last = {"exitCode": 1, "reason": "Error", "startedAt": "a", "finishedAt": "b", "containerID": "x://1"}
    container = ContainerRecord(
        name="triton", image="img", state="waiting", reason="CrashLoopBackOff", message="back-off 2s", restart_count=2, last_terminated=last
    )
    status = node_agent.build_status(_observed(), PodRecord(phase="Running"), container, address="127.77.0.2")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "ContainersNotReady"
    (reported,) = status["containerStatuses"]
    assert reported["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2s"}}
    assert reported["lastState"] == {"terminated": last}
    assert (reported["ready"], reported["restartCount"]) == (False, 2)


def test_status_is_the_same_for_the_same_state() -> None:
    pod, container = PodRecord(), ContainerRecord(name="triton", image="img")
    first = node_agent.build_status(_observed(), pod, container, address="127.77.0.2")
    assert node_agent.build_status(_observed(), pod, container, address="127.77.0.2") == first


def test_exit_codes_and_back_off() -> None:
    assert node_agent.exit_code_of(-9) == 137
    assert node_agent.exit_code_of(1) == 1
    assert [node_agent.backoff_seconds(n) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 4, 4]


def test_pre_stop_sleep_is_read_from_the_operators_container() -> None:
    assert node_agent.pre_stop_seconds(triton_pod_spec("file:///srv/models")["containers"][0]) == 5
    assert node_agent.pre_stop_seconds({}) == 0


def test_termination_message_falls_back_to_the_log_tail_on_error_only() -> None:
    fallback = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    output = "".join(f"line {index}\n" for index in range(200)) + "error: load failed for model 'doubler'\n"
    message = node_agent.termination_message(fallback, 1, output)
    assert message.endswith("error: load failed for model 'doubler'")
    assert len(message.splitlines()) == 80 and not message.startswith("line 120\n") and "line 121" in message
    assert len(node_agent.termination_message(fallback, 1, "x" * 5000)) == 2048
    assert node_agent.termination_message(fallback, 0, output) == ""
    assert node_agent.termination_message({}, 1, output) == ""


def test_the_operators_container_asks_for_the_log_tail() -> None:
    container = triton_pod_spec("file:///srv/models")["containers"][0]
    assert node_agent.termination_message(container, 1, "failed to load") == "failed to load"

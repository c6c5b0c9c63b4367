"""The operator's own Triton pod template, run as real containers by the real kubelets.

The Deployments here are plain apps/v1 Deployments built by the operator's pod builder (file://
repository: a hostPath volume with config.pbtxt and one version directory mounted by subPath), from the
locally built Triton image, created directly, without the operator. What the kubelet reports of them
(probes, restarts, exit codes, termination messages, OOM kills, images it cannot run) is what the
operator's fast failure detection reads.
"""

from __future__ import annotations

import ipaddress
import pathlib
import re
import socket
import urllib.request
from typing import Any

from kubernetes import client

from tests.harness.kubectl import kubectl
from tests.harness.load import Counts, LoadGenerator
from tests.harness.models import Faults, write_model
from tests.harness.real_node import real_node_server_spec
from tests.harness.specs import model_deployment
from tritonops import constants
from tritonops.desired.deployment import build_deployment
from tritonops.devcluster import nodes, pod_network
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.processes import wait_until

POD_NETWORK = ipaddress.ip_network(pod_network.POD_RANGE)


def deploy(
    kube_client: client.ApiClient,
    namespace: str,
    name: str,
    repository: pathlib.Path,
    *,
    version: int = 1,
    replicas: int = 1,
    server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    resource = model_deployment(
        {
            "model": {"repository": f"file://{repository}", "version": str(version), "name": "doubler"},
            "server": {**real_node_server_spec(), "startupTimeoutSeconds": 60, **(server or {})},
        },
        name=name,
        namespace=namespace,
    )
    deployment = build_deployment(resource, resource.revision, replicas=replicas)
    # No ModelDeployment owns it here, so the garbage collector must not look for one.
    deployment["metadata"].pop("ownerReferences", None)
    client.AppsV1Api(kube_client).create_namespaced_deployment(namespace, deployment)
    return deployment


def pods_of(kube_client: client.ApiClient, namespace: str, name: str) -> list[Any]:
    selector = f"{constants.LABEL_MODEL_DEPLOYMENT}={name}"
    return list(client.CoreV1Api(kube_client).list_namespaced_pod(namespace, label_selector=selector).items)


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def wait_ready(kube_client: client.ApiClient, namespace: str, name: str, count: int, timeout: float = 90) -> list[Any]:
    def ready() -> bool:
        pods = pods_of(kube_client, namespace, name)
        return len(pods) == count and all(is_ready(pod) for pod in pods)

    wait_until(ready, description=f"{count} Ready pod(s) of {name}", timeout_seconds=timeout, interval_seconds=0.2)
    return pods_of(kube_client, namespace, name)


def container_of(kube_client: client.ApiClient, namespace: str, name: str) -> Any:
    (pod,) = pods_of(kube_client, namespace, name)
    return (pod.status.container_statuses or [None])[0]


def connection_refused(address: str, port: int = 8000) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((address, port)) != 0


def success_count(address: str) -> float:
    with urllib.request.urlopen(f"http://{address}:8002/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(match) for match in re.findall(r'^nv_inference_request_success\{[^}]*model="doubler"[^}]*\} (\S+)$', text, re.M))


def test_pods_are_kubelet_containers_serving_real_triton_and_stop_when_deleted(
    cluster: LocalCluster, kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path
) -> None:
    write_model(model_repository, version=1)
    deployment = deploy(kube_client, namespace, "plain", model_repository, replicas=2)
    pods = wait_ready(kube_client, namespace, "plain", 2)

    addresses = set()
    for pod in pods:
        assert pod.spec.node_name in {node.name for node in nodes.REAL_NODES}
        assert pod.status.phase == "Running"
        assert ipaddress.ip_address(pod.status.pod_ip) in POD_NETWORK
        assert pod.status.host_ip == pod.spec.node_name
        (container,) = pod.status.container_statuses
        assert (container.name, container.ready, container.started, container.restart_count) == ("triton", True, True, 0)
        assert container.image_id.startswith("sha256:") or "@sha256:" in container.image_id
        assert {c.type for c in pod.status.conditions} >= {"PodScheduled", "Initialized", "ContainersReady", "Ready"}
        addresses.add(pod.status.pod_ip)
    assert len(addresses) == 2

    # Inside the container: tini is PID 1 and tritonserver its child, as the unprivileged user of the image.
    name = pods[0].metadata.name
    processes = kubectl(cluster.kubeconfig, "exec", "-n", namespace, name, "--", "sh", "-c", "cat /proc/1/comm; cat /proc/[0-9]*/comm")
    assert processes.splitlines()[0] == "tini" and "tritonserver" in processes.splitlines()
    assert kubectl(cluster.kubeconfig, "exec", "-n", namespace, name, "--", "id", "-u").strip() == "1000"
    assert "successfully loaded 'doubler'" in kubectl(cluster.kubeconfig, "logs", "-n", namespace, name)

    load = LoadGenerator(kube_client, namespace, "plain", rate=40).start()
    try:
        wait_until(lambda: load.sent >= 80, description="80 requests", timeout_seconds=30)
    finally:
        load.stop()
    revision = deployment["metadata"]["labels"][constants.LABEL_REVISION]
    by_revision = load.snapshot()
    assert list(by_revision) == [revision]
    assert by_revision[revision].failure == 0, load.errors[:5]
    assert set(load.pod_snapshot()) == {pod.metadata.name for pod in pods}
    assert not load.refused
    # Triton itself counted them: the requests reached the real servers at the pods' addresses.
    wait_until(
        lambda: sum(success_count(address) for address in addresses) == by_revision[revision].success,
        description="Triton's own success counters to match",
        timeout_seconds=5,
    )

    client.AppsV1Api(kube_client).delete_namespaced_deployment(deployment["metadata"]["name"], namespace)
    wait_until(lambda: not pods_of(kube_client, namespace, "plain"), description="the pods to be gone", timeout_seconds=90)
    for address in addresses:
        assert connection_refused(address)


def test_a_version_that_fails_to_load_restarts_with_the_log_tail_as_its_termination_message(
    cluster: LocalCluster, kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path
) -> None:
    # One repository, one shared config.pbtxt: version 2 alone is bad, through its own faults.json.
    write_model(model_repository, version=1)
    write_model(model_repository, version=2, version_faults=Faults(fail_load=True))
    deploy(kube_client, namespace, "good", model_repository, version=1)
    deploy(kube_client, namespace, "bad", model_repository, version=2)

    seen_ready = False

    def restarted() -> bool:
        nonlocal seen_ready
        pods = pods_of(kube_client, namespace, "bad")
        seen_ready = seen_ready or any(is_ready(pod) for pod in pods)
        statuses = [status for pod in pods for status in (pod.status.container_statuses or [])]
        return bool(statuses) and statuses[0].restart_count >= 1 and statuses[0].last_state.terminated is not None

    wait_until(restarted, description="the bad version to be restarted", timeout_seconds=90, interval_seconds=0.2)
    (pod,) = pods_of(kube_client, namespace, "bad")
    container = container_of(kube_client, namespace, "bad")
    assert not seen_ready and not is_ready(pod) and not container.ready
    assert container.last_state.terminated.exit_code != 0
    assert container.last_state.terminated.reason == "Error"
    # The operator's pod asks for FallbackToLogsOnError: the message is the tail of Triton's output.
    assert "load failed for model 'doubler'" in container.last_state.terminated.message
    # The real kubelet keeps one dead container per pod: if the container died again between the read
    # above and this call, the log it names is gone ("unable to retrieve container logs"). Ask again.
    previous_logs: list[str] = []

    def previous_log_read() -> bool:
        previous_logs.append(kubectl(cluster.kubeconfig, "logs", "--previous", "-n", namespace, pod.metadata.name))
        return "unable to retrieve container logs" not in previous_logs[-1]

    wait_until(previous_log_read, description="the previous container's log", timeout_seconds=60, interval_seconds=2)
    assert "configured to fail to load" in previous_logs[-1], previous_logs[-1][-2000:]
    wait_ready(kube_client, namespace, "good", 1)


def test_a_crash_in_the_middle_of_serving_restarts_the_container(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path
) -> None:
    write_model(model_repository, version=1, version_faults=Faults(crash_after_requests=20))
    deployment = deploy(kube_client, namespace, "crashy", model_repository)
    revision = deployment["metadata"]["labels"][constants.LABEL_REVISION]
    wait_ready(kube_client, namespace, "crashy", 1)

    def served() -> int:
        return load.snapshot().get(revision, Counts()).success

    with LoadGenerator(kube_client, namespace, "crashy", rate=40) as load:
        wait_until(
            lambda: container_of(kube_client, namespace, "crashy").restart_count >= 1,
            description="a restart after the crash",
            timeout_seconds=30,
            interval_seconds=0.2,
        )
        terminated = container_of(kube_client, namespace, "crashy").last_state.terminated
        # The model SIGKILLed its tritonserver; tini, PID 1, exits with the signal's code.
        assert (terminated.exit_code, terminated.reason) == (137, "Error")
        assert served() == 20
        # The kubelet starts it again, and it serves its 20 requests again once the probes pass.
        wait_until(lambda: served() >= 40, description="requests served after the restart", timeout_seconds=60)
    assert load.snapshot()[revision].failure >= 1


def test_a_triton_over_its_memory_limit_is_oom_killed(kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path) -> None:
    # An idle Triton with this model needs under 40 MiB; the version writes 300 MiB as it loads.
    write_model(model_repository, version=1, version_faults=Faults(allocate_mb=300))
    deploy(kube_client, namespace, "tight", model_repository, server={"resources": {"limits": {"memory": "150Mi"}}})

    def oom_killed() -> bool:
        container = container_of(kube_client, namespace, "tight")
        terminated = container.last_state.terminated if container is not None else None
        return bool(terminated is not None and terminated.reason == "OOMKilled")

    wait_until(oom_killed, description="an OOMKilled container", timeout_seconds=90, interval_seconds=0.2)
    # The kernel kills the biggest process of the cgroup, the model's python stub; Triton then exits
    # because its model failed to load. The runtime saw the cgroup's OOM kill, so the reason says so.
    terminated = container_of(kube_client, namespace, "tight").last_state.terminated
    assert terminated.exit_code != 0 and "doubler" in terminated.message


def test_an_image_no_node_holds_waits_with_the_kubelets_reason(
    kube_client: client.ApiClient, namespace: str, model_repository: pathlib.Path
) -> None:
    write_model(model_repository, version=1)
    deployment = deploy(kube_client, namespace, "absent", model_repository, server={"image": "localhost/tritonops/absent:1"})
    assert "imagePullPolicy" not in deployment["spec"]["template"]["spec"]["containers"][0]

    def waiting_reason() -> str:
        container = container_of(kube_client, namespace, "absent")
        return str(container.state.waiting.reason) if container is not None and container.state.waiting else ""

    # IfNotPresent (the default for a tagged image) and no registry reachable: the pull fails at once.
    wait_until(lambda: waiting_reason() in ("ErrImagePull", "ImagePullBackOff"), description="a failed pull", timeout_seconds=60)

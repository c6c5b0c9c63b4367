"""The test node agent runs pods bound to its nodes as real tritonserver processes and reports their status.

The Deployments here are plain apps/v1 Deployments built by the operator's own pod template (file://
repository: a hostPath volume with config.pbtxt and one version directory mounted by subPath), created
directly, without the operator.
"""

from __future__ import annotations

import ipaddress
import pathlib
import re
import socket
import time
import urllib.request
from typing import Any

from kubernetes import client

from tests.harness.agent import agent_server_spec
from tests.harness.load import Counts, LoadGenerator
from tests.harness.models import Faults, write_model
from tests.harness.specs import model_deployment
from tritonops import constants
from tritonops.desired.deployment import build_deployment
from tritonops.desired.revision import revision_of
from tritonops.devcluster import nodes
from tritonops.devcluster.node_agent import NodeAgentProcess
from tritonops.devcluster.processes import tritonserver_processes, wait_until

AGENT_NETWORK = ipaddress.ip_network("127.77.0.0/24")


def deploy(
    kube_client: client.ApiClient, namespace: str, name: str, repository: pathlib.Path, *, version: int = 1, replicas: int = 1
) -> dict[str, Any]:
    resource = model_deployment(
        {
            "model": {"repository": f"file://{repository}", "version": str(version), "name": "doubler"},
            "server": {**agent_server_spec(), "startupTimeoutSeconds": 60},
        },
        name=name,
        namespace=namespace,
    )
    deployment = build_deployment(resource, revision_of(resource), replicas=replicas)
    # No ModelDeployment owns it here, so the garbage collector must not look for one.
    deployment["metadata"].pop("ownerReferences", None)
    client.AppsV1Api(kube_client).create_namespaced_deployment(namespace, deployment)
    return deployment


def pods_of(kube_client: client.ApiClient, namespace: str, name: str) -> list[Any]:
    selector = f"{constants.LABEL_MODEL_DEPLOYMENT}={name}"
    return list(client.CoreV1Api(kube_client).list_namespaced_pod(namespace, label_selector=selector).items)


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def wait_ready(kube_client: client.ApiClient, namespace: str, name: str, count: int, agent: NodeAgentProcess, timeout: float = 90) -> list[Any]:
    def ready() -> bool:
        pods = pods_of(kube_client, namespace, name)
        return len(pods) == count and all(is_ready(pod) for pod in pods)

    try:
        wait_until(ready, description=f"{count} Ready pod(s) of {name}", timeout_seconds=timeout, interval_seconds=0.2)
    except TimeoutError as error:
        raise AssertionError(f"{error}\nagent log:\n{agent.log_tail()}") from None
    return pods_of(kube_client, namespace, name)


def tritonservers_on(address: str) -> list[int]:
    """Process ids of live tritonserver processes listening on `address`."""
    return tritonserver_processes(argument_containing=f"--http-address={address}")


def connection_refused(address: str, port: int = 8000) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((address, port)) != 0


def success_count(address: str) -> float:
    with urllib.request.urlopen(f"http://{address}:8002/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(match) for match in re.findall(r'^nv_inference_request_success\{[^}]*model="doubler"[^}]*\} (\S+)$', text, re.M))


def test_pods_serve_real_triton_on_their_node_address_and_stop_when_deleted(
    kube_client: client.ApiClient, namespace: str, node_agent: NodeAgentProcess, model_repository: pathlib.Path
) -> None:
    write_model(model_repository, version=1)
    started = time.monotonic()
    deployment = deploy(kube_client, namespace, "plain", model_repository, replicas=2)
    pods = wait_ready(kube_client, namespace, "plain", 2, node_agent)
    print(f"2 agent pods Ready {time.monotonic() - started:.1f}s after the Deployment was created")

    addresses = set()
    for pod in pods:
        assert pod.spec.node_name in {node.name for node in nodes.AGENT_NODES}
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip == node_agent.address_of(pod.spec.node_name)
        assert ipaddress.ip_address(pod.status.pod_ip) in AGENT_NETWORK
        assert [ip.ip for ip in pod.status.pod_ips] == [pod.status.pod_ip]
        assert pod.status.host_ip == nodes.NODE_ADDRESS
        (container,) = pod.status.container_statuses
        assert (container.name, container.ready, container.started, container.restart_count) == ("triton", True, True, 0)
        assert container.state.running is not None
        assert {c.type for c in pod.status.conditions} >= {"PodScheduled", "Initialized", "ContainersReady", "Ready"}
        assert tritonservers_on(pod.status.pod_ip), "a real tritonserver listens on the pod's address"
        addresses.add(pod.status.pod_ip)
    assert len(addresses) == 2

    load = LoadGenerator(kube_client, namespace, "plain", rate=40).start()
    try:
        wait_until(lambda: load.sent >= 80, description="80 requests", timeout_seconds=30)
    finally:
        load.stop()
    revision = deployment["metadata"]["labels"][constants.LABEL_REVISION]
    by_revision = load.snapshot()
    assert list(by_revision) == [revision]
    assert by_revision[revision].failure == 0, load.errors[:5]
    per_pod = load.pod_snapshot()
    assert set(per_pod) == {pod.metadata.name for pod in pods}
    assert max(c.success for c in per_pod.values()) - min(c.success for c in per_pod.values()) <= 1
    assert not load.refused
    # Triton itself counted them: the requests reached the real servers on the pods' addresses.
    wait_until(
        lambda: sum(success_count(address) for address in addresses) == by_revision[revision].success,
        description="Triton's own success counters to match",
        timeout_seconds=5,
    )

    client.AppsV1Api(kube_client).delete_namespaced_deployment(deployment["metadata"]["name"], namespace)
    wait_until(lambda: not pods_of(kube_client, namespace, "plain"), description="the pods to be gone", timeout_seconds=60)
    for address in addresses:
        assert tritonservers_on(address) == []
        assert connection_refused(address)


def test_a_version_that_fails_to_load_restarts_and_is_never_ready_while_another_version_serves(
    kube_client: client.ApiClient, namespace: str, node_agent: NodeAgentProcess, model_repository: pathlib.Path
) -> None:
    # One repository, one shared config.pbtxt: version 2 alone is bad, through its own faults.json.
    write_model(model_repository, version=1)
    write_model(model_repository, version=2, version_faults=Faults(fail_load=True))
    deploy(kube_client, namespace, "good", model_repository, version=1)
    deploy(kube_client, namespace, "bad", model_repository, version=2)

    seen_ready = False

    def restarted_twice() -> bool:
        nonlocal seen_ready
        pods = pods_of(kube_client, namespace, "bad")
        seen_ready = seen_ready or any(is_ready(pod) for pod in pods)
        statuses = [status for pod in pods for status in (pod.status.container_statuses or [])]
        return bool(statuses) and statuses[0].restart_count >= 2

    wait_until(restarted_twice, description="the bad version to be restarted twice", timeout_seconds=60, interval_seconds=0.2)
    (pod,) = pods_of(kube_client, namespace, "bad")
    (container,) = pod.status.container_statuses
    assert not seen_ready and not is_ready(pod) and not container.ready
    assert container.last_state.terminated is not None
    assert container.last_state.terminated.exit_code != 0
    assert container.last_state.terminated.reason == "Error"
    # The operator's pod asks for FallbackToLogsOnError: the message is the tail of Triton's output.
    assert "load failed for model 'doubler'" in container.last_state.terminated.message
    assert pod.status.phase == "Running"
    assert "configured to fail to load" in node_agent.pod_log(namespace, pod.metadata.name)
    wait_ready(kube_client, namespace, "good", 1, node_agent)


def test_a_crash_in_the_middle_of_serving_restarts_tritonserver(
    kube_client: client.ApiClient, namespace: str, node_agent: NodeAgentProcess, model_repository: pathlib.Path
) -> None:
    write_model(model_repository, version=1, version_faults=Faults(crash_after_requests=20))
    deployment = deploy(kube_client, namespace, "crashy", model_repository)
    revision = deployment["metadata"]["labels"][constants.LABEL_REVISION]
    wait_ready(kube_client, namespace, "crashy", 1, node_agent)

    def container() -> Any:
        (pod,) = pods_of(kube_client, namespace, "crashy")
        return pod.status.container_statuses[0]

    def served() -> int:
        return load.snapshot().get(revision, Counts()).success

    with LoadGenerator(kube_client, namespace, "crashy", rate=40) as load:
        wait_until(lambda: container().restart_count >= 1, description="a restart after the crash", timeout_seconds=30, interval_seconds=0.2)
        terminated = container().last_state.terminated
        # The model SIGKILLed its tritonserver: exit code 137, as a container runtime reports it.
        assert (terminated.exit_code, terminated.reason) == (137, "Error")
        assert served() == 20
        # It comes back and serves its 20 requests again (and then crashes again).
        wait_until(lambda: served() >= 40, description="requests served after the restart", timeout_seconds=30)
    assert load.snapshot()[revision].failure >= 1


def test_a_pod_the_agent_cannot_run_waits_with_the_reason_and_kwok_leaves_it_alone(
    kube_client: client.ApiClient, namespace: str, node_agent: NodeAgentProcess
) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "not-triton"},
            "spec": {
                "tolerations": [dict(nodes.AGENT_TOLERATION)],
                "nodeSelector": {nodes.AGENT_LABEL: "true"},
                "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "3600"]}],
            },
        },
    )

    def waiting_reason() -> str | None:
        statuses = core.read_namespaced_pod("not-triton", namespace).status.container_statuses or []
        return statuses[0].state.waiting.reason if statuses and statuses[0].state.waiting else None

    wait_until(lambda: waiting_reason() == "UnsupportedCommand", description="the agent to refuse the pod", timeout_seconds=30)
    pod = core.read_namespaced_pod("not-triton", namespace)
    assert pod.spec.node_name.startswith("agent-")
    # kwok would have made it Running with an address of its own range; the agent's address is the node's.
    assert pod.status.pod_ip == node_agent.address_of(pod.spec.node_name)
    assert not is_ready(pod)


def test_agent_nodes_are_ready_tainted_and_kept_alive(kube_client: client.ApiClient, node_agent: NodeAgentProcess) -> None:
    core = client.CoreV1Api(kube_client)
    leases = client.CoordinationV1Api(kube_client)
    names = [node.name for node in nodes.AGENT_NODES]
    renewed = {name: leases.read_namespaced_lease(name, "kube-node-lease").spec.renew_time for name in names}
    for name in names:
        node = core.read_node(name)
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        assert [(t.key, t.value, t.effect) for t in node.spec.taints or []] == [(nodes.AGENT_LABEL, "true", "NoSchedule")]
        assert node.metadata.labels[nodes.PRODUCT_LABEL] == nodes.L4
        assert node.status.allocatable[nodes.GPU_RESOURCE] == "1"
        assert nodes.KWOK_ANNOTATION not in (node.metadata.annotations or {})
    wait_until(
        lambda: all(leases.read_namespaced_lease(name, "kube-node-lease").spec.renew_time > renewed[name] for name in names),
        description="every agent node's lease to be renewed",
        timeout_seconds=15,
    )

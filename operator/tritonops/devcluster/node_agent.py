"""The test node agent: a tiny kubelet that runs the pods of its nodes as real tritonserver processes.

In e2e tests the pods bound to the agent nodes (nodes.AGENT_NODES, which kwok leaves alone) run for
real: the agent takes each pod's own container arguments, builds the model repository the pod would
see from its hostPath volume and subPath mounts (symlinks under the work directory), and starts the
tritonserver of the nvidia-pytriton wheel on the node's own loopback address (agent-N serves on
127.77.0.N+1, ports from the pod's arguments). It reports back through the pods/status subresource
what a kubelet would: phase, pod IP, conditions, and the container's state, readiness (from
`/v2/health/ready`, polled twice a second), restart count and last exit code. A tritonserver that
exits (a crash, or a model that fails to load) is restarted after a short back-off, as with
restartPolicy Always. A pod being deleted gets its preStop sleep, SIGTERM, up to Triton's exit
timeout, SIGKILL, and then the final delete. The agent registers its nodes when it starts and keeps
them alive (Ready condition and node Lease); it deletes them when it stops, after stopping every
tritonserver, so with no agent running the cluster holds only kwok's nodes.

Deliberate differences from a kubelet: readiness follows the latest probe (no failure threshold),
liveness probes are not run (a dead Triton is seen by its exit), only literal `env` values are passed,
and only hostPath volumes mounted under `--model-repository` are supported. Every request goes to
127.0.0.0/8: the apiserver on loopback and Triton on the node's loopback address.

Run: python -m tritonops.devcluster.node_agent --kubeconfig FILE --work-dir DIR [--node NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import pathlib
import posixpath
import shutil
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tritonops.devcluster import network, nodes
from tritonops.devcluster.processes import ManagedProcess, start_process, stop_process_group, wait_until

logger = logging.getLogger("tritonops.node_agent")

READY_FILE = "ready"
LOG_FILE = "node-agent.log"
HOST_IP = nodes.NODE_ADDRESS
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 5.0
NODE_STATUS_SECONDS = 20.0
TICK_SECONDS = 0.25
PROBE_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 0.5
WATCH_TIMEOUT_SECONDS = 30
PREPARE_RETRY_SECONDS = 2.0
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 4.0
# A run this long resets the back-off, as a kubelet forgets old crashes.
BACKOFF_RESET_AFTER_SECONDS = 10.0
DEFAULT_HTTP_PORT = 8000
DEFAULT_EXIT_TIMEOUT_SECONDS = 30
# terminationMessagePolicy FallbackToLogsOnError: the kubelet's limits on the log tail it reports.
TERMINATION_MESSAGE_LINES = 80
TERMINATION_MESSAGE_BYTES = 2048
SHUTDOWN_GRACE_SECONDS = 5.0

# Flags whose values the agent sets itself; any value the pod gives is replaced.
_REPOSITORY_FLAGS = ("--model-repository", "--model-store")
_ADDRESS_FLAGS = ("--http-address", "--grpc-address", "--metrics-address")
_REPLACED_FLAGS = (*_REPOSITORY_FLAGS, *_ADDRESS_FLAGS, "--backend-directory")


class UnsupportedPod(Exception):
    """The agent cannot run this pod as it is; the reason becomes the container's waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 in UTC with second precision, as the API server stores metav1.Time."""
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the container's command line -----------------------------------------------------------------


def container_arguments(container: Mapping[str, Any]) -> list[str]:
    """tritonserver's flags from the container's command and args, without the program name."""
    words = [str(word) for word in [*(container.get("command") or []), *(container.get("args") or [])]]
    if words and posixpath.basename(words[0]) == "tritonserver":
        return words[1:]
    if not words or words[0].startswith("--"):
        # No command: the image's entrypoint runs tritonserver with these flags.
        return words
    raise UnsupportedPod("UnsupportedCommand", f"the node agent runs only tritonserver, not {words[0]!r}")


def _split(arguments: Sequence[str]) -> list[tuple[str, str | None, int]]:
    """(flag, value, words used) for each flag, accepting both `--flag=value` and `--flag value`."""
    parsed: list[tuple[str, str | None, int]] = []
    index = 0
    while index < len(arguments):
        word = arguments[index]
        if word.startswith("--") and "=" in word:
            flag, _, value = word.partition("=")
            parsed.append((flag, value, 1))
            index += 1
        elif word.startswith("--") and index + 1 < len(arguments) and not arguments[index + 1].startswith("--"):
            parsed.append((word, arguments[index + 1], 2))
            index += 2
        else:
            parsed.append((word, None, 1))
            index += 1
    return parsed


def flag_values(arguments: Sequence[str], *names: str) -> list[str]:
    return [value for flag, value, _ in _split(arguments) if flag in names and value is not None]


def flag_value(arguments: Sequence[str], name: str, default: str) -> str:
    values = flag_values(arguments, name)
    return values[-1] if values else default


def rewrite_arguments(
    arguments: Sequence[str], *, repositories: Sequence[str], address: str, backend_directory: str
) -> list[str]:
    """The pod's flags with the repositories, listen addresses and backend directory set by the agent."""
    network.require_loopback_address(address)
    kept: list[str] = []
    for flag, value, _ in _split(arguments):
        if flag in _REPLACED_FLAGS:
            continue
        kept.append(flag if value is None else f"{flag}={value}")
    return [
        *kept,
        *[f"--model-repository={repository}" for repository in repositories],
        f"--backend-directory={backend_directory}",
        *[f"{flag}={address}" for flag in _ADDRESS_FLAGS],
    ]


# -- the model repository the pod would see --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Link:
    """One mount under a repository root: `relative` inside the root is `source` on this machine."""

    root: str
    relative: str
    source: pathlib.Path


def _under(path: str, root: str) -> str | None:
    """`path` relative to `root` ("." for the root itself), or None when it lies outside."""
    path, root = posixpath.normpath(path), posixpath.normpath(root)
    if path == root:
        return "."
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def repository_links(pod_spec: Mapping[str, Any], container: Mapping[str, Any], roots: Sequence[str]) -> list[Link]:
    """Translate the container's mounts under each repository root into host paths.

    Only hostPath volumes are supported; a mount elsewhere (such as /dev/shm) is not the agent's concern.
    """
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    links: list[Link] = []
    for root in roots:
        if not root.startswith("/"):
            raise UnsupportedPod("UnsupportedRepository", f"the node agent serves only local model repositories, not {root}")
        covered = False
        for mount in container.get("volumeMounts") or []:
            relative = _under(str(mount["mountPath"]), root)
            if relative is None:
                # A mount above the root (a volume at /models for root /models/repo) covers it too.
                above = _under(root, str(mount["mountPath"]))
                if above is None:
                    continue
                relative, sub_path = ".", posixpath.join(str(mount.get("subPath") or ""), above)
            else:
                sub_path = str(mount.get("subPath") or "")
            volume = volumes.get(mount["name"])
            if volume is None or "hostPath" not in volume:
                raise UnsupportedPod(
                    "UnsupportedVolume", f"volume {mount['name']!r} under {root} is not a hostPath volume"
                )
            source = pathlib.Path(volume["hostPath"]["path"]) / sub_path if sub_path else pathlib.Path(volume["hostPath"]["path"])
            links.append(Link(root=root, relative=posixpath.normpath(relative), source=pathlib.Path(posixpath.normpath(str(source)))))
            covered = True
        if not covered:
            raise UnsupportedPod("UnsupportedRepository", f"nothing is mounted under the model repository {root}")
    return links


def check_host_paths(pod_spec: Mapping[str, Any]) -> None:
    """A hostPath volume of type Directory must exist, or the kubelet would not start the pod."""
    for volume in pod_spec.get("volumes") or []:
        host_path = volume.get("hostPath")
        if host_path and host_path.get("type") == "Directory" and not pathlib.Path(host_path["path"]).is_dir():
            raise UnsupportedPod("ContainerCreating", f"hostPath {host_path['path']} of volume {volume['name']!r} is not a directory")


def build_repositories(directory: pathlib.Path, links: Sequence[Link]) -> dict[str, pathlib.Path]:
    """Create one directory per repository root under `directory`, with a symlink per mount.

    A subPath that does not exist becomes an empty directory, as the kubelet would make it (here without
    touching the host path): Triton then finds no model there and fails to load it.
    """
    if directory.exists():
        shutil.rmtree(directory)
    repositories: dict[str, pathlib.Path] = {}
    for root in dict.fromkeys(link.root for link in links):
        if any(link.relative == "." for link in links if link.root == root) and sum(link.root == root for link in links) > 1:
            # Links inside a symlinked host directory would write into the host path.
            raise UnsupportedPod("UnsupportedVolume", f"a volume at {root} itself and more mounts inside it")
    for index, root in enumerate(dict.fromkeys(link.root for link in links)):
        base = directory / f"repository-{index}"
        base.mkdir(parents=True)
        repositories[root] = base
        # Longer paths last, so a mount inside another one lands inside that one's tree.
        for link in sorted((link for link in links if link.root == root), key=lambda link: link.relative.count("/")):
            target = base if link.relative == "." else base / link.relative
            if link.relative == ".":
                base.rmdir()
                if link.source.exists():
                    base.symlink_to(link.source, target_is_directory=True)
                else:
                    base.mkdir()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                raise UnsupportedPod("UnsupportedVolume", f"two mounts at {root}/{link.relative}")
            if link.source.exists():
                target.symlink_to(link.source, target_is_directory=link.source.is_dir())
            else:
                target.mkdir(parents=True)
    return repositories


# -- what the agent knows about a pod and reports as its status -------------------------------------


@dataclasses.dataclass
class ContainerRecord:
    """The container's state as a kubelet would report it."""

    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    container_id: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    termination_message: str = ""
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None


@dataclasses.dataclass
class PodRecord:
    phase: str = "Pending"
    start_time: str = dataclasses.field(default_factory=timestamp)
    running_since: str | None = None
    ready_since: str = dataclasses.field(default_factory=timestamp)


def container_status(record: ContainerRecord) -> dict[str, Any]:
    state: dict[str, Any]
    if record.state == "running":
        state = {"running": {"startedAt": record.started_at}}
    elif record.state == "terminated":
        state = {
            "terminated": {
                "exitCode": record.exit_code,
                "reason": "Completed" if record.exit_code == 0 else "Error",
                "startedAt": record.started_at,
                "finishedAt": record.finished_at,
                "containerID": record.container_id,
                **({"message": record.termination_message} if record.termination_message else {}),
            }
        }
    else:
        waiting: dict[str, Any] = {"reason": record.reason}
        if record.message:
            waiting["message"] = record.message
        state = {"waiting": waiting}
    status: dict[str, Any] = {
        "name": record.name,
        "image": record.image,
        "imageID": "",
        "ready": record.ready,
        "started": record.started,
        "restartCount": record.restart_count,
        "state": state,
        "lastState": {"terminated": dict(record.last_terminated)} if record.last_terminated else {},
    }
    if record.container_id:
        status["containerID"] = record.container_id
    return status


def build_status(
    observed: Mapping[str, Any], pod: PodRecord, container: ContainerRecord, *, address: str, host_ip: str = HOST_IP
) -> dict[str, Any]:
    """The pod status to write: the agent's own conditions plus any others already on the pod."""
    ready = "True" if container.ready else "False"
    owned = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
    not_ready = {} if container.ready else {"reason": "ContainersNotReady", "message": f"containers with unready status: [{container.name}]"}
    conditions: list[dict[str, Any]] = [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": pod.start_time},
        {"type": "Initialized", "status": "True", "lastTransitionTime": pod.start_time},
        {"type": "Ready", "status": ready, "lastTransitionTime": pod.ready_since, **not_ready},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": pod.ready_since, **not_ready},
    ]
    others = [dict(condition) for condition in (observed.get("status") or {}).get("conditions") or [] if condition.get("type") not in owned]
    return {
        "phase": pod.phase,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": address,
        "podIPs": [{"ip": address}],
        "startTime": pod.start_time,
        "conditions": conditions + sorted(others, key=lambda condition: str(condition.get("type"))),
        "containerStatuses": [container_status(container)],
    }


def exit_code_of(returncode: int) -> int:
    """A process killed by signal N exits, as a container, with 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def termination_message(container: Mapping[str, Any], exit_code: int, output: str) -> str:
    """What a kubelet puts in `terminated.message`: with FallbackToLogsOnError and a failed exit, the
    tail of the container's output (at most 80 lines and 2 KiB); nothing otherwise, as no container
    here writes a termination-log file."""
    if exit_code == 0 or container.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        return ""
    tail = "\n".join(output.splitlines()[-TERMINATION_MESSAGE_LINES:])
    return tail.encode()[-TERMINATION_MESSAGE_BYTES:].decode(errors="ignore")


def backoff_seconds(consecutive_failures: int) -> float:
    return float(min(BACKOFF_CAP_SECONDS, BACKOFF_INITIAL_SECONDS * 2 ** max(0, consecutive_failures - 1)))


def pre_stop_seconds(container: Mapping[str, Any]) -> float:
    sleep = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
    return float(sleep.get("seconds") or 0)


# -- the API, as plain JSON over the kubernetes client's connection ---------------------------------


class Api:
    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 15,
    ) -> dict[str, Any]:
        from tritonops.kube import request_json

        return request_json(self.api_client, method, path, body=body, query=query, content_type=content_type, timeout=timeout)

    def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def watch(self, path: str, *, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        from kubernetes.client.rest import ApiException
        from kubernetes.watch.watch import iter_resp_lines

        serialized = self.api_client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=[
                ("watch", "true"),
                ("resourceVersion", resource_version),
                ("timeoutSeconds", str(timeout_seconds)),
                ("allowWatchBookmarks", "true"),
            ],
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        # The server ends the watch after timeout_seconds; the read timeout only guards a dead connection.
        response = self.api_client.call_api(*serialized, _request_timeout=(5, timeout_seconds + 15))
        try:
            if response.status != 200:
                response.read()
                raise ApiException(http_resp=response)
            for line in iter_resp_lines(response.response):
                if line:
                    yield json.loads(line)
        finally:
            response.response.release_conn()


def _status_code(error: BaseException) -> int | None:
    return getattr(error, "status", None)


# -- the agent ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class PodRuntime:
    """One pod on one of the agent's nodes and the tritonserver that runs it."""

    uid: str
    namespace: str
    name: str
    node: nodes.SimulatedNode
    directory: pathlib.Path
    pod: dict[str, Any]
    container: ContainerRecord
    record: PodRecord = dataclasses.field(default_factory=PodRecord)
    process: ManagedProcess | None = None
    command: list[str] | None = None
    http_port: int = DEFAULT_HTTP_PORT
    exit_timeout_seconds: float = DEFAULT_EXIT_TIMEOUT_SECONDS
    run_started: float = 0.0
    log_offset: int = 0
    consecutive_failures: int = 0
    next_attempt: float = 0.0
    last_probe: float = 0.0
    final: bool = False
    terminating_since: float | None = None
    sigterm_at: float | None = None
    sigterm_sent: float | None = None
    kill_at: float | None = None
    deleted: bool = False
    last_written: dict[str, Any] | None = None

    @property
    def address(self) -> str:
        assert self.node.pod_address is not None
        return self.node.pod_address

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def running(self) -> bool:
        return self.process is not None and self.process.running()


class NodeAgent:
    def __init__(
        self,
        *,
        api_client: Any,
        watch_client: Any,
        agent_nodes: Sequence[nodes.SimulatedNode],
        work_dir: pathlib.Path,
    ) -> None:
        from tritonops.devcluster.triton import find_installation

        for node in agent_nodes:
            if node.pod_address is None:
                raise ValueError(f"{node.name} is not an agent node")
            network.require_loopback_address(node.pod_address)
        self.api = Api(api_client)
        self.watch_api = Api(watch_client)
        self.nodes = {node.name: node for node in agent_nodes}
        self.work_dir = work_dir
        self.installation = find_installation()
        self.stopping = threading.Event()
        self.changed = threading.Event()
        self.lock = threading.Lock()
        self.observed: dict[str, dict[str, Any]] = {}
        self.runtimes: dict[str, PodRuntime] = {}
        self.synced = threading.Event()
        self.registered_at = timestamp()
        # Probes go straight to the node address: never through a proxy from the environment.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- nodes -------------------------------------------------------------------------------------

    def _node_conditions(self, now: str, since: str) -> list[dict[str, Any]]:
        healthy = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID"),
            ("Ready", "True", "KubeletReady"),
        ]
        return [
            {"type": kind, "status": status, "reason": reason, "message": f"node agent: {reason}", "lastHeartbeatTime": now, "lastTransitionTime": since}
            for kind, status, reason in healthy
        ]

    def register_nodes(self) -> None:
        self.registered_at = timestamp()
        for node in self.nodes.values():
            manifest = nodes.node_manifest(node, kubelet_port=0)
            manifest["status"]["conditions"] = self._node_conditions(self.registered_at, self.registered_at)
            try:
                self.api.request("POST", "/api/v1/nodes", body=manifest)
                logger.info("registered node %s (pods on %s)", node.name, node.pod_address)
            except Exception as error:
                if _status_code(error) != 409:
                    raise
                # Left by an earlier agent: take it over with this agent's labels, taint and capacity.
                self.api.merge_patch(f"/api/v1/nodes/{node.name}", {"metadata": {"labels": manifest["metadata"]["labels"]}, "spec": manifest["spec"]})
                self.api.merge_patch(f"/api/v1/nodes/{node.name}/status", {"status": manifest["status"]})
                logger.info("took over node %s", node.name)
            self._renew_lease(node.name)

    def _renew_lease(self, name: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{name}"
        try:
            self.api.merge_patch(path, {"spec": {"renewTime": micro_timestamp(), "holderIdentity": name}})
        except Exception as error:
            if _status_code(error) != 404:
                raise
            node = self.api.request("GET", f"/api/v1/nodes/{name}")
            self.api.request(
                "POST",
                f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases",
                body={
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": name,
                        "namespace": LEASE_NAMESPACE,
                        # As the kubelet does: the lease goes with its node.
                        "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}],
                    },
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": micro_timestamp()},
                },
            )

    def nodes_ready(self) -> bool:
        """Ready, and the node-lifecycle controller has lifted its not-ready taint, for every node."""
        for name in self.nodes:
            node = self.api.request("GET", f"/api/v1/nodes/{name}")
            conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
            taints = {t["key"] for t in (node.get("spec") or {}).get("taints") or []}
            if conditions.get("Ready") != "True" or any(key.startswith("node.kubernetes.io/") for key in taints):
                return False
        return True

    def heartbeat_loop(self) -> None:
        last_status = time.monotonic()
        while not self.stopping.wait(LEASE_RENEW_SECONDS):
            for name in self.nodes:
                try:
                    self._renew_lease(name)
                except Exception:
                    logger.exception("renewing the lease of %s failed", name)
            if time.monotonic() - last_status >= NODE_STATUS_SECONDS:
                last_status = time.monotonic()
                now = timestamp()
                for name in self.nodes:
                    try:
                        self.api.merge_patch(f"/api/v1/nodes/{name}/status", {"status": {"conditions": self._node_conditions(now, self.registered_at)}})
                    except Exception:
                        logger.exception("updating the status of %s failed", name)

    def delete_nodes(self) -> None:
        for name in self.nodes:
            try:
                self.api.request("DELETE", f"/api/v1/nodes/{name}", timeout=5)
            except Exception as error:
                logger.warning("deleting node %s failed: %s", name, error)

    # -- pods: list and watch ------------------------------------------------------------------------

    def _ours(self, pod: Mapping[str, Any]) -> bool:
        return (pod.get("spec") or {}).get("nodeName") in self.nodes

    def watch_loop(self) -> None:
        """List, then watch from the list's version with a bounded timeout; list again after any error."""
        while not self.stopping.is_set():
            try:
                listed = self.watch_api.request("GET", "/api/v1/pods", timeout=30)
                with self.lock:
                    self.observed = {pod["metadata"]["uid"]: pod for pod in listed.get("items") or [] if self._ours(pod)}
                self.synced.set()
                self.changed.set()
                version = str(listed["metadata"]["resourceVersion"])
                while not self.stopping.is_set():
                    for event in self.watch_api.watch("/api/v1/pods", resource_version=version, timeout_seconds=WATCH_TIMEOUT_SECONDS):
                        kind, pod = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            raise RuntimeError(f"watch error: {pod.get('message')}")
                        version = str(pod.get("metadata", {}).get("resourceVersion") or version)
                        if kind == "BOOKMARK":
                            continue
                        uid = pod["metadata"]["uid"]
                        with self.lock:
                            if kind == "DELETED" or not self._ours(pod):
                                relevant = self.observed.pop(uid, None) is not None
                            else:
                                self.observed[uid] = pod
                                relevant = True
                        if relevant:
                            self.changed.set()
                        if self.stopping.is_set():
                            return
            except Exception as error:
                if self.stopping.is_set():
                    return
                logger.warning("pod watch ended (%s); listing again", error)
                self.stopping.wait(1.0)

    # -- pods: running them ----------------------------------------------------------------------------

    def tick(self) -> None:
        with self.lock:
            observed = dict(self.observed)
        for uid, pod in observed.items():
            runtime = self.runtimes.get(uid)
            if runtime is None:
                runtime = self._new_runtime(pod)
                self.runtimes[uid] = runtime
            runtime.pod = pod
            try:
                self._step(runtime)
            except Exception:
                logger.exception("pod %s: step failed", runtime.key)
            self._write_status(runtime)
        for uid in [uid for uid in self.runtimes if uid not in observed]:
            self._forget(self.runtimes.pop(uid))

    def _new_runtime(self, pod: Mapping[str, Any]) -> PodRuntime:
        metadata, spec = pod["metadata"], pod["spec"]
        container = spec["containers"][0]
        node = self.nodes[spec["nodeName"]]
        directory = self.work_dir / "pods" / f"{metadata['namespace']}_{metadata['name']}_{metadata['uid'][:8]}"
        directory.mkdir(parents=True, exist_ok=True)
        logger.info("pod %s/%s bound to %s: serving on %s", metadata["namespace"], metadata["name"], node.name, node.pod_address)
        return PodRuntime(
            uid=metadata["uid"],
            namespace=metadata["namespace"],
            name=metadata["name"],
            node=node,
            directory=directory,
            pod=dict(pod),
            container=ContainerRecord(name=str(container["name"]), image=str(container.get("image", ""))),
        )

    def _step(self, runtime: PodRuntime) -> None:
        now = time.monotonic()
        if runtime.deleted:
            return
        if runtime.pod["metadata"].get("deletionTimestamp"):
            self._terminate_step(runtime, now)
            return
        if runtime.process is not None and not runtime.running():
            self._record_exit(runtime, now)
        if runtime.process is None and not runtime.final and now >= runtime.next_attempt:
            self._start(runtime, now)
        if runtime.running() and now - runtime.last_probe >= PROBE_SECONDS:
            runtime.last_probe = now
            self._set_ready(runtime, self._probe(runtime))

    def _start(self, runtime: PodRuntime, now: float) -> None:
        spec = runtime.pod["spec"]
        container = spec["containers"][0]
        try:
            arguments = container_arguments(container)
            roots = flag_values(arguments, *_REPOSITORY_FLAGS)
            check_host_paths(spec)
            links = repository_links(spec, container, roots)
            repositories = build_repositories(runtime.directory / "repositories", links)
            command = [
                str(self.installation.server),
                *rewrite_arguments(
                    arguments,
                    repositories=[str(repositories[root]) for root in roots],
                    address=runtime.address,
                    backend_directory=str(self.installation.backends),
                ),
            ]
        except UnsupportedPod as refused:
            if (runtime.container.reason, runtime.container.message) != (refused.reason, refused.message):
                logger.warning("pod %s cannot start: %s", runtime.key, refused.message)
            runtime.container.state, runtime.container.reason, runtime.container.message = "waiting", refused.reason, refused.message
            runtime.next_attempt = now + PREPARE_RETRY_SECONDS
            return
        runtime.http_port = int(flag_value(arguments, "--http-port", str(DEFAULT_HTTP_PORT)))
        runtime.exit_timeout_seconds = float(flag_value(arguments, "--exit-timeout-secs", str(DEFAULT_EXIT_TIMEOUT_SECONDS)))
        environment = self.installation.environment()
        for variable in container.get("env") or []:
            if "value" in variable:
                environment[str(variable["name"])] = str(variable["value"])
        log = runtime.directory / "triton.log"
        with log.open("a") as handle:
            handle.write(f"\n=== {timestamp()} start {runtime.container.restart_count}: {' '.join(command)}\n")
        network.require_loopback_address(runtime.address)
        runtime.log_offset = log.stat().st_size
        runtime.process = start_process(
            name=f"tritonserver {runtime.key}@{runtime.address}",
            command=command,
            log=log,
            environment=environment,
            directory=runtime.directory,
            die_with_parent=True,
        )
        runtime.command = command
        runtime.run_started = now
        runtime.last_probe = 0.0
        record = runtime.container
        record.state, record.reason, record.message = "running", "", ""
        record.started_at, record.finished_at, record.exit_code = timestamp(), None, None
        record.container_id = f"tritonops-agent://{runtime.uid[:8]}-{record.restart_count}-{runtime.process.pid}"
        record.started = not container.get("startupProbe")
        runtime.record.phase = "Running"
        logger.info("pod %s: started tritonserver pid %d (restart %d)", runtime.key, runtime.process.pid, record.restart_count)

    def _probe(self, runtime: PodRuntime) -> bool:
        network.require_loopback_address(runtime.address)
        try:
            with self.opener.open(f"http://{runtime.address}:{runtime.http_port}/v2/health/ready", timeout=PROBE_TIMEOUT_SECONDS) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _set_ready(self, runtime: PodRuntime, ready: bool) -> None:
        record = runtime.container
        if ready:
            record.started = True
        if ready != record.ready:
            record.ready = ready
            runtime.record.ready_since = timestamp()
            if ready:
                created = datetime.datetime.fromisoformat(str(runtime.pod["metadata"]["creationTimestamp"]).replace("Z", "+00:00"))
                age = (datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()
                logger.info("pod %s: Ready (%.1fs after creation, %.1fs after start)", runtime.key, age, time.monotonic() - runtime.run_started)
            else:
                logger.info("pod %s: not Ready", runtime.key)

    def _reap_group(self, runtime: PodRuntime) -> None:
        """After tritonserver exits, its python backend stubs may linger in its group; end them too."""
        assert runtime.process is not None
        try:
            os.killpg(runtime.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _record_exit(self, runtime: PodRuntime, now: float) -> None:
        assert runtime.process is not None
        self._reap_group(runtime)
        code = exit_code_of(runtime.process.popen.returncode)
        record = runtime.container
        finished_at = timestamp()
        message = termination_message(runtime.pod["spec"]["containers"][0], code, self._run_output(runtime))
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": record.started_at,
            "finishedAt": finished_at,
            "containerID": record.container_id,
            **({"message": message} if message else {}),
        }
        logger.info("pod %s: tritonserver exited with %d after %.1fs", runtime.key, code, now - runtime.run_started)
        runtime.process = None
        self._set_ready(runtime, False)
        policy = runtime.pod["spec"].get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            runtime.final = True
            record.state, record.exit_code, record.finished_at = "terminated", code, finished_at
            record.termination_message = message
            runtime.record.phase = "Succeeded" if code == 0 else "Failed"
            return
        runtime.consecutive_failures = 1 if now - runtime.run_started >= BACKOFF_RESET_AFTER_SECONDS else runtime.consecutive_failures + 1
        delay = backoff_seconds(runtime.consecutive_failures)
        record.last_terminated = terminated
        record.restart_count += 1
        record.state, record.reason = "waiting", "CrashLoopBackOff"
        record.message = f"back-off {delay:g}s restarting failed container={record.name} pod={runtime.name}"
        record.started = False
        runtime.next_attempt = now + delay

    def _run_output(self, runtime: PodRuntime) -> str:
        """What tritonserver wrote during its last run."""
        try:
            with (runtime.directory / "triton.log").open("rb") as log:
                # Only the tail is ever reported; a long run's output need not be read whole.
                size = log.seek(0, os.SEEK_END)
                log.seek(max(runtime.log_offset, size - 64 * TERMINATION_MESSAGE_BYTES))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _terminate_step(self, runtime: PodRuntime, now: float) -> None:
        metadata, spec = runtime.pod["metadata"], runtime.pod["spec"]
        if runtime.terminating_since is None:
            grace = float(metadata.get("deletionGracePeriodSeconds") or spec.get("terminationGracePeriodSeconds") or 30)
            runtime.terminating_since = now
            runtime.kill_at = now + grace
            pre_stop = pre_stop_seconds(spec["containers"][0]) if runtime.running() else 0.0
            runtime.sigterm_at = now + min(pre_stop, grace)
            logger.info("pod %s: deleted; preStop %.0fs, grace %.0fs", runtime.key, pre_stop, grace)
        assert runtime.sigterm_at is not None and runtime.kill_at is not None
        if runtime.running():
            if runtime.sigterm_sent is None and now >= runtime.sigterm_at:
                assert runtime.process is not None
                runtime.sigterm_sent = now
                runtime.kill_at = min(runtime.kill_at, now + runtime.exit_timeout_seconds + 1)
                logger.info("pod %s: SIGTERM to tritonserver pid %d", runtime.key, runtime.process.pid)
                os.killpg(runtime.process.pid, signal.SIGTERM)
            elif now >= runtime.kill_at:
                assert runtime.process is not None
                logger.warning("pod %s: tritonserver still running at the deadline: SIGKILL", runtime.key)
                os.killpg(runtime.process.pid, signal.SIGKILL)
            elif now - runtime.last_probe >= PROBE_SECONDS:
                runtime.last_probe = now
                self._set_ready(runtime, self._probe(runtime))
            return
        if runtime.process is not None:
            self._reap_group(runtime)
            code = exit_code_of(runtime.process.popen.returncode)
            logger.info("pod %s: tritonserver exited with %d on termination", runtime.key, code)
            runtime.process = None
        runtime.container.ready = False
        # The kubelet's final delete: the pod object goes once nothing of it runs.
        try:
            self.api.request(
                "DELETE",
                f"/api/v1/namespaces/{runtime.namespace}/pods/{runtime.name}",
                body={"gracePeriodSeconds": 0, "preconditions": {"uid": runtime.uid}},
            )
            logger.info("pod %s: deleted after %.1fs", runtime.key, now - (runtime.terminating_since or now))
        except Exception as error:
            if _status_code(error) not in (404, 409):
                logger.warning("pod %s: final delete failed (%s); retrying", runtime.key, error)
                return
        runtime.deleted = True

    def _forget(self, runtime: PodRuntime) -> None:
        """The pod is gone from the API: stop whatever still runs for it, and remove its repository."""
        if runtime.process is not None:
            logger.info("pod %s: gone from the API; stopping tritonserver pid %d", runtime.key, runtime.process.pid)
            process = runtime.process
            threading.Thread(
                target=stop_process_group, args=(process.pid,), kwargs={"grace_seconds": SHUTDOWN_GRACE_SECONDS}, daemon=True
            ).start()
        shutil.rmtree(runtime.directory / "repositories", ignore_errors=True)

    def _write_status(self, runtime: PodRuntime) -> None:
        if runtime.deleted:
            return
        status = build_status(runtime.pod, runtime.record, runtime.container, address=runtime.address)
        if status == runtime.last_written:
            return
        try:
            self.api.merge_patch(
                f"/api/v1/namespaces/{runtime.namespace}/pods/{runtime.name}/status",
                # The uid makes the patch fail rather than land on a new pod of the same name.
                {"metadata": {"uid": runtime.uid}, "status": status},
            )
            runtime.last_written = status
        except Exception as error:
            if _status_code(error) in (404, 409):
                return
            logger.warning("pod %s: status write failed: %s", runtime.key, error)

    # -- lifecycle -----------------------------------------------------------------------------------

    def run(self) -> None:
        self.register_nodes()
        threads = [
            threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True),
            threading.Thread(target=self.watch_loop, name="watch", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            wait_until(self.nodes_ready, description="the agent nodes to be Ready", timeout_seconds=60, interval_seconds=0.5)
            wait_until(self.synced.is_set, description="the first pod list", timeout_seconds=60, interval_seconds=0.2)
            (self.work_dir / READY_FILE).write_text(json.dumps({name: node.pod_address for name, node in self.nodes.items()}))
            logger.info("ready: nodes %s", ", ".join(self.nodes))
            while not self.stopping.is_set():
                self.changed.wait(TICK_SECONDS)
                self.changed.clear()
                self.tick()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.stopping.set()
        running = [runtime.process for runtime in self.runtimes.values() if runtime.process is not None]
        logger.info("shutting down: stopping %d tritonserver(s)", len(running))
        stoppers = [
            threading.Thread(target=stop_process_group, args=(process.pid,), kwargs={"grace_seconds": SHUTDOWN_GRACE_SECONDS})
            for process in running
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(SHUTDOWN_GRACE_SECONDS + 2)
        self.delete_nodes()
        (self.work_dir / READY_FILE).unlink(missing_ok=True)
        logger.info("stopped")


# -- the process and its handle for fixtures -----------------------------------------------------------


def select_nodes(names: Sequence[str]) -> tuple[nodes.SimulatedNode, ...]:
    if not names:
        return nodes.AGENT_NODES
    known = {node.name: node for node in nodes.AGENT_NODES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown agent node(s) {unknown}; known: {sorted(known)}")
    return tuple(known[name] for name in names)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tritonops.devcluster.node_agent", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, type=pathlib.Path)
    parser.add_argument("--work-dir", required=True, type=pathlib.Path)
    parser.add_argument("--node", action="append", default=[], help="an agent node to run (default: all of nodes.AGENT_NODES)")
    arguments = parser.parse_args(argv)
    arguments.work_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=arguments.work_dir / LOG_FILE,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(message)s",
    )
    from kubernetes import config

    agent = NodeAgent(
        api_client=config.new_client_from_config(config_file=str(arguments.kubeconfig)),
        watch_client=config.new_client_from_config(config_file=str(arguments.kubeconfig)),
        agent_nodes=select_nodes(arguments.node),
        work_dir=arguments.work_dir,
    )
    signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stopping.set())
    try:
        agent.run()
    except Exception:
        logger.exception("the node agent failed")
        sys.exit(1)


@dataclasses.dataclass
class NodeAgentProcess:
    """Run the node agent as a process of its own; start() returns once its nodes are Ready."""

    kubeconfig: pathlib.Path
    work_dir: pathlib.Path
    node_names: tuple[str, ...] = ()
    process: ManagedProcess | None = None

    @property
    def log(self) -> pathlib.Path:
        return self.work_dir / LOG_FILE

    @property
    def nodes(self) -> tuple[nodes.SimulatedNode, ...]:
        return select_nodes(self.node_names)

    def address_of(self, node_name: str) -> str:
        address = {node.name: node.pod_address for node in self.nodes}[node_name]
        assert address is not None
        return address

    def start(self, *, timeout_seconds: float = 90) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / READY_FILE).unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "tritonops.devcluster.node_agent",
            f"--kubeconfig={self.kubeconfig}", f"--work-dir={self.work_dir}",
            *[f"--node={name}" for name in self.node_names],
        ]
        self.process = start_process(name="node-agent", command=command, log=self.work_dir / "node-agent.out")
        try:
            wait_until(
                (self.work_dir / READY_FILE).exists,
                description="the node agent's nodes to be Ready",
                timeout_seconds=timeout_seconds,
                watched=[self.process],
            )
        except BaseException:
            self.stop()
            raise

    def log_tail(self, characters: int = 5000) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except FileNotFoundError:
            return ""

    def pod_log(self, namespace: str, name: str, characters: int = 5000) -> str:
        """The tritonserver output of one pod, all its restarts included."""
        logs = sorted((self.work_dir / "pods").glob(f"{namespace}_{name}_*/triton.log"))
        return "".join(log.read_text(errors="replace") for log in logs)[-characters:]

    def stop(self) -> None:
        if self.process is not None:
            # The agent stops its tritonservers (SHUTDOWN_GRACE_SECONDS) and deletes its nodes first.
            stop_process_group(self.process.pid, grace_seconds=SHUTDOWN_GRACE_SECONDS + 20)
            self.process = None


if __name__ == "__main__":
    main()

"""`tritonops dev up | status | down`: the local control plane of SPEC section 6, left running for trying things by hand.

`dev up` starts what the tests start (LocalCluster: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok with simulated GPU nodes, metrics-server, and the real nodes, a kubelet and
containerd each, whose pods are containers), installs the ModelDeployment CRD, and with `--operator`
the operator too. The real nodes put a bridge and veth pairs in the network namespace they run in, so
they start only inside a loopback-only namespace (`tests/sandbox.sh tritonops dev up`, then
`tritonops dev exec -- kubectl ...` to reach it); in the caller's own namespace `dev up` starts the
control plane with kwok's simulated nodes alone. Each runs in a session of its own, so they outlive the command; what is
needed to find them again goes to the state directory (default ~/.cache/tritonops/dev, or
$TRITONOPS_DEV_DIR, or --state-dir):

    dev.json           this file's record: process ids (with their start times, so that a reused pid is
                       never signalled), ports, the kubeconfig and the API server's URL
    cluster/           LocalCluster's directory: kubeconfig.yaml, pki/, etcd/, logs/, cluster.json
    operator.log       the operator's log, with --operator

`dev status` says whether each recorded process is alive and whether the API server answers `/readyz`;
`dev down` tears the real nodes down (their containers, mounts, cgroups and bridges), stops the rest
(newest first, each by its own process group), and removes the state. Every component binds to
127.0.0.1 (pods to 127.x addresses), and nothing is contacted outside 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import pathlib
import shutil
import signal
import ssl
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml

STATE_DIRECTORY_VARIABLE = "TRITONOPS_DEV_DIR"
STATE_FILE = "dev.json"
CLUSTER_DIRECTORY = "cluster"
OPERATOR_LOG = "operator.log"
# Everything `dev up` writes in the state directory: `dev down` removes these names and nothing else, so a
# --state-dir that points at a directory holding other files loses none of them.
OWNED_ENTRIES = (STATE_FILE, CLUSTER_DIRECTORY, OPERATOR_LOG, f".{STATE_FILE}.tmp")
STATE_FORMAT = 1
CRD_DIRECTORY = pathlib.Path(__file__).resolve().parents[3] / "crds"
CRD_NAME = "modeldeployments.inference.tritonops.dev"

# Exit statuses of `dev status` (as `systemctl status`: 3 is "not running").
HEALTHY, UNHEALTHY, NOT_UP = 0, 1, 3
GRACE_SECONDS = 10.0

Progress = Callable[[str], None]


class DevError(Exception):
    """A `dev` command cannot go on; the message says why and what to do."""


# -- the state file ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecordedProcess:
    """A process `dev up` started: its id, and its start time in clock ticks since boot (from /proc)."""

    name: str
    pid: int
    start_ticks: int | None
    log: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "startTicks": self.start_ticks, "log": self.log}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RecordedProcess:
        ticks = document.get("startTicks")
        return cls(
            name=str(document["name"]),
            pid=int(document["pid"]),
            start_ticks=None if ticks is None else int(ticks),
            log=str(document.get("log") or ""),
        )


@dataclasses.dataclass(frozen=True)
class DevState:
    directory: pathlib.Path
    kubeconfig: pathlib.Path
    apiserver: str
    ports: Mapping[str, int]
    processes: tuple[RecordedProcess, ...]  # in start order
    started_at: str
    real_nodes: tuple[str, ...] = ()
    operator: bool = False
    # The network namespace the processes run in (/proc/PID/ns/net of the first), for `dev exec`.
    network_namespace: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "kubeconfig": str(self.kubeconfig),
            "apiserver": self.apiserver,
            "ports": dict(self.ports),
            "processes": [process.as_json() for process in self.processes],
            "startedAt": self.started_at,
            "realNodes": list(self.real_nodes),
            "operator": self.operator,
            "networkNamespace": self.network_namespace,
        }

    @classmethod
    def from_json(cls, directory: pathlib.Path, document: Mapping[str, Any]) -> DevState:
        if document.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown state format {document.get('format')!r} (expected {STATE_FORMAT})")
        return cls(
            directory=directory,
            kubeconfig=pathlib.Path(document["kubeconfig"]),
            apiserver=str(document["apiserver"]),
            ports={str(key): int(value) for key, value in dict(document.get("ports") or {}).items()},
            processes=tuple(RecordedProcess.from_json(entry) for entry in document.get("processes") or []),
            started_at=str(document.get("startedAt") or ""),
            real_nodes=tuple(str(name) for name in document.get("realNodes") or []),
            operator=bool(document.get("operator")),
            network_namespace=str(document.get("networkNamespace") or ""),
        )


class UnreadableState(DevError):
    pass


def default_state_directory(environment: Mapping[str, str] | None = None) -> pathlib.Path:
    """$TRITONOPS_DEV_DIR, else `dev` under the tritonops cache (~/.cache/tritonops, or $TRITONOPS_CACHE)."""
    from tritonops.devcluster import versions

    environment = os.environ if environment is None else environment
    configured = environment.get(STATE_DIRECTORY_VARIABLE)
    return pathlib.Path(configured) if configured else versions.cache_root() / "dev"


def write_state(state: DevState) -> pathlib.Path:
    """Write dev.json atomically (a reader sees the old file or the new one, never half of one)."""
    path = state.directory / STATE_FILE
    staging = state.directory / f".{STATE_FILE}.tmp"
    staging.write_text(json.dumps(state.as_json(), indent=2) + "\n")
    staging.replace(path)
    return path


def read_state(directory: pathlib.Path) -> DevState | None:
    """The recorded state, None when there is none; UnreadableState when dev.json is not one we wrote."""
    path = directory / STATE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return DevState.from_json(directory, json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UnreadableState(f"{path} is not a tritonops dev state file ({error}); remove it to start over") from None


def remove_state(directory: pathlib.Path) -> None:
    """Remove what `dev up` wrote (OWNED_ENTRIES only), then the directory itself if that leaves it empty."""
    for name in OWNED_ENTRIES:
        path = directory / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()


# -- processes, by id and start time ----------------------------------------------------------------


def parse_stat(text: str) -> tuple[str, int]:
    """(state letter, start time in clock ticks) from the text of /proc/PID/stat.

    The command name (field 2) is in parentheses and may itself hold spaces and parentheses, so fields
    are counted from the last ')'; the state is field 3 and the start time field 22.
    """
    after = text[text.rindex(")") + 2 :].split()
    return after[0], int(after[19])


def process_stat(pid: int) -> tuple[str, int] | None:
    try:
        return parse_stat(pathlib.Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    stat = process_stat(pid)
    return None if stat is None else stat[1]


def is_running(process: RecordedProcess) -> bool:
    """Alive (a zombie is not) and the same process that was recorded (a reused pid is not)."""
    stat = process_stat(process.pid)
    if stat is None or stat[0] in ("Z", "X", "x"):
        return False
    return process.start_ticks is None or stat[1] == process.start_ticks


def terminate(process: RecordedProcess, *, grace_seconds: float = GRACE_SECONDS) -> bool:
    """SIGTERM the process's group (each was started in a session of its own), SIGKILL after the grace.

    Returns whether it was running. Only a process that is still the recorded one is signalled.
    """
    if not is_running(process):
        return False
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        _reap(process.pid)
        if not is_running(process):
            return True
        time.sleep(0.1)
    if is_running(process):
        _signal_group(process.pid, signal.SIGKILL)
        for _ in range(50):
            _reap(process.pid)
            if not is_running(process):
                break
            time.sleep(0.1)
    return True


def _signal_group(pid: int, sent: signal.Signals) -> None:
    try:
        os.killpg(pid, sent)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sent)


def _reap(pid: int) -> None:
    # Our own child only when `up` failed half-way in this process; otherwise init reaps it.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# -- the API server ------------------------------------------------------------------------------------


def _kubeconfig_user(kubeconfig: pathlib.Path) -> tuple[str, str, str, str]:
    """(server, CA file, client certificate file, client key file) of the kubeconfig's current context."""
    document = yaml.safe_load(kubeconfig.read_text())
    context_name = document["current-context"]
    context = next(entry["context"] for entry in document["contexts"] if entry["name"] == context_name)
    cluster = next(entry["cluster"] for entry in document["clusters"] if entry["name"] == context["cluster"])
    user = next(entry["user"] for entry in document["users"] if entry["name"] == context["user"])
    return cluster["server"], cluster["certificate-authority"], user["client-certificate"], user["client-key"]


def apiserver_readyz(kubeconfig: pathlib.Path, *, timeout: float = 3.0) -> tuple[bool, str]:
    """(answers ok, what it said or why not) for GET /readyz with the kubeconfig's credentials."""
    from tritonops.devcluster import network

    try:
        server, ca, certificate, key = _kubeconfig_user(kubeconfig)
        network.require_loopback_address(str(urllib.parse.urlsplit(server).hostname))
        context = ssl.create_default_context(cafile=ca)
        context.load_cert_chain(certificate, key)
        # Straight to the loopback address: never through a proxy named in the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
        with opener.open(f"{server}/readyz", timeout=timeout) as response:
            body = response.read().decode(errors="replace").strip()
            return response.status == 200 and body == "ok", body
    except Exception as error:  # refused, TLS, a missing file: all mean "does not answer"
        return False, f"{type(error).__name__}: {error}"


def install_crds(kubeconfig: pathlib.Path, *, directory: pathlib.Path = CRD_DIRECTORY, timeout_seconds: float = 30) -> list[str]:
    """Create (or replace) the CRDs in `directory` and wait until each is Established; their names."""
    from kubernetes import client, config

    from tritonops.devcluster.processes import wait_until

    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise DevError(f"no CRD manifests in {directory}: run from a checkout of tritonops")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        extensions = client.ApiextensionsV1Api(api_client)
        names: list[str] = []
        for path in files:
            for document in yaml.safe_load_all(path.read_text()):
                if not document:
                    continue
                name = document["metadata"]["name"]
                try:
                    extensions.create_custom_resource_definition(document)
                except client.ApiException as error:
                    if error.status != 409:
                        raise
                    current: Any = extensions.read_custom_resource_definition(name)
                    document["metadata"]["resourceVersion"] = current.metadata.resource_version
                    extensions.replace_custom_resource_definition(name, document)
                names.append(name)

        def established() -> bool:
            for name in names:
                crd: Any = extensions.read_custom_resource_definition(name)
                conditions = (crd.status.conditions if crd.status is not None else None) or []
                if not any(c.type == "Established" and c.status == "True" for c in conditions):
                    return False
            return True

        wait_until(established, description="the CRDs to be established", timeout_seconds=timeout_seconds)
        return names
    finally:
        api_client.close()


# -- the commands ----------------------------------------------------------------------------------------


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@contextlib.contextmanager
def _loopback_environment() -> Iterator[None]:
    """For the duration of `up`: let LocalCluster start outside a loopback-only namespace, and drop proxy settings.

    Every component binds 127.0.0.1 and talks to loopback only; a proxy from the caller's environment
    would send those requests (and the started processes' own, which inherit the environment) elsewhere.
    """
    from tritonops.devcluster import network

    changes = {network.ALLOW_HOST_NETWORK_VARIABLE: "1", **{name: None for name in PROXY_VARIABLES}}
    previous = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _recorded(name: str, pid: int, log: pathlib.Path | str) -> RecordedProcess:
    return RecordedProcess(name=name, pid=pid, start_ticks=start_ticks(pid), log=str(log))


def up(directory: pathlib.Path, *, operator: bool = False, progress: Progress) -> tuple[DevState, bool]:
    """Start the dev cluster, or find the one already running: (its state, whether it was started now)."""
    from tritonops.devcluster import cluster as cluster_module
    from tritonops.devcluster import network, nodes
    from tritonops.devcluster.operator_process import OperatorProcess

    existing = read_state(directory)
    if existing is not None:
        running = [process for process in existing.processes if is_running(process)]
        if running and len(running) == len(existing.processes):
            return existing, False
        progress(f"a previous dev cluster in {directory} is partly gone ({len(running)}/{len(existing.processes)} processes alive): stopping it first")
        down(directory, progress=progress)
    elif (directory / CLUSTER_DIRECTORY).exists():
        # An `up` killed before it wrote its state: stop what its cluster recorded, then clear the files.
        cluster_module.stop_from_state(directory / CLUSTER_DIRECTORY)
        remove_state(directory)
    directory.mkdir(parents=True, exist_ok=True)
    isolated = network.is_loopback_only_namespace()
    if not isolated:
        progress("running in this machine's network namespace: every component binds to 127.0.0.1, and the real nodes "
                 "(whose pods need a bridge) are left out; run `tests/sandbox.sh tritonops dev up` for them")
    specifications = nodes.REAL_NODES if isolated else ()
    cluster = cluster_module.LocalCluster(directory=directory / CLUSTER_DIRECTORY, progress=progress, real_node_specifications=specifications)
    operator_process = OperatorProcess(kubeconfig=cluster.kubeconfig, log=directory / OPERATOR_LOG) if operator else None
    try:
        with _loopback_environment():
            cluster.start()
            progress("installing the ModelDeployment CRD")
            install_crds(cluster.kubeconfig)
            if operator_process is not None:
                progress("starting the operator (tritonops run)")
                operator_process.start()
        processes = [_recorded(process.name, process.pid, process.log) for process in cluster.processes]
        for node in cluster.real_nodes.nodes:
            processes += [_recorded(f"{process.name}", process.pid, process.log) for process in node.watched()]
        if operator_process is not None and operator_process.process is not None:
            processes.append(_recorded("operator", operator_process.process.pid, operator_process.log))
        ports = {field.name: int(getattr(cluster.ports, field.name)) for field in dataclasses.fields(cluster.ports)}
        if operator_process is not None:
            ports["operator_liveness"] = operator_process.liveness_port
            ports["operator_metrics"] = operator_process.metrics_port
        state = DevState(
            directory=directory,
            kubeconfig=cluster.kubeconfig,
            apiserver=cluster.apiserver_url,
            ports=ports,
            processes=tuple(processes),
            started_at=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            real_nodes=tuple(node.node.name for node in cluster.real_nodes.nodes),
            operator=operator,
            network_namespace=os.readlink("/proc/self/ns/net") if isolated else "",
        )
        write_state(state)
    except BaseException:
        progress("start failed: stopping what was started")
        if operator_process is not None:
            operator_process.stop()
        cluster.stop()
        remove_state(directory)
        raise
    return state, True


def down(directory: pathlib.Path, *, progress: Progress) -> list[str]:
    """Tear the real nodes down, stop every recorded process (newest first), then remove the state; what was stopped."""
    from tritonops.devcluster import cluster as cluster_module

    try:
        state = read_state(directory)
    except UnreadableState:
        state = None
        progress(f"{directory / STATE_FILE} is unreadable: removing the state without stopping anything")
    stopped: list[str] = []
    if state is not None:
        # Containers first: their shims leave the process groups that the recorded processes lead.
        if state.real_nodes and cluster_module.stop_real_nodes_from_state(directory / CLUSTER_DIRECTORY):
            progress(f"tore down the real nodes {', '.join(state.real_nodes)} (containers, mounts, cgroups, bridges)")
        for process in reversed(state.processes):
            if terminate(process, grace_seconds=GRACE_SECONDS):
                stopped.append(process.name)
                progress(f"stopped {process.name} (pid {process.pid})")
    remove_state(directory)
    return stopped


@dataclasses.dataclass(frozen=True)
class StatusReport:
    directory: pathlib.Path
    state: DevState | None
    alive: Mapping[str, bool]
    apiserver_ok: bool
    apiserver_detail: str

    @property
    def exit_status(self) -> int:
        if self.state is None:
            return NOT_UP
        return HEALTHY if self.apiserver_ok and all(self.alive.values()) else UNHEALTHY

    def as_json(self) -> dict[str, Any]:
        return {
            "stateDirectory": str(self.directory),
            "up": self.state is not None,
            "healthy": self.exit_status == HEALTHY,
            "kubeconfig": str(self.state.kubeconfig) if self.state else None,
            "apiserver": {"url": self.state.apiserver if self.state else None, "ready": self.apiserver_ok, "detail": self.apiserver_detail},
            "processes": [
                {**process.as_json(), "running": self.alive.get(process.name, False)} for process in (self.state.processes if self.state else ())
            ],
        }


def status(directory: pathlib.Path) -> StatusReport:
    state = read_state(directory)
    if state is None:
        return StatusReport(directory, None, {}, False, "no dev cluster")
    alive = {process.name: is_running(process) for process in state.processes}
    ready, detail = apiserver_readyz(state.kubeconfig)
    return StatusReport(directory, state, alive, ready, detail)


def render_status(report: StatusReport) -> list[str]:
    if report.state is None:
        return [f"no dev cluster is up (no {STATE_FILE} in {report.directory}); start one with `tritonops dev up`"]
    state = report.state
    verdict = {HEALTHY: "up", UNHEALTHY: "UNHEALTHY"}[report.exit_status]
    lines = [f"dev cluster {verdict}: state in {report.directory}, started {state.started_at}"]
    width = max(len(process.name) for process in state.processes) if state.processes else 0
    for process in state.processes:
        running = report.alive.get(process.name, False)
        lines.append(f"  {process.name:<{width}}  pid {process.pid:<8} {'running' if running else 'NOT RUNNING'}" + ("" if running else f"  (log {process.log})"))
    answer = "answers /readyz" if report.apiserver_ok else f"does NOT answer: {report.apiserver_detail}"
    lines.append(f"  API server {state.apiserver} {answer}")
    lines.append(f"  kubeconfig {state.kubeconfig}")
    return lines


def usage_lines(state: DevState) -> list[str]:
    from tritonops.devcluster import images, nodes

    kubeconfig = state.kubeconfig
    lines = [
        f"kubeconfig: {kubeconfig}",
        "",
        f"  export KUBECONFIG={kubeconfig}",
        "  kubectl get nodes                      # kwok's simulated GPU nodes, and the real nodes when inside the sandbox",
        "  kubectl explain modeldeployment.spec   # the CRD is installed",
    ]
    if state.operator:
        lines.append(f"  the operator runs already (log {state.directory / OPERATOR_LOG})")
    else:
        lines.append(f"  tritonops run --kubeconfig {kubeconfig} --liveness off --metrics-address 127.0.0.1 --scrape-network 127.0.0.0/8")
    if state.real_nodes:
        lines += [
            f"  # real nodes {', '.join(state.real_nodes)} run Triton pods as containers, in the namespace {state.network_namespace}:",
            "  #   tritonops dev exec -- kubectl get pods -A   # runs a command in that namespace",
            f"  # give a ModelDeployment spec.server: {{image: {images.TRITON}, gpu: {{count: 1, products: [{nodes.L4}]}},",
            f"  #   tolerations: [{json.dumps(nodes.REAL_NODE_TOLERATION)}]}}",
        ]
    lines += ["  tritonops dev status", "  tritonops dev down                     # stops everything and removes the state"]
    return lines


def exec_command(state: DevState, command: list[str]) -> list[str]:
    """The command line that runs `command` in the dev cluster's network namespace (as it is, outside one)."""
    if not state.network_namespace:
        return command
    leader = next((process for process in state.processes if is_running(process)), None)
    if leader is None:
        raise DevError("no process of the dev cluster is running: its network namespace is gone; run `tritonops dev down`")
    namespace = f"/proc/{leader.pid}/ns/net"
    if os.readlink(namespace) != state.network_namespace:
        raise DevError(f"process {leader.pid} is no longer in the dev cluster's network namespace {state.network_namespace}")
    return ["nsenter", f"--net={namespace}", "--", *command]


def _enter_cluster_namespace(directory: pathlib.Path, arguments: list[str]) -> None:
    """Run this command again inside the dev cluster's network namespace when it has one of its own and this
    process is elsewhere: its API server and its nodes' bridges are only reachable there."""
    try:
        state = read_state(directory)
    except UnreadableState:
        return
    if state is None or not state.network_namespace or os.readlink("/proc/self/ns/net") == state.network_namespace:
        return
    try:
        line = exec_command(state, [sys.executable, "-m", "tritonops.cli", *arguments])
    except DevError:
        return  # nothing of the cluster runs any more, so there is nothing to reach: go on here
    sys.stdout.flush()
    os.execvp(line[0], line)


# -- the command line ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `dev` subcommands, on the parser cli.py made for `tritonops dev`."""
    commands = parser.add_subparsers(dest="dev_command", required=True, metavar="{up,status,down,exec}")
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-dir", type=pathlib.Path, default=None, metavar="DIR",
        help=f"where the cluster's state lives (default: ${STATE_DIRECTORY_VARIABLE}, else ~/.cache/tritonops/dev)",
    )
    start = commands.add_parser(
        "up", parents=[state], help="start the local control plane (and its real nodes, inside a loopback-only namespace) in the background",
        description="Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (simulated GPU nodes) and "
        "metrics-server on 127.0.0.1 (and, inside a loopback-only network namespace, real nodes: a kubelet and containerd each) "
        "and install the ModelDeployment CRD; they keep running "
        "after this command returns. The first run builds the control plane from source (minutes).",
    )
    start.add_argument("--operator", action="store_true", help="run the operator (tritonops run) too")
    report = commands.add_parser(
        "status", parents=[state], help="whether each process is alive and the API server answers",
        description=f"Exit status {HEALTHY}: up and healthy; {UNHEALTHY}: up but a process is gone or the API server "
        f"does not answer; {NOT_UP}: not up.",
    )
    report.add_argument("--output", "-o", choices=["text", "json"], default="text")
    commands.add_parser("down", parents=[state], help="stop everything `dev up` started and remove its state")
    run = commands.add_parser(
        "exec", parents=[state], help="run a command in the dev cluster's network namespace (for example kubectl)",
        description="Run COMMAND where the dev cluster's loopback addresses are: inside its network namespace when it "
        "runs in one (through nsenter), as it is otherwise. KUBECONFIG is set to the cluster's kubeconfig.",
    )
    run.add_argument("exec_arguments", nargs=argparse.REMAINDER, metavar="-- COMMAND ...")


def _say(message: str) -> None:
    print(f"[tritonops dev] {message}", file=sys.stderr, flush=True)


def main(arguments: argparse.Namespace) -> int:
    """Run `tritonops dev ...`; the exit status."""
    directory = (arguments.state_dir or default_state_directory()).expanduser().absolute()
    try:
        if arguments.dev_command == "up":
            state, started = up(directory, operator=arguments.operator, progress=_say)
            if not started:
                print(f"a dev cluster is already up (state in {directory})")
            else:
                print(f"dev cluster up (state in {directory})")
            print("\n".join(usage_lines(state)))
            return 0
        if arguments.dev_command in ("status", "down"):
            output = ["--output", arguments.output] if arguments.dev_command == "status" else []
            _enter_cluster_namespace(directory, ["dev", arguments.dev_command, "--state-dir", str(directory), *output])
        if arguments.dev_command == "status":
            result = status(directory)
            if arguments.output == "json":
                print(json.dumps(result.as_json(), indent=2))
            else:
                print("\n".join(render_status(result)))
            return result.exit_status
        if arguments.dev_command == "exec":
            found = read_state(directory)
            if found is None:
                raise DevError(f"no dev cluster is up (no {STATE_FILE} in {directory})")
            command = list(arguments.exec_arguments)
            command = command[1:] if command[:1] == ["--"] else command
            if not command:
                raise DevError("give a command to run, for example: tritonops dev exec -- kubectl get pods -A")
            os.environ["KUBECONFIG"] = str(found.kubeconfig)
            line = exec_command(found, command)
            os.execvp(line[0], line)
        stopped = down(directory, progress=_say)
        print(f"dev cluster down: stopped {len(stopped)} process(es), removed the state in {directory}" if stopped else f"no dev cluster was running; state in {directory} removed")
        return 0
    except DevError as error:
        print(f"tritonops dev {arguments.dev_command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # `up` stops what it started before the interrupt reaches here.
        return 130


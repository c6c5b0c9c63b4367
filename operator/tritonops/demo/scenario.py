"""`make demo`: canary releases on one machine: one rolled back, one promoted, one stopped by the golden gate.

It starts the local control plane (SPEC section 6) with its real nodes (a kubelet and containerd each,
whose pods are containers on 127.x addresses) and installs the operator with `helm install` from its
image, at its production settings; packages a small PyTorch classifier with `tritonops package --format
python` into a file:// model repository; deploys version 1 on three Triton pods (the Triton image, with
this environment's torch mounted read-only through spec.server.volumes); sends bounded load through the
Service's selector all along; rolls out version 2, whose every request fails inside torch, and prints the
automatic rollback as it happens; rolls out version 3 and prints its steps, analyses and promotion; rolls
out version 4, version 3 mis-quantized (fast, error-free, wrong), with the golden gate on the golden set
`tritonops package` wrote for version 3, and prints its rollback before a single request reached it;
prints `tritonops status`; and tears everything down, on Ctrl-C and on errors too. Run it inside a
loopback-only network namespace (`make demo` uses tests/sandbox.sh).

    python -m tritonops.demo [--timeout SECONDS] [--keep] [--result FILE]

Exit status 0 when version 2 ended RolledBack, version 3 was promoted and version 4 was rolled back by the
golden gate, 1 otherwise, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from tritonops import constants, status_report
from tritonops.demo import display

NAMESPACE = "demo"
NAME = "classifier"
MODEL_MODULE = "tritonops.demo.model"
REPLICAS = 3
# With three pods the canary gets one pod at the first step and two at the second.
STEPS = [33, 67]
ANALYSIS = {
    "provider": "triton",
    "intervalSeconds": 3,
    "failureLimit": 2,
    "minRequests": 10,
    "successRate": {"min": 0.95},
    "latencyMs": {"max": 250},
    "maxErrorRateIncrease": 0.05,
}
ROLLOUT = {"steps": STEPS, "stepSeconds": 8, "progressDeadlineSeconds": 120, "analysis": ANALYSIS}
# Version 4 re-exports version 3: its golden set is the one `tritonops package` wrote for version 3.
GOLDEN_CONFIG_MAP = f"{NAME}-golden"
GOLDEN_VERSION = 3
GOLDEN = {"configMapRef": {"name": GOLDEN_CONFIG_MAP}, "atol": 1e-4, "rtol": 1e-3}
LOAD_RATE = 30.0
POLL_SECONDS = 0.5
DEFAULT_TIMEOUT_SECONDS = 600.0
# How long each stage may take at most (within the overall timeout).
DEPLOY_TIMEOUT_SECONDS = 180.0
ROLLOUT_TIMEOUT_SECONDS = 180.0
PACKAGE_TIMEOUT_SECONDS = 300.0
INTERRUPTED = 130


class DemoError(Exception):
    """The demo cannot go on (or did not end as it should); the message says what happened."""


# -- packaging ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PackageStep:
    """One `tritonops package` run: the arguments after `tritonops`, and what to say about it."""

    arguments: tuple[str, ...]
    note: str

    def shown(self) -> str:
        return "tritonops " + " ".join(self.arguments)


def package_steps(repository: pathlib.Path, staging: pathlib.Path) -> list[PackageStep]:
    """Versions 1 and 3 straight into the repository; versions 2 and 4 into a staging repository first."""

    def package(factory: str, example: str, version: int, output: pathlib.Path) -> tuple[str, ...]:
        return ("package", f"{MODEL_MODULE}:{factory}", "-e", example, "--name", NAME, "--version", str(version), "--format", "python", "-o", str(output))

    return [
        PackageStep(package("classifier", "float32:1x4", 1, repository), "version 1: 4 features in, 3 class probabilities out"),
        PackageStep(
            package("classifier_five_features", "float32:1x5", 2, staging),
            "version 2: the same network built for 5 features; only its version directory is copied into the repository, "
            "whose config.pbtxt (shared by every version) declares 4, so each request to it fails inside torch",
        ),
        PackageStep(package("classifier_retrained", "float32:1x4", 3, repository), "version 3: 4 features again, new weights"),
        PackageStep(
            package("classifier_misquantized", "float32:1x4", 4, staging),
            "version 4: version 3 with its weights mis-quantized (rounded to steps of 0.25); it loads, answers fast and never "
            "errors; only its version directory is copied, and the golden gate judges it on version 3's golden set",
        ),
    ]


@dataclasses.dataclass
class PackagingJob:
    """Runs the package steps one after another in a background thread while the cluster starts."""

    steps: Sequence[PackageStep]
    directory: pathlib.Path
    results: list[tuple[PackageStep, int, str]] = dataclasses.field(default_factory=list)
    error: BaseException | None = None
    current: subprocess.Popen[str] | None = None
    _thread: threading.Thread | None = None
    _cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)

    def start(self) -> PackagingJob:
        self._thread = threading.Thread(target=self._run, name="packaging", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for step in self.steps:
                if self._cancelled.is_set():
                    return
                self.current = subprocess.Popen(
                    [sys.executable, "-m", "tritonops.cli", *step.arguments],
                    cwd=self.directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                )
                output, _ = self.current.communicate(timeout=PACKAGE_TIMEOUT_SECONDS)
                self.results.append((step, self.current.returncode, output))
                if self.current.returncode != 0:
                    return
        except BaseException as error:  # reported by wait()
            self.error = error

    def wait(self, timeout: float) -> list[tuple[PackageStep, int, str]]:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise DemoError(f"packaging took more than {timeout:.0f}s")
        if self.error is not None:
            raise DemoError(f"packaging failed: {self.error}")
        return self.results

    def cancel(self) -> None:
        self._cancelled.set()
        process = self.current
        if process is not None and process.poll() is None:
            process.kill()
        if self._thread is not None:
            self._thread.join(10)


# -- what the load generator sends ---------------------------------------------------------------------------


def classifier_request() -> Any:
    """One row of 4 features; an answer counts when it is one row of 3 finite probabilities summing to 1."""
    import numpy as np

    from tritonops.devcluster.load import Request

    values = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)

    def check(answer: Any) -> bool:
        return bool(answer.shape == (1, 3) and np.all(np.isfinite(answer)) and abs(float(answer.sum()) - 1.0) < 1e-3)

    return Request(input_name="INPUT__0", output_name="OUTPUT__0", values=values, datatype="FP32", check=check)


# Where the Triton pods mount the site-packages that hold torch: the python backend's model.py adds
# TRITONOPS_MODEL_PYTHONPATH to sys.path. A user would build an image with torch instead (as NGC's
# -pyt-python- images are); mounting this environment's keeps the demo's image small and its build short.
TORCH_MOUNT = "/opt/tritonops/python"


def torch_site_packages() -> pathlib.Path:
    import torch

    return pathlib.Path(torch.__file__).resolve().parents[1]


def model_deployment(repository: pathlib.Path, *, site_packages: pathlib.Path) -> dict[str, Any]:
    from tritonops.devcluster import images, nodes
    from tritonops.devcluster.triton import MODEL_PYTHONPATH_VARIABLE

    return {
        "apiVersion": f"{constants.GROUP}/{constants.VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "model": {"repository": f"file://{repository}", "version": "1"},
            # One L4 per pod and the real nodes' taint tolerated: the pods land on the real nodes.
            "server": {
                "image": images.TRITON,
                "gpu": {"count": 1, "products": [nodes.L4]},
                "tolerations": [dict(nodes.REAL_NODE_TOLERATION)],
                "startupTimeoutSeconds": 120,
                "env": [{"name": MODEL_PYTHONPATH_VARIABLE, "value": TORCH_MOUNT}],
                "volumes": [{"name": "torch", "hostPath": {"path": str(site_packages), "type": "Directory"}}],
                "volumeMounts": [{"name": "torch", "mountPath": TORCH_MOUNT, "readOnly": True}],
            },
            "replicas": REPLICAS,
            "rollout": ROLLOUT,
        },
    }


# -- the outcome ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    rolled_back: Mapping[str, Any] | None = None  # status after version 2 settled
    promoted: Mapping[str, Any] | None = None  # status after version 3 settled
    gated: Mapping[str, Any] | None = None  # status after version 4 settled
    load: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # version: (successes, failures)
    seconds: float = 0.0
    stages: dict[str, float] = dataclasses.field(default_factory=dict)  # stage: seconds since the start

    @property
    def version_2_rolled_back(self) -> bool:
        status = self.rolled_back or {}
        return (
            status.get("phase") == "RolledBack"
            and (status.get("failedRevision") or {}).get("version") == "2"
            and (status.get("stableRevision") or {}).get("version") == "1"
        )

    @property
    def version_3_promoted(self) -> bool:
        status = self.promoted or {}
        history = status.get("history") or []
        return (
            status.get("phase") == "Ready"
            and (status.get("stableRevision") or {}).get("version") == "3"
            and bool(history) and history[-1].get("outcome") == "Promoted" and history[-1].get("version") == "3"
        )

    @property
    def version_4_stopped_by_the_golden_gate(self) -> bool:
        status = self.gated or {}
        failed = status.get("failedRevision") or {}
        return (
            status.get("phase") == "RolledBack"
            and failed.get("version") == "4" and failed.get("reason") == "GoldenGateFailed"
            and (status.get("stableRevision") or {}).get("version") == "3"
        )

    @property
    def succeeded(self) -> bool:
        return self.version_2_rolled_back and self.version_3_promoted and self.version_4_stopped_by_the_golden_gate

    def as_json(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "version2RolledBack": self.version_2_rolled_back,
            "version3Promoted": self.version_3_promoted,
            "version4StoppedByTheGoldenGate": self.version_4_stopped_by_the_golden_gate,
            "rolledBack": dict(self.rolled_back or {}),
            "promoted": dict(self.promoted or {}),
            "gated": dict(self.gated or {}),
            "load": {version: {"success": ok, "failure": failed} for version, (ok, failed) in self.load.items()},
            "seconds": round(self.seconds, 1),
            "stages": {stage: round(seconds, 1) for stage, seconds in self.stages.items()},
        }


# -- the demo ------------------------------------------------------------------------------------------------


class Demo:
    def __init__(self, *, work_dir: pathlib.Path, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, say: Callable[[str], None] | None = None) -> None:
        self.work_dir = work_dir
        self.repository = work_dir / "repository"
        self.staging = work_dir / "staging"
        self.timeout_seconds = timeout_seconds
        self.started = time.monotonic()
        self.deadline = self.started + timeout_seconds
        self.say = say or (lambda message: print(message, flush=True))
        self.outcome = Outcome()
        self.versions: dict[str, str] = {}
        self.operator_pod: tuple[str, str] | None = None  # (namespace, name) once installed
        self.kube: Any = None
        self.load: Any = None
        # The last rollout line and analysis printed: a line is printed only when they change.
        self.shown: display.RolloutView | None = None
        self.analysis_shown: tuple[str, str] | None = None

    # -- printing ------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stamp(self, message: str) -> None:
        lines = message.splitlines() or [""]
        self.say(f"{self.elapsed():6.1f}s  {lines[0]}")
        for line in lines[1:]:
            self.say(f"         {line}")

    def heading(self, message: str) -> None:
        self.say("")
        self.say(f"== {message}")

    def mark(self, stage: str) -> None:
        self.outcome.stages[stage] = self.elapsed()

    # -- the run -------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        """Every stage, then the teardown (also on errors and Ctrl-C, which is ignored while it runs)."""
        self.say("tritonops demo: a canary release on one machine, judged on real Triton metrics")
        self.say(f"work directory {self.work_dir}")
        guard = InterruptGuard()
        with contextlib.ExitStack() as stack:
            stack.callback(self._torn_down)
            stack.callback(guard.restore)
            try:
                self._stages(stack)
            finally:
                guard.ignore()
                self.heading("tearing down")
        self.outcome.seconds = self.elapsed()
        return self.outcome

    def _stages(self, stack: contextlib.ExitStack) -> None:
        from kubernetes import client, config

        from tritonops.devcluster import dev
        from tritonops.devcluster.cluster import LocalCluster
        from tritonops.devcluster.load import LoadGenerator
        from tritonops.devcluster.operator_release import HelmOperator

        self.repository.mkdir(parents=True, exist_ok=True)
        # The Triton pods run as uid 1000 and read the repository through a hostPath volume.
        self.repository.chmod(0o755)
        packaging = PackagingJob(package_steps(self.repository, self.staging), self.work_dir).start()
        stack.callback(packaging.cancel)

        self.heading("1/7 the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok, metrics-server) and real nodes")
        cluster = LocalCluster(directory=self.work_dir / "cluster", progress=lambda message: self.stamp(f"cluster: {message}"))
        stack.callback(self._stopping("the control plane", cluster.stop))
        cluster.start()
        dev.install_crds(cluster.kubeconfig)
        self.stamp("ModelDeployment CRD installed")
        self.mark("controlPlane")

        self.kube = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        stack.callback(self.kube.close)
        self._create_namespace()
        self.heading("2/7 the operator: `helm install` of charts/tritonops, from the image the Containerfile builds")
        release = HelmOperator(cluster=cluster, home=self.work_dir / "helm", watch_namespaces=[NAMESPACE])
        stack.callback(self._stopping("the operator (helm uninstall)", release.uninstall))
        installed = release.install()
        self.stamp(f"operator pod {installed.namespace}/{installed.pod_name} Ready on a real node (resync 60 s, leader election on)")
        self.operator_pod = (installed.namespace, installed.pod_name)
        self.mark("operatorInstalled")

        self.heading("3/7 packaging the model with `tritonops package --format python`")
        self._report_packaging(packaging)
        self.mark("packaged")

        self.heading(f"4/7 version 1 on {REPLICAS} Triton pods, with load at {LOAD_RATE:g} requests/s through the Service's Ready pods")
        remaining = max(self.deadline - time.monotonic(), 1.0)
        self.load = LoadGenerator(
            self.kube, NAMESPACE, NAME, model=NAME, service=NAME, request=classifier_request(), rate=LOAD_RATE,
            max_seconds=remaining, max_requests=int(LOAD_RATE * remaining) + 1, timeout_seconds=2.0, workers=16,
        )
        body = model_deployment(self.repository, site_packages=torch_site_packages())
        self.say(f"ModelDeployment {NAMESPACE}/{NAME}: replicas {REPLICAS}, rollout {json.dumps(ROLLOUT)}")
        client.CustomObjectsApi(self.kube).create_namespaced_custom_object(constants.GROUP, constants.VERSION, NAMESPACE, constants.PLURAL, body)
        self.load.start()
        stack.callback(self.load.stop)
        first = self.follow(what="version 1 to be Ready", timeout=DEPLOY_TIMEOUT_SECONDS)
        if status_report.phase(first) != "Ready":
            raise DemoError(f"version 1 ended in phase {status_report.phase(first)}: {(first.get('status') or {}).get('message')}")
        self.mark("version1Ready")

        self.heading("5/7 rolling out version 2 (broken: every request fails in torch); the operator should roll it back")
        self.outcome.rolled_back = self.roll_out("2")
        failed = self.outcome.rolled_back.get("failedRevision") or {}
        self.stamp(f"version 2 rolled back automatically ({failed.get('reason')}); version 1 kept serving" if self.outcome.version_2_rolled_back
                   else f"version 2 was NOT rolled back: phase {self.outcome.rolled_back.get('phase')}")
        self.mark("version2Settled")

        self.heading("6/7 rolling out version 3 (good); it should go through every step and be promoted")
        self.outcome.promoted = self.roll_out("3")
        self.stamp("version 3 promoted" if self.outcome.version_3_promoted else f"version 3 was NOT promoted: phase {self.outcome.promoted.get('phase')}")
        self.mark("version3Settled")

        self.heading("7/7 rolling out version 4 (wrong answers, fast and error-free) behind the golden gate; it should never take traffic")
        self._golden_config_map()
        self.outcome.gated = self.roll_out("4", analysis={"golden": GOLDEN})
        failed = self.outcome.gated.get("failedRevision") or {}
        self.stamp(f"version 4 stopped by the golden gate: {failed.get('message')}" if self.outcome.version_4_stopped_by_the_golden_gate
                   else f"version 4 was NOT stopped by the golden gate: phase {self.outcome.gated.get('phase')}")
        self.mark("version4Settled")

        # Let the load run a moment longer (to the stable version 3 only), then stop it before reporting.
        time.sleep(2)
        self.load.stop()
        self.outcome.load = self._load_by_version()
        self.heading(f"final status: tritonops status {NAME} -n {NAMESPACE} --kubeconfig {cluster.kubeconfig}")
        from tritonops.cli import main as tritonops

        tritonops(["status", NAME, "-n", NAMESPACE, f"--kubeconfig={cluster.kubeconfig}"])
        self.say(display.load_line(self.outcome.load))
        if self.load.errors:
            self.say(f"first failed request: {self.load.errors[0].splitlines()[0]}")

    # -- stages --------------------------------------------------------------------------------------

    def _report_packaging(self, packaging: PackagingJob) -> None:
        results = packaging.wait(max(self.deadline - time.monotonic(), 1.0))
        for step, returncode, output in results:
            self.say(f"$ {step.shown()}")
            self.say(f"  ({step.note})")
            for line in output.strip().splitlines():
                self.say(f"  {line}")
            if returncode != 0:
                raise DemoError(f"`{step.shown()}` failed with exit status {returncode}")
        if len(results) != len(packaging.steps):
            raise DemoError("packaging stopped before every version was written")
        staged = self.staging / NAME / "2"
        shutil.copytree(staged, self.repository / NAME / "2")
        self.say(f"copied {staged} to {self.repository / NAME / '2'} (its config.pbtxt, for 5 features, stays behind)")
        staged = self.staging / NAME / "4"
        shutil.copytree(staged, self.repository / NAME / "4")
        self.say(f"copied {staged} to {self.repository / NAME / '4'} (its own golden-4.json, the mis-quantized answers, stays behind)")
        shown = sorted(str(path.relative_to(self.repository)) for path in self.repository.rglob("*") if path.is_file())
        self.say(f"model repository {self.repository}: {', '.join(shown)}")

    def _create_namespace(self) -> None:
        from kubernetes import client

        from tritonops.devcluster.processes import wait_until

        core = client.CoreV1Api(self.kube)
        # The client serialises plain dicts as they are; its stubs only know its model classes.
        core.create_namespace(body={"metadata": {"name": NAMESPACE}})  # type: ignore[arg-type]
        # Pods are refused until the service-account controller has made the namespace's default account.
        wait_until(
            lambda: core.read_namespaced_service_account("default", NAMESPACE) is not None,
            description=f"the default ServiceAccount in {NAMESPACE}", timeout_seconds=30,
        )

    def read(self) -> dict[str, Any]:
        from kubernetes import client

        body: Any = client.CustomObjectsApi(self.kube).get_namespaced_custom_object(constants.GROUP, constants.VERSION, NAMESPACE, constants.PLURAL, NAME)
        return dict(body)

    def roll_out(self, version: str, *, analysis: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Patch the version in and follow the rollout until it settles; its final status."""
        self.patch_version(version, analysis=analysis)
        return dict(self.follow(what=f"the rollout of version {version} to settle", timeout=ROLLOUT_TIMEOUT_SECONDS).get("status") or {})

    def patch_version(self, version: str, *, analysis: Mapping[str, Any] | None = None) -> None:
        from kubernetes import client

        spec: dict[str, Any] = {"model": {"version": version}}
        if analysis is not None:
            spec["rollout"] = {"analysis": dict(analysis)}
        patch = {"spec": spec}
        what = "spec.model.version" + (" and spec.rollout.analysis" if analysis is not None else "")
        self.stamp(f"patch {what}  (kubectl patch md {NAME} -n {NAMESPACE} --type merge -p '{json.dumps(patch, separators=(',', ':'))}')")
        client.CustomObjectsApi(self.kube).patch_namespaced_custom_object(constants.GROUP, constants.VERSION, NAMESPACE, constants.PLURAL, NAME, patch)

    def _golden_config_map(self) -> None:
        """The golden set of version 3 (the answers of its PyTorch model) as the ConfigMap the gate reads."""
        from kubernetes import client

        from tritonops.packaging import golden_file

        path = golden_file.path(self.repository / NAME, GOLDEN_VERSION)
        self.stamp(f"kubectl create configmap {GOLDEN_CONFIG_MAP} -n {NAMESPACE} --from-file=golden.json={path}")
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=GOLDEN_CONFIG_MAP), data={"golden.json": path.read_text()})
        client.CoreV1Api(self.kube).create_namespaced_config_map(NAMESPACE, body)

    def follow(self, *, what: str, timeout: float) -> dict[str, Any]:
        """Print each change of the rollout (and each analysis) until its phase is settled for the latest spec."""
        deadline = min(time.monotonic() + timeout, self.deadline)
        load_shown = 0.0
        while True:
            self._check_operator()
            body = self.read()
            self.versions.update(display.revisions(body))
            current = display.view(body)
            if current != self.shown:
                self.stamp(display.view_line(current, self.shown))
                self.shown = current
            key = display.analysis_key(body)
            if key is not None and key != self.analysis_shown:
                self.analysis_shown = key
                self.stamp(f"{'':<{display.PHASE_WIDTH}}  {display.analysis_line(body)}")
            if time.monotonic() - load_shown >= 10:
                load_shown = time.monotonic()
                self.stamp(f"{'':<{display.PHASE_WIDTH}}  {display.load_line(self._load_by_version())}")
            if status_report.is_settled(body):
                return body
            if time.monotonic() > deadline:
                raise DemoError(f"timed out waiting for {what}: phase {current.phase}, {current.message}")
            time.sleep(POLL_SECONDS)

    def _check_operator(self) -> None:
        """The demo is about the operator: stop at once if its pod restarted or stopped running."""
        from kubernetes import client

        if self.operator_pod is None:
            return
        namespace, name = self.operator_pod
        pod = client.CoreV1Api(self.kube).read_namespaced_pod(name, namespace)
        for container in (pod.status.container_statuses if pod.status else None) or []:
            if container.restart_count or container.state is None or container.state.running is None:
                last = container.last_state.terminated if container.last_state else None
                said = f": exit code {last.exit_code}, {last.reason}, {(last.message or '').strip()[-500:]}" if last else ""
                raise DemoError(f"the operator pod {namespace}/{name} restarted {container.restart_count} time(s){said}")

    def _load_by_version(self) -> dict[str, tuple[int, int]]:
        if self.load is None:
            return {}
        counts: dict[str, tuple[int, int]] = {}
        for revision, count in self.load.snapshot().items():
            version = self.versions.get(revision, revision)
            ok, failed = counts.get(version, (0, 0))
            counts[version] = (ok + count.success, failed + count.failure)
        return counts

    # -- teardown ------------------------------------------------------------------------------------

    def _torn_down(self) -> None:
        # Runs last (the first callback registered): everything is stopped by now.
        self.stamp("torn down: every process the demo started is stopped")

    def _stopping(self, what: str, stop: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            self.stamp(f"stopping {what}")
            stop()

        return run


# -- the command ---------------------------------------------------------------------------------------------


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class InterruptGuard:
    """A second Ctrl-C while tearing down would leave processes behind: ignore it until the teardown is done."""

    def __init__(self) -> None:
        self.previous: Any = None

    def ignore(self) -> None:
        if threading.current_thread() is threading.main_thread() and self.previous is None:
            self.previous = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tritonops.demo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS", help="give up after this long (default 600)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, model repository) afterwards")
    parser.add_argument("--result", type=pathlib.Path, metavar="FILE", help="write the outcome as JSON here")
    parser.add_argument(
        "--work-dir", type=pathlib.Path, metavar="DIR",
        help="an empty or new work directory, kept afterwards (default: a new temporary one, removed after a success)",
    )
    arguments = parser.parse_args(argv)
    if arguments.work_dir is not None and arguments.work_dir.exists() and any(arguments.work_dir.iterdir()):
        parser.error(f"--work-dir {arguments.work_dir} is not empty")
    # Ctrl-C and SIGTERM both end the demo through its teardown, even when started with SIGINT ignored
    # (as a shell does for a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    work_dir = arguments.work_dir or pathlib.Path(tempfile.mkdtemp(prefix="tritonops-demo-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(work_dir=work_dir, timeout_seconds=arguments.timeout)
    keep = arguments.keep or arguments.work_dir is not None
    status = 1
    try:
        outcome = demo.run()
        status = 0 if outcome.succeeded else 1
        demo.say("")
        demo.say(
            f"demo {'succeeded' if outcome.succeeded else 'FAILED'} in {outcome.seconds:.0f}s: version 2 "
            f"{'rolled back' if outcome.version_2_rolled_back else 'NOT rolled back'}, version 3 "
            f"{'promoted' if outcome.version_3_promoted else 'NOT promoted'}, version 4 "
            f"{'stopped by the golden gate' if outcome.version_4_stopped_by_the_golden_gate else 'NOT stopped by the golden gate'}"
        )
    except KeyboardInterrupt:
        demo.say("interrupted: everything it started was stopped")
        status = INTERRUPTED
    except Exception as error:
        demo.say(f"demo FAILED: {error}")
        keep = True
    finally:
        if arguments.result is not None:
            arguments.result.write_text(json.dumps({**demo.outcome.as_json(), "exitStatus": status}, indent=2) + "\n")
        if keep or status != 0:
            demo.say(f"logs and files kept in {work_dir} (cluster/logs/, cluster/nodes/, repository/)")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return status

"""`make bench-versus`: tritonops and Flagger side by side on the same fault, cluster and Triton pods.

Both tools run on the same local cluster (real kubelets running the Triton image), at the same time, each
in its own namespace per run: tritonops (its operator at the production resync, 60 s) with a
ModelDeployment, Flagger v1.44.0 (built from its Go module by `make bench-versus`, outside the sandbox)
with a Canary whose target is the Deployment that tritonops' own builder makes for the same spec, so both
run identical Triton pods. Each run deploys version 1 of the test model, sends load, rolls out version 2
and makes it fail.

The two tools' canaries, kept alike:
- tritonops: 2 replicas, one step at 50 %: one stable and one canary pod, 40 requests/s through the
  `replicas` router, so the canary gets 20/s. It judges with its `triton` provider (each pod's /metrics).
- Flagger (`-mesh-provider=kubernetes`: blue/green): the target has 1 replica, so one primary and one
  canary pod. Its canary gets no production traffic, so the same bounded load generator sends 20/s to
  the canary's pods and 20/s to the primary's. It judges with two MetricTemplates on Triton's own counters
  (success rate from nv_inference_request_success/_failure, mean latency from
  nv_inference_request_duration_us / successes), scoped to the canary's pods, through the real
  Prometheus of this benchmark (127.0.0.1, scraping every Ready Triton pod each second).
- Both: success rate at least 99 %, mean latency at most 80 ms, progress deadline 60 s.

Faults (tests/harness/models.py):
- errors (5 % of requests fail) and latency (+120 ms): switched on once the canary has passed an analysis
  (tritonops: status.lastAnalysis Passed; Flagger: status.iterations 2, as its first iteration runs no
  check, with no failed check yet); the clock starts at the switch;
- crash: the canary's tritonserver is killed at its next request, and again after each restart, once the
  canary has passed an analysis; the clock starts when the pod's status shows the dead container;
- load failure: version 2 fails to load; the clock starts when the pod's status shows the dead container;
- never Ready: version 2's load never returns; the clock starts when the first canary pod exists;
- wrong answer: version 2 loads and answers fast and error-free, but its OUTPUT is 2.5 x INPUT instead of
  2 x. tritonops gates it with the golden set of bench-rollback (spec.rollout.analysis.golden), and its load
  goes through its Service's selector, so the run also checks that no request reached the wrong version;
  the clock starts when every canary pod is Ready (the first moment a probe can see the answer). Flagger
  has no check that can see a wrong answer: its checks pass and it promotes version 2. Its run records that
  outcome, "promoted", with the seconds from every canary pod Ready to its Canary's phase Succeeded, and
  no rollback time.
The canary's pods are version 2's pods (tritonops: its canary revision's; Flagger: its target Deployment's
pods of the new template). The clock stops when every canary pod is being deleted (a deletionTimestamp,
or no pod left): then no canary pod is Ready, so none is behind tritonops' Service and none gets
Flagger's (benchmark-sent) traffic, and all traffic is on the stable revision. Both tools get there the same way, by scaling the
canary's Deployment to zero (tritonops then deletes it; Flagger sets its Canary's phase to Failed after
the scale). Afterwards the run checks that tritonops' phase is RolledBack, and that Flagger's Canary is
Failed with its canary Deployment at 0 replicas. Each tool's runs carry their outcome (rolled back, or
promoted: the wrong answer for Flagger); a ratio is given only where both tools rolled back.

Settings: `common` (both at a 10 s interval x 2 failures) and `fastest` (each tool's fastest documented
setting: tritonops 5 s x 2; Flagger's floor is 10 s and its threshold is tritonops' failureLimit, so its
fastest setting is the common one and its runs are shared, not repeated). The fastest setting runs the
faults the interval matters for (errors, latency). Per setting, fault and tool: median and maximum over
`--runs`, and the ratio Flagger / tritonops, in bench/results/versus.{json,png}.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import pathlib
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kubernetes import client

from bench import flagger, golden, report
from bench.fault_clock import all_ready, poll, shows_dead_container
from bench.real_cluster import RealCluster, real_cluster
from bench.versus_results import PROMOTED, ROLLED_BACK, Results, Run, bars, figures, kept_results, outcome_lines, table
from bench.versus_settings import (
    CANARY_RATE, GOLDEN_GATED, GONE_TIMEOUT_SECONDS, KINDS, NAME, RATE, SETTINGS, SWITCHED, TOOLS, Setting, flagger_analysis,
    flagger_target, tritonops_body,
)
from tests.harness.kubectl import kubectl
from tests.harness.load import LoadGenerator
from tests.harness.models import Faults, set_version_faults, write_model
from tests.harness.pod_discovery import PodDiscovery
from tests.harness.real_node import host_directory
from tests.harness.resources import create, patch_spec, read, wait_phase
from tritonops import constants
from tritonops.devcluster import versions
from tritonops.devcluster.processes import wait_until
from tritonops.devcluster.prometheus import PrometheusServer, ScrapeJob

# -- the cluster parts ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Bench:
    cluster: RealCluster
    prometheus: PrometheusServer
    flagger: flagger.FlaggerProcess
    targets: pathlib.Path  # Prometheus' file_sd file of Triton pods, rewritten by each Flagger run


def fault_onset(kind: str, *, canary_pods: Callable[[], list[Any]], passed_analysis: Callable[[], bool], model_directory: pathlib.Path) -> float:
    """The wall-clock time the fault began, the same for both tools (switching it on, for the faults switched mid-canary)."""
    if kind in SWITCHED:
        poll(passed_analysis, timeout=150, description="a passed analysis of the healthy canary")
        set_version_faults(model_directory, 2, KINDS[kind])
        onset = time.time()
        if kind == "crash":
            onset = poll(lambda: any(shows_dead_container(pod) for pod in canary_pods()), timeout=60,
                          description="the canary pod's status to show the crash")
    elif kind == "load-failure":
        onset = poll(lambda: any(shows_dead_container(pod) for pod in canary_pods()), timeout=150,
                      description="the canary pod's status to show the load failure")
    elif kind == "wrong-answer":
        onset = poll(lambda: all_ready(canary_pods()), timeout=150, description="every canary pod Ready (answering wrong)")
    else:
        onset = poll(lambda: bool(canary_pods()), timeout=150, description="a canary pod that will never be Ready")
    return onset


def time_fault(kind: str, *, canary_pods: Callable[[], list[Any]], passed_analysis: Callable[[], bool], model_directory: pathlib.Path) -> float:
    """Seconds from the fault's onset to every canary pod being deleted, the same for both tools."""
    onset = fault_onset(kind, canary_pods=canary_pods, passed_analysis=passed_analysis, model_directory=model_directory)
    gone = poll(lambda: all(pod.metadata.deletion_timestamp for pod in canary_pods()), timeout=GONE_TIMEOUT_SECONDS,
                 description="every canary pod to be deleted")
    return gone - onset


@contextlib.contextmanager
def _namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A namespace for one run, deleted afterwards and waited for: its Triton pods would take CPU from the next run."""
    name = f"versus-{uuid.uuid4().hex[:6]}"
    core.create_namespace(body={"metadata": {"name": name}})  # type: ignore[arg-type]
    wait_until(lambda: core.read_namespaced_service_account("default", name) is not None, description="default SA", timeout_seconds=30)
    try:
        yield name
    finally:
        core.delete_namespace(name=name)
        wait_until(lambda: not core.list_namespaced_pod(name).items, description=f"the pods of {name} to be gone", timeout_seconds=120)


def tritonops_run(bench: Bench, setting: Setting, kind: str, *, repository: pathlib.Path) -> Run:
    api = bench.cluster.api
    core = client.CoreV1Api(api)
    with _namespace(core) as namespace:
        model_directory = write_model(repository, name=NAME, version=1, version_faults=Faults())
        write_model(repository, name=NAME, version=2, version_faults=Faults() if kind in SWITCHED else KINDS[kind])
        gated = kind in GOLDEN_GATED
        if gated:
            golden.create_config_map(core, namespace=namespace)
        create(api, namespace, tritonops_body(setting, repository=repository, kind=kind))
        wait_phase(api, namespace, NAME, "Ready", timeout=120)
        # Through the Service's selector where the golden gate holds the canary out of it, so that the run
        # shows no request reached the wrong version; otherwise to every Ready pod, as the router splits it.
        with LoadGenerator(api, namespace, NAME, rate=RATE, max_seconds=GONE_TIMEOUT_SECONDS + 180, max_requests=100_000,
                           service=NAME if gated else None) as load:
            patch_spec(api, namespace, NAME, {"model": {"version": "2"}})
            canary = wait_phase(api, namespace, NAME, "Canary", timeout=60)["status"]["canaryRevision"]["hash"]
            selector = f"{constants.LABEL_MODEL_DEPLOYMENT}={NAME},{constants.LABEL_REVISION}={canary}"
            seconds = time_fault(
                kind,
                canary_pods=lambda: list(core.list_namespaced_pod(namespace, label_selector=selector).items),
                passed_analysis=lambda: (read(api, namespace, NAME)["status"].get("lastAnalysis") or {}).get("result") == "Passed",
                model_directory=model_directory,
            )
            reached = load.pod_snapshot()
        # The operator writes its status after the canary's scale-down, whose pod deletions can show first.
        try:
            poll(lambda: read(api, namespace, NAME)["status"].get("phase") == "RolledBack", timeout=30, description="phase RolledBack")
        except TimeoutError:
            final = read(api, namespace, NAME)["status"]
            raise RuntimeError(f"tritonops {kind}: expected RolledBack, got {final.get('phase')}: {final.get('message')}") from None
        final = read(api, namespace, NAME)["status"]
        canary_requests = {pod: counts.total for pod, counts in reached.items() if canary in pod}
        if gated and sum(canary_requests.values()):
            raise RuntimeError(f"tritonops {kind}: requests reached the wrong version before its rollback: {canary_requests}")
        print(f"  tritonops {setting.name} {kind}: {seconds:.2f}s ({final['failedRevision']['reason']}; canary pods' requests {canary_requests})", flush=True)
        return Run(seconds=seconds, outcome=ROLLED_BACK)


def _canary_status(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    found: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(flagger.GROUP, flagger.VERSION, namespace, flagger.CANARIES, NAME)
    return dict(found.get("status") or {})


def _replace_template(api: client.ApiClient, namespace: str, template: Mapping[str, Any]) -> None:
    """A new pod template, as `kubectl apply` of the next release would write it; Flagger scales the same object."""
    apps = client.AppsV1Api(api)
    for _ in range(10):
        body = api.sanitize_for_serialization(apps.read_namespaced_deployment(NAME, namespace))  # type: ignore[no-untyped-call]
        body["spec"]["template"] = dict(template)
        try:
            apps.replace_namespaced_deployment(NAME, namespace, body)
            return
        except client.ApiException as error:
            if error.status != 409:  # a conflict: Flagger changed replicas meanwhile; read again
                raise
    raise RuntimeError("the target Deployment kept changing under the template update")


def flagger_run(bench: Bench, setting: Setting, kind: str, *, repository: pathlib.Path) -> Run:
    api = bench.cluster.api
    core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
    with _namespace(core) as namespace:
        model_directory = write_model(repository, name=NAME, version=1, version_faults=Faults())
        write_model(repository, name=NAME, version=2, version_faults=Faults() if kind in SWITCHED else KINDS[kind])
        for template in flagger.metric_templates(namespace=namespace, prometheus_url=bench.prometheus.url):
            custom.create_namespaced_custom_object(flagger.GROUP, flagger.VERSION, namespace, flagger.METRIC_TEMPLATES, template)
        apps.create_namespaced_deployment(namespace, flagger_target(setting, repository=repository, namespace=namespace, version="1"))  # type: ignore[arg-type]
        custom.create_namespaced_custom_object(flagger.GROUP, flagger.VERSION, namespace, flagger.CANARIES,
                                               flagger.canary(name=NAME, namespace=namespace, analysis=flagger_analysis(setting)))
        poll(lambda: _canary_status(api, namespace).get("phase") == "Initialized", timeout=180, description="Flagger's Canary Initialized")
        canary_selector = f"{flagger.SELECTOR_LABEL}={NAME}"
        version_2 = flagger_target(setting, repository=repository, namespace=namespace, version="2")
        limit = GONE_TIMEOUT_SECONDS + 180
        with (PodDiscovery(api, namespace, NAME, path=bench.targets, max_seconds=limit),
              LoadGenerator(api, namespace, selector=f"{flagger.SELECTOR_LABEL}={NAME}-primary", rate=RATE - CANARY_RATE, max_seconds=limit, max_requests=100_000),
              LoadGenerator(api, namespace, selector=canary_selector, rate=CANARY_RATE, max_seconds=limit, max_requests=100_000) as canary_load):
            _replace_template(api, namespace, version_2["spec"]["template"])
            poll(lambda: _canary_status(api, namespace).get("phase") == "Progressing", timeout=60, description="Flagger's Canary Progressing")

            def passed_analysis() -> bool:
                status = _canary_status(api, namespace)
                if int(status.get("iterations") or 0) < 2:
                    return False
                if status.get("failedChecks"):
                    # A check failed before the fault: the threshold would be reached early, flattering Flagger.
                    raise RuntimeError(f"Flagger {kind}: {status['failedChecks']} failed checks before the fault: {status}")
                return True

            # Version 2's pods only: the target's version 1 pods, scaled to zero when Flagger initialized, may still be terminating.
            revision = version_2["spec"]["template"]["metadata"]["labels"][constants.LABEL_REVISION]
            canary_revision = f"{canary_selector},{constants.LABEL_REVISION}={revision}"

            def canary_pods() -> list[Any]:
                return list(core.list_namespaced_pod(namespace, label_selector=canary_revision).items)

            if kind in GOLDEN_GATED:
                # Nothing Flagger checks can see the wrong answer: it promotes, and that is what is timed.
                onset = fault_onset(kind, canary_pods=canary_pods, passed_analysis=passed_analysis, model_directory=model_directory)
                promoted = poll(lambda: _canary_status(api, namespace).get("phase") in ("Succeeded", "Failed"), timeout=GONE_TIMEOUT_SECONDS,
                                description="Flagger's Canary Succeeded (promoted) or Failed")
                reached = canary_load.pod_snapshot()
            else:
                seconds = time_fault(kind, canary_pods=canary_pods, passed_analysis=passed_analysis, model_directory=model_directory)
                reached = canary_load.pod_snapshot()
        if kind in GOLDEN_GATED:
            status = _canary_status(api, namespace)
            if status.get("phase") != "Succeeded":
                raise RuntimeError(f"Flagger {kind}: expected a promotion (Succeeded), got {status}")
            primary: Any = apps.read_namespaced_deployment(f"{NAME}-primary", namespace)
            mounts = {mount.mount_path for mount in primary.spec.template.spec.containers[0].volume_mounts or []}
            if f"/models/{NAME}/2" not in mounts:
                raise RuntimeError(f"Flagger {kind}: Succeeded, but its primary does not mount version 2: {sorted(mounts)}")
            seconds = promoted - onset
            print(f"  flagger {setting.name} {kind}: promoted the wrong version {seconds:.2f}s after its canary pods were Ready "
                  f"(failed checks {status.get('failedChecks') or 0}; canary pods' requests { {pod: counts.total for pod, counts in reached.items()} })", flush=True)
            return Run(seconds=seconds, outcome=PROMOTED)

        def failed() -> bool:
            replicas = apps.read_namespaced_deployment(NAME, namespace).spec.replicas
            return _canary_status(api, namespace).get("phase") == "Failed" and replicas == 0

        poll(failed, timeout=30, description="Flagger's Canary Failed with its canary Deployment at 0 replicas")
        message = next((c.get("message") for c in _canary_status(api, namespace).get("conditions") or [] if c.get("type") == "Promoted"), "")
        print(f"  flagger {setting.name} {kind}: {seconds:.2f}s ({message}; canary pods' requests "
              f"{ {pod: counts.total for pod, counts in reached.items()} })", flush=True)
        return Run(seconds=seconds, outcome=ROLLED_BACK)


@contextlib.contextmanager
def versus_bench() -> Iterator[Bench]:
    # Built and its module downloaded by `make bench-versus` before the sandbox: in here both are only found.
    binary, crds = flagger.binary(), flagger.crds()
    with real_cluster(name="versus") as cluster:
        kubectl(cluster.kubeconfig, "apply", "--server-side", "-f", str(crds))
        kubectl(cluster.kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
                "crd/canaries.flagger.app", "crd/metrictemplates.flagger.app")
        targets = cluster.root / "triton-pods.json"
        targets.write_text("[]")
        prometheus = PrometheusServer(directory=cluster.root / "prometheus")
        prometheus.start(jobs=[ScrapeJob(name="triton", targets=[], target_files=[targets])], interval_seconds=1)
        process = flagger.FlaggerProcess(binary=binary, kubeconfig=cluster.kubeconfig, metrics_server=prometheus.url, log=cluster.root / "flagger.log")
        try:
            process.start()
            yield Bench(cluster=cluster, prometheus=prometheus, flagger=process, targets=targets)
        except BaseException:
            operator_log = cluster.root / "operator.log"
            print(f"Flagger's log ends with:\n{process.log_tail()}\n\ntritonops' log ends with:\n"
                  f"{operator_log.read_text(errors='replace')[-3000:] if operator_log.exists() else ''}", file=sys.stderr, flush=True)
            raise
        finally:
            process.stop()
            prometheus.stop()


RUNNERS: dict[str, Callable[..., Run]] = {"tritonops": tritonops_run, "flagger": flagger_run}


def _save(results: Results, failures: Mapping[str, Sequence[str]], *, runs: int) -> tuple[pathlib.Path, pathlib.Path]:
    found = {**figures(results, runs=runs), "failed_runs": dict(failures)}
    return report.save_bars(
        "versus", figures=found, panels=bars(found), y_label="seconds from fault to 100% traffic on stable\n(hatched, no time: not rolled back)",
        title=f"tritonops vs Flagger {versions.FLAGGER_VERSION}: median (bar) and max (whisker) of {runs} run(s) per fault",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per fault, tool and setting")
    parser.add_argument("--faults", nargs="*", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--tools", nargs="*", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--keep", action="store_true",
                        help="start from the runs in bench/results/versus.json and replace only those measured now (a rerun of one fault)")
    arguments = parser.parse_args()
    saved = report.RESULTS / "versus.json"
    results = kept_results(json.loads(saved.read_text())) if arguments.keep and saved.exists() else {}
    # A run that fails is reported and left out, so that one stuck run does not cost the whole series.
    failures: dict[str, list[str]] = {}
    measured: dict[tuple[str, str, tuple[int, int]], list[Run]] = {}
    with versus_bench() as bench:
        for name in arguments.settings:
            setting = SETTINGS[name]
            for kind in (kind for kind in setting.kinds if kind in arguments.faults):
                print(f"{name} {kind}: {arguments.runs} runs per tool", flush=True)
                for tool in arguments.tools:
                    key = (tool, kind, setting.parameters(tool))
                    if key in measured:
                        print(f"  {tool} {name} {kind}: the same settings as measured already, shared", flush=True)
                    else:
                        measured[key] = []
                        for _ in range(arguments.runs):
                            repository = host_directory(bench.cluster.root, prefix=f"repository-{tool}-{kind}-")
                            try:
                                measured[key].append(RUNNERS[tool](bench, setting, kind, repository=repository))
                            except Exception as error:
                                detail = f"; Flagger's log ends with:\n{bench.flagger.log_tail(2000)}" if tool == "flagger" else ""
                                print(f"  {tool} {name} {kind}: FAILED: {error}{detail}", flush=True)
                                failures.setdefault(f"{name}/{kind}/{tool}", []).append(str(error)[:500])
                    if measured[key]:
                        results.setdefault(name, {}).setdefault(kind, {})[tool] = measured[key]
                # Saved as it goes: an interrupted series keeps what it measured.
                _save(results, failures, runs=arguments.runs)
    found = figures(results, runs=arguments.runs)
    for line in [*table(found), *outcome_lines(found)]:
        print(line)
    json_path, png_path = _save(results, failures, runs=arguments.runs)
    print(f"saved {json_path} and {png_path}")


if __name__ == "__main__":
    main()
"""Flagger as `make bench-versus` runs it: its pinned binary as a local process against the local cluster,
and the objects it is given (the target Deployment, the Canary, the MetricTemplates).

With `-mesh-provider=kubernetes` Flagger needs no mesh and does blue/green: it copies the target
Deployment into `<name>-primary`, points the apex Service at it, scales the target (the canary) to zero,
and on a new template scales the canary up, analyses it every `interval`, and either promotes it or, after
`threshold` failed checks (or once its pods are not available for progressDeadlineSeconds), scales it back
to zero with the Canary's phase Failed. The canary gets no production traffic: the benchmark sends it load.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
import urllib.request
from collections.abc import Mapping
from typing import Any

from tritonops import constants
from tritonops.devcluster import gobuild, network, versions
from tritonops.devcluster.processes import ManagedProcess, start_process, stop_process_group, wait_until

# versions.FLAGGER is pinned with the control plane's components but is not one of them (ALL_COMPONENTS):
# `make deps`, and so the cold CI run, never builds it; `make bench-versus` does, through build() below.
COMPONENT = versions.FLAGGER
GROUP, VERSION = "flagger.app", "v1beta1"
CANARIES, METRIC_TEMPLATES = "canaries", "metrictemplates"
# The selector label Flagger reads (the first of its -selector-labels default `app,name,app.kubernetes.io/name`
# that the target's selector holds); the primary's pods get `<value>-primary`.
SELECTOR_LABEL = "app"
SUCCESS_RATE, LATENCY = "triton-success-rate", "triton-latency"
# tritonops' labels that make its operator treat an object as its own: Flagger's objects do without them.
_TRITONOPS_OWNED = (constants.LABEL_MANAGED_BY, constants.LABEL_PART_OF)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlaggerAnalysis:
    interval_seconds: int  # Flagger raises anything under 10 s to 10 s (Canary.GetAnalysisInterval)
    threshold: int  # failed checks before a rollback
    iterations: int  # passed checks before promotion (blue/green)
    progress_deadline_seconds: int
    success_rate_min_percent: float
    latency_max_ms: float


def _canary_pods_selector() -> str:
    # Flagger's documented idiom: the canary's pods are `<target>-<replicaset hash>-<id>`; the primary's
    # (`<target>-primary-<hash>-<id>`) have one segment more and so never match.
    return 'namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'


def _increase(metric: str) -> str:
    # Per pod, then summed, over the metric's interval: tritonops' prometheus provider computes its window alike.
    return f"sum(increase({metric}{{{_canary_pods_selector()}}}[{{{{ interval }}}}]))"


def metric_templates(*, namespace: str, prometheus_url: str) -> list[dict[str, Any]]:
    """Success rate (percent) and mean latency (ms) of the canary's pods, from Triton's own counters."""
    network.require_loopback_address(prometheus_url.split("://", 1)[-1].rsplit(":", 1)[0])
    success, failure = _increase("nv_inference_request_success"), _increase("nv_inference_request_failure")
    queries = {
        SUCCESS_RATE: f"100 * {success} / ({success} + {failure})",
        # Triton adds to the duration counter for successful requests only, so it is divided by those.
        LATENCY: f"{_increase('nv_inference_request_duration_us')} / {success} / 1000",
    }
    return [
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "MetricTemplate",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"provider": {"type": "prometheus", "address": prometheus_url}, "query": query},
        }
        for name, query in queries.items()
    ]


def canary(*, name: str, namespace: str, analysis: FlaggerAnalysis) -> dict[str, Any]:
    interval = f"{analysis.interval_seconds}s"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "provider": "kubernetes",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "progressDeadlineSeconds": analysis.progress_deadline_seconds,
            "service": {"port": constants.HTTP_PORT, "targetPort": "http"},
            "analysis": {
                "interval": interval,
                "threshold": analysis.threshold,
                "iterations": analysis.iterations,
                "metrics": [
                    {"name": SUCCESS_RATE, "templateRef": {"name": SUCCESS_RATE, "namespace": namespace},
                     "thresholdRange": {"min": analysis.success_rate_min_percent}, "interval": interval},
                    {"name": LATENCY, "templateRef": {"name": LATENCY, "namespace": namespace},
                     "thresholdRange": {"max": analysis.latency_max_ms}, "interval": interval},
                ],
            },
        },
    }


def _without_tritonops_ownership(labels: Mapping[str, str], *, name: str) -> dict[str, str]:
    kept = {key: value for key, value in labels.items() if key not in _TRITONOPS_OWNED}
    return {**kept, SELECTOR_LABEL: name}


def target_deployment(tritonops_deployment: Mapping[str, Any], *, name: str) -> dict[str, Any]:
    """Flagger's target: the Deployment tritonops would run for the same spec (tritonops.desired.deployment),
    renamed, selected by Flagger's label, and without tritonops' owner reference and ownership labels.

    The pods keep tritonops' revision and model-deployment labels: the load generator and the Prometheus
    discovery tell revisions apart by them, as they do for tritonops' own pods.
    """
    body = copy.deepcopy(dict(tritonops_deployment))
    metadata = body["metadata"]
    metadata["name"] = name
    metadata.pop("ownerReferences", None)
    metadata["labels"] = _without_tritonops_ownership(metadata.get("labels") or {}, name=name)
    template = body["spec"]["template"]
    template["metadata"]["labels"] = _without_tritonops_ownership(template["metadata"].get("labels") or {}, name=name)
    body["spec"]["selector"] = {"matchLabels": {SELECTOR_LABEL: name}}
    return body


def flagger_arguments(*, kubeconfig: pathlib.Path, metrics_server: str, port: int) -> list[str]:
    return [
        f"-kubeconfig={kubeconfig}",
        "-mesh-provider=kubernetes",
        # How often it looks for new or changed Canaries; each Canary is then advanced every analysis interval.
        "-control-loop-interval=1s",
        f"-metrics-server={metrics_server}",
        f"-port={port}",
        "-log-level=info",
        "-zap-encoding=console",
        "-enable-leader-election=false",
    ]


@dataclasses.dataclass
class FlaggerProcess:
    binary: pathlib.Path
    kubeconfig: pathlib.Path
    metrics_server: str
    log: pathlib.Path
    # Its HTTP server (/healthz, /metrics) listens on every address of the sandbox's loopback-only namespace.
    port: int = dataclasses.field(default_factory=network.free_port)
    process: ManagedProcess | None = None

    def start(self) -> None:
        command = [str(self.binary), *flagger_arguments(kubeconfig=self.kubeconfig, metrics_server=self.metrics_server, port=self.port)]
        self.process = start_process(name="flagger", command=command, log=self.log)
        wait_until(self.alive, description="Flagger's /healthz", timeout_seconds=60, watched=[self.process])

    def alive(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
            return bool(response.status == 200)

    def log_tail(self, characters: int = 3000) -> str:
        return self.process.log_tail(characters) if self.process is not None else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid)
            self.process = None


def crds() -> pathlib.Path:
    """Flagger's CRDs (Canary, MetricTemplate, AlertProvider), as its pinned module ships them."""
    directory: pathlib.Path = gobuild.module_directory(module=COMPONENT.module, version=COMPONENT.version)
    return directory / "artifacts" / "flagger" / "crd.yaml"


def binary() -> pathlib.Path:
    """The cached binary; in the sandbox, where nothing can be built or downloaded, only found."""
    path: pathlib.Path = gobuild.binary_path(COMPONENT)
    if not path.exists():
        raise RuntimeError(f"{path} is missing: build it outside the sandbox with `make bench-versus` or `python -m bench.flagger`")
    return path


def build() -> tuple[pathlib.Path, pathlib.Path]:
    """Build Flagger from its Go module once (about 100 s; its go.mod has no replace lines, so the wrapper
    module of gobuild works as for the control plane), and download the module for its CRDs."""
    built: pathlib.Path = gobuild.ensure_binaries([COMPONENT])[COMPONENT.name]
    return built, crds()


if __name__ == "__main__":
    built, found = build()
    print(f"flagger {COMPONENT.version}: {built}\nflagger CRDs: {found}")

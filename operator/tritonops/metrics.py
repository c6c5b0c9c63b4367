"""The operator's own Prometheus metrics (prometheus-client)."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

PHASES = ("Pending", "Progressing", "Canary", "Promoting", "Ready", "RolledBack", "Degraded", "Failed", "WaitingForCapacity")

reconcile_total = Counter("tritonops_reconcile_total", "Reconciliations of ModelDeployments, by result.", ["result"])
reconcile_duration_seconds = Histogram(
    "tritonops_reconcile_duration_seconds",
    "Time to reconcile one ModelDeployment.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
api_writes_total = Counter("tritonops_api_writes_total", "Writes this operator made to the Kubernetes API, by kind of write.", ["verb"])
rollout_phase = Gauge("tritonops_rollout_phase", "1 for the current phase of each ModelDeployment.", ["namespace", "name", "phase"])
canary_weight = Gauge("tritonops_canary_weight", "Percentage of traffic on the canary revision.", ["namespace", "name"])
rollbacks_total = Counter("tritonops_rollbacks_total", "Rollbacks, by reason.", ["reason"])
promotions_total = Counter("tritonops_promotions_total", "Promotions of a new revision to stable.")
control_plane_probe_failures_total = Counter(
    "tritonops_control_plane_probe_failures_total", "Probes of the API server's /readyz that failed or found it not ready."
)
analysis_value = Gauge(
    "tritonops_analysis_value", "Last measured value of each analysis check.", ["namespace", "name", "check", "revision"]
)


# The (check, revision) labels set per object, so that a deleted object's analysis series go with it.
_analysis_labels: dict[tuple[str, str], set[tuple[str, str]]] = {}
# Workers record while the event loop forgets deleted objects; a series set and its label entry go together.
_analysis_lock = threading.Lock()


def record_analysis(*, namespace: str, name: str, check: str, revision: str, value: float) -> None:
    with _analysis_lock:
        analysis_value.labels(namespace=namespace, name=name, check=check, revision=revision).set(value)
        _analysis_labels.setdefault((namespace, name), set()).add((check, revision))


def record_status(*, namespace: str, name: str, phase: str, weight: int) -> None:
    for candidate in PHASES:
        rollout_phase.labels(namespace=namespace, name=name, phase=candidate).set(1 if candidate == phase else 0)
    canary_weight.labels(namespace=namespace, name=name).set(weight)


def forget(*, namespace: str, name: str) -> None:
    for candidate in PHASES:
        try:
            rollout_phase.remove(namespace, name, candidate)
        except KeyError:
            pass
    try:
        canary_weight.remove(namespace, name)
    except KeyError:
        pass
    with _analysis_lock:
        for check, revision in _analysis_labels.pop((namespace, name), set()):
            try:
                analysis_value.remove(namespace, name, check, revision)
            except KeyError:
                pass

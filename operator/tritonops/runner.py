"""`tritonops run`: the operator process (kopf underneath), its liveness endpoint and its metrics."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import sys
import uuid
from collections.abc import Sequence

import kopf
import prometheus_client

from tritonops import constants, handlers
from tritonops.analyzer import Analyzer
from tritonops.control_plane import PROBE_TIMEOUT_SECONDS, ControlPlaneProbe
from tritonops.handlers import WORKER_THREADS
from tritonops.controller import Controller
from tritonops.kube import KubernetesWriter, answers_ready
from tritonops.leader import ApiLeaseStore, LeaderElection, Timings

# How long a graceful stop waits for reconciles in flight before it gives up releasing the Lease; well
# within the 30 s that Kubernetes grants between SIGTERM and SIGKILL.
RELEASE_WAIT_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class RunOptions:
    namespaces: Sequence[str] = ()
    kubeconfig: str | None = None
    liveness_endpoint: str | None = "http://0.0.0.0:8080/healthz"
    metrics_address: str = "0.0.0.0"
    metrics_port: int = 8081
    log_format: str = "text"
    log_level: str = "INFO"
    resync_seconds: float = 60.0
    # Networks whose pod IPs the triton provider may scrape; empty means any.
    scrape_networks: Sequence[str] = ()
    # Lease-based leader election, for running several replicas of which exactly one acts.
    leader_election: bool = False
    leader_election_namespace: str = "default"
    leader_election_name: str = "tritonops-leader"
    leader_election_identity: str = ""
    leader_election_timings: Timings = Timings()
    # The image of the model-storage init container (the operator's own).
    storage_image: str = constants.DEFAULT_STORAGE_IMAGE


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(*, log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if log_format == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if logging.getLevelName(level) != logging.DEBUG:
        # kopf logs every successful handler call at INFO: thousands of lines a minute at scale.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def api_client(kubeconfig: str | None) -> object:
    from kubernetes import client, config

    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)
    # One pooled connection per worker thread, so no TLS handshake is repeated under load.
    configuration.connection_pool_maxsize = WORKER_THREADS
    return client.ApiClient(configuration)


def run(options: RunOptions) -> None:
    configure_logging(log_format=options.log_format, level=options.log_level)
    client = api_client(options.kubeconfig)
    handlers.runtime.api_configuration = client.configuration  # type: ignore[attr-defined]
    # An outage of the API server restarts the canaries' progress clocks (see tritonops.control_plane). The
    # probe has a client of its own: the workers' connection pool is sized to them.
    probe_client = api_client(options.kubeconfig)
    control_plane = ControlPlaneProbe(lambda: answers_ready(probe_client, timeout=PROBE_TIMEOUT_SECONDS))  # type: ignore[arg-type]
    control_plane.start()
    handlers.runtime.controller = Controller(
        KubernetesWriter(client), analyzer=Analyzer(scrape_networks=options.scrape_networks), storage_image=options.storage_image,  # type: ignore[arg-type]
        control_plane=control_plane,
    )
    handlers.runtime.resync_seconds = options.resync_seconds
    if options.leader_election:
        identity = options.leader_election_identity or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        # Losing the lease only stops the workers: the process stays up as a standby with warm watches,
        # so an apiserver outage costs no restart, and a renewal resumes leadership.
        store = ApiLeaseStore(client, namespace=options.leader_election_namespace, name=options.leader_election_name)
        election = LeaderElection(store, identity=identity, timings=options.leader_election_timings, leadership=handlers.runtime.leading)
        election.start()
    else:
        election = None
        handlers.runtime.leading.set()
    prometheus_client.start_http_server(options.metrics_port, addr=options.metrics_address)
    try:
        kopf.run(
            standalone=True,
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            liveness_endpoint=options.liveness_endpoint,
        )
    finally:
        if election is not None:
            _step_down(election)
        control_plane.stop()


def _step_down(election: LeaderElection) -> None:
    """On a graceful stop, hand the Lease back so that a standby need not wait for it to expire."""
    election.stop()
    handlers.runtime.leading.clear()
    # Released only once no reconcile is in flight: else two replicas could act at once. A reconcile that
    # outlasts the wait leaves the Lease to expire, as after a crash.
    if handlers.stop_workers(timeout=RELEASE_WAIT_SECONDS):
        election.release()
    else:
        logging.getLogger(__name__).warning("leader election: reconciles still running; the Lease is left to expire")

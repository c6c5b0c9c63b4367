"""A real Kubernetes control plane on loopback: etcd, apiserver, controller-manager, scheduler, kwok, metrics-server,
and real nodes (a kubelet and containerd each) that run pods as containers."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from tritonops.devcluster import gobuild, images, network, nodes, pki, real_nodes, versions
from tritonops.devcluster.processes import ManagedProcess, start_process, stop_process_group, wait_until

Progress = Callable[[str], None]
STATE_FILE = "cluster.json"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
# kwok hands its pods addresses from this range. Nothing listens on them, but they are loopback all the
# same, so that nothing that follows a pod's IP (a metrics scrape, a load generator) can ever leave
# 127.0.0.0/8. The real nodes' pods use their own 127.88.N.0/24 subnets (nodes.REAL_NODES), outside this range.
POD_CIDR = "127.200.0.0/16"
METRICS_SERVER_API = "v1beta1.metrics.k8s.io"


def _print_progress(message: str) -> None:
    print(f"[tritonops cluster] {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    kwok: int
    metrics_server: int

    @classmethod
    def allocate(cls) -> Ports:
        return cls(
            etcd_client=network.free_port(),
            etcd_peer=network.free_port(),
            apiserver=network.free_port(),
            kwok=network.free_port(),
            metrics_server=network.free_port(),
        )


def kubeconfig_document(*, server: str, credentials: pki.ClusterPki, user: str = "admin") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "tritonops-local", "cluster": {"server": server, "certificate-authority": str(credentials.ca.certificate)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(credentials.admin.certificate), "client-key": str(credentials.admin.key)},
            }
        ],
        "contexts": [{"name": "tritonops-local", "context": {"cluster": "tritonops-local", "user": user}}],
        "current-context": "tritonops-local",
    }


class LocalCluster:
    """Starts the control plane processes in order, waits for each, and stops them all by process id."""

    def __init__(
        self,
        *,
        directory: pathlib.Path,
        simulated_nodes: Sequence[nodes.SimulatedNode] = nodes.DEFAULT_NODES,
        real_node_specifications: Sequence[nodes.RealNode] = nodes.REAL_NODES,
        progress: Progress = _print_progress,
        controller_manager_arguments: Sequence[str] = ("--horizontal-pod-autoscaler-sync-period=5s",),
        apiserver_profiling: bool = False,
    ) -> None:
        self.directory = directory
        self.simulated_nodes = tuple(simulated_nodes)
        self.real_nodes = real_nodes.RealNodes(directory=directory / "nodes", specifications=real_node_specifications, progress=progress)
        self.progress = progress
        self.controller_manager_arguments = tuple(controller_manager_arguments)
        # Off unless a benchmark profiles the apiserver: /debug/pprof is an admin-only attack surface.
        self.apiserver_profiling = apiserver_profiling
        self.processes: list[ManagedProcess] = []
        self.ports = Ports.allocate()
        self.kubeconfig = directory / "kubeconfig.yaml"
        self.pki: pki.ClusterPki | None = None
        self._apiserver_command: list[str] = []
        self._etcd_command: list[str] = []

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        network.require_loopback_only_namespace()
        started = time.monotonic()
        binaries = gobuild.ensure_binaries(progress=self.progress)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.pki = pki.create_cluster_pki(self.directory / "pki")
        self.kubeconfig.write_text(
            yaml.safe_dump(kubeconfig_document(server=self.apiserver_url, credentials=self.pki))
        )
        try:
            self._start_etcd(binaries["etcd"])
            self._start_apiserver(binaries["kube-apiserver"])
            self._start_controllers(binaries)
            self._register_nodes_and_metrics_api()
            self._start_real_nodes(binaries)
            self._write_state()
        except BaseException:
            self.stop()
            raise
        self.progress(f"control plane ready in {time.monotonic() - started:.1f}s; kubeconfig {self.kubeconfig}")

    def stop(self) -> list[str]:
        """Stop everything; returns what the real nodes' teardown could not remove (empty when clean)."""
        # The control plane goes even when the nodes' teardown fails: left running, its processes (and the
        # nodes' kubelets) would act on the next cluster's nodes of the same names.
        try:
            problems = self._stop_real_nodes()
        finally:
            for process in reversed(self.processes):
                stop_process_group(process.pid)
            self.processes.clear()
        (self.directory / STATE_FILE).unlink(missing_ok=True)
        return problems

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self.stop()

    def _start_real_nodes(self, binaries: Mapping[str, pathlib.Path]) -> None:
        if not self.real_nodes.specifications:
            return
        from kubernetes import client, config

        assert self.pki is not None
        # The operator's own image too: every Triton pod's model-storage init container runs it.
        archives = images.image_archives(names=("pause", "triton", "operator"))
        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        try:
            setup = real_nodes.NodeSetup(
                apiserver_url=self.apiserver_url,
                cluster_pki=self.pki,
                binaries=binaries,
                sandbox_image=archives["pause"].reference,
                image_archives=[archive.archive for archive in archives.values()],
            )
            self.real_nodes.start(setup, core=client.CoreV1Api(api_client))
        finally:
            api_client.close()

    def load_image(self, archive: pathlib.Path) -> None:
        """Import an image into every real node's containerd, as a registry pull would have."""
        for node in self.real_nodes.nodes:
            assert node.runtime is not None
            node.runtime.import_images([archive])

    def _stop_real_nodes(self) -> list[str]:
        if not self.real_nodes.nodes:
            return []
        from kubernetes import client, config

        api_client = None
        core = None
        if self.processes and all(process.running() for process in self.processes):
            try:
                api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
                core = client.CoreV1Api(api_client)
            except (config.ConfigException, OSError) as error:
                # The kubeconfig or its certificates are gone (a deleted temporary tree): stop without the API.
                self.progress(f"stopping the real nodes without the API server: {error}")
        try:
            return self.real_nodes.stop(core)
        finally:
            if api_client is not None:
                api_client.close()

    # -- components ------------------------------------------------------------------------------

    def _start(self, name: str, command: Sequence[str]) -> ManagedProcess:
        process = start_process(name=name, command=command, log=self.directory / "logs" / f"{name}.log")
        self.processes.append(process)
        return process

    def _start_etcd(self, binary: pathlib.Path) -> None:
        self.progress("starting etcd")
        client = f"http://127.0.0.1:{self.ports.etcd_client}"
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        self._etcd_command = [
            str(binary),
            "--name=tritonops",
            f"--data-dir={self.directory / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=tritonops={peer}",
            # Test data is thrown away, so durability is traded for speed.
            "--unsafe-no-fsync",
            "--quota-backend-bytes=8589934592",
            "--log-level=warn",
        ]
        self._wait_for_etcd(self._start("etcd", self._etcd_command))

    def _wait_for_etcd(self, etcd: ManagedProcess) -> None:
        client = f"http://127.0.0.1:{self.ports.etcd_client}"

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as response:
                return bool(json.load(response).get("health") == "true")

        wait_until(healthy, description="etcd /health", timeout_seconds=30, watched=[etcd])

    # -- an etcd outage: the apiserver stays up and answers errors until etcd is back --------------

    def stop_etcd(self) -> None:
        """Kill etcd alone, as a crash would; the apiserver keeps running and fails its storage calls meanwhile."""
        etcd = next(process for process in self.processes if process.name == "etcd")
        os.killpg(etcd.pid, signal.SIGKILL)
        # Waited for, so that the outage has begun when this returns.
        etcd.popen.wait(timeout=30)
        stop_process_group(etcd.pid, grace_seconds=1)

    def start_etcd(self) -> None:
        """Start etcd again after `stop_etcd`: the same ports and data directory, so nothing stored is lost."""
        index = next(index for index, process in enumerate(self.processes) if process.name == "etcd")
        if self.processes[index].running():
            raise RuntimeError("etcd is already running")
        self.progress("restarting etcd")
        etcd = start_process(name="etcd", command=self._etcd_command, log=self.directory / "logs" / "etcd.log")
        self.processes[index] = etcd  # stopped in the same order as before
        self._write_state()
        self._wait_for_etcd(etcd)
        # The apiserver's readiness covers its etcd connection, so callers may write as soon as this returns.
        self._wait_for_apiserver(next(process for process in self.processes if process.name == "kube-apiserver"))
        self.wait_for_controllers()

    def _start_apiserver(self, binary: pathlib.Path) -> None:
        assert self.pki is not None
        credentials = self.pki
        self.progress("starting kube-apiserver")
        self._apiserver_command = [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            f"--tls-cert-file={credentials.apiserver.certificate}",
            f"--tls-private-key-file={credentials.apiserver.key}",
            f"--client-ca-file={credentials.ca.certificate}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=Node,RBAC",
            # OwnerReferencesPermissionEnforcement, as OpenShift and hardened clusters run it: a child with
            # blockOwnerDeletion needs `update` on its owner's finalizers, which the chart's RBAC must grant.
            "--enable-admission-plugins=NodeRestriction,PodSecurity,OwnerReferencesPermissionEnforcement",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={credentials.service_account_public_key}",
            f"--service-account-signing-key-file={credentials.service_account_private_key}",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            # The aggregation layer, through which the apiserver serves metrics-server's API.
            f"--requestheader-client-ca-file={credentials.front_proxy_ca.certificate}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            f"--proxy-client-cert-file={credentials.front_proxy_client.certificate}",
            f"--proxy-client-key-file={credentials.front_proxy_client.key}",
            f"--kubelet-client-certificate={credentials.admin.certificate}",
            f"--kubelet-client-key={credentials.admin.key}",
            f"--profiling={'true' if self.apiserver_profiling else 'false'}",
            "--v=1",
        ]
        self._wait_for_apiserver(self._start("kube-apiserver", self._apiserver_command))

    def _wait_for_apiserver(self, apiserver: ManagedProcess) -> None:
        wait_until(
            lambda: self.apiserver_get("/readyz") == "ok",
            description="kube-apiserver /readyz",
            timeout_seconds=90,
            interval_seconds=0.5,
            watched=[apiserver],
        )

    # -- an apiserver outage, for tests of what survives one ---------------------------------------

    def stop_apiserver(self) -> None:
        """Kill kube-apiserver alone, as a crash would; etcd, the controllers and the nodes keep running and retrying."""
        apiserver = next(process for process in self.processes if process.name == "kube-apiserver")
        os.killpg(apiserver.pid, signal.SIGKILL)
        # Waited for, so that the outage has begun when this returns.
        apiserver.popen.wait(timeout=30)
        stop_process_group(apiserver.pid, grace_seconds=1)

    def start_apiserver(self) -> None:
        """Start kube-apiserver again after `stop_apiserver`: the same port, certificates and etcd data."""
        index = next(index for index, process in enumerate(self.processes) if process.name == "kube-apiserver")
        if self.processes[index].running():
            raise RuntimeError("kube-apiserver is already running")
        self.progress("restarting kube-apiserver")
        apiserver = start_process(
            name="kube-apiserver", command=self._apiserver_command, log=self.directory / "logs" / "kube-apiserver.log"
        )
        self.processes[index] = apiserver  # stopped in the same order as before
        self._write_state()
        self._wait_for_apiserver(apiserver)
        self.wait_for_controllers()

    def wait_for_controllers(self, *, timeout_seconds: float = 150.0) -> float:
        """Wait until kube-controller-manager acts on new objects again; return how long that took.

        After an outage its informers retry their lists with client-go's backoff (up to 30 s, jittered up
        to twice that), so for a minute after the apiserver is ready a new namespace may get no default
        ServiceAccount and a new ReplicaSet no pods. A probe namespace shows when it has caught up.
        """
        from kubernetes import client, config

        started = time.monotonic()
        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        core = client.CoreV1Api(api_client)
        probe = f"tritonops-controllers-probe-{os.getpid()}-{int(started)}"
        try:
            core.create_namespace(body={"metadata": {"name": probe}})  # type: ignore[arg-type]

            def default_account_made() -> bool:
                return core.read_namespaced_service_account("default", probe) is not None

            wait_until(
                default_account_made,
                description=f"kube-controller-manager to make the default ServiceAccount in {probe}",
                timeout_seconds=timeout_seconds,
                interval_seconds=0.5,
                watched=self.processes,
            )
            core.delete_namespace(name=probe)
        finally:
            api_client.close()
        waited = time.monotonic() - started
        self.progress(f"kube-controller-manager caught up {waited:.1f} s after the apiserver was ready")
        return waited

    def _start_controllers(self, binaries: Mapping[str, pathlib.Path]) -> None:
        assert self.pki is not None
        credentials = self.pki
        kwok_module = gobuild.module_directory(module=versions.KWOK.module, version=versions.KWOK.version)
        kwok_config = self.directory / "kwok.yaml"
        kwok_config.write_text(kwok_configuration(kwok_module))
        self.progress("starting kube-controller-manager, kube-scheduler, kwok and metrics-server")
        kubeconfig = str(self.kubeconfig)
        self._start(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--service-account-private-key-file={credentials.service_account_private_key}",
                f"--root-ca-file={credentials.ca.certificate}",
                f"--cluster-signing-cert-file={credentials.ca.certificate}",
                f"--cluster-signing-key-file={credentials.ca.key}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                # Pod IPs are loopback (POD_CIDR and the real nodes' subnets), which Endpoints and
                # EndpointSlices may not hold: those two controllers could only fail and retry. Nothing
                # here routes through Services (no kube-proxy); traffic goes to pod IPs directly.
                "--controllers=*,-endpoints-controller,-endpointslice-controller",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                # Client-side rate limits sized for a cluster of thousands of objects rather than
                # the defaults (20 QPS), which would make the control plane the bottleneck of tests.
                "--kube-api-qps=300",
                "--kube-api-burst=600",
                "--concurrent-deployment-syncs=20",
                "--concurrent-replicaset-syncs=20",
                *self.controller_manager_arguments,
            ],
        )
        self._start(
            "kube-scheduler",
            [
                str(binaries["kube-scheduler"]),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
                "--kube-api-qps=300",
                "--kube-api-burst=600",
            ],
        )
        self._start(
            "kwok",
            [
                str(binaries["kwok"]),
                f"--kubeconfig={kubeconfig}",
                f"--config={kwok_config}",
                # Only the nodes that carry kwok's annotation: the real nodes (nodes.REAL_NODES) do not.
                f"--manage-nodes-with-annotation-selector={nodes.KWOK_ANNOTATION}={nodes.KWOK_ANNOTATION_VALUE}",
                f"--cidr={POD_CIDR}",
                f"--node-ip={nodes.NODE_ADDRESS}",
                f"--node-port={self.ports.kwok}",
                f"--server-address=127.0.0.1:{self.ports.kwok}",
                f"--tls-cert-file={credentials.kwok.certificate}",
                f"--tls-private-key-file={credentials.kwok.key}",
                "--node-lease-duration-seconds=40",
            ],
        )
        self._start(
            "metrics-server",
            [
                str(binaries["metrics-server"]),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.metrics_server}",
                f"--tls-cert-file={credentials.metrics_server.certificate}",
                f"--tls-private-key-file={credentials.metrics_server.key}",
                "--kubelet-insecure-tls",
                "--kubelet-use-node-status-port",
                "--kubelet-preferred-address-types=InternalIP",
                "--metric-resolution=10s",
                "--kubelet-request-timeout=5s",
            ],
        )

    def _register_nodes_and_metrics_api(self) -> None:
        from kubernetes import client, config

        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        core = client.CoreV1Api(api_client)
        registration = client.ApiregistrationV1Api(api_client)
        wait_until(
            lambda: core.read_namespace("kube-system") is not None,
            description="the kube-system namespace",
            timeout_seconds=30,
            watched=self.processes,
        )
        self.progress(f"registering {len(self.simulated_nodes)} simulated nodes")
        for simulated in self.simulated_nodes:
            # The client serialises plain dicts as they are; its stubs only know its model classes.
            core.create_node(body=nodes.node_manifest(simulated, kubelet_port=self.ports.kwok))  # type: ignore[arg-type]
        # Endpoints may not hold loopback addresses, so the apiserver reaches metrics-server through
        # an ExternalName Service that resolves to 127.0.0.1, as kwokctl does.
        core.create_namespaced_service(
            namespace="kube-system",
            body={  # type: ignore[arg-type]
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "metrics-server", "namespace": "kube-system"},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "127.0.0.1",
                    "ports": [{"name": "https", "port": self.ports.metrics_server, "protocol": "TCP"}],
                },
            },
        )
        registration.create_api_service(
            body={  # type: ignore[arg-type]
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": METRICS_SERVER_API},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "service": {"name": "metrics-server", "namespace": "kube-system", "port": self.ports.metrics_server},
                    "insecureSkipTLSVerify": True,
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            }
        )

        def nodes_ready() -> bool:
            listed = core.list_node().items
            ready = [
                node
                for node in listed
                if node.status is not None and any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
            ]
            return len(ready) == len(self.simulated_nodes)

        wait_until(nodes_ready, description="simulated nodes Ready", timeout_seconds=60, watched=self.processes)

        def metrics_api_available() -> bool:
            service = registration.read_api_service(METRICS_SERVER_API)
            conditions = service.status.conditions if service.status is not None else None
            return any(c.type == "Available" and c.status == "True" for c in (conditions or []))

        wait_until(
            metrics_api_available, description="the metrics.k8s.io APIService", timeout_seconds=90, watched=self.processes
        )
        api_client.close()

    # -- helpers ---------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca.certificate))
        context.load_cert_chain(str(self.pki.admin.certificate), str(self.pki.admin.key))
        return context

    def apiserver_get(self, path: str, *, timeout: float = 5.0) -> str:
        """GET a raw path from the apiserver as the admin user (for /readyz, /version, /metrics)."""
        with urllib.request.urlopen(f"{self.apiserver_url}{path}", context=self.ssl_context(), timeout=timeout) as response:
            return str(response.read().decode())

    def _write_state(self) -> None:
        state = {
            "kubeconfig": str(self.kubeconfig),
            "apiserver": self.apiserver_url,
            "processes": {process.name: process.pid for process in self.processes},
            "real_nodes": self.real_nodes.state(),
        }
        (self.directory / STATE_FILE).write_text(json.dumps(state, indent=2))


def kwok_configuration(kwok_module: pathlib.Path) -> str:
    """kwok's fast node and pod stages plus resource metrics whose usage comes from pod annotations."""
    documents = [
        kwok_module / "kustomize/stage/node/fast/node-initialize.yaml",
        kwok_module / "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
        kwok_module / "kustomize/stage/pod/fast/pod-ready.yaml",
        kwok_module / "kustomize/stage/pod/fast/pod-complete.yaml",
        kwok_module / "kustomize/stage/pod/fast/pod-delete.yaml",
        kwok_module / "kustomize/metrics/resource/metrics-resource.yaml",
        kwok_module / "kustomize/metrics/usage/usage-from-annotation.yaml",
    ]
    return "\n---\n".join(path.read_text() for path in documents)


def stop_real_nodes_from_state(directory: pathlib.Path) -> bool:
    """Tear down the real nodes of a cluster that another process started; False if it recorded none."""
    state_file = directory / STATE_FILE
    if not state_file.exists():
        return False
    recorded = json.loads(state_file.read_text()).get("real_nodes") or {}
    if not recorded.get("nodes"):
        return False
    real_nodes.RealNodes.clean_up_from_state(recorded)
    return True


def stop_from_state(directory: pathlib.Path) -> bool:
    """Stop a cluster that another process started, by the process ids it recorded."""
    state_file = directory / STATE_FILE
    if not state_file.exists():
        return False
    stop_real_nodes_from_state(directory)
    state = json.loads(state_file.read_text())
    for pid in reversed(list(state["processes"].values())):
        stop_process_group(int(pid))
    state_file.unlink(missing_ok=True)
    return True

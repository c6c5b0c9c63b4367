"""Send inference traffic to the Ready Triton pods of a ModelDeployment, as its Service would.

The pods are listed by label every `refresh_seconds`; requests go round-robin over the Ready ones
(directly to podIP:8000 over tritonclient.http, from a few worker threads so that a slow pod does not
slow the rest), so each revision's share of the traffic equals its share of Ready replicas, which is
how the `replicas` router splits traffic. Outcomes are counted per
revision and per pod. Only loopback pod IPs are ever contacted: any other is refused and counted.
Connections to pods that leave the list are closed at once, so a terminating Triton drains at once.
Bounded in requests and time; start() runs it in a background thread and stop() ends it.

What is sent, and which answers count as successes, is a `Request`: by default the tests' `doubler`
model (INPUT FP32 [4] in, OUTPUT = 2 x INPUT out); `make demo` sends its packaged classifier's inputs.
"""

from __future__ import annotations

import collections
import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tritonclient.http
from kubernetes import client

from tritonops.devcluster import network

MODEL_DEPLOYMENT_LABEL = "inference.tritonops.dev/modeldeployment"
REVISION_LABEL = "inference.tritonops.dev/revision"


@dataclasses.dataclass(frozen=True)
class Target:
    pod: str
    revision: str
    address: str
    port: int


@dataclasses.dataclass(frozen=True)
class Request:
    """One inference request, sent as it is every time, and the test an answer must pass to count as a success."""

    input_name: str
    output_name: str
    values: np.ndarray
    datatype: str
    check: Callable[[np.ndarray], bool]


def doubler_request() -> Request:
    """The tests' python model (tests/harness/model_template.py): OUTPUT must be exactly twice INPUT."""
    values = np.arange(4, dtype=np.float32)
    return Request("INPUT", "OUTPUT", values, "FP32", lambda answer: bool(np.array_equal(answer, values * 2)))


@dataclasses.dataclass
class Counts:
    success: int = 0
    failure: int = 0

    @property
    def total(self) -> int:
        return self.success + self.failure


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or not pod.status or not pod.status.pod_ip:
        return False
    return any(condition.type == "Ready" and condition.status == "True" for condition in pod.status.conditions or [])


def _http_port(pod: Any) -> int:
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.name == "http":
                return int(port.container_port)
    return 8000


class LoadGenerator:
    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str | None = None,
        *,
        selector: str | None = None,
        model: str = "doubler",
        request: Request | None = None,
        rate: float = 40.0,
        max_requests: int = 20_000,
        max_seconds: float = 300.0,
        refresh_seconds: float = 0.5,
        timeout_seconds: float = 2.0,
        workers: int = 32,
        service: str | None = None,
    ) -> None:
        if (name is None) == (selector is None):
            raise ValueError("give either a ModelDeployment name or a label selector")
        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.selector = selector or f"{MODEL_DEPLOYMENT_LABEL}={name}"
        # With a Service named, its own selector is read at each refresh: the load then reaches exactly the
        # pods that Service would send to (the golden gate narrows it to the stable's pods for a while).
        self.service = service
        self.model = model
        self.request = request or doubler_request()
        self.rate = rate
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.refresh_seconds = refresh_seconds
        self.timeout_seconds = timeout_seconds
        self.workers = workers
        self.by_revision: dict[str, Counts] = collections.defaultdict(Counts)
        self.by_pod: dict[str, Counts] = collections.defaultdict(Counts)
        self.refused: set[str] = set()
        self.errors: list[str] = []
        self.idle = 0  # ticks with no Ready pod to send to
        self.dropped = 0  # ticks with every worker busy
        self._current: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> LoadGenerator:
        self._thread = threading.Thread(target=self._run, name="load-generator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> LoadGenerator:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_seconds + 10)
        return self

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exception: object) -> None:
        self.stop()

    @property
    def sent(self) -> int:
        with self._lock:
            return sum(counts.total for counts in self.by_revision.values())

    def snapshot(self) -> dict[str, Counts]:
        with self._lock:
            return {revision: dataclasses.replace(counts) for revision, counts in self.by_revision.items()}

    def pod_snapshot(self) -> dict[str, Counts]:
        with self._lock:
            return {pod: dataclasses.replace(counts) for pod, counts in self.by_pod.items()}

    # -- the loop --------------------------------------------------------------------------------

    def targets(self) -> list[Target]:
        """The Ready pods, in name order, with loopback addresses only."""
        # Read duck-typed, as the pods (and the tests' stand-ins) have them.
        selector = self.selector
        if self.service is not None:
            found: Any = self.core.read_namespaced_service(self.service, self.namespace)
            chosen: dict[str, str] = (found.spec.selector if found.spec is not None else None) or {}
            selector = ",".join(f"{key}={value}" for key, value in sorted(chosen.items()))
        pods: list[Any] = list(self.core.list_namespaced_pod(self.namespace, label_selector=selector).items)
        targets: list[Target] = []
        for pod in sorted(pods, key=lambda pod: pod.metadata.name):
            if not _ready(pod):
                continue
            try:
                network.require_loopback_address(pod.status.pod_ip)
            except ValueError:
                self.refused.add(f"{pod.metadata.name}={pod.status.pod_ip}")
                continue
            revision = (pod.metadata.labels or {}).get(REVISION_LABEL, "")
            targets.append(Target(pod=pod.metadata.name, revision=revision, address=pod.status.pod_ip, port=_http_port(pod)))
        return targets

    def _run(self) -> None:
        """Dispatch at the given rate, round-robin over the Ready pods, to a few worker threads.

        Sending concurrently keeps the rate and the split even when one revision is slow, as real
        clients behind a Service would. When every worker is busy the tick is dropped and counted.
        """
        started = time.monotonic()
        jobs: queue.Queue[Target | None] = queue.Queue(maxsize=self.workers)
        workers = [threading.Thread(target=self._work, args=(jobs,), name=f"load-worker-{index}", daemon=True) for index in range(self.workers)]
        for worker in workers:
            worker.start()
        targets: list[Target] = []
        refreshed = 0.0
        turn = 0
        dispatched = 0
        next_send = started
        try:
            while not self._stop.is_set() and dispatched < self.max_requests and time.monotonic() - started < self.max_seconds:
                now = time.monotonic()
                if now - refreshed >= self.refresh_seconds:
                    refreshed = now
                    try:
                        targets = self.targets()
                    except Exception as error:  # the API may be briefly unavailable; keep the last list
                        self.errors.append(f"listing pods: {error}")
                    with self._lock:
                        self._current = {(target.address, target.port) for target in targets}
                if now < next_send:
                    self._stop.wait(next_send - now)
                    continue
                next_send = max(next_send + 1.0 / self.rate, now - 1.0)
                if not targets:
                    self.idle += 1
                    continue
                try:
                    jobs.put_nowait(targets[turn % len(targets)])
                except queue.Full:
                    self.dropped += 1
                    continue
                turn += 1
                dispatched += 1
        finally:
            for _ in workers:
                jobs.put(None)
            for worker in workers:
                worker.join(self.timeout_seconds + 5)

    def _work(self, jobs: queue.Queue[Target | None]) -> None:
        # tritonclient.http (gevent underneath) is used from one thread only: each worker has its own.
        clients: dict[tuple[str, int], tritonclient.http.InferenceServerClient] = {}
        try:
            while True:
                target = jobs.get()
                if target is None:
                    return
                with self._lock:
                    current = set(self._current)
                # Let go of pods that left the list: an open keep-alive connection would hold a
                # terminating Triton for its whole exit timeout.
                for gone in [key for key in clients if key not in current]:
                    self._close(clients.pop(gone))
                key = (target.address, target.port)
                if key not in clients:
                    clients[key] = tritonclient.http.InferenceServerClient(
                        url=f"{target.address}:{target.port}",
                        connection_timeout=self.timeout_seconds,
                        network_timeout=self.timeout_seconds,
                    )
                ok = self._infer(clients[key])
                if not ok:
                    # A server that died leaves dead pooled connections: reconnect on the next request.
                    self._close(clients.pop(key))
                with self._lock:
                    for counts in (self.by_revision[target.revision], self.by_pod[target.pod]):
                        if ok:
                            counts.success += 1
                        else:
                            counts.failure += 1
        finally:
            for triton in clients.values():
                self._close(triton)

    @staticmethod
    def _close(triton: tritonclient.http.InferenceServerClient) -> None:
        try:
            triton.close()
        except Exception:
            pass

    def _infer(self, triton: tritonclient.http.InferenceServerClient) -> bool:
        request = self.request
        tensor = tritonclient.http.InferInput(request.input_name, list(request.values.shape), request.datatype)
        tensor.set_data_from_numpy(request.values)
        try:
            answer = triton.infer(self.model, [tensor]).as_numpy(request.output_name)
        except Exception as error:  # refused, reset, timed out or a model error: all count as failures
            if len(self.errors) < 100:
                self.errors.append(str(error)[:200])
            return False
        return answer is not None and request.check(answer)

"""Send a golden set to one revision's Ready pods over Triton's HTTP API and compare the answers (thin I/O shell).

Bounded in count and time: at most MAX_PODS pods per revision and the golden set's own bound on cases
(golden_set.MAX_CASES), each request given up after spec.rollout.analysis.golden.timeoutSeconds, and the
whole probe over by one deadline: requests not sent by then are counted as skipped, never as answers.
What the pods answered is judged by engine/golden_gate.py.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from tritonops import constants
from tritonops.engine.golden_gate import CaseResult, PodProbe, RevisionProbe
from tritonops.golden.compare import Comparison, Tolerance, compare
from tritonops.golden.golden_set import Case, GoldenSet, Tensor
from tritonops.golden.record import infer
from tritonops.providers.bounded_http import Deadline
from tritonops.spec import GoldenSpec

logger = logging.getLogger(__name__)
# A revision with more Ready pods is probed on the first MAX_PODS of them (by name): every pod of a
# revision serves the same model from the same content, and a probe must stay cheap at any scale.
MAX_PODS = 4
# The whole probe of both revisions: a worker is held no longer, whatever the pods do.
PROBE_DEADLINE_SECONDS = 20.0
# Messages of error responses are cut to this for status and events.
MAX_MESSAGE = 300


class Client(Protocol):
    def infer(self, model_name: str, inputs: Any, model_version: str = "") -> Any: ...

    def close(self) -> None: ...


ClientFactory = Callable[[str, float], Client]


def http_client(address: str, timeout_seconds: float) -> Client:
    """A tritonclient HTTP client to host:port whose connect and each network operation time out."""
    import tritonclient.http

    client: Client = tritonclient.http.InferenceServerClient(
        url=address, connection_timeout=timeout_seconds, network_timeout=timeout_seconds, concurrency=1
    )
    return client


def _is_timeout(error: BaseException) -> bool:
    if isinstance(error, (TimeoutError, socket.timeout)):
        return True
    try:
        import gevent

        if isinstance(error, gevent.Timeout):
            return True
    except ImportError:  # pragma: no cover - tritonclient[http] brings gevent
        pass
    return "timed out" in str(error).lower()


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def compare_outputs(*, expected: Mapping[str, Tensor], actual: Mapping[str, Tensor], golden: GoldenSpec) -> dict[str, Comparison]:
    """Each expected output against the answer; a missing output is a mismatch without bound."""
    comparisons: dict[str, Comparison] = {}
    for name, tensor in expected.items():
        answer = actual.get(name)
        if answer is None:
            comparisons[name] = Comparison(False, "the answer has no such output", math.inf, math.inf, None, 0)
            continue
        absolute, relative = golden.tolerance_of(name)
        comparisons[name] = compare(actual=answer, expected=tensor, tolerance=Tolerance(absolute=absolute, relative=relative))
    return comparisons


def _probe_case(*, client: Client, model: str, version: str, case: Case, golden: GoldenSpec, timeout_seconds: float) -> CaseResult:
    started = time.monotonic()
    try:
        answer = infer(client=client, model=model, version=int(version), inputs=case.inputs, timeout_seconds=timeout_seconds)
    except Exception as error:  # noqa: BLE001 - an error response, a refused connection, a timeout: all are the pod's answer
        latency = (time.monotonic() - started) * 1000.0
        if _is_timeout(error):
            return CaseResult(case=case.name, timed_out=True, latency_ms=latency, error=f"no answer within {timeout_seconds:g}s")
        return CaseResult(case=case.name, error=_short(f"{type(error).__name__}: {error}"), latency_ms=latency)
    latency = (time.monotonic() - started) * 1000.0
    return CaseResult(case=case.name, comparisons=compare_outputs(expected=case.outputs, actual=answer, golden=golden), latency_ms=latency)


def probe_revision(
    *, golden_set: GoldenSet, golden: GoldenSpec, model: str, version: str, pods: Mapping[str, str], deadline: Deadline,
    allowed: Callable[[str], bool] = lambda address: True, client_factory: ClientFactory = http_client,
) -> RevisionProbe:
    """Every golden case to each of (at most MAX_PODS of) `pods` (name -> IP), one request at a time."""
    chosen = sorted(pods.items())[:MAX_PODS]
    reachable = [(name, address) for name, address in chosen if allowed(address)]
    if not chosen:
        return RevisionProbe(problem="no Ready pods to probe")
    if not reachable:
        return RevisionProbe(problem=f"no Ready pod is inside the allowed networks ({', '.join(address for _, address in chosen)})")
    results: list[PodProbe] = []
    skipped = 0
    for name, address in reachable:
        cases: list[CaseResult] = []
        for case in golden_set.cases:
            remaining = deadline.remaining()
            if remaining <= 0.05:
                skipped += 1
                continue
            # A client per request, so that each one's timeouts end by the probe's deadline too.
            timeout = min(golden.timeout_seconds, remaining)
            client = client_factory(f"{_host(address)}:{constants.HTTP_PORT}", timeout)
            try:
                cases.append(_probe_case(client=client, model=model, version=version, case=case, golden=golden, timeout_seconds=timeout))
            finally:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing a broken connection must not lose the results
                    logger.debug("closing the golden probe's client to %s failed", name, exc_info=True)
        results.append(PodProbe(pod=name, cases=tuple(cases)))
    return RevisionProbe(pods=tuple(results), skipped=skipped)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address

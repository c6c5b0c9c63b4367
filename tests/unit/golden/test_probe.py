"""The golden probe's bookkeeping with a fake client (the real one is tests/integration/test_golden_probe.py):
bounded in pods and time, errors and timeouts recorded as the pod's answer, outputs compared per output."""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy
import pytest

from tritonops.golden.golden_set import Case, GoldenSet, Tensor
from tritonops.golden.probe import MAX_PODS, compare_outputs, probe_revision
from tritonops.providers.bounded_http import Deadline
from tritonops.spec import GoldenSpec

GOLDEN = GoldenSpec(config_map_name="g", config_map_key="golden.json", absolute=1e-4, relative=1e-3, outputs=(), timeout_seconds=5,
                    max_latency_ms=None, max_error_rate=0)
CASE = Case(name="c0", inputs={"x": Tensor("FP32", (1, 2), (1.0, 2.0))}, outputs={"y": Tensor("FP32", (1, 2), (2.0, 4.0))})
GOLDEN_SET = GoldenSet(model="m", version=1, cases=(CASE, Case(name="c1", inputs=CASE.inputs, outputs=CASE.outputs)))


class Answer:
    def __init__(self, value: numpy.ndarray) -> None:
        self.value = value

    def get_response(self) -> dict[str, Any]:
        return {"outputs": [{"name": "y", "datatype": "FP32"}]}

    def as_numpy(self, name: str) -> numpy.ndarray:
        return self.value


class FakeClient:
    """Doubles its input (times `factor`), or raises what it is told to."""

    def __init__(self, address: str, timeout: float, *, factor: float = 2.0, raises: BaseException | None = None,
                 calls: list[tuple[str, float]] | None = None) -> None:
        self.factor, self.raises = factor, raises
        if calls is not None:
            calls.append((address, timeout))

    def infer(self, model_name: str, inputs: Any, model_version: str = "") -> Answer:
        if self.raises is not None:
            raise self.raises
        return Answer(numpy.array([[1.0, 2.0]], dtype=numpy.float32) * self.factor)

    def close(self) -> None:
        pass


def probe(pods: dict[str, str], *, seconds: float = 10.0, **client: Any) -> Any:
    calls: list[tuple[str, float]] = []
    result = probe_revision(golden_set=GOLDEN_SET, golden=GOLDEN, model="m", version="1", pods=pods, deadline=Deadline.after(seconds),
                            client_factory=lambda address, timeout: FakeClient(address, timeout, calls=calls, **client))
    return result, calls


def test_every_case_goes_to_every_pod_on_the_http_port() -> None:
    result, calls = probe({"p-2": "127.0.0.3", "p-1": "127.0.0.2"})
    assert [pod.pod for pod in result.pods] == ["p-1", "p-2"]
    assert [address for address, _ in calls] == ["127.0.0.2:8000"] * 2 + ["127.0.0.3:8000"] * 2
    assert all(case.comparisons["y"].matches and case.latency_ms is not None for pod in result.pods for case in pod.cases)


def test_pods_are_bounded() -> None:
    result, _ = probe({f"p-{index}": f"127.0.0.{index + 2}" for index in range(MAX_PODS + 3)})
    assert len(result.pods) == MAX_PODS


def test_wrong_answers_carry_their_difference() -> None:
    result, _ = probe({"p-1": "127.0.0.2"}, factor=2.5)
    comparison = result.pods[0].cases[0].comparisons["y"]
    assert not comparison.matches and comparison.worst_absolute == pytest.approx(1.0)


@pytest.mark.parametrize(("raised", "timed_out", "error"), [
    (RuntimeError("[400] model raised"), False, "RuntimeError: [400] model raised"),
    (socket.timeout("timed out"), True, "no answer within 5s"),
    (ConnectionRefusedError(111, "Connection refused"), False, "ConnectionRefusedError: [Errno 111] Connection refused"),
])
def test_errors_and_timeouts_are_the_pods_answer(raised: BaseException, timed_out: bool, error: str) -> None:
    result, _ = probe({"p-1": "127.0.0.2"}, raises=raised)
    case = result.pods[0].cases[0]
    assert (case.timed_out, case.error, dict(case.comparisons)) == (timed_out, error, {})


def test_requests_after_the_deadline_are_skipped_not_sent() -> None:
    result, calls = probe({"p-1": "127.0.0.2"}, seconds=0.0)
    assert (result.skipped, calls, [len(pod.cases) for pod in result.pods]) == (2, [], [0])


def test_each_request_is_bounded_by_what_is_left_of_the_deadline() -> None:
    _, calls = probe({"p-1": "127.0.0.2"}, seconds=2.0)
    assert all(0 < timeout <= 2.0 for _, timeout in calls)


@pytest.mark.parametrize(("pods", "allowed", "problem"), [
    ({}, True, "no Ready pods to probe"),
    ({"p-1": "10.0.0.1"}, False, "no Ready pod is inside the allowed networks (10.0.0.1)"),
])
def test_nothing_to_probe_is_a_problem_not_an_answer(pods: dict[str, str], allowed: bool, problem: str) -> None:
    result = probe_revision(golden_set=GOLDEN_SET, golden=GOLDEN, model="m", version="1", pods=pods, deadline=Deadline.after(1),
                            allowed=lambda address: allowed, client_factory=lambda address, timeout: FakeClient(address, timeout))
    assert (result.problem, result.pods) == (problem, ())


def test_a_missing_output_is_an_unbounded_mismatch() -> None:
    comparisons = compare_outputs(expected={"y": CASE.outputs["y"], "z": CASE.outputs["y"]}, actual={"y": CASE.outputs["y"]}, golden=GOLDEN)
    assert comparisons["y"].matches and not comparisons["z"].matches and comparisons["z"].worst_absolute == float("inf")


def test_the_probe_ends_by_its_deadline() -> None:
    class Slow(FakeClient):
        def infer(self, model_name: str, inputs: Any, model_version: str = "") -> Answer:
            time.sleep(0.2)
            return super().infer(model_name, inputs, model_version)

    result = probe_revision(golden_set=GoldenSet(model="m", version=1, cases=(CASE,) * 16), golden=GOLDEN, model="m", version="1",
                            pods={"p-1": "127.0.0.2"}, deadline=Deadline.after(0.5), client_factory=lambda address, timeout: Slow(address, timeout))
    assert result.skipped > 0 and len(result.pods[0].cases) + result.skipped == 16

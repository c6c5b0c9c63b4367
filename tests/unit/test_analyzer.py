"""The analyzer's wiring of providers to the judge, with a fake /metrics source (pure logic only)."""

from __future__ import annotations

from typing import Any

import numpy

from tests.harness.specs import model_deployment
from tritonops.analyzer import Analyzer, address_filter
from tritonops.desired.revision import Revision
from tritonops.golden.golden_set import Case, GoldenSet, Tensor
from tritonops.providers.bounded_http import Deadline

STABLE = Revision(hash="aaaa", version="1", image="i")
CANARY = Revision(hash="bbbb", version="2", image="i")
PODS = [
    {"name": "s-1", "revision": "aaaa", "ip": "127.77.0.1", "ready": True},
    {"name": "c-1", "revision": "bbbb", "ip": "127.77.0.2", "ready": True},
    {"name": "c-2", "revision": "bbbb", "ip": "10.1.2.3", "ready": True},
]


def exposition(*, model: str, version: str, success: int, failure: int, duration_us: int) -> str:
    labels = f'model="{model}",version="{version}"'
    return (
        f"nv_inference_request_success{{{labels}}} {success}\n"
        f'nv_inference_request_failure{{{labels},reason="BACKEND"}} {failure}\n'
        f"nv_inference_request_duration_us{{{labels}}} {duration_us}\n"
        f"nv_inference_queue_duration_us{{{labels}}} 0\n"
    )


class FakeMetrics:
    def __init__(self) -> None:
        self.counters = {"127.77.0.1": (0, 0), "127.77.0.2": (0, 0)}
        self.fetched: list[str] = []

    def __call__(self, url: str, *, deadline: Deadline) -> str:
        self.fetched.append(url)
        address = url.split("//")[1].split(":")[0]
        success, failure = self.counters[address]
        version = "1" if address == "127.77.0.1" else "2"
        return exposition(model="resnet", version=version, success=success, failure=failure, duration_us=success * 1000)


def spec() -> dict[str, object]:
    return {"rollout": {"analysis": {"minRequests": 20, "successRate": {"min": 0.99}, "maxErrorRateIncrease": 0.01}}}


def test_first_call_only_samples_then_windows_are_judged_per_revision() -> None:
    metrics = FakeMetrics()
    analyzer = Analyzer(scrape_networks=["127.0.0.0/8"], fetch=metrics)
    resource = model_deployment(spec())
    assert analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS) is None
    metrics.counters = {"127.77.0.1": (100, 0), "127.77.0.2": (30, 10)}
    verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Failed"
    assert dict(verdict.requests) == {"canary": 40, "stable": 100}
    success = next(check for check in verdict.checks if check.check == "successRate")
    assert success.value == 0.75
    # The pod outside the allowed networks is never contacted.
    assert all("10.1.2.3" not in url for url in metrics.fetched)


def test_too_few_requests_are_inconclusive() -> None:
    metrics = FakeMetrics()
    analyzer = Analyzer(fetch=metrics, scrape_networks=["127.0.0.0/8"])
    resource = model_deployment(spec())
    analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    metrics.counters = {"127.77.0.1": (100, 0), "127.77.0.2": (5, 0)}
    verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Inconclusive"


def test_prime_takes_the_first_sample_only_once() -> None:
    metrics = FakeMetrics()
    analyzer = Analyzer(fetch=metrics, scrape_networks=["127.0.0.0/8"])
    resource = model_deployment(spec())
    analyzer.prime(resource, stable=STABLE, canary=CANARY, pods=PODS)
    fetched = len(metrics.fetched)
    analyzer.prime(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert len(metrics.fetched) == fetched == 2
    metrics.counters = {"127.77.0.1": (50, 0), "127.77.0.2": (50, 0)}
    verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Passed"


def test_a_prometheus_that_cannot_answer_makes_the_window_inconclusive() -> None:
    def failing(url: str, *, deadline: Deadline):  # type: ignore[no-untyped-def]
        def query(promql: str) -> float | None:
            raise OSError("connection refused")

        return query

    analyzer = Analyzer(prometheus_query=failing)
    resource = model_deployment({"rollout": {"analysis": {"provider": "prometheus", "prometheus": {"url": "http://127.0.0.1:1"}}}})
    verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Inconclusive"
    assert "connection refused" in verdict.reason


def test_address_filter() -> None:
    allowed = address_filter(["127.0.0.0/8"])
    assert allowed("127.77.0.2") and not allowed("10.0.0.1") and not allowed("not-an-ip")
    assert address_filter([])("10.0.0.1")


def test_the_prometheus_provider_runs_the_window_queries_and_custom_checks() -> None:
    asked: list[str] = []

    def prometheus(url: str, *, deadline: Deadline):  # type: ignore[no-untyped-def]
        assert url == "http://127.0.0.1:9090"

        def query(promql: str) -> float | None:
            asked.append(promql)
            if promql == "histogram_quantile(0.99, x)":
                return 420.0
            if "nv_inference_request_success" in promql:
                return 100.0
            if "nv_inference_request_failure" in promql:
                return 0.0
            return 100_000.0  # duration counters: 1 ms per request

        return query

    analysis = {"provider": "prometheus", "prometheus": {"url": "http://127.0.0.1:9090"}, "minRequests": 20,
                "custom": [{"name": "p99", "query": "histogram_quantile(0.99, x)", "max": 300}]}
    analyzer = Analyzer(prometheus_query=prometheus)
    verdict = analyzer.analyse(model_deployment({"rollout": {"analysis": analysis}}), stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Failed"
    p99 = next(check for check in verdict.checks if check.check == "p99")
    assert (p99.value, p99.threshold, p99.passed) == (420.0, "<= 300", False)
    assert any('inference_tritonops_dev_revision="bbbb"' in promql for promql in asked)


def test_a_custom_query_of_an_unexpected_shape_is_an_inconclusive_check_not_an_error() -> None:
    from tritonops.providers.prometheus import UnexpectedResult

    def prometheus(url: str, *, deadline: Deadline):  # type: ignore[no-untyped-def]
        def query(promql: str) -> float | None:
            if promql == "up":
                raise UnexpectedResult("the query returned 2 series, not one number")
            return 100.0 if "nv_inference_request_success" in promql else 0.0

        return query

    analysis = {"provider": "prometheus", "prometheus": {"url": "http://127.0.0.1:9090"}, "minRequests": 20,
                "successRate": {"min": 0.99}, "custom": [{"name": "p99", "query": "up", "max": 300}]}
    verdict = Analyzer(prometheus_query=prometheus).analyse(model_deployment({"rollout": {"analysis": analysis}}), stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Inconclusive"
    assert "p99" in verdict.reason and "2 series" in verdict.reason
    assert next(check for check in verdict.checks if check.check == "successRate").passed is True


def test_a_provider_bug_is_an_inconclusive_window_not_an_aborted_reconcile() -> None:
    def broken(url: str, *, deadline: Deadline):  # type: ignore[no-untyped-def]
        def query(promql: str) -> float | None:
            raise TypeError("list indices must be integers or slices, not str")

        return query

    resource = model_deployment({"rollout": {"analysis": {"provider": "prometheus", "prometheus": {"url": "http://127.0.0.1:1"}}}})
    verdict = Analyzer(prometheus_query=broken).analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Inconclusive" and "TypeError" in verdict.reason


# -- the golden checks join the window's -------------------------------------------------------------------------

GOLDEN_SET = GoldenSet(model="resnet", version=2, cases=(
    Case(name="c0", inputs={"x": Tensor("FP32", (1, 2), (1.0, 2.0))}, outputs={"y": Tensor("FP32", (1, 2), (2.0, 4.0))}),))


class Answer:
    def __init__(self, value: Any) -> None:
        self.value = value

    def get_response(self) -> dict[str, Any]:
        return {"outputs": [{"name": "y", "datatype": "FP32"}]}

    def as_numpy(self, name: str) -> Any:
        return self.value


class Doubler:
    """A Triton whose canary (127.77.0.2) answers `canary_factor` times its input, the stable twice it."""

    def __init__(self, canary_factor: float) -> None:
        self.canary_factor = canary_factor
        self.addresses: list[str] = []

    def __call__(self, address: str, timeout: float) -> Any:
        self.addresses.append(address)
        factor = self.canary_factor if address.startswith("127.77.0.2") else 2.0

        class Client:
            def infer(self, model_name: str, inputs: Any, model_version: str = "") -> Answer:
                return Answer(numpy.array([[1.0, 2.0]], dtype=numpy.float32) * factor)

            def close(self) -> None:
                pass

        return Client()


def golden_spec() -> dict[str, object]:
    return {"rollout": {"analysis": {"minRequests": 20, "successRate": {"min": 0.99}, "golden": {"configMapRef": {"name": "g"}}}}}


def test_golden_checks_join_the_window_and_fail_it_whatever_the_traffic() -> None:
    metrics, client = FakeMetrics(), Doubler(canary_factor=2.5)
    analyzer = Analyzer(scrape_networks=["127.0.0.0/8"], fetch=metrics, golden_client=client)
    resource = model_deployment(golden_spec())
    assert analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS, golden_set=GOLDEN_SET) is None
    # No traffic at all: the metric checks are inconclusive, yet a wrong answer fails the window.
    verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS, golden_set=GOLDEN_SET)
    assert verdict is not None and verdict.result == "Failed"
    golden = {(check.check, check.revision): check for check in verdict.checks}
    assert golden[("golden:y", "canary")].value == 1.0 and golden[("golden:y", "canary")].passed is False
    assert [(r.check, r.value) for r in verdict.readings if r.check.startswith("golden")] == [("golden:y", 0.0), ("goldenErrorRate", 0.0)]
    # Only pods inside the allowed networks are probed, on Triton's HTTP port; the canary first.
    assert client.addresses == ["127.77.0.2:8000", "127.77.0.1:8000"]


def test_the_golden_gate_alone_and_an_unreadable_set() -> None:
    analyzer = Analyzer(scrape_networks=["127.0.0.0/8"], fetch=FakeMetrics(), golden_client=Doubler(canary_factor=2.0))
    resource = model_deployment(golden_spec())
    assert analyzer.golden(resource, golden_set=GOLDEN_SET, stable=STABLE, canary=CANARY, pods=PODS).result == "Passed"
    unreadable = analyzer.golden(resource, golden_set="ConfigMap default/g cannot be read: 404 Not Found", stable=STABLE, canary=CANARY, pods=PODS)
    assert unreadable.result == "Inconclusive" and "ConfigMap default/g cannot be read" in unreadable.reason

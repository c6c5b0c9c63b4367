"""The golden probe against the real tritonserver: right answers pass, wrong ones fail with the measured
difference, error responses (which Triton counts as successes) and timeouts fail, and small differences
within tolerance (fp16 against fp32) pass. One server serves every version of one model side by side."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Callable

import pytest

from tests.harness.models import Faults, write_model
from tests.harness.specs import model_deployment
from tests.integration.test_triton import counter
from tritonops.analyzer import Analyzer
from tritonops.desired.revision import Revision
from tritonops.engine.analysis import Check, Verdict
from tritonops.golden.golden_set import Case, GoldenSet, Tensor
from tritonops.devcluster.triton import TritonServer

RIGHT, WRONG, ERRORS, CLOSE, SLOW = "1", "2", "3", "4", "5"
VERSIONS = {
    RIGHT: Faults(),
    WRONG: Faults(factor=2.5),  # fast, error-free, and wrong
    ERRORS: Faults(error_responses=True),  # an error inside every response: Triton counts a success
    CLOSE: Faults(factor=2.0001),  # within atol 1e-4 + rtol 1e-3, like fp16 against fp32
    SLOW: Faults(delay_ms=1500),  # slower than timeoutSeconds
}
GOLDEN_SET = GoldenSet(model="doubler", version=1, cases=(
    Case(name="small", inputs={"INPUT": Tensor("FP32", (3,), (1.0, 2.5, -4.0))}, outputs={"OUTPUT": Tensor("FP32", (3,), (2.0, 5.0, -8.0))}),
    Case(name="large", inputs={"INPUT": Tensor("FP32", (2,), (100.0, 0.125))}, outputs={"OUTPUT": Tensor("FP32", (2,), (200.0, 0.25))}),
))


@pytest.fixture
def server(tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer]) -> TritonServer:
    repository = tmp_path / "models"
    for version, faults in VERSIONS.items():
        model = write_model(repository, version=int(version), version_faults=faults)
    # Serve every version at once (Triton's default policy serves only the latest).
    config = model / "config.pbtxt"
    config.write_text(config.read_text() + "version_policy: { all { } }\n")
    return start_triton(repository)


def golden(server: TritonServer, *, canary: str, stable: str = RIGHT, timeout_seconds: float = 5) -> Verdict:
    resource = model_deployment({"model": {"name": "doubler"},
                                 "rollout": {"analysis": {"golden": {"configMapRef": {"name": "doubler-golden"}, "timeoutSeconds": timeout_seconds}}}})
    # Two "pods" of different revisions on the one server: each revision's version is what its requests ask for.
    pods = [{"name": "canary-0", "revision": "c", "ip": server.address, "ready": True},
            {"name": "stable-0", "revision": "s", "ip": server.address, "ready": True}]
    analyzer = Analyzer(scrape_networks=["127.0.0.0/8"])
    return analyzer.golden(resource, golden_set=GOLDEN_SET, stable=Revision(hash="s", version=stable, image="i"),
                           canary=Revision(hash="c", version=canary, image="i"), pods=pods)


def checks(verdict: Verdict) -> dict[str, Check]:
    return {check.check: check for check in verdict.checks}


def test_right_answers_pass(server: TritonServer) -> None:
    verdict = golden(server, canary=RIGHT)
    assert verdict.result == "Passed", verdict.reason
    assert (checks(verdict)["golden:OUTPUT"].value, checks(verdict)["goldenErrorRate"].value) == (0.0, 0.0)


def test_wrong_answers_fail_with_the_measured_difference(server: TritonServer) -> None:
    verdict = golden(server, canary=WRONG)
    assert verdict.result == "Failed"
    output = checks(verdict)["golden:OUTPUT"]
    # 2.5 x 100 against the expected 200: the worst difference of both cases.
    assert output.passed is False and output.value == pytest.approx(50.0)
    assert "pod canary-0 case small" in (output.message or "")
    assert [(r.check, r.value) for r in verdict.readings if r.check == "golden:OUTPUT"] == [("golden:OUTPUT", 0.0)]


def test_error_responses_fail_though_triton_counts_them_as_successes(server: TritonServer) -> None:
    verdict = golden(server, canary=ERRORS)
    assert verdict.result == "Failed"
    errors = checks(verdict)["goldenErrorRate"]
    assert (errors.value, errors.passed) == (1.0, False) and "error response for request" in (errors.message or "")
    metrics = server.metrics_text()
    assert counter(metrics, "nv_inference_request_success", model="doubler", version=ERRORS) == 2
    assert counter(metrics, "nv_inference_request_failure", model="doubler", version=ERRORS) == 0


def test_differences_within_tolerance_pass_and_are_measured(server: TritonServer) -> None:
    verdict = golden(server, canary=CLOSE)
    assert verdict.result == "Passed", verdict.reason
    assert 0 < (checks(verdict)["golden:OUTPUT"].value or 0) < 0.05


def test_a_timeout_fails(server: TritonServer) -> None:
    verdict = golden(server, canary=SLOW, timeout_seconds=0.5)
    assert verdict.result == "Failed"
    errors = checks(verdict)["goldenErrorRate"]
    assert errors.passed is False and "no answer within 0.5s" in (errors.message or "")


def test_a_stable_that_fails_too_makes_it_inconclusive(server: TritonServer) -> None:
    verdict = golden(server, canary=WRONG, stable=WRONG)
    assert verdict.result == "Inconclusive" and "the stable revision fails it too" in verdict.reason


def test_the_probe_works_from_a_worker_thread(server: TritonServer) -> None:
    # The operator probes from its work queue's threads, not the main one.
    results: list[Verdict] = []
    worker = threading.Thread(target=lambda: results.append(golden(server, canary=WRONG)))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and results[0].result == "Failed"

"""What `make bench-versus` runs: the faults, the two settings, and each tool's objects for them (pure)."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from bench import flagger, golden
from tests.harness.models import Faults
from tests.harness.real_node import real_node_server_spec
from tests.harness.resources import model_deployment
from tests.harness.specs import model_deployment_body
from tritonops.desired.deployment import build_deployment
from tritonops.resource import ModelDeployment

NAME = "doubler"
TOOLS = ("tritonops", "flagger")
RATE = 40.0  # requests/s: tritonops' whole Service, split 1:1 between its stable and canary pods
CANARY_RATE = RATE / 2  # what tritonops' canary gets at its 50 % step, and so what Flagger's canary gets
STEP_PERCENT = 50
SUCCESS_RATE_MIN = 0.99
LATENCY_MAX_MS = 80
MIN_REQUESTS = 10
PROGRESS_DEADLINE_SECONDS = 60
STARTUP_TIMEOUT_SECONDS = 60
# Flagger promotes after this many passed checks: far more than any fault here needs to be caught.
FLAGGER_ITERATIONS = 10
# Flagger's crash case waits out the kubelet's growing restart back-off: minutes.
GONE_TIMEOUT_SECONDS = 420.0
KINDS: dict[str, Faults] = {
    "errors": Faults(failure_rate=0.05),
    "latency": Faults(delay_ms=120),
    "crash": Faults(crash_after_requests=0),
    "load-failure": Faults(fail_load=True),
    "never-ready": Faults(hang_load=True),
    "wrong-answer": Faults(factor=2.5),
}
# Switched on once the canary passed an analysis; the others are written into version 2 before the rollout.
SWITCHED = ("errors", "latency", "crash")
# Faults only tritonops' golden gate can see: its ModelDeployment gets the gate, and its load goes through the Service.
GOLDEN_GATED = ("wrong-answer",)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Setting:
    name: str
    description: str
    tritonops_interval_seconds: int
    tritonops_failure_limit: int
    flagger_interval_seconds: int
    flagger_threshold: int
    kinds: tuple[str, ...]

    def parameters(self, tool: str) -> tuple[int, int]:
        """(interval seconds, failures before rollback) of one tool: runs with equal parameters are shared."""
        if tool == "tritonops":
            return self.tritonops_interval_seconds, self.tritonops_failure_limit
        return self.flagger_interval_seconds, self.flagger_threshold


SETTINGS: dict[str, Setting] = {
    "common": Setting(name="common", description="both at 10 s x 2",
                      tritonops_interval_seconds=10, tritonops_failure_limit=2, flagger_interval_seconds=10, flagger_threshold=2,
                      kinds=tuple(KINDS)),
    "fastest": Setting(name="fastest", description="tritonops 5 s x 2, Flagger 10 s x 2 (its floor)",
                       tritonops_interval_seconds=5, tritonops_failure_limit=2, flagger_interval_seconds=10, flagger_threshold=2,
                       kinds=("errors", "latency")),
}


def flagger_analysis(setting: Setting) -> flagger.FlaggerAnalysis:
    return flagger.FlaggerAnalysis(
        interval_seconds=setting.flagger_interval_seconds, threshold=setting.flagger_threshold, iterations=FLAGGER_ITERATIONS,
        progress_deadline_seconds=PROGRESS_DEADLINE_SECONDS, success_rate_min_percent=SUCCESS_RATE_MIN * 100, latency_max_ms=LATENCY_MAX_MS,
    )


def tritonops_body(setting: Setting, *, repository: pathlib.Path, kind: str | None = None) -> dict[str, Any]:
    analysis: dict[str, Any] = {"intervalSeconds": setting.tritonops_interval_seconds, "failureLimit": setting.tritonops_failure_limit,
                                "minRequests": MIN_REQUESTS, "successRate": {"min": SUCCESS_RATE_MIN}, "latencyMs": {"max": LATENCY_MAX_MS}}
    if kind in GOLDEN_GATED:
        analysis["golden"] = golden.GOLDEN
    return model_deployment(
        NAME, replicas=2, model={"repository": f"file://{repository}", "version": "1"},
        server={**real_node_server_spec(), "startupTimeoutSeconds": STARTUP_TIMEOUT_SECONDS, "resources": {"limits": {"memory": "150Mi"}}},
        rollout={"steps": [STEP_PERCENT], "stepSeconds": 600, "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS, "analysis": analysis},
    )


def flagger_target(setting: Setting, *, repository: pathlib.Path, namespace: str, version: str) -> dict[str, Any]:
    """The Deployment tritonops would run for the same spec at `version`, as Flagger's 1-replica target."""
    spec = tritonops_body(setting, repository=repository)["spec"]
    spec["model"]["version"] = version
    # Defaulted from the CRD's schema, as the API server stores tritonops' own ModelDeployment.
    resource = ModelDeployment.from_body(model_deployment_body(spec, name=NAME, namespace=namespace))
    return flagger.target_deployment(build_deployment(resource, resource.revision, replicas=1), name=NAME)

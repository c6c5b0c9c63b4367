"""The golden set both rollback benchmarks gate their wrong-answer fault with (bench-rollback, bench-versus):
the doubler's right answers, checked within the e2e tests' tolerances, and the ConfigMap that holds them."""

from __future__ import annotations

from kubernetes import client

from tritonops.golden.golden_set import Case, GoldenSet, Tensor, render

MODEL = "doubler"
CONFIG_MAP = f"{MODEL}-golden"
# Version 2 is the one the wrong-answer fault is written into: the gate probes the canary with these cases.
GOLDEN_SET = GoldenSet(model=MODEL, version=2, cases=(
    Case(name="small", inputs={"INPUT": Tensor("FP32", (3,), (1.0, 2.5, -4.0))}, outputs={"OUTPUT": Tensor("FP32", (3,), (2.0, 5.0, -8.0))}),
))
# spec.rollout.analysis.golden
GOLDEN = {"configMapRef": {"name": CONFIG_MAP}, "atol": 1e-4, "rtol": 1e-3, "timeoutSeconds": 3}


def create_config_map(core: client.CoreV1Api, *, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=CONFIG_MAP), data={"golden.json": render(GOLDEN_SET)}))

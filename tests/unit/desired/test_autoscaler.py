from __future__ import annotations

from tests.harness.specs import model_deployment
from tritonops.desired.autoscaler import DEFAULT_METRICS, build_autoscaler


def test_no_autoscaler_when_disabled() -> None:
    assert build_autoscaler(model_deployment()) is None


def test_autoscaler_targets_the_model_deployment_scale() -> None:
    hpa = build_autoscaler(model_deployment({"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6}}))
    assert hpa is not None
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "inference.tritonops.dev/v1alpha1", "kind": "ModelDeployment", "name": "resnet"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"] == DEFAULT_METRICS
    assert "behavior" not in hpa["spec"]


def test_metrics_and_behavior_pass_through() -> None:
    metrics = [{"type": "Pods", "pods": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 30}}
    hpa = build_autoscaler(model_deployment({"autoscaling": {"enabled": True, "metrics": metrics, "behavior": behavior}}))
    assert hpa is not None
    assert hpa["spec"]["metrics"] == metrics
    assert hpa["spec"]["behavior"] == behavior

from __future__ import annotations

from prometheus_client import REGISTRY

from tritonops import metrics


def _value(check: str) -> float | None:
    return REGISTRY.get_sample_value("tritonops_analysis_value", {"namespace": "ns", "name": "gone", "check": check, "revision": "canary"})


def test_a_deleted_object_takes_its_series_with_it() -> None:
    metrics.record_status(namespace="ns", name="gone", phase="Canary", weight=25)
    metrics.record_analysis(namespace="ns", name="gone", check="successRate", revision="canary", value=0.5)
    assert _value("successRate") == 0.5
    assert REGISTRY.get_sample_value("tritonops_canary_weight", {"namespace": "ns", "name": "gone"}) == 25
    metrics.forget(namespace="ns", name="gone")
    assert _value("successRate") is None
    assert REGISTRY.get_sample_value("tritonops_canary_weight", {"namespace": "ns", "name": "gone"}) is None
    assert REGISTRY.get_sample_value("tritonops_rollout_phase", {"namespace": "ns", "name": "gone", "phase": "Canary"}) is None

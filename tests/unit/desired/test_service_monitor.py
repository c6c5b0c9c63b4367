from __future__ import annotations

import datetime

from tests.harness.specs import model_deployment
from tritonops.desired.service_monitor import build_service_monitor, wants_service_monitor
from tritonops.engine.actions import ChildReference
from tritonops.engine.observations import Observations
from tritonops.engine.reconcile import plan

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.timezone.utc)


def test_the_service_monitor_scrapes_the_metrics_port_and_keeps_the_revision_label() -> None:
    resource = model_deployment({"monitoring": {"serviceMonitor": True}})
    assert wants_service_monitor(resource) and not wants_service_monitor(model_deployment())
    monitor = build_service_monitor(resource)
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["podTargetLabels"] == ["inference.tritonops.dev/revision"]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "resnet"}
    assert monitor["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"


def test_created_only_when_the_crd_is_served_and_the_condition_says_so() -> None:
    resource = model_deployment({"monitoring": {"serviceMonitor": True}})
    served = plan(resource, Observations(service_monitor_supported=True), now=NOW)
    assert "ServiceMonitor" in [m["kind"] for m in served.apply]
    missing = plan(resource, Observations(service_monitor_supported=False), now=NOW)
    assert "ServiceMonitor" not in [m["kind"] for m in missing.apply]
    condition = next(c for c in missing.status["conditions"] if c["type"] == "ServiceMonitor")
    assert (condition["status"], condition["reason"]) == ("False", "CRDNotInstalled")


def test_turning_monitoring_off_deletes_the_service_monitor_once() -> None:
    on = plan(model_deployment({"monitoring": {"serviceMonitor": True}}), Observations(service_monitor_supported=True), now=NOW)
    off = plan(model_deployment(status=dict(on.status)), Observations(), now=NOW)
    assert ChildReference("monitoring.coreos.com/v1", "ServiceMonitor", "resnet") in off.delete
    assert all(c["type"] != "ServiceMonitor" for c in off.status["conditions"])
    again = plan(model_deployment(status=dict(off.status)), Observations(), now=NOW)
    assert again.delete == []

from __future__ import annotations

from tests.harness.specs import model_deployment
from tritonops.desired.service import build_service, endpoints


def test_service_selects_every_revision_and_exposes_three_ports() -> None:
    service = build_service(model_deployment({"service": {"type": "LoadBalancer", "annotations": {"a": "b"}}}))
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "resnet"}
    assert "inference.tritonops.dev/revision" not in service["spec"]["selector"]
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("http", 8000), ("grpc", 8001), ("metrics", 8002)]
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == {"a": "b"}
    assert service["metadata"]["ownerReferences"][0]["uid"] == "uid-1234"


def test_endpoints() -> None:
    assert endpoints(model_deployment()) == {
        "http": "resnet.vision.svc:8000",
        "grpc": "resnet.vision.svc:8001",
        "metrics": "resnet.vision.svc:8002",
    }


def test_the_service_can_be_narrowed_to_one_revision() -> None:
    resource = model_deployment()
    everything = build_service(resource)["spec"]["selector"]
    narrowed = build_service(resource, only_revision="5f2c9a1e")["spec"]["selector"]
    assert narrowed == {**everything, "inference.tritonops.dev/revision": "5f2c9a1e"}
    assert "inference.tritonops.dev/revision" not in everything

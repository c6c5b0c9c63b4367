from __future__ import annotations

import pytest

from tests.harness.specs import model_deployment
from tritonops.routers.gateway_api import build_revision_service, build_routes

RESOURCE = model_deployment(
    {"traffic": {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference", "namespace": "gateways"}], "hostnames": ["models.example.com"]}}}
)


@pytest.mark.parametrize(("canary", "weight", "expected"), [(None, 0, [100]), ("new", 25, [75, 25]), ("new", 100, [0, 100])])
def test_routes_carry_the_exact_weights(canary: str | None, weight: int, expected: list[int]) -> None:
    http, grpc = build_routes(RESOURCE, stable="old", canary=canary, weight=weight)
    assert (http["kind"], grpc["kind"]) == ("HTTPRoute", "GRPCRoute")
    for route, port in ((http, 8000), (grpc, 8001)):
        backends = route["spec"]["rules"][0]["backendRefs"]
        assert [b["weight"] for b in backends] == expected
        assert {b["port"] for b in backends} == {port}
        assert backends[0]["name"] == "resnet-old"
        assert route["spec"]["parentRefs"] == [{"name": "inference", "namespace": "gateways"}]
        assert route["spec"]["hostnames"] == ["models.example.com"]
        assert route["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"


def test_weight_must_be_a_percentage() -> None:
    with pytest.raises(ValueError):
        build_routes(RESOURCE, stable="old", canary="new", weight=120)


def test_revision_service_selects_one_revision() -> None:
    service = build_revision_service(RESOURCE, "abc")
    assert service["metadata"]["name"] == "resnet-abc"
    assert service["spec"]["selector"]["inference.tritonops.dev/revision"] == "abc"
    assert [p["port"] for p in service["spec"]["ports"]] == [8000, 8001]

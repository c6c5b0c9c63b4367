from __future__ import annotations

from tests.harness.specs import model_deployment
from tritonops.routers import router_for
from tritonops.routers.replicas import ROUTER


def test_the_replicas_router_is_the_default_and_writes_nothing_of_its_own() -> None:
    resource = model_deployment()
    assert router_for(resource) is ROUTER
    assert ROUTER.weighs_routes is False
    assert ROUTER.manifests(resource, stable="aaaa", canary="bbbb", weight=25) == ()

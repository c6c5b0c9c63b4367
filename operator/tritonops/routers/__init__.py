"""Traffic routers: how a canary weight becomes traffic. One interface, one module per router.

`replicas` (no mesh: traffic follows the share of Ready pods behind the one Service) and
`gatewayAPI` (HTTPRoute and GRPCRoute with exact weights). Pod counts are the rollout engine's
decision, not the router's: a router only says what carries the weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tritonops.resource import ModelDeployment


class Router(Protocol):
    # True when route weights carry the split; False when traffic follows the share of Ready pods.
    weighs_routes: bool

    def manifests(self, resource: ModelDeployment, *, stable: str, canary: str | None, weight: int) -> Sequence[Mapping[str, Any]]:
        """The children that carry a split of `weight` percent to `canary` (routes and their backends)."""
        ...


def router_for(resource: ModelDeployment) -> Router:
    from tritonops.routers import gateway_api, replicas

    return gateway_api.ROUTER if resource.spec.traffic.router == "gatewayAPI" else replicas.ROUTER

"""Traffic routers: how a canary weight becomes traffic. One interface, one module per router.

`replicas` (no mesh: the weight is the share of pods behind the one Service) and `gatewayAPI`
(HTTPRoute and GRPCRoute with exact weights).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tritonops.resource import ModelDeployment


@dataclasses.dataclass(frozen=True)
class TrafficPlan:
    stable_replicas: int
    canary_replicas: int
    # The share of traffic the canary really gets, which status reports.
    effective_weight: int
    # Children that carry the split (routes and their backend Services); empty for `replicas`.
    manifests: Sequence[Mapping[str, Any]] = ()


class Router(Protocol):
    def __call__(self, resource: ModelDeployment, *, stable: str, canary: str | None, weight: int, total: int) -> TrafficPlan: ...


def router_for(resource: ModelDeployment) -> Router:
    from tritonops.routers import gateway_api, replicas

    return gateway_api.route if resource.spec.traffic.router == "gatewayAPI" else replicas.route

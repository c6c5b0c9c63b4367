"""The replicas router: no mesh, so the canary's traffic is its share of the Ready pods behind the one Service. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tritonops.resource import ModelDeployment


class ReplicasRouter:
    weighs_routes = False

    def manifests(self, resource: ModelDeployment, *, stable: str, canary: str | None, weight: int) -> Sequence[Mapping[str, Any]]:
        # The Service selects every Triton pod: the pods themselves are the split, nothing else to write.
        return ()


ROUTER = ReplicasRouter()

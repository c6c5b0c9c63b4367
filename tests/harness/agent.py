"""What puts a pod on the test node agent's nodes (tritonops.devcluster.node_agent)."""

from __future__ import annotations

from typing import Any

from tritonops.devcluster import nodes


def agent_pod_scheduling() -> dict[str, Any]:
    """Pod spec fields for a one-GPU pod on an agent node: its taint tolerated, its product required."""
    return {
        "tolerations": [dict(nodes.AGENT_TOLERATION), {"key": nodes.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        "nodeSelector": {nodes.PRODUCT_LABEL: nodes.L4},
    }


def agent_server_spec() -> dict[str, Any]:
    """The ModelDeployment `spec.server` fields that put its Triton pods on agent nodes."""
    return {"gpu": {"count": 1, "products": [nodes.L4]}, "tolerations": [dict(nodes.AGENT_TOLERATION)]}

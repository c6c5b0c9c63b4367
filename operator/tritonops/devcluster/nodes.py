"""The simulated nodes of the local cluster: GPU nodes of two products, a MIG node and a CPU node."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE = "nvidia.com/mig-1g.10gb"
PRODUCT_LABEL = "nvidia.com/gpu.product"
H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-40GB"
A100_80GB = "NVIDIA-A100-SXM4-80GB"
# Every simulated node answers on loopback, so nothing ever addresses a non-local IP.
NODE_ADDRESS = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class SimulatedNode:
    name: str
    product: str | None = None
    extended_resources: Mapping[str, int] = dataclasses.field(default_factory=dict)
    cpu: str = "64"
    memory: str = "512Gi"
    pods: int = 250


DEFAULT_NODES: tuple[SimulatedNode, ...] = (
    SimulatedNode(name="gpu-h100-0", product=H100, extended_resources={GPU_RESOURCE: 8}),
    SimulatedNode(name="gpu-h100-1", product=H100, extended_resources={GPU_RESOURCE: 8}),
    SimulatedNode(name="gpu-a100-0", product=A100, extended_resources={GPU_RESOURCE: 8}),
    SimulatedNode(name="gpu-a100-1", product=A100, extended_resources={GPU_RESOURCE: 8}),
    SimulatedNode(name="gpu-mig-0", product=A100_80GB, extended_resources={MIG_RESOURCE: 7}),
    SimulatedNode(name="cpu-0"),
)


def node_manifest(node: SimulatedNode, *, kubelet_port: int) -> dict[str, Any]:
    """A Node object that kwok manages; its status carries the GPU capacity the scheduler sees."""
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    if node.product:
        labels[PRODUCT_LABEL] = node.product
        labels["nvidia.com/gpu.present"] = "true"
        count = sum(node.extended_resources.values())
        labels["nvidia.com/gpu.count"] = str(count)
        if MIG_RESOURCE in node.extended_resources:
            labels["nvidia.com/mig.strategy"] = "mixed"
    capacity: dict[str, str] = {"cpu": node.cpu, "memory": node.memory, "pods": str(node.pods)}
    capacity.update({name: str(count) for name, count in node.extended_resources.items()})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": labels,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
                # kwok serves each node's resource metrics under its own path on one shared port.
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{node.name}/metrics/resource",
            },
        },
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "addresses": [
                {"type": "InternalIP", "address": NODE_ADDRESS},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "containerRuntimeVersion": "fake",
                "osImage": "kwok",
                "kernelVersion": "fake",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }

"""The simulated nodes of the local cluster.

kwok simulates the default nodes (GPU nodes of two products, a MIG node and a CPU node): it manages
every node annotated `kwok.x-k8s.io/node: fake`. The real nodes (a kubelet and containerd each) carry
no such annotation; their kubelets register them.
"""

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
L4 = "NVIDIA-L4"
# Every simulated node answers on loopback, so nothing ever addresses a non-local IP.
NODE_ADDRESS = "127.0.0.1"
# kwok manages exactly the nodes with this annotation (see cluster.py).
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_ANNOTATION_VALUE = "fake"


def gpu_labels(*, product: str, count: int) -> dict[str, str]:
    """The labels NVIDIA's GPU feature discovery puts on a GPU node, which product affinity selects on."""
    return {PRODUCT_LABEL: product, "nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": str(count)}


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

# Real nodes: a real kubelet and containerd each, named by their own loopback address (which the kubelet
# makes the node's InternalIP). They are tainted so that only pods meant for real containers land there:
# any other pod of the tests names an image that no node holds.
REAL_NODE_LABEL = "tritonops.dev/real-node"
REAL_NODE_TAINT = {"key": REAL_NODE_LABEL, "value": "true", "effect": "NoSchedule"}
REAL_NODE_TOLERATION = {"key": REAL_NODE_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}


@dataclasses.dataclass(frozen=True)
class RealNode:
    """A node run by a real kubelet; GPUs are advertised as extended resources on its status."""

    address: str
    pod_subnet: str
    product: str | None = L4
    gpus: int = 4

    @property
    def name(self) -> str:
        return self.address

    def labels(self) -> dict[str, str]:
        labels = {REAL_NODE_LABEL: "true", "type": "real"}
        if self.product and self.gpus:
            labels.update(gpu_labels(product=self.product, count=self.gpus))
        return labels

    def taints(self) -> list[str]:
        return [f"{REAL_NODE_TAINT['key']}={REAL_NODE_TAINT['value']}:{REAL_NODE_TAINT['effect']}"]


REAL_NODES: tuple[RealNode, ...] = (
    RealNode(address="127.0.0.11", pod_subnet="127.88.1.0/24"),
    RealNode(address="127.0.0.12", pod_subnet="127.88.2.0/24"),
)


def node_manifest(node: SimulatedNode, *, kubelet_port: int) -> dict[str, Any]:
    """A Node object for kwok; its status carries the GPU capacity the scheduler sees."""
    labels = {
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    if node.product:
        labels.update(gpu_labels(product=node.product, count=sum(node.extended_resources.values())))
        if MIG_RESOURCE in node.extended_resources:
            labels["nvidia.com/mig.strategy"] = "mixed"
    capacity: dict[str, str] = {"cpu": node.cpu, "memory": node.memory, "pods": str(node.pods)}
    capacity.update({name: str(count) for name, count in node.extended_resources.items()})
    annotations = {
        "node.alpha.kubernetes.io/ttl": "0",
        KWOK_ANNOTATION: KWOK_ANNOTATION_VALUE,
        # kwok serves each node's resource metrics under its own path on one shared port.
        "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{node.name}/metrics/resource",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": labels, "annotations": annotations},
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

from __future__ import annotations

import pytest

from tritonops.devcluster import nodes


@pytest.mark.parametrize(
    ("simulated", "expected_labels", "expected_capacity"),
    [
        (
            nodes.SimulatedNode(name="g", product=nodes.H100, extended_resources={nodes.GPU_RESOURCE: 8}),
            {nodes.PRODUCT_LABEL: nodes.H100, "nvidia.com/gpu.count": "8"},
            {nodes.GPU_RESOURCE: "8"},
        ),
        (
            nodes.SimulatedNode(name="m", product=nodes.A100_80GB, extended_resources={nodes.MIG_RESOURCE: 7}),
            {nodes.PRODUCT_LABEL: nodes.A100_80GB, "nvidia.com/mig.strategy": "mixed"},
            {nodes.MIG_RESOURCE: "7"},
        ),
        (nodes.SimulatedNode(name="c"), {"kubernetes.io/hostname": "c"}, {"cpu": "64"}),
    ],
)
def test_node_manifest(simulated: nodes.SimulatedNode, expected_labels: dict[str, str], expected_capacity: dict[str, str]) -> None:
    manifest = nodes.node_manifest(simulated, kubelet_port=10250)
    assert expected_labels.items() <= manifest["metadata"]["labels"].items()
    assert expected_capacity.items() <= manifest["status"]["capacity"].items()
    assert manifest["status"]["allocatable"] == manifest["status"]["capacity"]
    assert manifest["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    assert manifest["metadata"]["annotations"]["metrics.k8s.io/resource-metrics-path"] == f"/metrics/nodes/{simulated.name}/metrics/resource"


def test_cpu_node_has_no_gpu_labels() -> None:
    labels = nodes.node_manifest(nodes.SimulatedNode(name="c"), kubelet_port=1)["metadata"]["labels"]
    assert not any(key.startswith("nvidia.com/") for key in labels)


def test_every_node_address_is_loopback() -> None:
    for simulated in nodes.DEFAULT_NODES:
        addresses = nodes.node_manifest(simulated, kubelet_port=1)["status"]["addresses"]
        assert {a["address"] for a in addresses if a["type"] == "InternalIP"} == {"127.0.0.1"}


def test_default_nodes_cover_two_gpu_products_a_mig_node_and_a_cpu_node() -> None:
    products = {n.product for n in nodes.DEFAULT_NODES if nodes.GPU_RESOURCE in n.extended_resources}
    assert len(products) == 2
    assert sum(1 for n in nodes.DEFAULT_NODES if nodes.MIG_RESOURCE in n.extended_resources) == 1
    assert sum(1 for n in nodes.DEFAULT_NODES if not n.extended_resources) == 1
    assert all(n.extended_resources.get(nodes.GPU_RESOURCE, 8) == 8 for n in nodes.DEFAULT_NODES)


def test_kwok_manages_every_simulated_node() -> None:
    for simulated in nodes.DEFAULT_NODES:
        annotations = nodes.node_manifest(simulated, kubelet_port=1)["metadata"]["annotations"]
        assert annotations[nodes.KWOK_ANNOTATION] == nodes.KWOK_ANNOTATION_VALUE


def test_the_real_nodes_gpu_product_is_one_no_simulated_node_has() -> None:
    # Pods meant for real containers select it; no kwok node can take them.
    assert nodes.L4 not in {n.product for n in nodes.DEFAULT_NODES}


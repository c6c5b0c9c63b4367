from __future__ import annotations

from typing import Any

from tests.harness.specs import model_deployment
from tritonops.engine.capacity import shortfall
from tritonops.spec import ServerSpec

H100 = "NVIDIA-H100-80GB-HBM3"


def node(name: str, *, gpus: int, product: str = H100, taints: list[dict[str, Any]] | None = None, unschedulable: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
    }


def pod(node_name: str, *, gpus: int, phase: str = "Running") -> dict[str, Any]:
    return {"spec": {"nodeName": node_name, "containers": [{"resources": {"requests": {"nvidia.com/gpu": str(gpus)}}}]}, "status": {"phase": phase}}


def server(spec: dict[str, Any]) -> ServerSpec:
    """spec.server as the operator reads it, the CRD's defaults filled in."""
    return model_deployment({"server": spec}).spec.server


SERVER_SPEC: dict[str, Any] = {"gpu": {"count": 2, "resourceName": "nvidia.com/gpu", "products": [H100]}}
SERVER = server(SERVER_SPEC)


def test_free_gpus_of_the_product_are_enough() -> None:
    assert shortfall(nodes=[node("a", gpus=8)], pods=[pod("a", gpus=4)], server=SERVER, pods_needed=2) is None


def test_the_shortfall_names_what_is_needed_and_what_is_free() -> None:
    message = shortfall(nodes=[node("a", gpus=8), node("b", gpus=8, product="NVIDIA-A100-SXM4-40GB")], pods=[pod("a", gpus=7)], server=SERVER, pods_needed=1)
    assert message is not None
    assert "needs 1 pod(s) with 2 nvidia.com/gpu of product NVIDIA-H100-80GB-HBM3 each" in message
    assert "room for 0" in message and "a 1/8" in message and "b " not in message


def test_finished_pods_free_their_gpus_and_pods_elsewhere_do_not_count() -> None:
    pods = [pod("a", gpus=8, phase="Succeeded"), pod("other", gpus=8)]
    assert shortfall(nodes=[node("a", gpus=8)], pods=pods, server=SERVER, pods_needed=4) is None


def test_untolerated_taints_and_cordoned_nodes_are_skipped() -> None:
    tainted = node("a", gpus=8, taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    cordoned = node("b", gpus=8, unschedulable=True)
    assert shortfall(nodes=[tainted, cordoned], pods=[], server=SERVER, pods_needed=1) is not None
    tolerating = server({**SERVER_SPEC, "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]})
    assert shortfall(nodes=[tainted], pods=[], server=tolerating, pods_needed=1) is None
    # The GPU taint itself is always tolerated: the operator adds that toleration to every GPU pod.
    gpu_tainted = node("c", gpus=8, taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    assert shortfall(nodes=[gpu_tainted], pods=[], server=SERVER, pods_needed=1) is None


def test_cpu_only_models_need_no_check() -> None:
    assert shortfall(nodes=[], pods=[], server=server({"gpu": {"count": 0}}), pods_needed=3) is None

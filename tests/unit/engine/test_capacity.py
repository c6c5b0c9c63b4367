from __future__ import annotations

from typing import Any

from tests.harness.specs import model_deployment
from tritonops.engine.capacity import room
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


def test_free_gpus_of_the_product_count_in_whole_pods() -> None:
    assert room(nodes=[node("a", gpus=8)], pods=[pod("a", gpus=3)], server=SERVER).pods == 2


def test_the_detail_names_the_pod_shape_and_what_is_free_on_matching_nodes() -> None:
    found = room(nodes=[node("a", gpus=8), node("b", gpus=8, product="NVIDIA-A100-SXM4-40GB")], pods=[pod("a", gpus=7)], server=SERVER)
    assert found.pods == 0
    assert "2 nvidia.com/gpu of product NVIDIA-H100-80GB-HBM3 per pod" in found.detail
    assert "a 1/8" in found.detail and "b " not in found.detail


def test_finished_pods_free_their_gpus_and_pods_elsewhere_do_not_count() -> None:
    pods = [pod("a", gpus=8, phase="Succeeded"), pod("other", gpus=8)]
    assert room(nodes=[node("a", gpus=8)], pods=pods, server=SERVER).pods == 4


def test_a_pod_being_deleted_still_holds_its_gpus() -> None:
    leaving = {**pod("a", gpus=8), "metadata": {"deletionTimestamp": "2026-12-01T00:00:00Z"}}
    assert room(nodes=[node("a", gpus=8)], pods=[leaving], server=SERVER).pods == 0


def test_untolerated_taints_and_cordoned_nodes_are_skipped() -> None:
    tainted = node("a", gpus=8, taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    cordoned = node("b", gpus=8, unschedulable=True)
    assert room(nodes=[tainted, cordoned], pods=[], server=SERVER).pods == 0
    tolerating = server({**SERVER_SPEC, "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]})
    assert room(nodes=[tainted], pods=[], server=tolerating).pods == 4
    # The GPU taint itself is always tolerated: the operator adds that toleration to every GPU pod.
    gpu_tainted = node("c", gpus=8, taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    assert room(nodes=[gpu_tainted], pods=[], server=SERVER).pods == 4


def test_cpu_only_models_are_never_held_back_by_gpus() -> None:
    assert room(nodes=[], pods=[], server=server({"gpu": {"count": 0}})).pods >= 1000


def test_room_if_released_counts_the_gpus_of_the_pods_a_swap_could_give_back() -> None:
    stable = {**pod("a", gpus=2), "metadata": {"labels": {"revision": "old"}}}
    found = room(nodes=[node("a", gpus=4)], pods=[stable, pod("a", gpus=2)], server=SERVER,
                 releasing=lambda p: (p.get("metadata") or {}).get("labels", {}).get("revision") == "old")
    assert (found.pods, found.pods_if_released) == (0, 1)
    # Stable pods still bound to a node count as releasing; one without a node, or finished, holds nothing.
    unbound = {"metadata": {"labels": {"revision": "old"}}, "spec": {"containers": []}, "status": {"phase": "Pending"}}
    finished = {**stable, "status": {"phase": "Failed"}}
    assert room(nodes=[node("a", gpus=4)], pods=[stable, unbound, finished], server=SERVER,
                releasing=lambda p: (p.get("metadata") or {}).get("labels", {}).get("revision") == "old").releasing_pods == 1


def test_unplaced_counts_the_pods_of_the_placed_revision_that_have_no_node() -> None:
    waiting = {"metadata": {"labels": {"revision": "new"}}, "spec": {"containers": []}, "status": {"phase": "Pending"}}
    bound = {**pod("a", gpus=2), "metadata": {"labels": {"revision": "new"}}}
    found = room(nodes=[node("a", gpus=4)], pods=[waiting, bound], server=SERVER,
                 placing=lambda p: (p.get("metadata") or {}).get("labels", {}).get("revision") == "new")
    assert found.unplaced == 1

from __future__ import annotations

import ipaddress
import pathlib

import pytest

from tritonops.devcluster import nodes, pod_network


def test_every_real_node_has_its_own_bridge_within_the_interface_name_limit() -> None:
    bridges = [pod_network.bridge_name(node.name) for node in nodes.REAL_NODES]
    assert len(set(bridges)) == len(bridges)
    assert all(len(bridge) <= 15 for bridge in bridges)


def test_real_node_pod_subnets_are_loopback_and_disjoint() -> None:
    subnets = [ipaddress.ip_network(node.pod_subnet) for node in nodes.REAL_NODES]
    assert all(subnet.is_loopback for subnet in subnets)
    assert all(not first.overlaps(second) for index, first in enumerate(subnets) for second in subnets[index + 1 :])


def test_cni_chain_is_a_bridge_without_masquerade_then_route_localnet(tmp_path: pathlib.Path) -> None:
    configuration = pod_network.cni_configuration(node_name="127.0.0.11", subnet="127.88.1.0/24", ipam_directory=tmp_path)
    bridge, tuning = configuration["plugins"]
    assert (bridge["type"], bridge["isGateway"], bridge["ipMasq"]) == ("bridge", True, False)
    assert bridge["ipam"]["ranges"] == [[{"subnet": "127.88.1.0/24", "gateway": "127.88.1.1"}]]
    assert bridge["ipam"]["routes"] == [{"dst": pod_network.POD_RANGE}]
    assert bridge["ipam"]["dataDir"] == str(tmp_path)
    assert tuning["sysctl"]["net.ipv4.conf.eth0.route_localnet"] == "1"


@pytest.mark.parametrize("subnet", ["10.88.0.0/24", "127.0.0.0/24", "127.89.0.0/24"])
def test_a_subnet_outside_the_loopback_pod_range_is_refused(subnet: str, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="must lie inside"):
        pod_network.cni_configuration(node_name="127.0.0.11", subnet=subnet, ipam_directory=tmp_path)

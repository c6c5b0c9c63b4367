"""The whole test run lives in a loopback-only network namespace: nothing can leave 127.0.0.0/8."""

from __future__ import annotations

import errno
import ipaddress
import json
import pathlib
import socket
import subprocess

import pytest
from kubernetes import client

from tritonops.devcluster import network
from tritonops.devcluster.cluster import POD_CIDR, LocalCluster
from tritonops.devcluster.processes import wait_until


def test_run_is_inside_a_loopback_only_namespace(cluster: LocalCluster) -> None:
    """Whatever bridges and veths the real nodes have made, every address and every route is loopback."""
    addresses = network.interface_addresses()
    assert "lo" in addresses and network.only_loopback(addresses), addresses
    routes = json.loads(subprocess.run(["ip", "-json", "route", "show", "table", "all"], capture_output=True, text=True, check=True).stdout)
    destinations = [str(route["dst"]) for route in routes]
    assert "default" not in destinations
    outside = [d for d in destinations if not (ipaddress.ip_network(d, strict=False).is_loopback or ipaddress.ip_network(d, strict=False).is_multicast)]
    assert outside == []


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.1", "1.1.1.1"])
def test_any_other_address_is_unreachable(address: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        with pytest.raises(OSError) as failure:
            probe.connect((address, 80))
    assert failure.value.errno == errno.ENETUNREACH


def _remote_addresses() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    remotes: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in pathlib.Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
            remote_hex = line.split()[2].split(":")[0]
            raw = bytes.fromhex(remote_hex)
            # /proc shows each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            remotes.add(ipaddress.ip_address(words) if width == 8 else ipaddress.IPv6Address(words))
    return remotes


def test_every_open_connection_is_loopback(cluster: LocalCluster) -> None:
    cluster.apiserver_get("/readyz")
    remotes = _remote_addresses()
    assert remotes, "the control plane keeps connections open, so the table cannot be empty"
    outside = {
        address
        for address in remotes
        if not (address.is_loopback or address.is_unspecified)
        and not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped and address.ipv4_mapped.is_loopback)
    }
    assert outside == set()


def test_non_loopback_targets_are_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="only 127.0.0.0/8"):
        network.require_loopback_address("10.0.0.7")
    network.require_loopback_address("127.0.3.4")


def test_kwok_gives_pods_loopback_addresses(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "simulated"},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": "cpu-0"}, "containers": [{"name": "app", "image": "app"}]},
        },
    )
    wait_until(lambda: bool(core.read_namespaced_pod("simulated", namespace).status.pod_ip), description="a pod IP", timeout_seconds=30)
    address = ipaddress.ip_address(core.read_namespaced_pod("simulated", namespace).status.pod_ip)
    assert address.is_loopback
    assert address in ipaddress.ip_network(POD_CIDR)

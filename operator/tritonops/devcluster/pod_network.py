"""Pod networking on loopback addresses only: a bridge per real node, pod IPs in 127.88.0.0/16.

Linux treats 127.0.0.0/8 as martian on any interface but `lo` unless `route_localnet` is set, so it is
set in the node's namespace (the loopback-only sandbox) and, by the `tuning` plugin, in every pod. The
sandbox has no route out, and every address on the bridge and the veths is loopback, so nothing a pod
does can reach beyond the machine. IPv6 is off, so the interfaces get no link-local addresses either.
"""

from __future__ import annotations

import ipaddress
import json
import pathlib
import subprocess
from typing import Any

# All pod subnets of real nodes; a route for the whole range in each pod reaches the other nodes' pods.
POD_RANGE = "127.88.0.0/16"

_NAMESPACE_SYSCTLS = {
    "net/ipv4/conf/all/route_localnet": "1",
    "net/ipv4/conf/default/route_localnet": "1",
    "net/ipv4/ip_forward": "1",
    "net/ipv6/conf/all/disable_ipv6": "1",
    "net/ipv6/conf/default/disable_ipv6": "1",
}


def bridge_name(node_name: str) -> str:
    """An interface name (at most 15 characters) that is unique per node address."""
    return "tn" + node_name.replace(".", "")[-13:]


def prepare_namespace() -> None:
    """Sysctls of the node's network namespace (the sandbox): loopback routable, forwarding, no IPv6."""
    for key, value in _NAMESPACE_SYSCTLS.items():
        path = pathlib.Path("/proc/sys") / key
        if path.exists():
            path.write_text(value)


def cni_configuration(*, node_name: str, subnet: str, ipam_directory: pathlib.Path) -> dict[str, Any]:
    network = ipaddress.ip_network(subnet)
    if not network.is_loopback or not ipaddress.ip_network(POD_RANGE).supernet_of(network):  # type: ignore[arg-type]
        raise ValueError(f"pod subnet {subnet} must lie inside {POD_RANGE}")
    gateway = str(next(network.hosts()))
    return {
        "cniVersion": "1.0.0",
        "name": f"tritonops-{bridge_name(node_name)}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge_name(node_name),
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    # host-local keeps its leases under /var/lib/cni by default; keep them with the node.
                    "dataDir": str(ipam_directory),
                    "ranges": [[{"subnet": subnet, "gateway": gateway}]],
                    "routes": [{"dst": POD_RANGE}],
                },
            },
            {
                "type": "tuning",
                "sysctl": {"net.ipv4.conf.all.route_localnet": "1", "net.ipv4.conf.eth0.route_localnet": "1"},
            },
        ],
    }


def write_cni_configuration(*, directory: pathlib.Path, node_name: str, subnet: str, ipam_directory: pathlib.Path) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "10-tritonops.conflist"
    path.write_text(json.dumps(cni_configuration(node_name=node_name, subnet=subnet, ipam_directory=ipam_directory), indent=2))
    return path


def delete_bridge(node_name: str) -> None:
    subprocess.run(["ip", "link", "delete", bridge_name(node_name)], capture_output=True, check=False, timeout=10)

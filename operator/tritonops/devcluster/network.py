"""Guards for the network rule: everything local talks only to 127.0.0.0/8."""

from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import socket
import subprocess
from collections.abc import Mapping, Sequence

ALLOW_HOST_NETWORK_VARIABLE = "TRITONOPS_ALLOW_HOST_NETWORK"


def network_interfaces() -> list[str]:
    # /proc/self/net follows the calling process's network namespace; /sys/class/net may not.
    lines = pathlib.Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines if ":" in line)


def interface_addresses() -> dict[str, list[str]]:
    """Every address on every interface of this namespace, from `ip -json address`."""
    completed = subprocess.run(["ip", "-json", "address", "show"], capture_output=True, text=True, timeout=10, check=True)
    return {
        str(interface["ifname"]): [str(address["local"]) for address in interface.get("addr_info", [])]
        for interface in json.loads(completed.stdout or "[]")
    }


def only_loopback(addresses: Mapping[str, Sequence[str]]) -> bool:
    """True when `lo` exists and every address on every interface is loopback.

    Real nodes add a bridge and veth pairs for their pods; those are fine as long as every address on
    them is in 127.0.0.0/8 (or ::1), since then no packet can be addressed beyond the machine. An
    interface with no address at all (a veth's host end) cannot be a route out either.
    """
    return "lo" in addresses and all(ipaddress.ip_address(address).is_loopback for listed in addresses.values() for address in listed)


def is_loopback_only_namespace() -> bool:
    """True inside a namespace where every address is loopback, as `unshare -n` makes it."""
    interfaces = network_interfaces()
    if interfaces == ["lo"]:
        return True
    if "lo" not in interfaces:
        return False
    try:
        return only_loopback(interface_addresses())
    except (OSError, subprocess.SubprocessError, ValueError):
        return False


def require_loopback_only_namespace() -> None:
    if is_loopback_only_namespace() or os.environ.get(ALLOW_HOST_NETWORK_VARIABLE) == "1":
        return
    raise RuntimeError(
        "the local cluster runs only inside a loopback-only network namespace "
        f"(found interfaces {network_interfaces()}); run it under `unshare -n` with `lo` up, "
        f"as `make test` does, or set {ALLOW_HOST_NETWORK_VARIABLE}=1 to accept the risk"
    )


def require_loopback_address(host: str) -> None:
    """Refuse any target that is not loopback before a request is made."""
    address = ipaddress.ip_address(socket.gethostbyname(host)) if host == "localhost" else ipaddress.ip_address(host)
    if not address.is_loopback:
        raise ValueError(f"refusing to contact {host}: only 127.0.0.0/8 may be a target")


_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now and never handed out before by this process.

    The kernel may give the same ephemeral port to two probes in a row, and a cluster asks for several
    ports before any of its processes binds one; two components on one port fail to start.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found in 100 tries")

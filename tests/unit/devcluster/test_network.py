from __future__ import annotations

import pytest

from tritonops.devcluster import network


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.9.200", "localhost"])
def test_loopback_targets_are_allowed(host: str) -> None:
    network.require_loopback_address(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "172.16.0.1", "192.168.0.1", "8.8.8.8", "0.0.0.0"])
def test_other_targets_are_refused(host: str) -> None:
    with pytest.raises(ValueError):
        network.require_loopback_address(host)


def test_free_port_is_on_loopback() -> None:
    assert 0 < network.free_port() < 65536


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        ({"lo": ["127.0.0.1", "::1"]}, True),
        # A real node's bridge and veths, with nothing but loopback addresses: still sealed.
        ({"lo": ["127.0.0.1"], "tn1270011": ["127.88.1.1"], "veth1": []}, True),
        ({"lo": ["127.0.0.1"], "eth0": ["10.0.2.15"]}, False),
        ({"lo": ["127.0.0.1"], "tn1270011": ["127.88.1.1", "fe80::1"]}, False),
        ({"eth0": ["127.0.0.5"]}, False),
    ],
)
def test_only_loopback(addresses: dict[str, list[str]], expected: bool) -> None:
    assert network.only_loopback(addresses) is expected

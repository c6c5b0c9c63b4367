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

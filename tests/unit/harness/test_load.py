"""The load generator's choice of targets: Ready, not terminating, loopback only, in name order."""

from __future__ import annotations

import types
from typing import Any

from kubernetes import client

from tests.harness.load import REVISION_LABEL, LoadGenerator, Target


def _pod(name: str, ip: str, *, ready: bool = True, deleting: bool = False, revision: str = "abc") -> Any:
    condition = types.SimpleNamespace(type="Ready", status="True" if ready else "False")
    port = types.SimpleNamespace(name="http", container_port=8000)
    return types.SimpleNamespace(
        metadata=types.SimpleNamespace(name=name, labels={REVISION_LABEL: revision}, deletion_timestamp="now" if deleting else None),
        status=types.SimpleNamespace(pod_ip=ip, conditions=[condition]),
        spec=types.SimpleNamespace(containers=[types.SimpleNamespace(ports=[port])]),
    )


class _Core:
    def __init__(self, pods: list[Any]) -> None:
        self.pods = pods
        self.selectors: list[str] = []

    def list_namespaced_pod(self, namespace: str, *, label_selector: str) -> Any:
        self.selectors.append(label_selector)
        return types.SimpleNamespace(items=self.pods)


def test_targets_are_ready_loopback_pods_and_others_are_refused() -> None:
    load = LoadGenerator(client.ApiClient(), "ns", "md")
    core = _Core(
        [
            _pod("b", "127.77.0.2", revision="canary"),
            _pod("a", "127.77.0.1"),
            _pod("c", "10.0.0.3"),
            _pod("d", "127.77.0.4", ready=False),
            _pod("e", "127.77.0.5", deleting=True),
        ]
    )
    load.core = core  # type: ignore[assignment]
    assert load.targets() == [Target("a", "abc", "127.77.0.1", 8000), Target("b", "canary", "127.77.0.2", 8000)]
    assert load.refused == {"c=10.0.0.3"}
    assert core.selectors == ["inference.tritonops.dev/modeldeployment=md"]


def test_with_a_service_named_the_load_follows_its_selector() -> None:
    class _ServiceCore(_Core):
        def read_namespaced_service(self, name: str, namespace: str) -> Any:
            assert (name, namespace) == ("md", "ns")
            return types.SimpleNamespace(spec=types.SimpleNamespace(selector={"app.kubernetes.io/instance": "md", REVISION_LABEL: "stable"}))

    load = LoadGenerator(client.ApiClient(), "ns", "md", service="md")
    core = _ServiceCore([_pod("a", "127.77.0.1")])
    load.core = core  # type: ignore[assignment]
    load.targets()
    assert core.selectors == [f"app.kubernetes.io/instance=md,{REVISION_LABEL}=stable"]

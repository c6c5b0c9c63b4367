"""The wrong-answer fault's golden set: the doubler's right answers, in the ConfigMap the gate names."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from bench import golden
from tritonops.golden.golden_set import parse


def test_the_golden_set_holds_the_doublers_right_answers() -> None:
    for case in golden.GOLDEN_SET.cases:
        assert case.outputs["OUTPUT"].data == tuple(2 * value for value in case.inputs["INPUT"].data)
    assert golden.GOLDEN_SET.model == "doubler" and golden.GOLDEN_SET.version == 2


class _Core:
    """Records the ConfigMap it is given (client.CoreV1Api's one call used here)."""

    def __init__(self) -> None:
        self.created: list[tuple[str, client.V1ConfigMap]] = []

    def create_namespaced_config_map(self, namespace: str, body: client.V1ConfigMap) -> None:
        self.created.append((namespace, body))


def test_the_config_map_is_the_one_the_gate_names_and_parses_back() -> None:
    core = _Core()
    golden.create_config_map(core, namespace="ns")  # type: ignore[arg-type]
    [(namespace, created)] = core.created
    body: Any = created
    assert namespace == "ns" and body.metadata.name == golden.CONFIG_MAP == golden.GOLDEN["configMapRef"]["name"]  # type: ignore[index]
    assert parse(body.data["golden.json"]) == golden.GOLDEN_SET

from __future__ import annotations

from typing import Any

import pytest

from bench.namespaces import Spread


@pytest.mark.parametrize(
    ("spread", "index", "namespace"),
    [
        (Spread(prefix="bench"), 0, "bench"),
        (Spread(prefix="bench"), 3999, "bench"),
        (Spread(prefix="bench", per_namespace=100), 0, "bench-000"),
        (Spread(prefix="bench", per_namespace=100), 99, "bench-000"),
        (Spread(prefix="bench", per_namespace=100), 100, "bench-001"),
        (Spread(prefix="baseline", per_namespace=100), 3999, "baseline-039"),
    ],
)
def test_an_object_goes_to_the_namespace_of_its_index(spread: Spread, index: int, namespace: str) -> None:
    assert spread.namespace_of(index) == namespace


@pytest.mark.parametrize(
    ("spread", "count", "namespaces"),
    [
        (Spread(prefix="bench"), 1000, ["bench"]),
        (Spread(prefix="bench", per_namespace=100), 250, ["bench-000", "bench-001", "bench-002"]),
        (Spread(prefix="bench", per_namespace=100), 200, ["bench-000", "bench-001"]),
    ],
)
def test_the_namespaces_of_a_count_are_those_its_objects_occupy(spread: Spread, count: int, namespaces: list[str]) -> None:
    assert spread.namespaces(count) == namespaces


@pytest.mark.parametrize(
    ("spread", "path"),
    [
        (Spread(prefix="bench"), "/apis/apps/v1/namespaces/bench/deployments"),
        (Spread(prefix="bench", per_namespace=100), "/apis/apps/v1/deployments"),
    ],
)
def test_one_namespace_is_watched_alone_and_a_spread_cluster_wide(spread: Spread, path: str) -> None:
    assert spread.collection_path("/apis/apps/v1", "deployments") == path


def _in(namespace: str | None, *, ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace} if namespace else {}, "status": {"readyReplicas": 1 if ready else 0}}


@pytest.mark.parametrize(
    ("spread", "item", "counted"),
    [
        (Spread(prefix="bench"), _in("bench"), True),
        (Spread(prefix="bench"), _in("bench-000"), False),
        (Spread(prefix="bench", per_namespace=10), _in("bench-004"), True),
        (Spread(prefix="bench", per_namespace=10), _in("bench"), False),
        (Spread(prefix="bench", per_namespace=10), _in("baseline-004"), False),  # the other phase's
        (Spread(prefix="bench", per_namespace=10), _in("kube-system"), False),
        (Spread(prefix="bench", per_namespace=10), _in("bench-x"), False),
        (Spread(prefix="bench", per_namespace=10), _in(None), False),
        (Spread(prefix="bench", per_namespace=10), _in("bench-004", ready=False), False),  # held, but the predicate fails
    ],
)
def test_a_count_takes_only_its_own_objects_that_satisfy_the_predicate(spread: Spread, item: dict[str, Any], counted: bool) -> None:
    assert spread.counting(lambda body: body["status"]["readyReplicas"] >= 1)(item) is counted


def test_a_negative_number_to_a_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="per_namespace"):
        Spread(prefix="bench", per_namespace=-1)


@pytest.mark.parametrize(("spread", "text"), [(Spread(prefix="b"), "all in one namespace"), (Spread(prefix="b", per_namespace=100), "100 to a namespace")])
def test_a_spread_describes_itself(spread: Spread, text: str) -> None:
    assert spread.describe() == text

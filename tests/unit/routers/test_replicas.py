from __future__ import annotations

import pytest

from tritonops.routers.replicas import ReplicaSplit, split


@pytest.mark.parametrize(
    ("total", "weight", "expected", "effective"),
    [
        (10, 0, ReplicaSplit(10, 0), 0),
        (10, 10, ReplicaSplit(9, 1), 10),
        (10, 25, ReplicaSplit(8, 2), 20),
        (10, 50, ReplicaSplit(5, 5), 50),
        (4, 10, ReplicaSplit(3, 1), 25),
        (1, 10, ReplicaSplit(1, 1), 50),
        (2, 90, ReplicaSplit(1, 2), 67),
        (3, 100, ReplicaSplit(0, 3), 100),
        (0, 100, ReplicaSplit(0, 1), 100),
    ],
)
def test_split(total: int, weight: int, expected: ReplicaSplit, effective: int) -> None:
    result = split(total=total, weight=weight)
    assert result == expected
    assert result.effective_weight == effective

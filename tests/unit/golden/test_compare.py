import math

import numpy
import pytest

from tritonops.golden.compare import Tolerance, compare
from tritonops.golden.golden_set import Tensor

NAN = math.nan
INF = math.inf


def tensor(datatype: str, data: list, shape: tuple[int, ...] | None = None) -> Tensor:
    return Tensor(datatype=datatype, shape=shape if shape is not None else (len(data),), data=tuple(data))


CASES = [
    # (name, actual, expected, tolerance, matches)
    ("equal floats", tensor("FP32", [1.0, 2.0]), tensor("FP32", [1.0, 2.0]), Tolerance(0, 0), True),
    ("within atol", tensor("FP32", [1.0005]), tensor("FP32", [1.0]), Tolerance(1e-3, 0), True),
    ("outside atol", tensor("FP32", [1.002]), tensor("FP32", [1.0]), Tolerance(1e-3, 0), False),
    ("within rtol of a large value", tensor("FP64", [1000.5]), tensor("FP64", [1000.0]), Tolerance(0, 1e-3), True),
    ("outside rtol", tensor("FP64", [1002.0]), tensor("FP64", [1000.0]), Tolerance(0, 1e-3), False),
    ("atol plus rtol", tensor("FP32", [10.02]), tensor("FP32", [10.0]), Tolerance(0.011, 0.001), True),
    ("nan matches nan", tensor("FP32", [NAN, 1.0]), tensor("FP32", [NAN, 1.0]), Tolerance(), True),
    ("nan against a number", tensor("FP32", [NAN]), tensor("FP32", [1.0]), Tolerance(1e9, 1e9), False),
    ("a number against nan", tensor("FP32", [1.0]), tensor("FP32", [NAN]), Tolerance(1e9, 1e9), False),
    ("inf matches inf", tensor("FP32", [INF, -INF]), tensor("FP32", [INF, -INF]), Tolerance(), True),
    ("inf against -inf", tensor("FP32", [INF]), tensor("FP32", [-INF]), Tolerance(1e9, 1e9), False),
    ("inf against a large number", tensor("FP32", [INF]), tensor("FP32", [3e38]), Tolerance(1e9, 1e9), False),
    ("equal ints", tensor("INT64", [1, -2, 3]), tensor("INT64", [1, -2, 3]), Tolerance(0, 0), True),
    ("wrong int", tensor("INT64", [1, 2, 4]), tensor("INT64", [1, 2, 3]), Tolerance(0, 0), False),
    ("INT32 against INT64", tensor("INT32", [7]), tensor("INT64", [7]), Tolerance(0, 0), True),
    ("equal bools", tensor("BOOL", [True, False]), tensor("BOOL", [True, False]), Tolerance(0, 0), True),
    ("wrong bool", tensor("BOOL", [True, True]), tensor("BOOL", [True, False]), Tolerance(0, 0), False),
    ("equal bytes", tensor("BYTES", ["cat", "dog"]), tensor("BYTES", ["cat", "dog"]), Tolerance(), True),
    ("wrong bytes", tensor("BYTES", ["cat", "cow"]), tensor("BYTES", ["cat", "dog"]), Tolerance(1e9, 1e9), False),
    ("bytes against numbers", tensor("BYTES", ["1"]), tensor("INT64", [1]), Tolerance(1e9, 1e9), False),
    ("shape mismatch, same elements", tensor("FP32", [1, 2, 3, 4], (2, 2)), tensor("FP32", [1, 2, 3, 4], (4,)), Tolerance(), False),
    ("shape mismatch, other count", tensor("FP32", [1, 2]), tensor("FP32", [1, 2, 3]), Tolerance(), False),
    ("empty tensors", tensor("FP32", [], (0, 3)), tensor("FP32", [], (0, 3)), Tolerance(0, 0), True),
]


@pytest.mark.parametrize(("actual", "expected", "tolerance", "matches"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_compare(actual: Tensor, expected: Tensor, tolerance: Tolerance, matches: bool) -> None:
    result = compare(actual=actual, expected=expected, tolerance=tolerance)
    assert result.matches is matches
    assert (result.reason == "") is matches
    assert (result.mismatches == 0) is matches or not result.matches


def test_fp16_against_fp32_within_tolerance_and_wrong_numbers_outside() -> None:
    generator = numpy.random.default_rng(seed=14)
    weights = generator.standard_normal((8, 4)).astype(numpy.float32)
    inputs = generator.standard_normal((3, 8)).astype(numpy.float32)
    full = inputs @ weights
    half = (inputs.astype(numpy.float16) @ weights.astype(numpy.float16)).astype(numpy.float16)
    expected = tensor("FP32", [float(v) for v in full.ravel()], full.shape)
    actual = tensor("FP16", [float(v) for v in half.ravel()], half.shape)
    tolerance = Tolerance(absolute=1e-2, relative=1e-2)
    within = compare(actual=actual, expected=expected, tolerance=tolerance)
    assert within.matches, within.reason
    assert 0 < within.worst_absolute <= 1e-2 + 1e-2 * float(numpy.abs(full).max())
    # A wrong export: the same numbers with one weight row dropped.
    wrong = inputs[:, 1:] @ weights[1:, :]
    bad = compare(actual=tensor("FP32", [float(v) for v in wrong.ravel()], wrong.shape), expected=expected, tolerance=tolerance)
    assert not bad.matches
    assert bad.worst_absolute > 1e-2


def test_worst_difference_and_where() -> None:
    result = compare(actual=tensor("FP32", [1.0, 2.5, 3.1]), expected=tensor("FP32", [1.0, 2.0, 3.0]),
                     tolerance=Tolerance(absolute=0.2, relative=0))
    assert not result.matches
    assert result.mismatches == 1
    assert result.worst_index == 1
    assert result.worst_absolute == pytest.approx(0.5)
    assert result.worst_relative == pytest.approx(0.25)
    assert "index 1" in result.reason


def test_worst_difference_reported_when_matching() -> None:
    result = compare(actual=tensor("FP64", [1.0, 2.001]), expected=tensor("FP64", [1.0, 2.0]), tolerance=Tolerance(0.01, 0))
    assert result.matches
    assert result.worst_index == 1
    assert result.worst_absolute == pytest.approx(0.001)


def test_nan_mismatch_is_infinite_difference_at_its_index() -> None:
    result = compare(actual=tensor("FP32", [1.0, NAN]), expected=tensor("FP32", [1.0, 2.0]), tolerance=Tolerance())
    assert result.worst_absolute == INF
    assert result.worst_index == 1

import json

import numpy
import pytest

from tritonops.golden import record
from tritonops.golden.golden_set import GoldenSetError, Tensor


def test_parse_inputs() -> None:
    text = json.dumps({"cases": [{"name": "cat", "inputs": {"X": {"datatype": "FP32", "shape": [1, 2], "data": [1, "NaN"]}}}, {"inputs": {
        "T": {"datatype": "BYTES", "shape": [1], "data": ["hi"]}}}]})
    cases = record.parse_inputs(text)
    assert [name for name, _ in cases] == ["cat", "case 1"]
    assert cases[1][1]["T"] == Tensor("BYTES", (1,), ("hi",))


@pytest.mark.parametrize(("text", "field"), [
    ("[", "not JSON"),
    ("{}", "cases"),
    ('{"cases": [{"inputs": {}}]}', "cases[0].inputs"),
    ('{"cases": [{"inputs": {"X": {"datatype": "FP32", "shape": [2], "data": [1]}}}]}', "cases[0].inputs.X.data"),
])
def test_parse_inputs_names_the_bad_field(text: str, field: str) -> None:
    with pytest.raises(GoldenSetError, match=field.replace("[", r"\[").replace("]", r"\]")):
        record.parse_inputs(text)


@pytest.mark.parametrize("tensor", [
    Tensor("FP32", (2, 2), (1.5, -2.0, 0.0, 3.25)),
    Tensor("FP16", (3,), (0.5, 1.0, -4.0)),
    Tensor("INT64", (1, 3), (1, -2, 3)),
    Tensor("BOOL", (2,), (True, False)),
    Tensor("BYTES", (2,), ("a", "bc")),
])
def test_numpy_round_trip(tensor: Tensor) -> None:
    array = record._numpy_array(tensor)
    assert array.shape == tensor.shape
    assert record._tensor_from_numpy(array, datatype=tensor.datatype) == tensor


def test_float_answers_are_plain_floats() -> None:
    value = record._tensor_from_numpy(numpy.array([1, 2], dtype=numpy.float16), datatype="FP16")
    assert all(type(item) is float for item in value.data)

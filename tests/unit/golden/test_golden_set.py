import json
import re
import math
from typing import Any

import pytest

from tritonops.golden import golden_set
from tritonops.golden.golden_set import FORMAT, Case, GoldenSet, GoldenSetError, Tensor, parse, render


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "format": FORMAT, "model": "m", "version": 1,
        "cases": [{"name": "example",
                   "inputs": {"INPUT__0": {"datatype": "FP32", "shape": [1, 2], "data": [0.5, "NaN"]}},
                   "outputs": {"OUTPUT__0": {"datatype": "INT64", "shape": [2], "data": [1, 2]}}}],
    }
    base.update(changes)
    return base


def with_tensor(**fields: Any) -> dict[str, Any]:
    raw = document()
    raw["cases"][0]["inputs"]["INPUT__0"].update(fields)
    return raw


def test_parse_valid() -> None:
    parsed = parse(json.dumps(document()))
    assert parsed.model == "m" and parsed.version == 1
    tensor = parsed.cases[0].inputs["INPUT__0"]
    assert tensor.shape == (1, 2) and tensor.data[0] == 0.5 and math.isnan(float(tensor.data[1]))
    assert parsed.cases[0].outputs["OUTPUT__0"] == Tensor("INT64", (2,), (1, 2))


def test_round_trip_with_special_floats_and_bytes() -> None:
    golden = GoldenSet(model="m", version=3, cases=(Case(
        name="c",
        inputs={"TEXT": Tensor("BYTES", (2,), ("a", "b")), "FLAG": Tensor("BOOL", (1,), (True,))},
        outputs={"Y": Tensor("FP32", (3,), (math.inf, -math.inf, 1.5))}),))
    text = render(golden)
    assert "Infinity" in text
    assert parse(text) == golden


BAD = [
    ("format", document(format="v0"), "format"),
    ("unknown top-level field", document(extra=1), "extra: unknown field"),
    ("model", document(model=""), "model"),
    ("version zero", document(version=0), "version"),
    ("version bool", document(version=True), "version"),
    ("no cases", document(cases=[]), "cases"),
    ("datatype", with_tensor(datatype="TYPE_FP32"), "cases[0].inputs.INPUT__0.datatype"),
    ("shape negative", with_tensor(shape=[-1]), "cases[0].inputs.INPUT__0.shape"),
    ("data count", with_tensor(data=[1.0]), "cases[0].inputs.INPUT__0.data: 1 elements"),
    ("data nested", with_tensor(data=[[1.0], 2.0]), "cases[0].inputs.INPUT__0.data[0]"),
    ("data string in floats", with_tensor(data=[1.0, "nan"]), "cases[0].inputs.INPUT__0.data[1]"),
    ("unknown tensor field", with_tensor(dtype="FP32"), "cases[0].inputs.INPUT__0.dtype: unknown field"),
    ("int data float", with_tensor(datatype="INT32", data=[1, 2.5]), "data[1]"),
    ("bool data int", with_tensor(datatype="BOOL", data=[1, 0]), "data[0]"),
]


@pytest.mark.parametrize(("raw", "field"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_parse_names_the_bad_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(GoldenSetError, match=re.escape(field)):
        parse(json.dumps(raw))


def test_not_json() -> None:
    with pytest.raises(GoldenSetError, match="not JSON"):
        parse("{")


def test_bounds() -> None:
    raw = document()
    raw["cases"] = raw["cases"] * (golden_set.MAX_CASES + 1)
    with pytest.raises(GoldenSetError, match="cases: 17 cases"):
        parse(json.dumps(raw))
    with pytest.raises(GoldenSetError, match="elements, more than"):
        parse(json.dumps(with_tensor(shape=[golden_set.MAX_ELEMENTS + 1], data=[])))
    with pytest.raises(GoldenSetError, match="bytes, more than"):
        parse(" " * (golden_set.MAX_FILE_BYTES + 1))

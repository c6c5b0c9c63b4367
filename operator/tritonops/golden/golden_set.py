"""The golden-set file format `tritonops.dev/golden/v1`: a strict parser and a writer (pure).

A golden set is one JSON object:

    {"format": "tritonops.dev/golden/v1", "model": "resnet50", "version": 3,
     "cases": [{"name": "example",
                "inputs":  {"INPUT__0":  {"datatype": "FP32", "shape": [1, 3], "data": [0.1, 0.2, 0.3]}},
                "outputs": {"OUTPUT__0": {"datatype": "FP32", "shape": [1, 2], "data": [1.5, -2.0]}}}]}

Datatypes are Triton's protocol names (FP32, INT64, BOOL, BYTES, ...). `data` is the row-major flattened
tensor, as Triton's HTTP/JSON protocol writes it; float data may hold the strings "NaN", "Infinity" and
"-Infinity" (JSON has no literals for them). BYTES data are strings. The set is bounded so that a probe
stays cheap: at most MAX_CASES cases, MAX_ELEMENTS elements per tensor and MAX_FILE_BYTES bytes of file.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

FORMAT = "tritonops.dev/golden/v1"
MAX_CASES = 16
MAX_ELEMENTS = 65536
MAX_FILE_BYTES = 4 * 1024 * 1024

DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BF16", "BYTES")
FLOAT_DATATYPES = ("FP16", "FP32", "FP64", "BF16")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

Scalar = float | int | bool | str


class GoldenSetError(ValueError):
    """A golden set that does not follow the format; str() names the bad field."""


@dataclasses.dataclass(frozen=True)
class Tensor:
    datatype: str
    shape: tuple[int, ...]
    data: tuple[Scalar, ...]  # row-major, flattened


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    inputs: Mapping[str, Tensor]
    outputs: Mapping[str, Tensor]


@dataclasses.dataclass(frozen=True)
class GoldenSet:
    model: str
    version: int
    cases: tuple[Case, ...]


def _element_count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _scalar(value: Any, *, datatype: str, where: str) -> Scalar:
    if datatype == "BYTES":
        if not isinstance(value, str):
            raise GoldenSetError(f"{where}: BYTES data must be strings, got {value!r}")
        return value
    if datatype == "BOOL":
        if not isinstance(value, bool):
            raise GoldenSetError(f"{where}: BOOL data must be true or false, got {value!r}")
        return value
    if datatype in FLOAT_DATATYPES:
        if isinstance(value, str) and value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GoldenSetError(f"{where}: {datatype} data must be numbers (or \"NaN\", \"Infinity\", \"-Infinity\"), got {value!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise GoldenSetError(f"{where}: {datatype} data must be integers, got {value!r}")
    return value


def parse_tensor(raw: Any, *, where: str) -> Tensor:
    """One tensor object; `where` is its path in the file for error messages."""
    if not isinstance(raw, dict):
        raise GoldenSetError(f"{where}: must be an object with datatype, shape and data")
    unknown = sorted(set(raw) - {"datatype", "shape", "data"})
    if unknown:
        raise GoldenSetError(f"{where}.{unknown[0]}: unknown field")
    datatype = raw.get("datatype")
    if datatype not in DATATYPES:
        raise GoldenSetError(f"{where}.datatype: must be one of {', '.join(DATATYPES)}, got {datatype!r}")
    shape = raw.get("shape")
    if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        raise GoldenSetError(f"{where}.shape: must be a list of non-negative integers, got {shape!r}")
    shape_tuple = tuple(shape)
    count = _element_count(shape_tuple)
    if count > MAX_ELEMENTS:
        raise GoldenSetError(f"{where}.shape: {count} elements, more than the {MAX_ELEMENTS} a golden tensor may hold")
    data = raw.get("data")
    if not isinstance(data, list):
        raise GoldenSetError(f"{where}.data: must be a flat list")
    if len(data) != count:
        raise GoldenSetError(f"{where}.data: {len(data)} elements, but shape {shape_tuple} holds {count}")
    values = tuple(_scalar(value, datatype=datatype, where=f"{where}.data[{index}]") for index, value in enumerate(data))
    return Tensor(datatype=datatype, shape=shape_tuple, data=values)


def _tensors(raw: Any, *, where: str) -> dict[str, Tensor]:
    if not isinstance(raw, dict) or not raw:
        raise GoldenSetError(f"{where}: must be a non-empty object of tensors by name")
    return {name: parse_tensor(value, where=f"{where}.{name}") for name, value in raw.items()}


def parse(text: str | bytes) -> GoldenSet:
    """A golden set from its JSON text; GoldenSetError naming the bad field."""
    if len(text) > MAX_FILE_BYTES:
        raise GoldenSetError(f"golden set is {len(text)} bytes, more than {MAX_FILE_BYTES}")
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise GoldenSetError(f"golden set is not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise GoldenSetError("golden set must be a JSON object")
    unknown = sorted(set(raw) - {"format", "model", "version", "cases"})
    if unknown:
        raise GoldenSetError(f"{unknown[0]}: unknown field")
    if raw.get("format") != FORMAT:
        raise GoldenSetError(f"format: must be {FORMAT!r}, got {raw.get('format')!r}")
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise GoldenSetError(f"model: must be a non-empty string, got {model!r}")
    version = raw.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise GoldenSetError(f"version: must be an integer of at least 1, got {version!r}")
    cases = raw.get("cases")
    if not isinstance(cases, list) or not cases:
        raise GoldenSetError("cases: must be a non-empty list")
    if len(cases) > MAX_CASES:
        raise GoldenSetError(f"cases: {len(cases)} cases, more than {MAX_CASES}")
    parsed: list[Case] = []
    for index, case in enumerate(cases):
        where = f"cases[{index}]"
        if not isinstance(case, dict):
            raise GoldenSetError(f"{where}: must be an object")
        unknown = sorted(set(case) - {"name", "inputs", "outputs"})
        if unknown:
            raise GoldenSetError(f"{where}.{unknown[0]}: unknown field")
        name = case.get("name", f"case {index}")
        if not isinstance(name, str):
            raise GoldenSetError(f"{where}.name: must be a string")
        parsed.append(Case(name=name, inputs=_tensors(case.get("inputs"), where=f"{where}.inputs"),
                           outputs=_tensors(case.get("outputs"), where=f"{where}.outputs")))
    return GoldenSet(model=model, version=version, cases=tuple(parsed))


def _encode(value: Scalar) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def tensor_json(tensor: Tensor) -> dict[str, Any]:
    """One tensor as the file writes it (the inputs file of `tritonops golden record` uses the same)."""
    return {"datatype": tensor.datatype, "shape": list(tensor.shape), "data": [_encode(value) for value in tensor.data]}


def render(golden: GoldenSet) -> str:
    """The JSON text of a golden set; parse(render(g)) == g, and it is checked against the bounds."""
    document = {
        "format": FORMAT,
        "model": golden.model,
        "version": golden.version,
        "cases": [
            {"name": case.name,
             "inputs": {name: tensor_json(tensor) for name, tensor in case.inputs.items()},
             "outputs": {name: tensor_json(tensor) for name, tensor in case.outputs.items()}}
            for case in golden.cases
        ],
    }
    text = json.dumps(document, indent=1, allow_nan=False) + "\n"
    parse(text)  # a writer that could produce what the parser refuses would hide the error until a rollout
    return text

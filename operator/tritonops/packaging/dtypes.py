"""Tensor data types: PyTorch's names, Triton's model-config names and numpy's, in one table (pure)."""

from __future__ import annotations

import dataclasses

from tritonops.packaging.errors import PackagingError


@dataclasses.dataclass(frozen=True)
class DataType:
    name: str  # PyTorch's name without the "torch." prefix: "float32"
    triton: str  # Triton's model-config enum: "TYPE_FP32"
    numpy: str | None  # numpy's name; None where numpy has no such type (bfloat16)

    @property
    def is_floating(self) -> bool:
        return self.name.startswith(("float", "bfloat"))


DATA_TYPES: tuple[DataType, ...] = (
    DataType("bool", "TYPE_BOOL", "bool"),
    DataType("uint8", "TYPE_UINT8", "uint8"),
    DataType("int8", "TYPE_INT8", "int8"),
    DataType("int16", "TYPE_INT16", "int16"),
    DataType("int32", "TYPE_INT32", "int32"),
    DataType("int64", "TYPE_INT64", "int64"),
    DataType("float16", "TYPE_FP16", "float16"),
    DataType("float32", "TYPE_FP32", "float32"),
    DataType("float64", "TYPE_FP64", "float64"),
    DataType("bfloat16", "TYPE_BF16", None),
)
_BY_NAME = {data_type.name: data_type for data_type in DATA_TYPES}

# Other spellings users write: PyTorch's aliases and Triton's short names.
ALIASES = {
    "float": "float32",
    "fp32": "float32",
    "half": "float16",
    "fp16": "float16",
    "double": "float64",
    "fp64": "float64",
    "bf16": "bfloat16",
    "short": "int16",
    "int": "int32",
    "long": "int64",
}


def supported_names() -> str:
    return ", ".join(data_type.name for data_type in DATA_TYPES)


def lookup(name: str) -> DataType:
    """The data type called `name` (PyTorch name, alias, or "torch.float32"); PackagingError if unsupported."""
    key = name.strip().lower().removeprefix("torch.")
    key = ALIASES.get(key, key)
    if key not in _BY_NAME:
        raise PackagingError(f"unsupported dtype {name!r}: Triton takes {supported_names()}")
    return _BY_NAME[key]


def from_torch(torch_dtype: object) -> DataType:
    """The data type of a torch.dtype (its str() is "torch.float32")."""
    return lookup(str(torch_dtype))

"""Example inputs and the model's signature: what config.pbtxt declares, inferred from one traced run (pure).

Shapes come in as observed: the example inputs' shapes and the outputs' shapes torch produced for them,
plus the outputs' shapes for the same inputs grown by one along their first dimension. The first
dimension is a batch dimension when every input shares it and every output follows it; Triton's config
then declares `max_batch_size` and leaves that dimension out of `dims`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Sequence

from tritonops.packaging.dtypes import DataType, lookup
from tritonops.packaging.errors import PackagingError

# With batching inferred and no --max-batch-size, Triton may batch up to this many requests (or the example's batch).
DEFAULT_MAX_BATCH_SIZE = 8
EXAMPLE_SYNTAX = "DTYPE:DIMS such as float32:1x3x224x224, or the path of a .pt file saved with torch.save"
_DIMS = re.compile(r"\d+(?:x\d+)*")


@dataclasses.dataclass(frozen=True)
class RandomExample:
    """A tensor of this type and shape with seeded random values (integers in [0, 10), booleans, normal floats)."""

    data_type: DataType
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ExampleFile:
    """A file written by torch.save holding a tensor, or a tuple or list of tensors (one per model input)."""

    path: pathlib.Path


ExampleSource = RandomExample | ExampleFile


def parse_example(text: str) -> ExampleSource:
    """Parse one --example-input: `DTYPE:DIMS` or the path of a tensor file."""
    if ":" in text and not pathlib.Path(text).exists():
        dtype, _, dims = text.partition(":")
        data_type = lookup(dtype) if dtype.strip() else None
        if data_type is None or not _DIMS.fullmatch(dims.strip()):
            raise PackagingError(f"bad example input {text!r}: write {EXAMPLE_SYNTAX}")
        shape = tuple(int(size) for size in dims.strip().split("x"))
        if 0 in shape:
            raise PackagingError(f"bad example input {text!r}: every dimension must be at least 1")
        return RandomExample(data_type=data_type, shape=shape)
    path = pathlib.Path(text)
    if not path.is_file():
        raise PackagingError(f"example input file {text} does not exist (or write {EXAMPLE_SYNTAX})")
    return ExampleFile(path=path)


@dataclasses.dataclass(frozen=True)
class Observed:
    """One tensor as torch saw it: its data type and full shape."""

    data_type: DataType
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class TensorConfig:
    """One `input` or `output` entry of config.pbtxt."""

    name: str
    data_type: DataType
    dims: tuple[int, ...]  # without the batch dimension when batching
    # Triton wants at least one dimension: a tensor with none (a scalar, or only the batch dimension) is
    # declared with dims [1] and reshaped to this (empty) shape for the model.
    reshape: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Signature:
    max_batch_size: int  # 0: no batching, dims are the full shapes
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 0


def input_name(index: int) -> str:
    """Triton's PyTorch backend maps tensors to forward() arguments by this `NAME__INDEX` convention."""
    return f"INPUT__{index}"


def output_name(index: int) -> str:
    return f"OUTPUT__{index}"


def common_batch_size(inputs: Sequence[Observed]) -> int | None:
    """The first dimension shared by every input, or None when there is none."""
    sizes = {tensor.shape[0] if tensor.shape else None for tensor in inputs}
    if len(sizes) != 1:
        return None
    return sizes.pop()


def batch_problem(inputs: Sequence[Observed], outputs: Sequence[Observed], resized_outputs: Sequence[Observed] | None) -> str | None:
    """Why the first dimension is not a batch dimension, or None when it is.

    `resized_outputs` are the outputs for the inputs grown by one along the first dimension (None: that run failed).
    """
    batch = common_batch_size(inputs)
    if batch is None:
        return "the inputs do not share a first dimension"
    for index, tensor in enumerate(outputs):
        if not tensor.shape or tensor.shape[0] != batch:
            return f"output {index} has shape {list(tensor.shape)}, whose first dimension is not the batch size {batch}"
    if resized_outputs is None:
        return f"the traced model fails on a batch of {batch + 1}"
    if len(resized_outputs) != len(outputs):
        return f"the traced model returns {len(resized_outputs)} outputs for a batch of {batch + 1}, not {len(outputs)}"
    for index, (tensor, resized) in enumerate(zip(outputs, resized_outputs)):
        expected = (batch + 1, *tensor.shape[1:])
        if resized.shape != expected:
            return f"for a batch of {batch + 1} output {index} has shape {list(resized.shape)}, not {list(expected)}"
    return None


def infer_signature(
    inputs: Sequence[Observed],
    outputs: Sequence[Observed],
    *,
    resized_outputs: Sequence[Observed] | None,
    max_batch_size: int | None,
) -> Signature:
    """The config's inputs, outputs and max_batch_size.

    max_batch_size None infers it: DEFAULT_MAX_BATCH_SIZE (at least the example's batch) when the first
    dimension is a batch dimension, else 0. A positive value insists on batching; 0 turns it off.
    """
    if not inputs:
        raise PackagingError("the model needs at least one example input")
    if not outputs:
        raise PackagingError("the model returns no tensors")
    if max_batch_size is not None and max_batch_size < 0:
        raise PackagingError(f"--max-batch-size must be 0 (no batching) or more, not {max_batch_size}")
    problem = batch_problem(inputs, outputs, resized_outputs)
    if max_batch_size is None:
        batch = common_batch_size(inputs) or 0
        max_batch_size = max(DEFAULT_MAX_BATCH_SIZE, batch) if problem is None else 0
    elif max_batch_size > 0 and problem is not None:
        raise PackagingError(f"cannot batch this model (--max-batch-size {max_batch_size}): {problem}; use --max-batch-size 0")
    skip = 1 if max_batch_size > 0 else 0
    return Signature(
        max_batch_size=max_batch_size,
        inputs=tuple(_entry(input_name(index), tensor, skip) for index, tensor in enumerate(inputs)),
        outputs=tuple(_entry(output_name(index), tensor, skip) for index, tensor in enumerate(outputs)),
    )


def _entry(name: str, tensor: Observed, skip: int) -> TensorConfig:
    dims = tensor.shape[skip:]
    if not dims:
        return TensorConfig(name=name, data_type=tensor.data_type, dims=(1,), reshape=())
    return TensorConfig(name=name, data_type=tensor.data_type, dims=dims)

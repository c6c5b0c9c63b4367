"""The golden set `tritonops package` writes: the example inputs and the outputs the original PyTorch model gave.

It lies beside config.pbtxt as `golden-VERSION.json`, not inside the version directory, so that no backend
ever sees a file it did not ask for, and one file per version survives the next version's packaging.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from tritonops.golden.golden_set import Case, GoldenSet, Tensor
from tritonops.packaging.prepared import Prepared
from tritonops.packaging.signature import TensorConfig

if TYPE_CHECKING:
    import torch


def file_name(version: int) -> str:
    return f"golden-{version}.json"


def _protocol_datatype(entry: TensorConfig) -> str:
    # The model config says TYPE_FP32; Triton's inference protocol says FP32.
    return entry.data_type.triton.removeprefix("TYPE_")


def _tensor(value: torch.Tensor, *, entry: TensorConfig, batching: bool) -> Tensor:
    # The shape Triton is sent and answers with: the batch dimension, then the declared dims (which differ
    # from torch's shape only for scalars, declared as [1] and reshaped).
    shape = ((int(value.shape[0]),) if batching else ()) + tuple(entry.dims)
    flat = value.detach().reshape(-1)
    if entry.data_type.name == "bfloat16":
        flat = flat.float()  # tolist() of bfloat16 works, but float() keeps the values exact and plain
    return Tensor(datatype=_protocol_datatype(entry), shape=shape, data=tuple(flat.tolist()))


def from_prepared(prepared: Prepared, *, name: str, version: int) -> GoldenSet:
    """One case per checked batch: the example inputs and torch's outputs for them."""
    signature = prepared.signature
    cases = []
    for case_name, inputs, outputs in prepared.cases():
        cases.append(Case(
            name=case_name,
            inputs={entry.name: _tensor(value, entry=entry, batching=signature.batching) for entry, value in zip(signature.inputs, inputs)},
            outputs={entry.name: _tensor(value, entry=entry, batching=signature.batching) for entry, value in zip(signature.outputs, outputs)},
        ))
    return GoldenSet(model=name, version=version, cases=tuple(cases))


def path(model_directory: pathlib.Path, version: int) -> pathlib.Path:
    return model_directory / file_name(version)

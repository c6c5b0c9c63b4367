"""The ONNX layout: `onnxruntime_onnx`, NAME/VERSION/model.onnx, exported with torch.onnx and checked with onnxruntime."""

from __future__ import annotations

import pathlib
import warnings

from tritonops.packaging.config import LAYOUTS
from tritonops.packaging.errors import PackagingError
from tritonops.packaging.prepared import Prepared
from tritonops.packaging.source import compare, require_torch, one_line, to_numpy

LAYOUT = LAYOUTS["onnx"]
MODEL_FILE = "model.onnx"
# Opset 17 loads in every onnxruntime that Triton images from 2023 on ship.
DEFAULT_OPSET = 17


def write(prepared: Prepared, version_directory: pathlib.Path) -> list[pathlib.Path]:
    """Export with the TorchScript-based exporter (it takes both nn.Modules and TorchScript files); the batch
    dimension of every input and output is dynamic when the model batches."""
    require_torch()
    import torch
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError as error:
        raise PackagingError(f"--format onnx needs the onnx package ({one_line(error)}): pip install 'tritonops[torch]'") from None
    signature = prepared.signature
    names = [entry.name for entry in (*signature.inputs, *signature.outputs)]
    dynamic_axes = {name: {0: "batch"} for name in names} if signature.batching else None
    target = version_directory / MODEL_FILE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                torch.onnx.export(
                    prepared.model.module,
                    tuple(prepared.examples),
                    str(target),
                    input_names=[entry.name for entry in signature.inputs],
                    output_names=[entry.name for entry in signature.outputs],
                    dynamic_axes=dynamic_axes,
                    opset_version=prepared.onnx_opset,
                    dynamo=False,
                )
        except Exception as error:
            raise PackagingError(f"the model cannot be exported to ONNX (opset {prepared.onnx_opset}): {one_line(error)}") from None
    return [target]


def check(prepared: Prepared, version_directory: pathlib.Path) -> list[str]:
    """Check the model with the onnx checker, and run it with onnxruntime (when installed) against torch's outputs."""
    import onnx

    path = version_directory / MODEL_FILE
    try:
        onnx.checker.check_model(str(path))
    except Exception as error:
        raise PackagingError(f"the exported {MODEL_FILE} fails the ONNX checker: {one_line(error)}") from None
    notes = [f"{MODEL_FILE} passes the ONNX checker (opset {prepared.onnx_opset})"]
    try:
        import onnxruntime
    except ImportError:
        notes.append(f"{MODEL_FILE} not run: onnxruntime is not installed (pip install 'tritonops[torch]')")
        return notes
    if any(entry.data_type.numpy is None for entry in (*prepared.signature.inputs, *prepared.signature.outputs)):
        notes.append(f"{MODEL_FILE} not run in onnxruntime: numpy has no bfloat16")
        return notes
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise PackagingError(f"onnxruntime cannot load the exported {MODEL_FILE}: {one_line(error)}") from None
    names = [entry.name for entry in prepared.signature.inputs]
    labels = []
    for label, inputs, expected in prepared.cases():
        what = f"{MODEL_FILE} in onnxruntime ({label})"
        try:
            outputs = session.run(None, {name: to_numpy(tensor) for name, tensor in zip(names, inputs)})
        except Exception as error:
            raise PackagingError(f"{what} fails: {one_line(error)}") from None
        compare(expected, outputs, what=what)
        labels.append(label)
    notes.append(f"{MODEL_FILE} runs in onnxruntime and reproduces torch's outputs ({', '.join(labels)})")
    return notes

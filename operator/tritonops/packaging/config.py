"""config.pbtxt: written from the model's signature and checked with Triton's own model-config protobuf (pure)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from tritonops.packaging.errors import PackagingError
from tritonops.packaging.signature import Signature, TensorConfig

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclasses.dataclass(frozen=True)
class Layout:
    """One model-repository layout: how Triton is told to serve it and the file in the version directory."""

    format: str  # the --format value
    model_file: str  # the file Triton loads from the version directory
    platform: str | None = None
    backend: str | None = None


LAYOUTS: dict[str, Layout] = {
    "torchscript": Layout(format="torchscript", model_file="model.pt", platform="pytorch_libtorch"),
    "onnx": Layout(format="onnx", model_file="model.onnx", platform="onnxruntime_onnx"),
    # The python backend runs model.py, which loads the TorchScript model.pt beside it with torch.jit.load.
    "python": Layout(format="python", model_file="model.py", backend="python"),
}


def validate_name(name: str) -> str:
    """A Triton model name, which is also a directory name in the repository."""
    if not _MODEL_NAME.fullmatch(name) or name in (".", ".."):
        raise PackagingError(f"bad model name {name!r}: use letters, digits, '_', '.' and '-', starting with a letter or digit")
    return name


def validate_version(version: int) -> int:
    if version < 1:
        raise PackagingError(f"--version must be a positive integer (a version directory name), not {version}")
    return version


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dims(values: tuple[int, ...]) -> str:
    return "[ " + ", ".join(str(value) for value in values) + " ]" if values else "[ ]"


def _tensor(entry: TensorConfig) -> str:
    lines = [
        "  {",
        f"    name: {_quote(entry.name)}",
        f"    data_type: {entry.data_type.triton}",
        f"    dims: {_dims(entry.dims)}",
    ]
    if entry.reshape is not None:
        lines.append(f"    reshape: {{ shape: {_dims(entry.reshape)} }}")
    lines.append("  }")
    return "\n".join(lines)


def render(*, name: str, layout: Layout, signature: Signature) -> str:
    """The text of config.pbtxt. Dynamic batching is on whenever the model batches."""
    lines = [f"name: {_quote(validate_name(name))}"]
    if layout.platform is not None:
        lines.append(f"platform: {_quote(layout.platform)}")
    if layout.backend is not None:
        lines.append(f"backend: {_quote(layout.backend)}")
    lines.append(f"max_batch_size: {signature.max_batch_size}")
    for field, entries in (("input", signature.inputs), ("output", signature.outputs)):
        lines.append(f"{field} [")
        lines.append(",\n".join(_tensor(entry) for entry in entries))
        lines.append("]")
    if signature.batching:
        lines.append("dynamic_batching { }")
    return "\n".join(lines) + "\n"


def parse(text: str) -> Any:
    """Parse config.pbtxt into Triton's ModelConfig message (from tritonclient's copy of model_config.proto)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    message = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise PackagingError(f"config.pbtxt does not parse as Triton's ModelConfig: {error}") from None
    return message


def check(text: str, *, name: str, layout: Layout, signature: Signature) -> Any:
    """Parse config.pbtxt with Triton's protobuf and check that it says what the signature says."""
    message = parse(text)
    problems = []
    if message.name != name:
        problems.append(f"name {message.name!r}")
    if (message.platform or None) != layout.platform or (message.backend or None) != layout.backend:
        problems.append(f"platform {message.platform!r} backend {message.backend!r}")
    if message.max_batch_size != signature.max_batch_size:
        problems.append(f"max_batch_size {message.max_batch_size}")
    for field, entries in (("input", signature.inputs), ("output", signature.outputs)):
        parsed = [(entry.name, _type_name(entry.data_type), tuple(entry.dims)) for entry in getattr(message, field)]
        wanted = [(entry.name, entry.data_type.triton, entry.dims) for entry in entries]
        if parsed != wanted:
            problems.append(f"{field} {parsed}")
    if message.HasField("dynamic_batching") != signature.batching:
        problems.append("dynamic_batching")
    if problems:
        raise PackagingError(f"config.pbtxt does not say what was inferred: {'; '.join(problems)}")
    return message


def _type_name(value: int) -> str:
    from tritonclient.grpc import model_config_pb2

    return str(model_config_pb2.DataType.Name(value))

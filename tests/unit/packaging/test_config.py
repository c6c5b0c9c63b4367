"""Pure: config.pbtxt for every layout, parsed back with Triton's own model-config protobuf."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tritonops.packaging import config
from tritonops.packaging.dtypes import lookup
from tritonops.packaging.errors import PackagingError
from tritonops.packaging.signature import Signature, TensorConfig

BATCHED = Signature(
    max_batch_size=8,
    inputs=(TensorConfig("INPUT__0", lookup("int64"), (16,)), TensorConfig("INPUT__1", lookup("float32"), (3, 4))),
    outputs=(TensorConfig("OUTPUT__0", lookup("float16"), (10,)), TensorConfig("OUTPUT__1", lookup("bool"), (1,), reshape=())),
)
UNBATCHED = Signature(
    max_batch_size=0,
    inputs=(TensorConfig("INPUT__0", lookup("float32"), (1, 3, 224, 224)),),
    outputs=(TensorConfig("OUTPUT__0", lookup("float32"), (1, 1000)),),
)


def parsed(text: str) -> model_config_pb2.ModelConfig:
    message = model_config_pb2.ModelConfig()
    text_format.Parse(text, message)
    return message


@pytest.mark.parametrize(
    ("layout", "platform", "backend"),
    [("torchscript", "pytorch_libtorch", ""), ("onnx", "onnxruntime_onnx", ""), ("python", "", "python")],
)
@pytest.mark.parametrize("signature", [BATCHED, UNBATCHED], ids=["batched", "unbatched"])
def test_every_layout_renders_a_config_that_triton_parses(layout: str, platform: str, backend: str, signature: Signature) -> None:
    text = config.render(name="my-model_1.0", layout=config.LAYOUTS[layout], signature=signature)
    message = parsed(text)
    assert message.name == "my-model_1.0"
    assert (message.platform, message.backend) == (platform, backend)
    assert message.max_batch_size == signature.max_batch_size
    for field, entries in (("input", signature.inputs), ("output", signature.outputs)):
        got = [(tensor.name, model_config_pb2.DataType.Name(tensor.data_type), tuple(tensor.dims)) for tensor in getattr(message, field)]
        assert got == [(entry.name, entry.data_type.triton, entry.dims) for entry in entries]
    assert message.HasField("dynamic_batching") == signature.batching
    # The checker agrees, and finds nothing to complain about.
    config.check(text, name="my-model_1.0", layout=config.LAYOUTS[layout], signature=signature)


def test_an_output_without_dimensions_is_reshaped() -> None:
    message = parsed(config.render(name="m", layout=config.LAYOUTS["python"], signature=BATCHED))
    scalar = message.output[1]
    assert scalar.HasField("reshape") and list(scalar.reshape.shape) == []
    assert not message.output[0].HasField("reshape")


def test_check_rejects_a_config_that_says_something_else() -> None:
    text = config.render(name="m", layout=config.LAYOUTS["onnx"], signature=UNBATCHED)
    with pytest.raises(PackagingError, match="max_batch_size 4"):
        config.check(text.replace("max_batch_size: 0", "max_batch_size: 4"), name="m", layout=config.LAYOUTS["onnx"], signature=UNBATCHED)
    with pytest.raises(PackagingError, match="does not parse as Triton's ModelConfig"):
        config.check(text + "no_such_field: 1\n", name="m", layout=config.LAYOUTS["onnx"], signature=UNBATCHED)


@pytest.mark.parametrize("name", ["resnet50", "a", "my-model_1.0", "Model9"])
def test_good_model_names(name: str) -> None:
    assert config.validate_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "-x", "a/b", "has space", 'q"uote', "_hidden"])
def test_bad_model_names(name: str) -> None:
    with pytest.raises(PackagingError, match="bad model name"):
        config.validate_name(name)


@pytest.mark.parametrize("version", [0, -3])
def test_versions_are_positive(version: int) -> None:
    with pytest.raises(PackagingError, match="positive integer"):
        config.validate_version(version)

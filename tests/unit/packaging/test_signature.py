"""Pure: dtype names, example-input specs, and the signature (batching, dims, names) inferred from shapes."""

from __future__ import annotations

import pathlib

import pytest

from tritonops.packaging.dtypes import DATA_TYPES, lookup
from tritonops.packaging.errors import PackagingError
from tritonops.packaging.signature import (
    DEFAULT_MAX_BATCH_SIZE,
    ExampleFile,
    Observed,
    RandomExample,
    Signature,
    TensorConfig,
    infer_signature,
    parse_example,
)

FP32 = lookup("float32")
INT64 = lookup("int64")


@pytest.mark.parametrize(
    ("name", "triton"),
    [
        ("float32", "TYPE_FP32"), ("torch.float32", "TYPE_FP32"), ("float", "TYPE_FP32"), ("fp32", "TYPE_FP32"),
        ("half", "TYPE_FP16"), ("bf16", "TYPE_BF16"), ("double", "TYPE_FP64"), ("long", "TYPE_INT64"),
        ("int", "TYPE_INT32"), ("bool", "TYPE_BOOL"), ("uint8", "TYPE_UINT8"), ("INT8", "TYPE_INT8"),
    ],
)
def test_dtype_names_and_aliases_map_to_triton_types(name: str, triton: str) -> None:
    assert lookup(name).triton == triton


@pytest.mark.parametrize("name", ["complex64", "torch.complex128", "uint16", "string", "float8_e4m3fn", ""])
def test_unsupported_dtypes_are_errors_that_list_the_supported_ones(name: str) -> None:
    with pytest.raises(PackagingError, match="unsupported dtype") as error:
        lookup(name)
    assert "float32" in str(error.value) and "\n" not in str(error.value)


def test_every_data_type_is_a_triton_enum_value() -> None:
    from tritonclient.grpc import model_config_pb2

    for data_type in DATA_TYPES:
        assert model_config_pb2.DataType.Value(data_type.triton) > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("float32:1x3x224x224", RandomExample(FP32, (1, 3, 224, 224))),
        ("int64:8", RandomExample(INT64, (8,))),
        ("fp16:2x4", RandomExample(lookup("float16"), (2, 4))),
        (" bool:3x1 ", RandomExample(lookup("bool"), (3, 1))),
    ],
)
def test_example_specs(text: str, expected: RandomExample) -> None:
    assert parse_example(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("float32", "does not exist"),
        ("float32:", "bad example input"),
        ("float32:1x", "bad example input"),
        ("float32:1,3", "bad example input"),
        ("float32:-1x3", "bad example input"),
        (":1x3", "bad example input"),
        ("float32:0x3", "at least 1"),
        ("complex64:1x3", "unsupported dtype 'complex64'"),
        ("inputs.pt", "example input file inputs.pt does not exist"),
    ],
)
def test_bad_example_specs(text: str, message: str) -> None:
    with pytest.raises(PackagingError, match=message):
        parse_example(text)


def test_an_existing_file_is_an_example_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "float32:1x3"  # a file named like a spec is still a file
    path.write_bytes(b"")
    assert parse_example(str(path)) == ExampleFile(path)


def observed(*shapes: tuple[int, ...], data_type: str = "float32") -> list[Observed]:
    return [Observed(lookup(data_type), shape) for shape in shapes]


IMAGE_IN = observed((1, 3, 8, 8))
IMAGE_OUT = observed((1, 5))
IMAGE_GROWN = observed((2, 5))


@pytest.mark.parametrize(
    ("requested", "max_batch_size", "input_dims", "output_dims"),
    [
        (None, DEFAULT_MAX_BATCH_SIZE, (3, 8, 8), (5,)),
        (16, 16, (3, 8, 8), (5,)),
        (1, 1, (3, 8, 8), (5,)),
        (0, 0, (1, 3, 8, 8), (1, 5)),
    ],
    ids=["inferred", "explicit", "one", "off"],
)
def test_image_classifier_signature(requested: int | None, max_batch_size: int, input_dims: tuple[int, ...], output_dims: tuple[int, ...]) -> None:
    signature = infer_signature(IMAGE_IN, IMAGE_OUT, resized_outputs=IMAGE_GROWN, max_batch_size=requested)
    assert signature == Signature(
        max_batch_size=max_batch_size,
        inputs=(TensorConfig("INPUT__0", FP32, input_dims),),
        outputs=(TensorConfig("OUTPUT__0", FP32, output_dims),),
    )
    assert signature.batching == (max_batch_size > 0)


def test_a_larger_example_batch_raises_the_inferred_max_batch_size() -> None:
    signature = infer_signature(observed((32, 4)), observed((32, 2)), resized_outputs=observed((33, 2)), max_batch_size=None)
    assert signature.max_batch_size == 32


def test_several_inputs_and_outputs_keep_their_order_names_and_dtypes() -> None:
    inputs = [Observed(INT64, (2, 7)), Observed(FP32, (2, 1))]
    outputs = [Observed(FP32, (2, 4)), Observed(INT64, (2,))]
    grown = [Observed(FP32, (3, 4)), Observed(INT64, (3,))]
    signature = infer_signature(inputs, outputs, resized_outputs=grown, max_batch_size=None)
    assert signature.inputs == (TensorConfig("INPUT__0", INT64, (7,)), TensorConfig("INPUT__1", FP32, (1,)))
    # An output that is only the batch dimension is declared [1] and reshaped to no dimensions.
    assert signature.outputs == (TensorConfig("OUTPUT__0", FP32, (4,)), TensorConfig("OUTPUT__1", INT64, (1,), reshape=()))


def test_a_scalar_output_without_batching_is_reshaped() -> None:
    signature = infer_signature(observed((3,)), observed(()), resized_outputs=None, max_batch_size=None)
    assert signature.max_batch_size == 0
    assert signature.outputs == (TensorConfig("OUTPUT__0", FP32, (1,), reshape=()),)


NOT_BATCHABLE = [
    (observed((1, 3)), observed((1, 5)), None, "fails on a batch of 2"),
    (observed((1, 3)), observed((1, 6)), observed((1, 6)), "for a batch of 2 output 0 has shape [1, 6], not [2, 6]"),
    (observed((2, 3)), observed((5,)), observed((5,)), "output 0 has shape [5], whose first dimension is not the batch size 2"),
    (observed((2, 3)), observed(()), None, "output 0 has shape []"),
    (observed((2, 3), (4, 3)), observed((2, 1)), None, "the inputs do not share a first dimension"),
    (observed((2, 3)), observed((2, 1)), observed((3, 1), (3, 1)), "returns 2 outputs for a batch of 3, not 1"),
]


@pytest.mark.parametrize(("inputs", "outputs", "grown", "problem"), NOT_BATCHABLE)
def test_without_a_batch_dimension_batching_is_off_when_inferred(
    inputs: list[Observed], outputs: list[Observed], grown: list[Observed] | None, problem: str
) -> None:
    signature = infer_signature(inputs, outputs, resized_outputs=grown, max_batch_size=None)
    assert signature.max_batch_size == 0
    assert [entry.dims for entry in signature.inputs] == [tensor.shape for tensor in inputs]


@pytest.mark.parametrize(("inputs", "outputs", "grown", "problem"), NOT_BATCHABLE)
def test_without_a_batch_dimension_asking_for_batching_is_an_error_that_says_why(
    inputs: list[Observed], outputs: list[Observed], grown: list[Observed] | None, problem: str
) -> None:
    with pytest.raises(PackagingError) as error:
        infer_signature(inputs, outputs, resized_outputs=grown, max_batch_size=4)
    assert problem in str(error.value)
    assert "--max-batch-size 0" in str(error.value)


@pytest.mark.parametrize(
    ("inputs", "outputs", "max_batch_size", "message"),
    [
        ([], observed((1,)), None, "at least one example input"),
        (observed((1,)), [], None, "returns no tensors"),
        (observed((1,)), observed((1,)), -1, "must be 0"),
    ],
)
def test_degenerate_signatures_are_errors(inputs: list[Observed], outputs: list[Observed], max_batch_size: int | None, message: str) -> None:
    with pytest.raises(PackagingError, match=message):
        infer_signature(inputs, outputs, resized_outputs=None, max_batch_size=max_batch_size)

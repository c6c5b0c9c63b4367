import math
from typing import Any

import torch

from tritonops.golden import golden_set
from tritonops.packaging import dtypes, golden_file
from tritonops.packaging.prepared import Prepared
from tritonops.packaging.signature import Signature, TensorConfig


def prepared(**changes: Any) -> Prepared:
    signature = Signature(
        max_batch_size=8,
        inputs=(TensorConfig("INPUT__0", dtypes.lookup("float32"), (3,)),),
        outputs=(TensorConfig("OUTPUT__0", dtypes.lookup("int64"), (1,), reshape=()),),
    )
    fields: dict[str, Any] = dict(model=None, traced=None, signature=signature,
                                  examples=[torch.tensor([[1.0, math.nan, 3.0], [4.0, 5.0, 6.0]])], expected=[torch.tensor([2, 0])],
                                  grown_examples=[torch.ones(3, 3)], grown_expected=[torch.tensor([0, 0, 0])])
    fields.update(changes)
    return Prepared(**fields)


def test_one_case_per_checked_batch_in_triton_shapes() -> None:
    golden = golden_file.from_prepared(prepared(), name="m", version=2)
    assert (golden.model, golden.version, [case.name for case in golden.cases]) == ("m", 2, ["batch 2", "batch 3"])
    first = golden.cases[0]
    assert first.inputs["INPUT__0"].datatype == "FP32" and first.inputs["INPUT__0"].shape == (2, 3)
    assert math.isnan(float(first.inputs["INPUT__0"].data[1]))
    # A reshaped scalar output is what Triton answers: [batch, 1].
    assert first.outputs["OUTPUT__0"] == golden_set.Tensor("INT64", (2, 1), (2, 0))
    assert golden_set.parse(golden_set.render(golden)).cases[1].outputs["OUTPUT__0"].shape == (3, 1)


def test_file_name() -> None:
    assert golden_file.file_name(4) == "golden-4.json"

"""`tritonops package`: turn a PyTorch model into a Triton model repository entry.

Layouts (one module each): `torchscript` (pytorch_libtorch, model.pt), `onnx_model` (onnxruntime_onnx,
model.onnx), `python_backend` (model.py serving a TorchScript model.pt). `signature` and `config` are pure:
shapes and dtypes in, config.pbtxt out, checked with Triton's own model-config protobuf. `source` is the
only place that loads, runs and traces models with PyTorch; `build` puts it together.
"""

from tritonops.packaging.errors import PackagingError

__all__ = ["PackagingError"]

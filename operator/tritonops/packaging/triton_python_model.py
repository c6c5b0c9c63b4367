"""Triton python-backend model written by `tritonops package`: serves the TorchScript model.pt beside it.

Inputs and outputs are read from config.pbtxt, in order: input i is forward()'s argument i, output i is
element i of what forward() returns. The model runs on the GPU Triton gives the instance, else the CPU.
A request that fails raises TritonModelException, so Triton counts it in nv_inference_request_failure.
"""

import json
import os
import sys

# Triton's python backend stub runs an isolated interpreter that ignores PYTHONPATH: take the paths of the
# environment that holds torch from this variable (os.pathsep-separated) before importing it.
for _path in os.environ.get("TRITONOPS_MODEL_PYTHONPATH", "").split(os.pathsep):
    if _path and _path not in sys.path:
        sys.path.append(_path)

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

MODEL_FILE = "model.pt"


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.input_names = [entry["name"] for entry in config["input"]]
        self.outputs = [(entry["name"], pb_utils.triton_string_to_numpy(entry["data_type"])) for entry in config["output"]]
        if args.get("model_instance_kind") == "GPU" and torch.cuda.is_available():
            self.device = torch.device("cuda", int(args.get("model_instance_device_id", "0")))
        else:
            self.device = torch.device("cpu")
        path = os.path.join(args["model_repository"], str(args["model_version"]), MODEL_FILE)
        self.model = torch.jit.load(path, map_location=self.device)
        self.model.eval()

    def _infer(self, request: Any) -> Any:
        inputs = []
        for name in self.input_names:
            array = pb_utils.get_input_tensor_by_name(request, name).as_numpy()
            inputs.append(torch.from_numpy(np.array(array, copy=True)).to(self.device))
        result = self.model(*inputs)
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(results) != len(self.outputs):
            raise pb_utils.TritonModelException(f"the model returned {len(results)} outputs, config.pbtxt declares {len(self.outputs)}")
        tensors = [
            pb_utils.Tensor(name, np.ascontiguousarray(value.detach().cpu().numpy().astype(dtype, copy=False)))
            for (name, dtype), value in zip(self.outputs, results)
        ]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def execute(self, requests: list[Any]) -> list[Any]:
        with torch.inference_mode():
            try:
                return [self._infer(request) for request in requests]
            except pb_utils.TritonModelException:
                raise
            except Exception as error:
                raise pb_utils.TritonModelException(f"{type(error).__name__}: {error}") from error

    def finalize(self) -> None:
        self.model = None

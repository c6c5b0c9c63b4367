"""A python-backend Triton model for tests, whose faults are set in config.pbtxt or a fault file.

Parameters (string values in config.pbtxt): `failure_rate` (fraction of requests that fail, spread
evenly), `delay_ms` (added to every request), `fail_load` ("true" raises in initialize), and
`fault_file` (a JSON file with the same keys, re-read at most twice a second, so a test can change a
running model's behaviour). Failures raise TritonModelException, which Triton counts in
nv_inference_request_failure; an error returned inside a response would count as a success.
"""

import os
import sys

# Triton's stub runs an isolated interpreter that ignores PYTHONPATH; take the test environment's
# site-packages from this variable instead.
for _path in os.environ.get("TRITONOPS_MODEL_PYTHONPATH", "").split(os.pathsep):
    if _path and _path not in sys.path:
        sys.path.append(_path)

import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.defaults = {
            "failure_rate": float(parameters.get("failure_rate", "0")),
            "delay_ms": float(parameters.get("delay_ms", "0")),
        }
        self.fault_file = parameters.get("fault_file", "")
        self.faults = dict(self.defaults)
        self.faults_read_at = 0.0
        self.handled = 0
        if parameters.get("fail_load", "false") == "true":
            raise pb_utils.TritonModelException("this model version is configured to fail to load")

    def _current_faults(self):
        now = time.monotonic()
        if self.fault_file and now - self.faults_read_at > 0.5:
            self.faults_read_at = now
            try:
                with open(self.fault_file) as handle:
                    self.faults = {**self.defaults, **json.load(handle)}
            except (OSError, ValueError):
                self.faults = dict(self.defaults)
        return self.faults

    def execute(self, requests):
        faults = self._current_faults()
        if faults["delay_ms"] > 0:
            time.sleep(faults["delay_ms"] / 1000.0)
        responses = []
        for request in requests:
            index = self.handled
            self.handled += 1
            rate = faults["failure_rate"]
            # Request i fails when the running count of failures due crosses an integer: exact and even.
            if rate > 0 and math.floor((index + 1) * rate) > math.floor(index * rate):
                raise pb_utils.TritonModelException(f"injected failure for request {index}")
            values = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            output = pb_utils.Tensor("OUTPUT", (values * 2).astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
        return responses

"""A python-backend Triton model for tests, whose faults are set in config.pbtxt or fault files.

Faults, merged in this order (later wins):
1. parameters in config.pbtxt (string values): `failure_rate` (fraction of requests that fail, spread
   evenly), `delay_ms` (added to every request), `fail_load` ("true" raises in initialize), and
   `fault_file` (the path of a JSON file, see 3);
2. `faults.json` in the model's version directory, with the same keys: the config.pbtxt of a model is
   shared by all of its versions, so this is how version 2 alone is made bad;
3. the `fault_file` named in config.pbtxt.
Both files are read at initialize and re-read at most twice a second, so a test can change a running
model's behaviour. Besides the keys above they may set `crash_after_requests`: once this many requests
have been handled, the next request kills the whole tritonserver process (SIGKILL to the stub's
parent), the way a server that crashes in the middle of serving looks from outside; and `faults.json`
may set `allocate_mb`, memory the model writes when it loads (a version too big for its memory limit). Failures raise
TritonModelException, which Triton counts in nv_inference_request_failure; an error returned inside a
response would count as a success. The fault files may also set `factor` (OUTPUT is INPUT times it instead of
2: a wrong answer that is fast and error-free, or one within a tolerance of the right one) and
`error_responses` (every response carries an error inside it: the client sees an error, Triton a success).
`faults.json` may also set `hang_load`: initialize never returns, so the version never loads and Triton never
turns Ready (it is read at initialize only).
"""

import os
import signal
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

VERSION_FAULTS = "faults.json"


def _read_json(path):
    if not path:
        return {}
    try:
        with open(path) as handle:
            loaded = json.load(handle)
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _kill_server():
    """SIGKILL the tritonserver that runs this stub: the stub's parent, checked by its name."""
    parent = os.getppid()
    try:
        with open(f"/proc/{parent}/comm") as handle:
            name = handle.read().strip()
    except OSError:
        name = ""
    if name == "tritonserver":
        os.kill(parent, signal.SIGKILL)
    # Whatever the parent was, this stub goes too, so the request never completes.
    os._exit(1)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.defaults = {
            "failure_rate": float(parameters.get("failure_rate", "0")),
            "delay_ms": float(parameters.get("delay_ms", "0")),
            "crash_after_requests": None,
        }
        self.fault_file = parameters.get("fault_file", "")
        self.version_fault_file = os.path.join(args.get("model_repository", ""), str(args.get("model_version", "")), VERSION_FAULTS)
        self.faults_read_at = 0.0
        self.handled = 0
        self.faults = self._read_faults()
        fail_load = parameters.get("fail_load", "false") == "true"
        version_faults = _read_json(self.version_fault_file)
        if "fail_load" in version_faults:
            fail_load = bool(version_faults["fail_load"])
        if fail_load:
            raise pb_utils.TritonModelException("this model version is configured to fail to load")
        if version_faults.get("hang_load"):
            # Never returns, like a load stuck on a hung download or a deadlock.
            while True:
                time.sleep(1)
        # A version that needs more memory than the pod may use: the pages are written, so they count.
        self.ballast = np.ones(int(float(version_faults.get("allocate_mb") or 0) * 1024 * 1024 // 8), dtype=np.float64)

    def _read_faults(self):
        merged = {**self.defaults, **_read_json(self.version_fault_file), **_read_json(self.fault_file)}
        return {
            "failure_rate": float(merged.get("failure_rate") or 0),
            "delay_ms": float(merged.get("delay_ms") or 0),
            "crash_after_requests": None if merged.get("crash_after_requests") is None else int(merged["crash_after_requests"]),
            "factor": 2.0 if merged.get("factor") is None else float(merged["factor"]),
            "error_responses": bool(merged.get("error_responses")),
        }

    def _current_faults(self):
        now = time.monotonic()
        if now - self.faults_read_at > 0.5:
            self.faults_read_at = now
            self.faults = self._read_faults()
        return self.faults

    def execute(self, requests):
        faults = self._current_faults()
        crash_after = faults["crash_after_requests"]
        if crash_after is not None and self.handled >= crash_after:
            _kill_server()
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
            if faults["error_responses"]:
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(f"error response for request {index}")))
                continue
            values = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            output = pb_utils.Tensor("OUTPUT", (values * faults["factor"]).astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
        return responses

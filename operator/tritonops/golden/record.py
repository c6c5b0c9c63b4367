"""Record a golden set from a running Triton: send given inputs over HTTP, keep the answers (thin I/O shell)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tritonops.golden.golden_set import Case, GoldenSet, GoldenSetError, Tensor, parse_tensor

# Bounded: one connection, each request given up after this long (tritonclient's timeouts are in seconds).
DEFAULT_TIMEOUT_SECONDS = 10.0


def parse_inputs(text: str) -> list[tuple[str, dict[str, Tensor]]]:
    """The --inputs file: {"cases": [{"name": ..., "inputs": {NAME: tensor}}]} in the golden set's tensor format."""
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise GoldenSetError(f"inputs file is not JSON: {error}") from None
    cases = raw.get("cases") if isinstance(raw, dict) else None
    if not isinstance(cases, list) or not cases:
        raise GoldenSetError("cases: the inputs file must hold a non-empty list of cases")
    parsed = []
    for index, case in enumerate(cases):
        where = f"cases[{index}]"
        if not isinstance(case, dict) or not isinstance(case.get("inputs"), dict) or not case["inputs"]:
            raise GoldenSetError(f"{where}.inputs: must be a non-empty object of tensors by name")
        name = case.get("name", f"case {index}")
        parsed.append((str(name), {key: parse_tensor(value, where=f"{where}.inputs.{key}") for key, value in case["inputs"].items()}))
    return parsed


def _numpy_array(tensor: Tensor) -> Any:
    import numpy

    if tensor.datatype == "BYTES":
        return numpy.array([value.encode() if isinstance(value, str) else value for value in tensor.data], dtype=numpy.object_).reshape(tensor.shape)
    import tritonclient.utils

    numpy_type = tritonclient.utils.triton_to_np_dtype(tensor.datatype)
    return numpy.array(tensor.data, dtype=numpy_type).reshape(tensor.shape)


def _tensor_from_numpy(value: Any, *, datatype: str) -> Tensor:
    flat = value.reshape(-1).tolist()
    if datatype == "BYTES":
        flat = [item.decode(errors="replace") if isinstance(item, bytes) else str(item) for item in flat]
    elif datatype in ("FP16", "FP32", "FP64", "BF16"):
        flat = [float(item) for item in flat]
    return Tensor(datatype=datatype, shape=tuple(int(size) for size in value.shape), data=tuple(flat))


def infer(*, client: Any, model: str, version: int, inputs: Mapping[str, Tensor], timeout_seconds: float) -> dict[str, Tensor]:
    """One request to `client` (a tritonclient.http.InferenceServerClient); every output the model declares."""
    import tritonclient.http

    request = []
    for name, tensor in inputs.items():
        entry = tritonclient.http.InferInput(name, list(tensor.shape), tensor.datatype)
        entry.set_data_from_numpy(_numpy_array(tensor), binary_data=True)
        request.append(entry)
    answer = client.infer(model, request, model_version=str(version))
    response = answer.get_response()
    return {output["name"]: _tensor_from_numpy(answer.as_numpy(output["name"]), datatype=output["datatype"]) for output in response["outputs"]}


def record(*, url: str, model: str, version: int, cases: list[tuple[str, dict[str, Tensor]]], timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> GoldenSet:
    """A golden set of what the Triton at `url` answers for each case."""
    import tritonclient.http

    address = url.removeprefix("http://")
    client = tritonclient.http.InferenceServerClient(
        url=address, connection_timeout=timeout_seconds, network_timeout=timeout_seconds, concurrency=1
    )
    try:
        recorded = tuple(
            Case(name=name, inputs=inputs, outputs=infer(client=client, model=model, version=version, inputs=inputs, timeout_seconds=timeout_seconds))
            for name, inputs in cases
        )
    finally:
        client.close()
    return GoldenSet(model=model, version=version, cases=recorded)

"""Write small python-backend model repositories for tests, with injectable faults."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

TEMPLATE = pathlib.Path(__file__).with_name("model_template.py")
# Faults of one version, in that version directory (config.pbtxt is shared by all versions).
VERSION_FAULTS = "faults.json"


@dataclasses.dataclass(frozen=True)
class Faults:
    failure_rate: float = 0.0
    delay_ms: float = 0.0
    fail_load: bool = False
    # Once this many requests are handled, the next one kills the whole tritonserver (None: never).
    crash_after_requests: int | None = None
    # Memory the version writes when it loads, in MiB (read from faults.json at initialize only).
    allocate_mb: int = 0
    # OUTPUT is INPUT times this (None: 2, the right answer): a wrong but fast and error-free version,
    # or one within a tolerance of the right answers (fp16 against fp32).
    factor: float | None = None
    # Every response carries an error inside it: the client sees an error while Triton counts a success.
    error_responses: bool = False
    # The version's initialize never returns (read from faults.json at load only): Triton never turns Ready,
    # as a model stuck loading (a hung download, a deadlock) looks from outside.
    hang_load: bool = False

    def as_json(self) -> dict[str, object]:
        document: dict[str, object] = {"failure_rate": self.failure_rate, "delay_ms": self.delay_ms, "fail_load": self.fail_load}
        if self.crash_after_requests is not None:
            document["crash_after_requests"] = self.crash_after_requests
        if self.allocate_mb:
            document["allocate_mb"] = self.allocate_mb
        if self.factor is not None:
            document["factor"] = self.factor
        if self.error_responses:
            document["error_responses"] = True
        if self.hang_load:
            document["hang_load"] = True
        return document


def config_pbtxt(*, name: str, faults: Faults, fault_file: pathlib.Path | None) -> str:
    parameters = {
        "failure_rate": str(faults.failure_rate),
        "delay_ms": str(faults.delay_ms),
        "fail_load": "true" if faults.fail_load else "false",
        "fault_file": str(fault_file) if fault_file else "",
    }
    rendered_parameters = "\n".join(
        f'parameters: {{ key: "{key}" value: {{ string_value: "{value}" }} }}' for key, value in parameters.items()
    )
    return (
        f'name: "{name}"\n'
        'backend: "python"\n'
        "max_batch_size: 0\n"
        'input [{ name: "INPUT", data_type: TYPE_FP32, dims: [ -1 ] }]\n'
        'output [{ name: "OUTPUT", data_type: TYPE_FP32, dims: [ -1 ] }]\n'
        "instance_group [{ kind: KIND_CPU, count: 1 }]\n"
        f"{rendered_parameters}\n"
    )


def write_model(
    repository: pathlib.Path,
    *,
    name: str = "doubler",
    version: int = 1,
    faults: Faults = Faults(),
    fault_file: pathlib.Path | None = None,
    version_faults: Faults | None = None,
) -> pathlib.Path:
    """Write `repository/name/config.pbtxt` and `repository/name/version/model.py`; return the model dir.

    `faults` go into config.pbtxt, which every version of the model shares (writing a second version
    rewrites it); `version_faults` go into `faults.json` in this version's directory only.
    """
    model_directory = repository / name
    version_directory = model_directory / str(version)
    version_directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE, version_directory / "model.py")
    (model_directory / "config.pbtxt").write_text(config_pbtxt(name=name, faults=faults, fault_file=fault_file))
    if version_faults is not None:
        set_version_faults(model_directory, version, version_faults)
    return model_directory


def set_faults(fault_file: pathlib.Path, faults: Faults) -> None:
    """Change a running model's behaviour; it re-reads the file within half a second."""
    document = faults.as_json()
    # fail_load only matters at load time, where the fault file named in config.pbtxt is not consulted.
    del document["fail_load"]
    _write_atomically(fault_file, json.dumps(document))


def set_version_faults(model_directory: pathlib.Path, version: int | str, faults: Faults) -> pathlib.Path:
    """Write `faults.json` into one version directory: read when that version loads and twice a second after."""
    path = model_directory / str(version) / VERSION_FAULTS
    _write_atomically(path, json.dumps(faults.as_json()))
    return path


def _write_atomically(path: pathlib.Path, text: str) -> None:
    # The model may read while a test writes; a rename means it sees the old file or the new one.
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text)
    staging.replace(path)

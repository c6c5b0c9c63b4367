"""Write small python-backend model repositories for tests, with injectable faults."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

TEMPLATE = pathlib.Path(__file__).with_name("model_template.py")


@dataclasses.dataclass(frozen=True)
class Faults:
    failure_rate: float = 0.0
    delay_ms: float = 0.0
    fail_load: bool = False


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
) -> pathlib.Path:
    """Write `repository/name/config.pbtxt` and `repository/name/version/model.py`; return the model dir."""
    model_directory = repository / name
    version_directory = model_directory / str(version)
    version_directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE, version_directory / "model.py")
    (model_directory / "config.pbtxt").write_text(config_pbtxt(name=name, faults=faults, fault_file=fault_file))
    return model_directory


def set_faults(fault_file: pathlib.Path, faults: Faults) -> None:
    """Change a running model's behaviour; it re-reads the file within half a second."""
    fault_file.write_text(json.dumps({"failure_rate": faults.failure_rate, "delay_ms": faults.delay_ms}))

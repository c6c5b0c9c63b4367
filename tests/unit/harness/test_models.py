"""The test model's config.pbtxt is valid for Triton's own model-config protobuf."""

from __future__ import annotations

import json
import pathlib

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tests.harness.models import VERSION_FAULTS, Faults, set_faults, set_version_faults, write_model


def test_written_config_parses_as_a_triton_model_config(tmp_path: pathlib.Path) -> None:
    model = write_model(tmp_path, name="doubler", version=3, faults=Faults(failure_rate=0.5, delay_ms=20), fault_file=tmp_path / "f.json")
    config = text_format.Parse((model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert config.name == "doubler"
    assert config.backend == "python"
    assert config.parameters["failure_rate"].string_value == "0.5"
    assert config.parameters["delay_ms"].string_value == "20"
    assert config.parameters["fault_file"].string_value == str(tmp_path / "f.json")
    assert (model / "3" / "model.py").exists()


def test_version_faults_live_in_that_version_directory_only(tmp_path: pathlib.Path) -> None:
    write_model(tmp_path, version=1)
    model = write_model(tmp_path, version=2, version_faults=Faults(fail_load=True, crash_after_requests=3))
    assert not (model / "1" / VERSION_FAULTS).exists()
    assert json.loads((model / "2" / VERSION_FAULTS).read_text()) == {
        "failure_rate": 0.0, "delay_ms": 0.0, "fail_load": True, "crash_after_requests": 3,
    }
    set_version_faults(model, 2, Faults(failure_rate=0.5))
    assert json.loads((model / "2" / VERSION_FAULTS).read_text())["failure_rate"] == 0.5
    assert "crash_after_requests" not in json.loads((model / "2" / VERSION_FAULTS).read_text())


def test_fault_file_keeps_its_keys(tmp_path: pathlib.Path) -> None:
    set_faults(tmp_path / "f.json", Faults(failure_rate=0.25, delay_ms=5))
    assert json.loads((tmp_path / "f.json").read_text()) == {"failure_rate": 0.25, "delay_ms": 5}


def test_a_hanging_load_is_written_only_when_asked_for(tmp_path: pathlib.Path) -> None:
    model = write_model(tmp_path, version=2, version_faults=Faults(hang_load=True))
    assert json.loads((model / "2" / VERSION_FAULTS).read_text())["hang_load"] is True
    assert "hang_load" not in Faults().as_json()

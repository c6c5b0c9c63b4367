"""The test model's config.pbtxt is valid for Triton's own model-config protobuf."""

from __future__ import annotations

import pathlib

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tests.harness.models import Faults, write_model


def test_written_config_parses_as_a_triton_model_config(tmp_path: pathlib.Path) -> None:
    model = write_model(tmp_path, name="doubler", version=3, faults=Faults(failure_rate=0.5, delay_ms=20), fault_file=tmp_path / "f.json")
    config = text_format.Parse((model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert config.name == "doubler"
    assert config.backend == "python"
    assert config.parameters["failure_rate"].string_value == "0.5"
    assert config.parameters["delay_ms"].string_value == "20"
    assert config.parameters["fault_file"].string_value == str(tmp_path / "f.json")
    assert (model / "3" / "model.py").exists()

"""`tritonops package` with real PyTorch: the configs parse with Triton's own protobuf, the TorchScript and ONNX
artifacts reproduce torch's outputs when reloaded, and the python-backend layout answers like torch from the
real tritonserver. Bad models and inputs exit 2 with one line on stderr."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
import tritonclient.http
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from tritonops import cli
from tritonops.golden import compare, golden_set, record
from tritonops.devcluster.triton import TritonServer

# torch.jit.load and torch.jit.trace warn that TorchScript is deprecated; it is what Triton's PyTorch backend loads.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

MODELS = textwrap.dedent(
    """
    import torch


    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.fc = torch.nn.Linear(4, 5)

        def forward(self, image):
            return self.fc(torch.relu(self.conv(image)).mean(dim=(2, 3)))


    class Ranker(torch.nn.Module):
        # Two inputs of two dtypes, two outputs of two dtypes.
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(10, 4)

        def forward(self, ids, weight):
            scores = self.embedding(ids).sum(dim=1) * weight
            return scores, scores.argmax(dim=1)


    class Counter(torch.nn.Module):
        # Its output depends on Python state, so the tracer's sanity check fails.
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return x * self.calls


    class Complex(torch.nn.Module):
        def forward(self, x):
            return torch.complex(x, x)


    class Doubler(torch.nn.Module):
        # Any dtype in, the same dtype out; returns a list, which Triton serves like a tuple.
        def forward(self, x):
            return [x * 2]


    class Broken(torch.nn.Module):
        def forward(self, x):
            return x @ torch.ones(7, 7)


    def classifier():
        torch.manual_seed(0)
        return Classifier().eval()


    def ranker():
        torch.manual_seed(1)
        return Ranker().eval()


    def counter():
        return Counter()


    def complex_output():
        return Complex()


    def doubler():
        return Doubler()


    def broken():
        return Broken()


    def not_a_module():
        return "a string"
    """
)


@pytest.fixture
def models(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """A models.py of factories, importable as `models` from the current directory."""
    (tmp_path / "models.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("models", None)
    yield tmp_path / "models.py"
    sys.modules.pop("models", None)


def factory(models: pathlib.Path, name: str) -> torch.nn.Module:
    """The model `models.py:name` builds, loaded here independently of the command."""
    spec = importlib.util.spec_from_file_location("packaged_test_models", models)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    module: torch.nn.Module = getattr(loaded, name)()
    return module


def package(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    status = cli.main(["package", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_config(model_directory: pathlib.Path) -> model_config_pb2.ModelConfig:
    message = model_config_pb2.ModelConfig()
    text_format.Parse((model_directory / "config.pbtxt").read_text(), message)
    return message


def signature(message: model_config_pb2.ModelConfig, field: str) -> list[tuple[str, str, list[int]]]:
    return [(tensor.name, model_config_pb2.DataType.Name(tensor.data_type), list(tensor.dims)) for tensor in getattr(message, field)]


def test_torchscript_layout_from_a_factory(models: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = package(capsys, "models:classifier", "-e", "float32:1x3x8x8", "-o", str(tmp_path / "repo"))
    assert status == 0, err
    assert "packaged classifier version 1 (pytorch_libtorch, max_batch_size 8, dynamic batching)" in out
    directory = tmp_path / "repo" / "classifier"
    assert sorted(str(path.relative_to(directory)) for path in directory.rglob("*")) == ["1", "1/model.pt", "config.pbtxt", "golden-1.json"]

    config = read_config(directory)
    assert (config.name, config.platform, config.max_batch_size) == ("classifier", "pytorch_libtorch", 8)
    assert signature(config, "input") == [("INPUT__0", "TYPE_FP32", [3, 8, 8])]
    assert signature(config, "output") == [("OUTPUT__0", "TYPE_FP32", [5])]
    assert config.HasField("dynamic_batching")

    # A batch size other than the example's: the traced model must not have frozen the batch dimension.
    reloaded = torch.jit.load(str(directory / "1" / "model.pt"))
    image = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(image), factory(models, "classifier")(image))


def test_torchscript_file_with_tensor_file_inputs_is_copied_as_it_is(
    models: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted = tmp_path / "ranker.pt"
    torch.jit.save(torch.jit.trace(factory(models, "ranker"), (torch.zeros(2, 5, dtype=torch.int64), torch.ones(2, 1))), str(scripted))
    inputs = tmp_path / "inputs.pt"
    torch.save((torch.randint(0, 10, (3, 5)), torch.rand(3, 1)), str(inputs))
    status, _, err = package(capsys, str(scripted), "-e", str(inputs), "--version", "4", "--max-batch-size", "32", "-o", str(tmp_path / "repo"))
    assert status == 0, err
    directory = tmp_path / "repo" / "ranker"
    assert (directory / "4" / "model.pt").read_bytes() == scripted.read_bytes()
    config = read_config(directory)
    assert config.max_batch_size == 32
    assert signature(config, "input") == [("INPUT__0", "TYPE_INT64", [5]), ("INPUT__1", "TYPE_FP32", [1])]
    # argmax over a batch is one number per row: declared [1], reshaped to no dimensions.
    assert signature(config, "output") == [("OUTPUT__0", "TYPE_FP32", [4]), ("OUTPUT__1", "TYPE_INT64", [1])]
    assert config.output[1].HasField("reshape") and list(config.output[1].reshape.shape) == []


def test_onnx_layout_runs_in_onnxruntime_like_torch(models: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnxruntime

    status, out, err = package(
        capsys, "models:ranker", "-e", "int64:2x5", "-e", "float32:2x1", "--format", "onnx", "--name", "ranker-onnx", "-o", str(tmp_path / "repo")
    )
    assert status == 0, err
    assert "model.onnx runs in onnxruntime and reproduces torch's outputs (batch 2, batch 3)" in out
    directory = tmp_path / "repo" / "ranker-onnx"
    config = read_config(directory)
    assert (config.platform, config.max_batch_size) == ("onnxruntime_onnx", 8)
    assert signature(config, "input") == [("INPUT__0", "TYPE_INT64", [5]), ("INPUT__1", "TYPE_FP32", [1])]

    session = onnxruntime.InferenceSession(str(directory / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    # The ONNX graph's names are the config's, and its batch dimension is dynamic.
    assert [tensor.name for tensor in session.get_inputs()] == ["INPUT__0", "INPUT__1"]
    assert [tensor.name for tensor in session.get_outputs()] == ["OUTPUT__0", "OUTPUT__1"]
    assert [tensor.type for tensor in session.get_inputs()] == ["tensor(int64)", "tensor(float)"]
    ids, weight = torch.randint(0, 10, (6, 5)), torch.rand(6, 1)
    scores, best = session.run(None, {"INPUT__0": ids.numpy(), "INPUT__1": weight.numpy()})
    with torch.no_grad():
        want_scores, want_best = factory(models, "ranker")(ids, weight)
    np.testing.assert_allclose(scores, want_scores.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(best, want_best.numpy())


def test_python_backend_layout_answers_like_torch_from_tritonserver(
    models: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], start_triton: Callable[..., TritonServer]
) -> None:
    repository = tmp_path / "repo"
    status, _, err = package(capsys, "models:ranker", "-e", "int64:2x5", "-e", "float32:2x1", "--format", "python", "-o", str(repository))
    assert status == 0, err
    directory = repository / "ranker"
    assert sorted(str(path.relative_to(directory)) for path in directory.rglob("*")) == ["1", "1/model.pt", "1/model.py", "config.pbtxt", "golden-1.json"]
    config = read_config(directory)
    assert (config.backend, config.platform, config.max_batch_size) == ("python", "", 8)

    server = start_triton(repository)
    client = tritonclient.http.InferenceServerClient(url=f"{server.address}:{server.http_port}")
    assert client.is_model_ready("ranker")
    metadata = client.get_model_metadata("ranker")
    assert [(tensor["name"], tensor["datatype"], tensor["shape"]) for tensor in metadata["inputs"]] == [
        ("INPUT__0", "INT64", [-1, 5]), ("INPUT__1", "FP32", [-1, 1]),
    ]
    ids, weight = torch.randint(0, 10, (3, 5)), torch.rand(3, 1)
    inputs = [tritonclient.http.InferInput("INPUT__0", [3, 5], "INT64"), tritonclient.http.InferInput("INPUT__1", [3, 1], "FP32")]
    inputs[0].set_data_from_numpy(ids.numpy())
    inputs[1].set_data_from_numpy(weight.numpy())
    answer = client.infer("ranker", inputs)
    with torch.no_grad():
        want_scores, want_best = factory(models, "ranker")(ids, weight)
    np.testing.assert_allclose(answer.as_numpy("OUTPUT__0"), want_scores.numpy(), rtol=1e-5, atol=1e-6)
    # Triton gives the reshaped output its declared dims back: [batch, 1].
    np.testing.assert_array_equal(answer.as_numpy("OUTPUT__1"), want_best.numpy().reshape(3, 1))

    # The golden set holds torch's answers to the example inputs (batch 2 and the grown batch 3), and the
    # real tritonserver answers the same to the same inputs.
    golden = golden_set.parse((directory / "golden-1.json").read_text())
    assert (golden.model, golden.version, [case.name for case in golden.cases]) == ("ranker", 1, ["batch 2", "batch 3"])
    assert golden.cases[0].inputs["INPUT__0"].shape == (2, 5)
    assert golden.cases[0].outputs["OUTPUT__1"].shape == (2, 1)
    recorded = record.record(url=f"http://{server.address}:{server.http_port}", model="ranker", version=1,
                             cases=[(case.name, dict(case.inputs)) for case in golden.cases])
    for want, got in zip(golden.cases, recorded.cases):
        assert set(got.outputs) == set(want.outputs) == {"OUTPUT__0", "OUTPUT__1"}
        for name, expected in want.outputs.items():
            result = compare.compare(actual=got.outputs[name], expected=expected, tolerance=compare.Tolerance(absolute=1e-6, relative=1e-5))
            assert result.matches, f"{want.name} {name}: {result.reason}"
    # The model's own answers, not a copy of the golden set: other inputs change them.
    weight = golden.cases[0].inputs["INPUT__1"]
    wrong = {"INPUT__0": golden.cases[0].inputs["INPUT__0"],
             "INPUT__1": golden_set.Tensor(weight.datatype, weight.shape, tuple(float(value) * 2 + 1 for value in weight.data))}
    answered = record.record(url=f"http://{server.address}:{server.http_port}", model="ranker", version=1, cases=[("doubled", wrong)])
    assert not compare.compare(actual=answered.cases[0].outputs["OUTPUT__0"], expected=golden.cases[0].outputs["OUTPUT__0"],
                               tolerance=compare.Tolerance(absolute=1e-6, relative=1e-5)).matches

    # `tritonops golden record` writes the same answers as a golden set file.
    inputs_file = tmp_path / "inputs.json"
    inputs_file.write_text(json.dumps({"cases": [
        {"name": case.name, "inputs": {name: golden_set.tensor_json(tensor) for name, tensor in case.inputs.items()}} for case in golden.cases
    ]}))
    output = tmp_path / "recorded.json"
    assert cli.main(["golden", "record", "--url", f"http://{server.address}:{server.http_port}", "--model", "ranker", "--version", "1",
                     "--inputs", str(inputs_file), "-o", str(output)]) == 0
    from_file = golden_set.parse(output.read_text())
    for want, got in zip(golden.cases, from_file.cases):
        for name, expected in want.outputs.items():
            assert compare.compare(actual=got.outputs[name], expected=expected, tolerance=compare.Tolerance(absolute=1e-6, relative=1e-5)).matches
    # An unknown model is one line and exit 1, not a traceback.
    assert cli.main(["golden", "record", "--url", f"http://{server.address}:{server.http_port}", "--model", "absent", "--version", "1",
                     "--inputs", str(inputs_file), "-o", str(tmp_path / "absent.json")]) == 1
    assert "absent" in capsys.readouterr().err


def test_a_model_returning_a_list_of_half_tensors(models: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = package(capsys, "models:doubler", "-e", "float16:4x2", "--format", "onnx", "-o", str(tmp_path / "repo"))
    assert status == 0, err
    assert "reproduces torch's outputs (batch 4, batch 5)" in out
    config = read_config(tmp_path / "repo" / "doubler")
    assert signature(config, "input") == [("INPUT__0", "TYPE_FP16", [2])]
    assert signature(config, "output") == [("OUTPUT__0", "TYPE_FP16", [2])]


def test_replacing_a_version_needs_force(models: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["models:classifier", "-e", "float32:1x3x8x8", "--max-batch-size", "0", "-o", str(tmp_path / "repo")]
    assert package(capsys, *arguments)[0] == 0
    status, _, err = package(capsys, *arguments)
    assert status == 2 and "already exists" in err
    assert package(capsys, *arguments, "--force")[0] == 0
    config = read_config(tmp_path / "repo" / "classifier")
    assert config.max_batch_size == 0 and signature(config, "input") == [("INPUT__0", "TYPE_FP32", [1, 3, 8, 8])]
    # Nothing is left behind from the staging directory.
    assert sorted(path.name for path in (tmp_path / "repo").iterdir()) == ["classifier"]


@pytest.mark.parametrize(
    ("arguments", "contains"),
    [
        (["models:counter", "-e", "float32:2x3"], "the model cannot be traced with torch.jit.trace: TracingCheckError"),
        (["models:broken", "-e", "float32:2x3"], "the model fails on the example input: RuntimeError"),
        (["models:complex_output", "-e", "float32:2x3"], "unsupported dtype 'torch.complex64'"),
        (["models:classifier", "-e", "TENSORS"], "unsupported dtype 'torch.complex64'"),
        (["models:classifier", "-e", "TENSORS_DICT"], "holds dict, not a tensor or a tuple of tensors"),
        (["models:doubler", "-e", "bfloat16:2x3", "--format", "python"], "--format python cannot carry bfloat16 tensors"),
        (["models:not_a_module", "-e", "float32:2x3"], "models:not_a_module() returned str, not a torch.nn.Module"),
        (["models:missing", "-e", "float32:2x3"], "models has no function missing"),
        (["no_such_module:build", "-e", "float32:2x3"], "cannot import no_such_module: ModuleNotFoundError"),
        (["models.py", "-e", "float32:2x3"], "models.py is not a TorchScript file"),
        (["models:classifier", "-e", "float32:1x3x8x8", "--max-batch-size", "4", "-e", "float32:2x1"], "fails on the example input"),
    ],
)
def test_bad_models_and_inputs_are_one_line_and_exit_2(
    models: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], arguments: list[str], contains: str
) -> None:
    torch.save(torch.zeros(1, 3, 8, 8, dtype=torch.complex64), str(tmp_path / "complex.pt"))
    torch.save({"x": torch.zeros(1)}, str(tmp_path / "dict.pt"))
    replaced = {"TENSORS": str(tmp_path / "complex.pt"), "TENSORS_DICT": str(tmp_path / "dict.pt")}
    status, out, err = package(capsys, *[replaced.get(argument, argument) for argument in arguments], "-o", str(tmp_path / "repo"))
    assert status == 2
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("tritonops package: ") and contains in err
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())


def test_the_console_command_reports_a_tracing_failure_without_a_traceback(models: pathlib.Path, tmp_path: pathlib.Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tritonops.cli", "package", "models:counter", "-e", "float32:2x3", "-o", str(tmp_path / "repo")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.strip().splitlines() == [
        "tritonops package: the model cannot be traced with torch.jit.trace: TracingCheckError: Tracing failed sanity checks!"
    ]

"""`tritonops package` argument handling that needs no PyTorch: every bad input is one line on stderr and exit 2."""

from __future__ import annotations

import pathlib

import pytest

from tritonops import cli
from tritonops.packaging.errors import PackagingError
from tritonops.packaging.onnx_model import DEFAULT_OPSET
from tritonops.packaging.source import ModelReference, parse_model_reference


def package(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    status = cli.main(["package", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, out: str, err: str, contains: str) -> None:
    assert status == 2
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tritonops package: ")
    assert contains in lines[0]


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["package", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for flag in ("MODEL", "--example-input", "--output", "--name", "--version", "--format", "--max-batch-size", "--opset", "--force"):
        assert flag in text
    for word in ("torchscript", "onnx", "python", "MODULE:FACTORY", "float32:1x3x224x224"):
        assert word in text


def test_the_opset_default_is_the_exporters() -> None:
    arguments = cli._parser().parse_args(["package", "m.pt", "-e", "float32:1", "-o", "repo"])
    assert arguments.opset == DEFAULT_OPSET
    assert arguments.format == "torchscript" and arguments.version == 1 and arguments.max_batch_size is None


@pytest.mark.parametrize(
    ("arguments", "contains"),
    [
        (["missing.pt", "-e", "float32:1x3"], "model file missing.pt does not exist"),
        (["missing_file.py:build", "-e", "float32:1x3"], "model file missing_file.py does not exist"),
        (["some.module:not-a-name", "-e", "float32:1x3"], "FACTORY in MODULE:FACTORY"),
        (["MODEL_DIR", "-e", "float32:1x3"], "is not a file"),
        (["MODEL", "-e", "complex64:1x3"], "unsupported dtype 'complex64'"),
        (["MODEL", "-e", "float32:1by3"], "bad example input 'float32:1by3'"),
        (["MODEL", "-e", "inputs.pt"], "example input file inputs.pt does not exist"),
        (["MODEL", "-e", "float32:1x3", "--name", "a/b"], "bad model name 'a/b'"),
        (["MODEL", "-e", "float32:1x3", "--version", "0"], "--version must be a positive integer"),
        (["MODEL", "-e", "float32:1x3", "--max-batch-size", "-2"], "--max-batch-size must be 0"),
        (["MODEL", "-e", "float32:1x3", "--name", "exists"], "already exists: pick another --version, or pass --force"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], contains: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "MODEL_DIR").mkdir()
    (tmp_path / "model.pt").write_bytes(b"not checked before the arguments are")
    (tmp_path / "repo" / "exists" / "1").mkdir(parents=True)
    arguments = ["model.pt" if argument == "MODEL" else argument for argument in arguments]
    status, out, err = package(capsys, *arguments, "--output", str(tmp_path / "repo"))
    assert_one_line_error(status, out, err, contains)


def test_an_output_that_is_a_file_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "repo").write_text("a file")
    status, out, err = package(capsys, str(tmp_path / "model.pt"), "-e", "float32:1", "-o", str(tmp_path / "repo"))
    assert_one_line_error(status, out, err, "is not a directory")


def test_model_references(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "resnet.pt"
    script.write_bytes(b"")
    factory_file = tmp_path / "nets.py"
    factory_file.write_text("")
    assert parse_model_reference(str(script)) == ModelReference(text=str(script), torchscript_file=script)
    assert parse_model_reference(str(script)).default_name == "resnet"
    assert parse_model_reference("my.models:build_resnet") == ModelReference(text="my.models:build_resnet", module="my.models", factory="build_resnet")
    assert parse_model_reference("my.models:Zoo.resnet").default_name == "resnet"
    assert parse_model_reference(f"{factory_file}:make").module == str(factory_file)
    with pytest.raises(PackagingError, match="MODULE in MODULE:FACTORY"):
        parse_model_reference("not a module:make")

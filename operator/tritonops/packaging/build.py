"""`tritonops package`: a PyTorch model and example inputs in, a checked Triton model repository entry out.

The order is chosen so that bad input fails fast: everything that needs no PyTorch (the model and example
arguments, the name, the version directory) is checked before torch is imported. The files are written
into a temporary directory inside the repository, checked there, and only then moved into place.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType

from tritonops.golden import golden_set
from tritonops.packaging import config, golden_file, onnx_model, python_backend, source, torchscript
from tritonops.packaging.errors import PackagingError
from tritonops.packaging.prepared import Prepared
from tritonops.packaging.signature import Signature, infer_signature, parse_example

FORMATS = tuple(config.LAYOUTS)
_WRITERS: dict[str, ModuleType] = {"torchscript": torchscript, "onnx": onnx_model, "python": python_backend}
CONFIG_FILE = "config.pbtxt"


@dataclasses.dataclass(frozen=True)
class PackageRequest:
    model: str  # a TorchScript file, or MODULE:FACTORY
    example_inputs: Sequence[str]  # DTYPE:DIMS or tensor files, in forward()'s argument order
    repository: pathlib.Path
    name: str | None = None  # default: the file's stem or the factory's name
    version: int = 1
    format: str = "torchscript"
    max_batch_size: int | None = None  # None: inferred
    onnx_opset: int = onnx_model.DEFAULT_OPSET
    force: bool = False  # replace an existing version directory


@dataclasses.dataclass(frozen=True)
class PackageResult:
    name: str
    version: int
    layout: config.Layout
    model_directory: pathlib.Path
    files: tuple[pathlib.Path, ...]  # config.pbtxt first
    signature: Signature
    checks: tuple[str, ...]  # what was verified, one line each
    notes: tuple[str, ...]  # warnings worth showing (the tracer's)
    config_text: str


def package(request: PackageRequest, *, progress: Callable[[str], None] = lambda _: None) -> PackageResult:
    """Write and check REPOSITORY/NAME/config.pbtxt and REPOSITORY/NAME/VERSION/; PackagingError on bad input."""
    with warnings.catch_warnings():
        # torch.jit's trace, save and load warn that TorchScript is deprecated in favour of torch.export; it is
        # still what Triton's PyTorch backend loads, so the warnings say nothing the user can act on here.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return _package(request, progress=progress)


def _package(request: PackageRequest, *, progress: Callable[[str], None]) -> PackageResult:
    if request.format not in config.LAYOUTS:
        raise PackagingError(f"unknown format {request.format!r}: use one of {', '.join(FORMATS)}")
    layout = config.LAYOUTS[request.format]
    reference = source.parse_model_reference(request.model)
    if not request.example_inputs:
        raise PackagingError("give at least one --example-input")
    example_sources = [parse_example(text) for text in request.example_inputs]
    name = config.validate_name(request.name if request.name is not None else reference.default_name)
    version = config.validate_version(request.version)
    if request.max_batch_size is not None and request.max_batch_size < 0:
        raise PackagingError(f"--max-batch-size must be 0 (no batching) or more, not {request.max_batch_size}")
    model_directory = request.repository / name
    version_directory = model_directory / str(version)
    if request.repository.exists() and not request.repository.is_dir():
        raise PackagingError(f"the output repository {request.repository} is not a directory")
    if version_directory.exists() and not request.force:
        raise PackagingError(f"{version_directory} already exists: pick another --version, or pass --force to replace it")

    progress(f"loading {request.model}")
    model = source.load_model(reference)
    examples = source.make_examples(example_sources)
    expected = source.run(model.module, examples)
    progress("tracing")
    traced, notes = source.trace(model, examples)
    # Batching is inferred from the traced graph, which is what Triton serves: a shape the tracer froze
    # in (x.view(1, -1)) shows up as a failure or a wrong shape on a batch of another size.
    grown_examples = source.grow_batch(examples) if request.max_batch_size != 0 else None
    grown_traced: list[source.Observed] | None = None
    grown_expected = None
    if grown_examples is not None:
        try:
            grown_expected = source.run(model.module, grown_examples)
            grown_traced = source.observe(source.run(traced, grown_examples, what="the traced model"))
        except PackagingError:
            grown_expected, grown_traced = None, None
    signature = infer_signature(
        source.observe(examples),
        source.observe(expected),
        resized_outputs=grown_traced,
        max_batch_size=request.max_batch_size,
    )
    if layout.format == "python" and any(entry.data_type.numpy is None for entry in (*signature.inputs, *signature.outputs)):
        raise PackagingError("--format python cannot carry bfloat16 tensors (the python backend hands numpy arrays over): use torchscript or onnx")
    prepared = Prepared(
        model=model,
        traced=traced,
        examples=examples,
        expected=expected,
        signature=signature,
        grown_examples=grown_examples if signature.batching else None,
        grown_expected=grown_expected if signature.batching else None,
        onnx_opset=request.onnx_opset,
    )
    config_text = config.render(name=name, layout=layout, signature=signature)
    config.check(config_text, name=name, layout=layout, signature=signature)
    checks = [f"{CONFIG_FILE} parses as Triton's ModelConfig and declares the traced inputs and outputs"]

    writer = _WRITERS[layout.format]
    request.repository.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".tritonops-{name}-", dir=request.repository))
    try:
        staged_version = staging / str(version)
        staged_version.mkdir()
        progress(f"writing the {layout.format} layout")
        staged_files = writer.write(prepared, staged_version)
        progress("checking the written model")
        checks.extend(writer.check(prepared, staged_version))
        (staging / CONFIG_FILE).write_text(config_text)
        golden_text = golden_set.render(golden_file.from_prepared(prepared, name=name, version=version))
        (staging / golden_file.file_name(version)).write_text(golden_text)
        existing = model_directory / CONFIG_FILE
        if existing.is_file() and existing.read_text() != config_text:
            notes.append(f"replaced {existing}, which said something else: it is shared by every version of {name}")
        model_directory.mkdir(exist_ok=True)
        if version_directory.exists():
            shutil.rmtree(version_directory)
        os.replace(staged_version, version_directory)
        # config.pbtxt is shared by every version of the model: the new one replaces it.
        os.replace(staging / CONFIG_FILE, model_directory / CONFIG_FILE)
        os.replace(staging / golden_file.file_name(version), golden_file.path(model_directory, version))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = (
        model_directory / CONFIG_FILE,
        *(version_directory / path.name for path in staged_files),
        golden_file.path(model_directory, version),
    )
    return PackageResult(
        name=name,
        version=version,
        layout=layout,
        model_directory=model_directory,
        files=files,
        signature=signature,
        checks=tuple(checks),
        notes=tuple(notes),
        config_text=config_text,
    )


def summary(result: PackageResult) -> list[str]:
    """What `tritonops package` prints: the files, the signature and the checks."""
    kind = result.layout.platform or f"{result.layout.backend} backend"
    batching = f"max_batch_size {result.signature.max_batch_size}, dynamic batching" if result.signature.batching else "no batching"
    lines = [f"packaged {result.name} version {result.version} ({kind}, {batching}) in {result.model_directory}"]
    lines.extend(f"  wrote {path}" for path in result.files)
    for title, entries in (("input ", result.signature.inputs), ("output", result.signature.outputs)):
        for entry in entries:
            lines.append(f"  {title} {entry.name} {entry.data_type.triton} dims {list(entry.dims)}")
    lines.extend(f"  checked: {check}" for check in result.checks)
    return lines

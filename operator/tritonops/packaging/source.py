"""The model and its example inputs, loaded with PyTorch: run, traced, grown by one along the batch dimension.

Only the functions that need PyTorch import it, so `tritonops` works (and reports what is missing)
without the `torch` extra.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import pathlib
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tritonops.packaging.dtypes import DataType, from_torch
from tritonops.packaging.errors import PackagingError
from tritonops.packaging.signature import ExampleFile, ExampleSource, Observed, RandomExample

if TYPE_CHECKING:
    import numpy as np
    import torch

MODEL_SYNTAX = "a TorchScript file (torch.jit.save) or MODULE:FACTORY"
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# Seed of the random example inputs, so that packaging the same model twice writes the same files.
EXAMPLE_SEED = 0


def one_line(error: BaseException) -> str:
    """The error's type and its first non-empty line: tracer and exporter messages run to many lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) > 200:
        # Long messages (the tracer's, torch's archive reader's) say what matters in their first sentence.
        end = text.find(". ", 40)
        text = text[: end + 1] if 0 < end < 300 else text[:197] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclasses.dataclass(frozen=True)
class ModelReference:
    """What MODEL names: a TorchScript file, or a factory `module:function` (module may be a .py file)."""

    text: str
    torchscript_file: pathlib.Path | None = None
    module: str | None = None
    factory: str | None = None

    @property
    def default_name(self) -> str:
        """The model name when --name is not given: the file's stem, or the factory's name."""
        if self.torchscript_file is not None:
            return self.torchscript_file.stem
        assert self.factory is not None
        return self.factory.rsplit(".", 1)[-1]


def parse_model_reference(text: str) -> ModelReference:
    """Parse MODEL without importing anything; a missing file or module file is an error here."""
    path = pathlib.Path(text)
    if path.exists():
        if not path.is_file():
            raise PackagingError(f"model {text} is not a file: MODEL is {MODEL_SYNTAX}")
        return ModelReference(text=text, torchscript_file=path)
    if ":" in text:
        module, _, factory = text.rpartition(":")
        if not _IDENTIFIER_PATH.fullmatch(factory):
            raise PackagingError(f"bad model {text!r}: FACTORY in MODULE:FACTORY must be a name such as build_model")
        if module.endswith(".py"):
            if not pathlib.Path(module).is_file():
                raise PackagingError(f"model file {module} does not exist")
        elif not _IDENTIFIER_PATH.fullmatch(module):
            raise PackagingError(f"bad model {text!r}: MODULE in MODULE:FACTORY must be an importable module or a .py file")
        return ModelReference(text=text, module=module, factory=factory)
    raise PackagingError(f"model file {text} does not exist: MODEL is {MODEL_SYNTAX}")


def require_torch() -> None:
    """Fail with a one-line error when PyTorch is not installed (it is an optional extra)."""
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise PackagingError(f"tritonops package needs PyTorch ({one_line(error)}): pip install 'tritonops[torch]'") from None


@dataclasses.dataclass
class LoadedModel:
    module: Any  # torch.nn.Module, or torch.jit.ScriptModule for a TorchScript file
    reference: ModelReference

    @property
    def scripted(self) -> bool:
        return self.reference.torchscript_file is not None


def _import_module(reference: ModelReference) -> ModuleType:
    assert reference.module is not None
    try:
        if reference.module.endswith(".py"):
            path = pathlib.Path(reference.module).resolve()
            # TorchScript records classes under their module's name: keep it a plain identifier.
            name = "tritonops_packaged_" + re.sub(r"\W", "_", path.stem)
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise PackagingError(f"cannot import {reference.module}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            # The file's own directory is importable from it, as when it is run with python.
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            spec.loader.exec_module(module)
            return module
        # Like `python -m`: modules in the current directory are importable.
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(reference.module)
    except PackagingError:
        raise
    except Exception as error:
        raise PackagingError(f"cannot import {reference.module}: {one_line(error)}") from None


def load_model(reference: ModelReference) -> LoadedModel:
    """Load the TorchScript file, or import the module and call the factory; the model is put in eval mode."""
    require_torch()
    import torch
    if reference.torchscript_file is not None:
        try:
            module = torch.jit.load(str(reference.torchscript_file), map_location="cpu")
        except Exception as error:
            raise PackagingError(
                f"{reference.torchscript_file} is not a TorchScript file ({one_line(error)}): "
                "save one with torch.jit.save, or pass MODULE:FACTORY"
            ) from None
    else:
        assert reference.factory is not None
        factory: Any = _import_module(reference)
        for part in reference.factory.split("."):
            factory = getattr(factory, part, None)
        if not callable(factory):
            raise PackagingError(f"{reference.module} has no function {reference.factory}")
        try:
            module = factory()
        except Exception as error:
            raise PackagingError(f"{reference.text}() failed: {one_line(error)}") from None
        if not isinstance(module, torch.nn.Module):
            raise PackagingError(f"{reference.text}() returned {type(module).__name__}, not a torch.nn.Module")
    module.eval()
    return LoadedModel(module=module, reference=reference)


def make_examples(sources: Sequence[ExampleSource]) -> list[torch.Tensor]:
    """The example input tensors, in forward()'s argument order."""
    require_torch()
    import torch
    generator = torch.Generator().manual_seed(EXAMPLE_SEED)
    tensors: list[torch.Tensor] = []
    for source in sources:
        if isinstance(source, RandomExample):
            tensors.append(_random(generator, source.data_type, source.shape))
            continue
        assert isinstance(source, ExampleFile)
        try:
            loaded = torch.load(str(source.path), map_location="cpu", weights_only=True)
        except Exception as error:
            raise PackagingError(f"cannot read example input file {source.path}: {one_line(error)}") from None
        items = list(loaded) if isinstance(loaded, (tuple, list)) else [loaded]
        if not items or not all(isinstance(item, torch.Tensor) for item in items):
            raise PackagingError(f"example input file {source.path} holds {type(loaded).__name__}, not a tensor or a tuple of tensors")
        tensors.extend(items)
    for tensor in tensors:
        from_torch(tensor.dtype)  # an unsupported dtype is an error now, not in Triton later
        if tensor.dim() == 0:
            raise PackagingError("an example input has no dimensions: give every input at least one (Triton needs dims)")
    return tensors


def _random(generator: torch.Generator, data_type: DataType, shape: tuple[int, ...]) -> torch.Tensor:
    import torch

    dtype = getattr(torch, data_type.name)
    if data_type.name == "bool":
        return torch.randint(0, 2, shape, generator=generator).bool()
    if data_type.is_floating:
        return torch.randn(shape, generator=generator).to(dtype)
    # Small non-negative integers: valid indices for embeddings and lookups.
    return torch.randint(0, 10, shape, generator=generator, dtype=dtype)


def as_outputs(result: object, *, what: str) -> list[torch.Tensor]:
    """A model's return value as a list of tensors: Triton serves a tensor or a tuple (list) of tensors."""
    require_torch()
    import torch
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (tuple, list)) and result and all(isinstance(item, torch.Tensor) for item in result):
        return list(result)
    described = type(result).__name__
    if isinstance(result, (tuple, list)):
        described += " of " + ", ".join(sorted({type(item).__name__ for item in result})) if result else " (empty)"
    raise PackagingError(f"{what} returns {described}: Triton needs a tensor or a tuple of tensors")


def run(module: Callable[..., object], examples: Sequence[torch.Tensor], *, what: str = "the model") -> list[torch.Tensor]:
    """Run the model once without gradients; its outputs."""
    require_torch()
    import torch
    try:
        with torch.no_grad():
            result = module(*examples)
    except Exception as error:
        raise PackagingError(f"{what} fails on the example input: {one_line(error)}") from None
    return as_outputs(result, what=what)


def trace(model: LoadedModel, examples: Sequence[torch.Tensor]) -> tuple[Any, list[str]]:
    """TorchScript for the model (a loaded TorchScript file as it is) and the tracer's warnings, one line each."""
    if model.scripted:
        return model.module, []
    require_torch()
    import torch
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # torch.jit.trace is deprecated in favour of torch.export, but TorchScript is what Triton's PyTorch backend loads.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            with torch.no_grad():
                # strict=False lets a model return a list of tensors (dicts were refused when it ran).
                traced = torch.jit.trace(model.module, tuple(examples), check_trace=True, strict=False)
        except PackagingError:
            raise
        except Exception as error:
            raise PackagingError(f"the model cannot be traced with torch.jit.trace: {one_line(error)}") from None
    notes = []
    for warning in caught:
        if issubclass(warning.category, torch.jit.TracerWarning):
            lines = [line.strip() for line in str(warning.message).splitlines() if line.strip()]
            notes.append(f"tracer: {lines[0] if lines else warning.category.__name__}")
    return traced, sorted(set(notes))


def grow_batch(examples: Sequence[torch.Tensor]) -> list[torch.Tensor] | None:
    """The examples with one more entry along their shared first dimension (None when they share none)."""
    require_torch()
    import torch
    sizes = {tensor.shape[0] if tensor.dim() else None for tensor in examples}
    if len(sizes) != 1 or None in sizes:
        return None
    return [torch.cat([tensor, tensor[:1]]) for tensor in examples]


def observe(tensors: Sequence[torch.Tensor]) -> list[Observed]:
    return [Observed(data_type=from_torch(tensor.dtype), shape=tuple(int(size) for size in tensor.shape)) for tensor in tensors]


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """numpy has no bfloat16: such tensors are compared as float32."""
    require_torch()
    import torch
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def compare(expected: Sequence[torch.Tensor], actual: Sequence[np.ndarray], *, what: str) -> None:
    """Raise unless `actual` reproduces torch's `expected` outputs: exactly for integers, closely for floats."""
    import numpy as np

    if len(actual) != len(expected):
        raise PackagingError(f"{what} returns {len(actual)} outputs, torch returned {len(expected)}")
    for index, (wanted_tensor, got) in enumerate(zip(expected, actual)):
        wanted = to_numpy(wanted_tensor)
        got = np.asarray(got)
        if got.shape != wanted.shape:
            raise PackagingError(f"{what}: output {index} has shape {list(got.shape)}, torch gave {list(wanted.shape)}")
        data_type = from_torch(wanted_tensor.dtype)
        if data_type.is_floating:
            loose = data_type.name in ("float16", "bfloat16")
            rtol, atol = (1e-2, 1e-2) if loose else (1e-3, 1e-5)
            same = np.allclose(got.astype(np.float64), wanted.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
        else:
            same = np.array_equal(got, wanted)
        if not same:
            difference = float(np.max(np.abs(got.astype(np.float64) - wanted.astype(np.float64)))) if wanted.size else 0.0
            raise PackagingError(f"{what}: output {index} differs from torch's (largest difference {difference:.3g})")

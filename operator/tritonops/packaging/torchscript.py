"""The TorchScript layout: `pytorch_libtorch`, NAME/VERSION/model.pt."""

from __future__ import annotations

import pathlib
import shutil

from tritonops.packaging.config import LAYOUTS
from tritonops.packaging.errors import PackagingError
from tritonops.packaging.prepared import Prepared
from tritonops.packaging.source import compare, require_torch, one_line, run, to_numpy

LAYOUT = LAYOUTS["torchscript"]
MODEL_FILE = "model.pt"


def write_torchscript(prepared: Prepared, target: pathlib.Path) -> None:
    """A TorchScript file given as MODEL is copied as it is; a factory's model is saved as traced."""
    source = prepared.model.reference.torchscript_file
    if source is not None:
        shutil.copyfile(source, target)
        return
    require_torch()
    import torch
    try:
        torch.jit.save(prepared.traced, str(target))
    except Exception as error:
        raise PackagingError(f"cannot save the traced model: {one_line(error)}") from None


def check_torchscript(prepared: Prepared, path: pathlib.Path) -> str:
    """Reload the file with torch.jit.load and check it reproduces torch's outputs."""
    require_torch()
    import torch
    try:
        reloaded = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:
        raise PackagingError(f"the written {path.name} does not load: {one_line(error)}") from None
    labels = []
    for label, inputs, expected in prepared.cases():
        what = f"{path.name} reloaded ({label})"
        compare(expected, [to_numpy(tensor) for tensor in run(reloaded, inputs, what=what)], what=what)
        labels.append(label)
    return f"{path.name} reloads with torch.jit.load and reproduces torch's outputs ({', '.join(labels)})"


def write(prepared: Prepared, version_directory: pathlib.Path) -> list[pathlib.Path]:
    target = version_directory / MODEL_FILE
    write_torchscript(prepared, target)
    return [target]


def check(prepared: Prepared, version_directory: pathlib.Path) -> list[str]:
    return [check_torchscript(prepared, version_directory / MODEL_FILE)]

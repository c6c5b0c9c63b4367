"""The python-backend layout: `backend: "python"`, NAME/VERSION/model.py that loads the TorchScript model.pt beside it.

model.py is the same file for every model (it reads its inputs and outputs from config.pbtxt):
`triton_python_model.py` in this package. It adds the paths in TRITONOPS_MODEL_PYTHONPATH to sys.path
before importing torch, because Triton's stub runs an interpreter that ignores PYTHONPATH; set that
variable to the site-packages that holds torch (`tritonops dev` and the tests' Triton do).
"""

from __future__ import annotations

import pathlib
import shutil

from tritonops.packaging import torchscript
from tritonops.packaging.config import LAYOUTS
from tritonops.packaging.prepared import Prepared

LAYOUT = LAYOUTS["python"]
MODEL_FILE = "model.py"
TEMPLATE = pathlib.Path(__file__).with_name("triton_python_model.py")


def write(prepared: Prepared, version_directory: pathlib.Path) -> list[pathlib.Path]:
    weights = version_directory / torchscript.MODEL_FILE
    torchscript.write_torchscript(prepared, weights)
    model = version_directory / MODEL_FILE
    shutil.copyfile(TEMPLATE, model)
    return [model, weights]


def check(prepared: Prepared, version_directory: pathlib.Path) -> list[str]:
    compile((version_directory / MODEL_FILE).read_text(), MODEL_FILE, "exec")
    return [torchscript.check_torchscript(prepared, version_directory / torchscript.MODEL_FILE)]

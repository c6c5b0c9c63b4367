"""e2e fixtures: model repositories that the Triton pods on the real nodes mount with hostPath.

The shared fixtures (`cluster`, `kube_client`, `namespace`, `crd_installed`, `operator`) live in
tests/conftest.py. Pods reach the real nodes by tolerating their taint: tests/harness/real_node.py.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.harness.real_node import host_directory


@pytest.fixture(scope="session")
def host_path_root() -> Iterator[pathlib.Path]:
    """Outside pytest's private temporary tree, readable by the pods' unprivileged user."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="tritonops-hostpath-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def model_repository(host_path_root: pathlib.Path) -> pathlib.Path:
    """A directory for file:// model repositories that the pods mount with hostPath."""
    return host_directory(host_path_root, prefix="repository-")

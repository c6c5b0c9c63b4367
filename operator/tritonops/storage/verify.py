"""`python -m tritonops.storage.verify`: hash a volume-backed model in place, as Triton will read it.

For pvc:// and file:// repositories the model-storage init container mounts the same two read-only
subPaths as Triton (config.pbtxt and the version directory) and runs this: a missing or unparsable
config, or a missing or empty version, is a clear failure before Triton starts, and the content digest
of every byte served goes to status like a copied model's.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import sys
from collections.abc import Sequence

from tritonops.storage.errors import StorageError
from tritonops.storage.served import TERMINATION_LOG, Served, ServedFile, check_config, report, served

_CHUNK = 1 << 20


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_model(*, model_directory: pathlib.Path, repository: str, version: str) -> Served:
    """The digest of `config.pbtxt` and `<version>/` below `model_directory`, or why they cannot be served."""
    model = model_directory.name
    config = model_directory / "config.pbtxt"
    # The kubelet makes a missing subPath as an empty directory, so "not a file" is "not there".
    if not config.is_file():
        raise StorageError(f"{repository}: {model}/config.pbtxt not found")
    version_directory = model_directory / version
    contents = sorted(path for path in version_directory.rglob("*") if path.is_file()) if version_directory.is_dir() else []
    if not contents:
        raise StorageError(f"{repository}: version directory {model}/{version}/ not found or empty")
    check_config(config, repository=repository)
    try:
        files = [
            ServedFile(path=path.relative_to(model_directory).as_posix(), checksum=_sha256(path), size=path.stat().st_size)
            for path in [config, *contents]
        ]
    except OSError as error:
        raise StorageError(f"{repository}: reading {model}/{version} failed: {error.strerror}") from None
    return served(files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tritonops.storage.verify", description=__doc__)
    parser.add_argument("--repository", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--model-directory", required=True, type=pathlib.Path)
    parser.add_argument("--termination-log", type=pathlib.Path, default=TERMINATION_LOG)
    arguments = parser.parse_args(argv)
    return report(
        lambda: verify_model(model_directory=arguments.model_directory, repository=arguments.repository, version=arguments.version),
        termination_log=arguments.termination_log,
    )


if __name__ == "__main__":
    sys.exit(main())

"""`python -m tritonops.storage.fetch`: copy one model version and its config.pbtxt into a local repository.

The `model-storage` init container runs it. On success the termination message holds the content
digest (what the operator records as served); on failure it exits 1 with a message that names the
repository and the error, credentials taken out.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
from collections.abc import Sequence

from tritonops.storage import locations
from tritonops.storage.errors import StorageError
from tritonops.storage.served import TERMINATION_LOG, Served, ServedFile, check_config, report, served
from tritonops.storage.stores import ObjectStore, store_for


def fetch_model(*, store: ObjectStore, repository: str, model: str, version: str, destination: pathlib.Path) -> Served:
    """Copy `<model>/config.pbtxt` and `<model>/<version>/` (nothing else) below `destination`."""
    location = locations.parse(repository)
    model_prefix = location.key(model)
    version_prefix = f"{location.key(model, version)}/"
    config_key = location.key(model, "config.pbtxt")
    try:
        version_objects = [item for item in store.list_objects(bucket=location.bucket, prefix=version_prefix) if not item.key.endswith("/")]
        config_objects = [item for item in store.list_objects(bucket=location.bucket, prefix=config_key) if item.key == config_key]
    except StorageError as error:
        raise StorageError(f"{repository}: listing bucket {location.bucket} failed: {error}") from None
    if not config_objects:
        raise StorageError(f"{repository}: {model}/config.pbtxt not found")
    if not version_objects:
        raise StorageError(f"{repository}: version directory {model}/{version}/ not found or empty")
    target = destination / model
    wanted = [(item.key[len(model_prefix) + 1:], item) for item in [*config_objects, *version_objects]]
    for relative, item in wanted:
        path = target / relative
        if ".." in pathlib.PurePosixPath(relative).parts:
            raise StorageError(f"{repository}: object key {item.key!r} leaves the model directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            written = store.get_object(bucket=location.bucket, key=item.key, destination=path)
        except StorageError as error:
            raise StorageError(f"{repository}: reading {item.key} failed: {error}") from None
        if written != item.size:
            raise StorageError(f"{repository}: {item.key} changed while it was copied ({written} bytes read, {item.size} listed)")
    check_config(target / "config.pbtxt", repository=repository)
    return served([ServedFile(path=relative, checksum=item.etag, size=item.size) for relative, item in wanted])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tritonops.storage.fetch", description=__doc__)
    parser.add_argument("--repository", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--destination", required=True, type=pathlib.Path)
    parser.add_argument("--termination-log", type=pathlib.Path, default=TERMINATION_LOG)
    arguments = parser.parse_args(argv)
    target = arguments.destination / arguments.model
    # A restarted init container starts from an empty model directory, never from a half copy.
    shutil.rmtree(target, ignore_errors=True)

    def copy() -> Served:
        return fetch_model(
            store=store_for(locations.parse(arguments.repository)), repository=arguments.repository, model=arguments.model,
            version=arguments.version, destination=arguments.destination,
        )

    code = report(copy, termination_log=arguments.termination_log)
    if code != 0:
        shutil.rmtree(target, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`python -m tritonops.storage.fetch`: copy one model version and its config.pbtxt into a local repository.

The `model-storage` init container runs it. On success the termination message holds the content
digest (what the operator records as served); on failure it exits 1 with a message that names the
repository and the error, credentials taken out.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pathlib
import shutil
import sys
from collections.abc import Sequence

from tritonops.redaction import redact
from tritonops.storage import locations
from tritonops.storage.errors import StorageError
from tritonops.storage.s3_client import StoredObject
from tritonops.storage.stores import ObjectStore, store_for

TERMINATION_LOG = pathlib.Path("/dev/termination-log")
# The kubelet keeps at most 4096 bytes of a termination message.
_MESSAGE_LIMIT = 3500


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fetched:
    digest: str
    files: int
    bytes: int

    def message(self) -> str:
        return json.dumps({"digest": self.digest, "files": self.files, "bytes": self.bytes}, sort_keys=True)


def content_digest(objects: Sequence[tuple[str, StoredObject]]) -> str:
    """sha256 over the sorted (path in the model directory, ETag, size) of every copied object."""
    lines = sorted(f"{path}\t{item.etag}\t{item.size}\n" for path, item in objects)
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def _check_config(path: pathlib.Path, *, repository: str) -> None:
    from tritonops.packaging import config
    from tritonops.packaging.errors import PackagingError

    try:
        config.parse(path.read_text())
    except (PackagingError, UnicodeDecodeError) as error:
        raise StorageError(f"{repository}: {error}") from None


def fetch_model(*, store: ObjectStore, repository: str, model: str, version: str, destination: pathlib.Path) -> Fetched:
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
    total = 0
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
        total += written
    _check_config(target / "config.pbtxt", repository=repository)
    return Fetched(digest=content_digest(wanted), files=len(wanted), bytes=total)


def _write_termination(path: pathlib.Path, text: str) -> None:
    try:
        path.write_text(text[:_MESSAGE_LIMIT])
    except OSError:
        pass  # outside a container there is no termination log; stderr still says it


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
    try:
        location = locations.parse(arguments.repository)
        fetched = fetch_model(
            store=store_for(location), repository=arguments.repository, model=arguments.model, version=arguments.version,
            destination=arguments.destination,
        )
    except StorageError as error:
        message = redact(f"model storage unreadable: {error}")
        print(message, file=sys.stderr)
        _write_termination(arguments.termination_log, message)
        shutil.rmtree(target, ignore_errors=True)
        return 1
    print(fetched.message())
    _write_termination(arguments.termination_log, fetched.message())
    return 0


if __name__ == "__main__":
    sys.exit(main())

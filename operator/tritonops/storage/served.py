"""What the model-storage container reports about the files a pod will serve: their digest, or why it cannot."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import sys
from collections.abc import Callable, Iterable

from tritonops.redaction import redact
from tritonops.storage.errors import StorageError

TERMINATION_LOG = pathlib.Path("/dev/termination-log")
# The kubelet keeps at most 4096 bytes of a termination message.
_MESSAGE_LIMIT = 3500


@dataclasses.dataclass(frozen=True, kw_only=True)
class Served:
    digest: str
    files: int
    bytes: int

    def message(self) -> str:
        return json.dumps({"digest": self.digest, "files": self.files, "bytes": self.bytes}, sort_keys=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServedFile:
    path: str  # relative to the model directory: "config.pbtxt", "3/model.py"
    checksum: str  # the store's ETag, or the sha256 of the bytes when hashed in place
    size: int


def content_digest(files: Iterable[ServedFile]) -> str:
    """sha256 over the sorted (path, checksum, size) of every served file."""
    lines = sorted(f"{file.path}\t{file.checksum}\t{file.size}\n" for file in files)
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


def served(files: list[ServedFile]) -> Served:
    return Served(digest=content_digest(files), files=len(files), bytes=sum(file.size for file in files))


def check_config(path: pathlib.Path, *, repository: str) -> None:
    """Refuse a config.pbtxt that Triton's own protobuf schema cannot parse."""
    from tritonops.packaging import config
    from tritonops.packaging.errors import PackagingError

    try:
        config.parse(path.read_text())
    except (PackagingError, UnicodeDecodeError) as error:
        raise StorageError(f"{repository}: {error}") from None


def _write_termination(path: pathlib.Path, text: str) -> None:
    try:
        path.write_text(text[:_MESSAGE_LIMIT])
    except OSError:
        pass  # outside a container there is no termination log; stdout and stderr still say it


def report(work: Callable[[], Served], *, termination_log: pathlib.Path) -> int:
    """Run `work`; the digest (exit 0) or the redacted reason (exit 1) goes to the termination log the operator reads."""
    try:
        result = work()
    except StorageError as error:
        message = redact(f"model storage unreadable: {error}")
        print(message, file=sys.stderr)
        _write_termination(termination_log, message)
        return 1
    print(result.message())
    _write_termination(termination_log, result.message())
    return 0

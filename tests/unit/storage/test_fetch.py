"""The fetch against an in-memory store (the real S3 server is in tests/integration/test_s3_storage.py)."""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Iterator

import pytest

from tritonops.storage import fetch
from tritonops.storage.errors import StorageError
from tritonops.storage.s3_client import StoredObject

CONFIG = b'name: "doubler"\nbackend: "python"\nmax_batch_size: 0\n'


class MemoryStore:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]:
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield StoredObject(key=key, size=len(self.objects[key]), etag=hashlib.md5(self.objects[key]).hexdigest())

    def get_object(self, *, bucket: str, key: str, destination: pathlib.Path) -> int:
        destination.write_bytes(self.objects[key])
        return len(self.objects[key])


def _store() -> MemoryStore:
    return MemoryStore({
        "repo/doubler/config.pbtxt": CONFIG,
        "repo/doubler/config.pbtxt.bak": b"x",
        "repo/doubler/1/model.py": b"one",
        "repo/doubler/2/model.py": b"two",
        "repo/doubler/2/sub/data.bin": b"data",
        "repo/doubler/20/model.py": b"twenty",
    })


def test_only_the_config_and_the_version_directory_are_copied(tmp_path: pathlib.Path) -> None:
    fetched = fetch.fetch_model(store=_store(), repository="s3://b/repo", model="doubler", version="2", destination=tmp_path)
    files = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file())
    assert files == ["doubler/2/model.py", "doubler/2/sub/data.bin", "doubler/config.pbtxt"]
    assert (fetched.files, fetched.bytes) == (3, len(CONFIG) + 7)


def test_the_digest_follows_content_and_not_order(tmp_path: pathlib.Path) -> None:
    store = _store()
    first = fetch.fetch_model(store=store, repository="s3://b/repo", model="doubler", version="2", destination=tmp_path / "a")
    again = fetch.fetch_model(store=store, repository="s3://b/repo", model="doubler", version="2", destination=tmp_path / "b")
    store.objects["repo/doubler/2/model.py"] = b"TWO"
    changed = fetch.fetch_model(store=store, repository="s3://b/repo", model="doubler", version="2", destination=tmp_path / "c")
    other_version = fetch.fetch_model(store=_store(), repository="s3://b/repo", model="doubler", version="1", destination=tmp_path / "d")
    assert first.digest == again.digest != changed.digest != other_version.digest


@pytest.mark.parametrize(
    ("objects", "version", "message"),
    [
        ({"repo/doubler/1/model.py": b"one"}, "1", "s3://b/repo: doubler/config.pbtxt not found"),
        ({"repo/doubler/config.pbtxt": CONFIG}, "1", "s3://b/repo: version directory doubler/1/ not found or empty"),
        ({"repo/doubler/config.pbtxt": b"name: {{", "repo/doubler/1/m": b"x"}, "1", "s3://b/repo: config.pbtxt does not parse"),
    ],
)
def test_what_cannot_be_served_is_refused_naming_the_repository(tmp_path: pathlib.Path, objects: dict[str, bytes], version: str, message: str) -> None:
    with pytest.raises(StorageError, match=message.replace(".", r"\.")):
        fetch.fetch_model(store=MemoryStore(objects), repository="s3://b/repo", model="doubler", version=version, destination=tmp_path)


def test_main_writes_a_redacted_reason_to_the_termination_log_and_exits_1(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "store_for", lambda location: MemoryStore({}))
    log = tmp_path / "log"
    code = fetch.main(["--repository", "s3://user:hunter2@b/repo", "--model", "doubler", "--version", "1",
                       "--destination", str(tmp_path / "m"), "--termination-log", str(log)])
    assert code == 1
    assert log.read_text().startswith("model storage unreadable: ") and "hunter2" not in log.read_text()


def test_main_writes_the_digest_on_success(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "store_for", lambda location: _store())
    log = tmp_path / "log"
    code = fetch.main(["--repository", "s3://b/repo", "--model", "doubler", "--version", "1", "--destination", str(tmp_path / "m"),
                       "--termination-log", str(log)])
    assert code == 0 and '"digest": "sha256:' in log.read_text()

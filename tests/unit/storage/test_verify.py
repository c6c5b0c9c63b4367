"""Hashing a volume-backed model in place (what the model-storage container does for pvc:// and file://)."""

from __future__ import annotations

import pathlib

import pytest

from tritonops.storage import verify
from tritonops.storage.errors import StorageError

CONFIG = 'name: "doubler"\nbackend: "python"\nmax_batch_size: 0\n'


def _model(root: pathlib.Path, *, config: str = CONFIG, files: dict[str, bytes] | None = None) -> pathlib.Path:
    model = root / "doubler"
    model.mkdir(parents=True)
    (model / "config.pbtxt").write_text(config)
    for relative, content in (files if files is not None else {"2/model.py": b"two", "2/sub/data.bin": b"data"}).items():
        (model / relative).parent.mkdir(parents=True, exist_ok=True)
        (model / relative).write_bytes(content)
    return model


def test_the_config_and_the_version_directory_are_hashed(tmp_path: pathlib.Path) -> None:
    served = verify.verify_model(model_directory=_model(tmp_path), repository="file:///m", version="2")
    assert (served.files, served.bytes) == (3, len(CONFIG) + 7)
    assert served.digest.startswith("sha256:")


def test_the_digest_follows_every_byte(tmp_path: pathlib.Path) -> None:
    first = verify.verify_model(model_directory=_model(tmp_path / "a"), repository="file:///m", version="2")
    same = verify.verify_model(model_directory=_model(tmp_path / "b"), repository="file:///m", version="2")
    # Same size, one byte different: a size or mtime check would miss it.
    changed = verify.verify_model(model_directory=_model(tmp_path / "c", files={"2/model.py": b"twO", "2/sub/data.bin": b"data"}),
                                  repository="file:///m", version="2")
    moved = verify.verify_model(model_directory=_model(tmp_path / "d", files={"2/model.py": b"two", "2/data.bin": b"data"}),
                                repository="file:///m", version="2")
    assert first.digest == same.digest
    assert len({first.digest, changed.digest, moved.digest}) == 3


def _missing_config(root: pathlib.Path) -> pathlib.Path:
    model = _model(root)
    (model / "config.pbtxt").unlink()
    # The kubelet makes a missing subPath as an empty directory.
    (model / "config.pbtxt").mkdir()
    return model


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_missing_config, "pvc://claim/repo: doubler/config.pbtxt not found"),
        (lambda root: _model(root, files={}), "pvc://claim/repo: version directory doubler/2/ not found or empty"),
        (lambda root: _model(root, config="name: {{"), "pvc://claim/repo: config.pbtxt does not parse"),
    ],
)
def test_what_cannot_be_served_is_refused_naming_the_repository(tmp_path: pathlib.Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StorageError, match=message.replace(".", r"\.")):
        verify.verify_model(model_directory=make(tmp_path), repository="pvc://claim/repo", version="2")


def test_main_reports_the_digest_or_the_reason_in_the_termination_log(tmp_path: pathlib.Path) -> None:
    model = _model(tmp_path / "repo")
    log = tmp_path / "log"
    arguments = ["--repository", "file:///repo", "--model-directory", str(model), "--termination-log", str(log)]
    assert verify.main([*arguments, "--version", "2"]) == 0
    assert '"digest": "sha256:' in log.read_text()
    assert verify.main([*arguments, "--version", "7"]) == 1
    assert log.read_text() == "model storage unreadable: file:///repo: version directory doubler/7/ not found or empty"

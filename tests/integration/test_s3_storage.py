"""The model-storage fetch against a real S3 server (versitygw on loopback): exactly one version copied,
and every unreadable store a message that names the repository and the error, never a credential."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import pytest

from tests.harness.models import write_model
from tests.harness.s3_server import S3Server
from tritonops.storage import fetch

MODEL = "doubler"


@pytest.fixture
def s3(tmp_path: pathlib.Path) -> Iterator[S3Server]:
    server = S3Server(log=tmp_path / "versitygw.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3: S3Server, tmp_path: pathlib.Path) -> str:
    source = tmp_path / "source"
    for version in (1, 2, 3):
        write_model(source, name=MODEL, version=version)
    s3.create_bucket("models")
    s3.upload_directory("models", source, prefix="repo")
    return "models"


def _environment(monkeypatch: pytest.MonkeyPatch, *, access_key: str, secret_key: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _run(s3: S3Server, tmp_path: pathlib.Path, *, repository: str, version: str = "2") -> tuple[int, str, pathlib.Path]:
    destination = tmp_path / "models"
    destination.mkdir(exist_ok=True)
    log = tmp_path / "termination-log"
    code = fetch.main(["--repository", repository, "--model", MODEL, "--version", version, "--destination", str(destination),
                       "--termination-log", str(log)])
    return code, log.read_text(), destination


def test_exactly_the_asked_version_and_the_config_are_copied_with_a_stable_digest(
    s3: S3Server, bucket: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch, access_key=s3.access_key, secret_key=s3.secret_key)
    repository = f"s3://{s3.endpoint}/{bucket}/repo"
    code, message, destination = _run(s3, tmp_path, repository=repository)
    assert code == 0, message
    copied = sorted(path.relative_to(destination).as_posix() for path in destination.rglob("*") if path.is_file())
    assert copied and all(path == f"{MODEL}/config.pbtxt" or path.startswith(f"{MODEL}/2/") for path in copied)
    assert f"{MODEL}/config.pbtxt" in copied
    first = json.loads(message)
    assert first["digest"].startswith("sha256:") and first["files"] == len(copied)

    # The same content gives the same digest; other content under the same version number does not.
    assert json.loads(_run(s3, tmp_path, repository=repository)[1])["digest"] == first["digest"]
    s3.put(bucket, f"repo/{MODEL}/2/extra.txt", b"changed")
    assert json.loads(_run(s3, tmp_path, repository=repository)[1])["digest"] != first["digest"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing bucket", "NoSuchBucket"),
        ("missing version", "version directory doubler/7/ not found"),
        ("bad credentials", "(HTTP 403)"),
        ("config does not parse", "config.pbtxt does not parse"),
    ],
)
def test_an_unreadable_store_exits_non_zero_naming_the_repository_and_the_error_and_no_secret(
    s3: S3Server, bucket: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, case: str, expected: str
) -> None:
    repository = f"s3://{s3.endpoint}/{bucket}/repo"
    version = "2"
    secret = s3.secret_key
    if case == "missing bucket":
        repository = f"s3://{s3.endpoint}/absent-bucket/repo"
    elif case == "missing version":
        version = "7"
    elif case == "bad credentials":
        secret = "wrong-" + s3.secret_key
    else:
        s3.put(bucket, f"repo/{MODEL}/config.pbtxt", b"name: \"doubler\"\nbackend: {{{ not text format")
    _environment(monkeypatch, access_key=s3.access_key, secret_key=secret)
    code, message, destination = _run(s3, tmp_path, repository=repository, version=version)
    assert code == 1
    assert message.startswith("model storage unreadable: ") and repository in message and expected in message, message
    assert s3.secret_key not in message and secret not in message
    assert not (destination / MODEL).exists()

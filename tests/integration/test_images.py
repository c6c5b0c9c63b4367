"""The image archives built outside the sandbox (`make image`): valid OCI archives with the right config,
and a Triton image that really serves a python-backend model and really dies when its model kills it."""

from __future__ import annotations

import gzip
import json
import pathlib
import shutil
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator, Mapping

import pytest

from tests.harness.models import Faults, write_model
from tritonops.devcluster import images
from tritonops.devcluster.processes import wait_until

# Its own loopback address, so the server cannot collide with other tests' tritonservers on :8000.
TRITON_ADDRESS = "127.0.251.7"


@pytest.fixture(scope="module")
def archives() -> Mapping[str, images.ImageArchive]:
    return images.image_archives()


def _config(archive: images.ImageArchive) -> tuple[dict[str, object], dict[str, object]]:
    manifest, config, reference = images.read_archive_config(archive=archive.archive)
    # ctr import names the image from this annotation.
    assert reference == archive.reference
    return manifest, config


def test_all_three_archives_are_oci_archives_named_for_their_references(archives: Mapping[str, images.ImageArchive]) -> None:
    assert set(archives) == {"pause", "triton", "operator"}
    assert archives["operator"].reference == images.OPERATOR
    for archive in archives.values():
        assert archive.archive.is_file()
        with tarfile.open(archive.archive) as tar:
            layout = tar.extractfile("oci-layout")
            assert layout is not None
            assert json.loads(layout.read())["imageLayoutVersion"] == "1.0.0"
        manifest, config = _config(archive)
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert config["architecture"] == "amd64" and config["os"] == "linux"


def test_pause_is_one_static_binary(archives: Mapping[str, images.ImageArchive]) -> None:
    manifest, config = _config(archives["pause"])
    assert config["config"]["Entrypoint"] == ["/pause"]  # type: ignore[index]
    assert len(manifest["layers"]) == 1  # type: ignore[arg-type]


def test_triton_image_runs_tini_as_the_ngc_user(archives: Mapping[str, images.ImageArchive]) -> None:
    _, config = _config(archives["triton"])
    settings = config["config"]
    assert isinstance(settings, dict)
    assert settings["User"] == "1000:1000"
    assert settings["Entrypoint"][0] == "/usr/bin/tini"
    environment = dict(item.split("=", 1) for item in settings["Env"])
    assert environment["PATH"].split(":")[0] == "/opt/tritonserver/bin"
    assert "/opt/tritonserver/lib" in environment["LD_LIBRARY_PATH"].split(":")


def test_operator_image_runs_tritonops_as_a_numeric_non_root_user(archives: Mapping[str, images.ImageArchive]) -> None:
    _, config = _config(archives["operator"])
    settings = config["config"]
    assert isinstance(settings, dict)
    user = str(settings["User"]).split(":")
    assert all(part.isdigit() for part in user) and int(user[0]) != 0
    assert settings["Entrypoint"] == ["tritonops"]
    assert settings["Cmd"] == ["run"]
    environment = dict(item.split("=", 1) for item in settings["Env"])
    assert environment["PYTHONDONTWRITEBYTECODE"] == "1"


def _unpack(archive: pathlib.Path, rootfs: pathlib.Path) -> dict[str, object]:
    """Apply the image's layers in order into `rootfs` (these images delete nothing, so no whiteouts)."""
    manifest, config, _ = images.read_archive_config(archive=archive)
    rootfs.mkdir()
    with tarfile.open(archive) as outer:
        for layer in manifest["layers"]:  # type: ignore[attr-defined]
            algorithm, digest = layer["digest"].split(":", 1)
            blob = outer.extractfile(f"blobs/{algorithm}/{digest}")
            assert blob is not None
            stream = gzip.GzipFile(fileobj=blob) if layer["mediaType"].endswith("gzip") else blob
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                tar.extractall(rootfs, filter="fully_trusted")
    settings = config["config"]
    assert isinstance(settings, dict)
    return settings


@pytest.fixture
def runc_bundle(archives: Mapping[str, images.ImageArchive], tmp_path: pathlib.Path) -> Iterator[tuple[pathlib.Path, dict[str, object]]]:
    if shutil.which("runc") is None:
        pytest.fail("runc is not installed: tests/install-dependencies.sh installs it")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    settings = _unpack(archives["triton"].archive, bundle / "rootfs")
    yield bundle, settings


def _runc_config(*, bundle: pathlib.Path, settings: dict[str, object], arguments: list[str], models: pathlib.Path) -> None:
    """A plain OCI runtime config, as containerd would write it for this image (host network)."""
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True, timeout=30)
    spec = json.loads((bundle / "config.json").read_text())
    uid, gid = (int(part) for part in str(settings["User"]).split(":"))
    spec["process"].update(
        terminal=False,
        args=[*settings["Entrypoint"], *arguments],  # type: ignore[misc]
        env=settings["Env"],
        cwd=settings["WorkingDir"],
        user={"uid": uid, "gid": gid},
    )
    spec["root"]["readonly"] = False
    # Share the test's loopback-only network namespace, like a hostNetwork pod: the server is reachable.
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
    spec["mounts"].append({"destination": "/models", "type": "bind", "source": str(models), "options": ["rbind", "ro"]})
    spec["hostname"] = "triton"
    (bundle / "config.json").write_text(json.dumps(spec))


def _infer(values: list[float]) -> list[float]:
    body = json.dumps({"inputs": [{"name": "INPUT", "shape": [len(values)], "datatype": "FP32", "data": values}]}).encode()
    request = urllib.request.Request(f"http://{TRITON_ADDRESS}:8000/v2/models/doubler/infer", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return [float(value) for value in json.loads(response.read())["outputs"][0]["data"]]


def _ready() -> bool:
    try:
        with urllib.request.urlopen(f"http://{TRITON_ADDRESS}:8000/v2/health/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_triton_image_serves_a_python_model_and_exits_137_when_the_model_kills_tritonserver(
    runc_bundle: tuple[pathlib.Path, dict[str, object]], tmp_path: pathlib.Path
) -> None:
    bundle, settings = runc_bundle
    models = tmp_path / "models"
    # The first request is answered, the second SIGKILLs tritonserver from its python stub.
    write_model(models, version_faults=Faults(crash_after_requests=1))
    for path in [models, *models.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    arguments = [
        # As a pod passes them: the command is `args`, after the image's tini entrypoint.
        "tritonserver", "--model-repository=/models", f"--http-address={TRITON_ADDRESS}", f"--grpc-address={TRITON_ADDRESS}",
        f"--metrics-address={TRITON_ADDRESS}", "--strict-readiness=true", "--exit-timeout-secs=5", "--allow-gpu-metrics=false",
    ]
    _runc_config(bundle=bundle, settings=settings, arguments=arguments, models=models)
    state = tmp_path / "runc-state"
    container = f"images-test-{int(time.time())}"
    log = tmp_path / "container.log"
    with log.open("wb") as output:
        process = subprocess.Popen(["runc", "--root", str(state), "run", "--bundle", str(bundle), container], stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        try:
            wait_until(lambda: _ready() or process.poll() is not None, description="tritonserver from the image ready", timeout_seconds=90)
        finally:
            print(log.read_text(errors="replace")[-4000:])
        assert process.poll() is None, log.read_text(errors="replace")[-4000:]
        # The model's numpy is Debian's, imported inside the stub's isolated interpreter.
        assert _infer([1.0, 2.5]) == [2.0, 5.0]
        with pytest.raises(OSError):
            _infer([1.0])
        # tini is PID 1, so the SIGKILL lands and tini reports it as 128 + 9, as a kubelet would see it.
        assert process.wait(timeout=30) == 137, log.read_text(errors="replace")[-4000:]
    finally:
        if process.poll() is None:
            subprocess.run(["runc", "--root", str(state), "kill", container, "KILL"], capture_output=True, timeout=30)
            process.wait(timeout=30)
        subprocess.run(["runc", "--root", str(state), "delete", "--force", container], capture_output=True, timeout=30)


def test_operator_image_runs_tritonops_help_as_its_user(archives: Mapping[str, images.ImageArchive], tmp_path: pathlib.Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    settings = _unpack(archives["operator"].archive, bundle / "rootfs")
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True, timeout=30)
    spec = json.loads((bundle / "config.json").read_text())
    uid, gid = (int(part) for part in str(settings["User"]).split(":"))
    spec["process"].update(terminal=False, args=[*settings["Entrypoint"], "--help"], env=settings["Env"], cwd=settings["WorkingDir"], user={"uid": uid, "gid": gid})  # type: ignore[misc]
    # As the chart runs it: a read-only root filesystem with a writable /tmp.
    spec["root"]["readonly"] = True
    spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]})
    (bundle / "config.json").write_text(json.dumps(spec))
    completed = subprocess.run(
        ["runc", "--root", str(tmp_path / "runc-state"), "run", "--bundle", str(bundle), f"images-operator-{int(time.time())}"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert "run" in completed.stdout and "status" in completed.stdout

"""Model storage end to end: Triton pods on the real nodes load the model from a real S3 server (versitygw on
loopback) through the model-storage init container, and serve exactly spec.model.version whatever the
bucket holds; wrong credentials are a ModelStorageUnreadable condition that names no secret."""

from __future__ import annotations

import json
import pathlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.harness.models import Faults, write_model
from tests.harness.real_node import real_node_server_spec
from tests.harness.resources import create, event_reasons_once, model_deployment, patch_spec, read, wait_phase
from tests.harness.s3_server import S3Server
from tritonops import constants
from tritonops.devcluster import images
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

pytestmark = pytest.mark.usefixtures("operator")

NAME = "doubler"
BUCKET = "models"
ROLLOUT = {"steps": [50], "stepSeconds": 8, "progressDeadlineSeconds": 120,
           "analysis": {"intervalSeconds": 3, "failureLimit": 2, "minRequests": 20, "successRate": {"min": 0.95}}}


@pytest.fixture(scope="module")
def storage_image(cluster: LocalCluster) -> str:
    """The operator's image, which the model-storage init container runs, on every real node."""
    archive = images.image_archives(names=("operator",))["operator"]
    cluster.load_image(archive.archive)
    assert archive.reference == constants.DEFAULT_STORAGE_IMAGE, "the operator's default --storage-image must be the image built here"
    return archive.reference


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(log=tmp_path_factory.mktemp("s3") / "versitygw.log")
    server.start()
    server.create_bucket(BUCKET)
    try:
        yield server
    finally:
        server.stop()


def _secret(kube_client: client.ApiClient, namespace: str, name: str, *, access_key: str, secret_key: str) -> None:
    client.CoreV1Api(kube_client).create_namespaced_secret(namespace, {
        "metadata": {"name": name}, "stringData": {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key},
    })


def _upload(s3: S3Server, source: pathlib.Path, prefix: str, *paths: str) -> None:
    for relative in paths:
        for path in sorted((source / relative).rglob("*")) if (source / relative).is_dir() else [source / relative]:
            if path.is_file():
                s3.put(BUCKET, f"{prefix}/{path.relative_to(source).as_posix()}", path.read_bytes())


def _pods(kube_client: client.ApiClient, namespace: str, revision: str) -> list[Any]:
    selector = f"{constants.LABEL_MODEL_DEPLOYMENT}={NAME},{constants.LABEL_REVISION}={revision}"
    return list(client.CoreV1Api(kube_client).list_namespaced_pod(namespace, label_selector=selector).items)


def _ready(pod: Any) -> bool:
    return not pod.metadata.deletion_timestamp and any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _version_ready(address: str, version: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}:8000/v2/models/{NAME}/versions/{version}/ready", timeout=5) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False


def _served_versions(address: str) -> list[str]:
    with urllib.request.urlopen(f"http://{address}:8000/v2/models/{NAME}", timeout=5) as response:
        return list(json.loads(response.read())["versions"])


def _assert_serves_only(pods: list[Any], version: str) -> None:
    for pod in pods:
        address = pod.status.pod_ip
        assert _served_versions(address) == [version], pod.metadata.name
        assert _version_ready(address, version)
        assert not any(_version_ready(address, other) for other in ("1", "2", "3") if other != version), pod.metadata.name


def test_pods_serve_exactly_the_spec_version_from_s3_and_a_failing_canary_rolls_back(
    kube_client: client.ApiClient, namespace: str, s3: S3Server, storage_image: str, tmp_path: pathlib.Path, operator: OperatorProcess,
) -> None:
    source = tmp_path / "source"
    write_model(source, name=NAME, version=1)
    write_model(source, name=NAME, version=2, version_faults=Faults(fail_load=True))
    prefix = f"{namespace}/repo"
    _upload(s3, source, prefix, f"{NAME}/config.pbtxt", f"{NAME}/1", f"{NAME}/2")
    _secret(kube_client, namespace, "s3-credentials", access_key=s3.access_key, secret_key=s3.secret_key)
    repository = f"s3://{s3.endpoint}/{BUCKET}/{prefix}"
    create(kube_client, namespace, model_deployment(
        NAME, replicas=2,
        model={"repository": repository, "version": "1", "credentialsSecretRef": {"name": "s3-credentials"}},
        server={**real_node_server_spec(), "startupTimeoutSeconds": 90}, rollout=ROLLOUT,
    ))
    status = wait_phase(kube_client, namespace, NAME, "Ready", timeout=180)["status"]
    stable = status["stableRevision"]["hash"]
    _assert_serves_only(_pods(kube_client, namespace, stable), "1")

    # A newer version in the bucket, and no spec change: new pods still copy exactly version 1.
    write_model(source, name=NAME, version=3)
    _upload(s3, source, prefix, f"{NAME}/3")
    patch_spec(kube_client, namespace, NAME, {"replicas": 3})
    wait_until(lambda: sum(_ready(pod) for pod in _pods(kube_client, namespace, stable)) == 3, description="3 Ready pods", timeout_seconds=180)
    _assert_serves_only([pod for pod in _pods(kube_client, namespace, stable) if _ready(pod)], "1")
    wait_until(lambda: any(e["revision"] == stable for e in read(kube_client, namespace, NAME)["status"].get("servedDigests") or []),
               description="the served digest recorded", timeout_seconds=90)
    status = read(kube_client, namespace, NAME)["status"]
    (served,) = [entry for entry in status["servedDigests"] if entry["revision"] == stable]
    assert served["version"] == "1" and served["digest"].startswith("sha256:") and "changedTo" not in served
    storage = next(c for c in status["conditions"] if c["type"] == "ModelStorage")
    assert storage["status"] == "True" and served["digest"] in storage["message"]

    # A canary of version 2, whose model fails to load, is rolled back; the stable pods still serve version 1.
    patch_spec(kube_client, namespace, NAME, {"model": {"version": "2"}})
    wait_until(lambda: read(kube_client, namespace, NAME).get("status", {}).get("phase") == "RolledBack",
               description="the canary of version 2 rolled back", timeout_seconds=240)
    status = read(kube_client, namespace, NAME)["status"]
    assert status["failedRevision"]["version"] == "2" and status["failedRevision"]["reason"] == "ModelLoadFailed", status["failedRevision"]
    assert status["stableRevision"]["hash"] == stable
    assert status["history"][-1]["outcome"] == "RolledBack"
    _assert_serves_only([pod for pod in _pods(kube_client, namespace, stable) if _ready(pod)], "1")
    assert s3.secret_key not in json.dumps(status)


def test_wrong_credentials_are_model_storage_unreadable_naming_the_repository_and_no_secret(
    kube_client: client.ApiClient, namespace: str, s3: S3Server, storage_image: str, tmp_path: pathlib.Path, operator: OperatorProcess,
) -> None:
    source = tmp_path / "source"
    write_model(source, name=NAME, version=1)
    prefix = f"{namespace}/repo"
    _upload(s3, source, prefix, f"{NAME}/config.pbtxt", f"{NAME}/1")
    wrong = "not-" + s3.secret_key
    _secret(kube_client, namespace, "s3-credentials", access_key=s3.access_key, secret_key=wrong)
    repository = f"s3://{s3.endpoint}/{BUCKET}/{prefix}"
    create(kube_client, namespace, model_deployment(
        NAME, replicas=1,
        model={"repository": repository, "version": "1", "credentialsSecretRef": {"name": "s3-credentials"}},
        server={**real_node_server_spec(), "startupTimeoutSeconds": 90},
    ))
    wait_until(lambda: read(kube_client, namespace, NAME).get("status", {}).get("phase") == "Failed",
               description="the unreadable storage reported", timeout_seconds=120)
    status = read(kube_client, namespace, NAME)["status"]
    assert status["conditions"], status
    storage = next(c for c in status["conditions"] if c["type"] == "ModelStorage")
    assert storage["status"] == "False" and storage["reason"] == "ModelStorageUnreadable"
    assert repository in storage["message"] and "HTTP 403" in storage["message"], storage["message"]
    assert "ModelStorageUnreadable" in event_reasons_once(kube_client, namespace, NAME, "ModelStorageUnreadable")
    everything = json.dumps(status) + json.dumps([e.message for e in client.CoreV1Api(kube_client).list_namespaced_event(namespace).items])
    assert wrong not in everything and s3.secret_key not in everything

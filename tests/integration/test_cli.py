"""The status command and the manual controls against the real API server, run in-process through `cli.main`.

No operator runs here: statuses are written by hand through the status subresource, so the CLI is checked
against exactly what the operator's contract says it will find.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from kubernetes import client

from tritonops import cli, constants
from tritonops.devcluster.cluster import LocalCluster

pytestmark = pytest.mark.usefixtures("crd_installed")

CANARY = {"hash": "8d04b7c3", "version": "3", "image": "nvcr.io/nvidia/tritonserver:25.08-py3"}
STABLE = {"hash": "5f2c9a1e", "version": "2", "image": "nvcr.io/nvidia/tritonserver:25.08-py3"}
MID_CANARY = {
    "phase": "Canary",
    "message": "analysing the canary",
    "stableRevision": STABLE,
    "canaryRevision": CANARY,
    "canaryWeight": 25,
    "currentStep": 1,
    "lastAnalysis": {
        "at": "2026-01-02T03:01:00Z",
        "result": "Failed",
        "failedChecks": 1,
        "measurements": [{"check": "successRate", "revision": "canary", "value": 0.93, "threshold": ">= 0.99", "passed": False}],
    },
    "history": [{"hash": "5f2c9a1e", "version": "2", "outcome": "Promoted", "at": "2026-01-01T00:00:00Z", "reason": "all steps passed"}],
}


class Target:
    """One ModelDeployment in the test's namespace, with the API calls the test makes around the CLI."""

    def __init__(self, *, kube_client: client.ApiClient, cluster: LocalCluster, namespace: str) -> None:
        self.api = client.CustomObjectsApi(kube_client)
        self.kubeconfig = str(cluster.kubeconfig)
        self.namespace = namespace
        self.name = f"md-{uuid.uuid4().hex[:6]}"

    def create(self) -> None:
        body = {
            "apiVersion": constants.API_VERSION,
            "kind": constants.KIND,
            "metadata": {"name": self.name},
            "spec": {"model": {"repository": "s3://models/repo", "version": "1"}, "replicas": 1},
        }
        self.api.create_namespaced_custom_object(constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, body)

    def read(self) -> dict[str, Any]:
        body = self.api.get_namespaced_custom_object(constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, self.name)
        return cast(dict[str, Any], body)

    def write_status(self, status: dict[str, Any]) -> None:
        self.api.patch_namespaced_custom_object_status(
            constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, self.name, {"status": status},
            _content_type="application/merge-patch+json",
        )

    def annotations(self) -> dict[str, str]:
        return dict(self.read()["metadata"].get("annotations") or {})

    def cli(self, command: str, *extra: str) -> int:
        return cli.main([command, self.name, "-n", self.namespace, "--kubeconfig", self.kubeconfig, *extra])


@pytest.fixture
def target(kube_client: client.ApiClient, cluster: LocalCluster, namespace: str) -> Iterator[Target]:
    created = Target(kube_client=kube_client, cluster=cluster, namespace=namespace)
    created.create()
    # An operator reconciling this object would overwrite the hand-written statuses and consume the annotations.
    time.sleep(1)
    assert "status" not in created.read() or not created.read()["status"], (
        "an operator is running against this cluster: these tests write statuses by hand and need none"
    )
    yield created


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def parse_timestamp(value: str) -> datetime.datetime:
    assert value.endswith("Z"), value
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def test_promote_abort_and_retry_set_their_annotations_only_when_allowed(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert target.cli("promote") == 1
    assert "nothing to promote: no canary is running" in one_line_error(capsys)
    assert target.cli("retry") == 1
    assert "nothing to retry: no revision has failed" in one_line_error(capsys)
    assert target.annotations() == {}

    target.write_status({"phase": "Canary", "stableRevision": STABLE, "canaryRevision": CANARY, "canaryWeight": 10, "currentStep": 0})
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    assert target.cli("promote") == 0
    assert target.cli("abort") == 0
    after = datetime.datetime.now(datetime.timezone.utc)
    annotations = target.annotations()
    for annotation in (constants.ANNOTATION_PROMOTE, constants.ANNOTATION_ABORT):
        assert before <= parse_timestamp(annotations[annotation]) <= after
    assert constants.ANNOTATION_RETRY not in annotations
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith(f"{target.namespace}/{target.name}: promotion requested")

    target.write_status({"phase": "RolledBack", "canaryRevision": None, "failedRevision": {**CANARY, "reason": "AnalysisFailed", "at": "2026-01-02T03:05:00Z"}})
    assert target.cli("promote") == 1
    capsys.readouterr()
    assert target.cli("retry") == 0
    assert parse_timestamp(target.annotations()[constants.ANNOTATION_RETRY]) >= before


def test_pause_and_resume_patch_the_spec(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    generation = target.read()["metadata"]["generation"]
    assert target.read()["spec"]["rollout"]["paused"] is False  # the schema default
    assert target.cli("pause") == 0
    paused = target.read()
    assert paused["spec"]["rollout"]["paused"] is True and paused["metadata"]["generation"] == generation + 1
    # Pausing twice writes nothing.
    assert target.cli("pause") == 0
    assert target.read()["metadata"]["generation"] == generation + 1
    assert target.cli("resume") == 0
    assert target.read()["spec"]["rollout"]["paused"] is False
    assert capsys.readouterr().out.splitlines()[-3:] == [
        f"{target.namespace}/{target.name}: rollout paused",
        f"{target.namespace}/{target.name}: rollout already paused",
        f"{target.namespace}/{target.name}: rollout resumed",
    ]


def test_status_shows_a_status_written_through_the_subresource(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    target.write_status(MID_CANARY)
    assert target.cli("status", "--output", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == MID_CANARY
    assert (document["name"], document["namespace"], document["step"], document["paused"]) == (target.name, target.namespace, "step 2/3 (25%)", False)

    assert target.cli("status") == 0
    table = capsys.readouterr().out
    assert f"ModelDeployment {target.namespace}/{target.name}" in table
    assert "8d04b7c3  version 3" in table and "5f2c9a1e  version 2" in table
    assert "weight 25%  step 2/3 (25%)" in table
    assert any(line.split() == ["successRate", "canary", "0.93", ">=", "0.99", "NO"] for line in table.splitlines())
    assert any(line.split()[:3] == ["5f2c9a1e", "2", "Promoted"] for line in table.splitlines())


def test_status_watch_returns_once_the_phase_settles(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    target.write_status({"phase": "Canary", "canaryRevision": CANARY, "canaryWeight": 10, "currentStep": 0})
    assert target.cli("status", "--watch", "--interval", "0.2", "--timeout", "1", "-o", "json") == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["status"]["phase"] for line in captured.out.splitlines()] == ["Canary"]
    assert captured.err.strip().splitlines() == [
        f"tritonops status: {target.namespace}/{target.name}: timed out after 1s waiting for a settled phase (phase Canary)"
    ]

    settle = threading.Timer(1.0, target.write_status, kwargs={"status": {"phase": "Ready", "canaryRevision": None, "stableRevision": CANARY}})
    settle.start()
    try:
        assert target.cli("status", "--watch", "--interval", "0.2", "--timeout", "30", "-o", "json") == 0
    finally:
        settle.join()
    shown = [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()]
    assert [status["phase"] for status in shown] == ["Canary", "Ready"]
    assert shown[-1]["stableRevision"] == CANARY


def test_errors_exit_1_with_one_line(target: Target, cluster: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("status", "promote", "abort", "retry", "pause", "resume"):
        assert cli.main([command, "absent", "-n", target.namespace, "--kubeconfig", target.kubeconfig]) == 1
        assert one_line_error(capsys) == f'tritonops {command}: modeldeployment "absent" not found in namespace "{target.namespace}"'
    # Without -n: the kubeconfig's context names no namespace, so "default".
    assert cli.main(["status", target.name, "--kubeconfig", target.kubeconfig]) == 1
    assert one_line_error(capsys).endswith(f'modeldeployment "{target.name}" not found in namespace "default"')

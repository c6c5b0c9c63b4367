"""The Argo CD manifests: the ModelDeployment health check in Lua, run by a real Lua 5.1 (Argo CD's
gopher-lua implements 5.1) through lupa the way Argo CD runs it, and the Applications' sync waves and
ignoreDifferences."""

from __future__ import annotations

import copy
import fnmatch
import pathlib
from typing import Any

import pytest
import yaml
from lupa import lua51

from tritonops.devcluster import chart
from tritonops.metrics import PHASES

ROOT = pathlib.Path(__file__).parents[2]
ARGOCD = ROOT / "manifests" / "argocd"
HEALTH_KEY = "resource.customizations.health.inference.tritonops.dev_ModelDeployment"
APPLICATION_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
ARGO_HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def run_health(script: str, obj: dict[str, Any]) -> dict[str, str]:
    """Run a health script as Argo CD does: `obj` is the live object as Lua tables, the chunk returns `hs`."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    # Argo CD's sandbox offers no io or os: a script that needs them fails here too.
    lua.execute("io = nil; os = nil; require = nil; dofile = nil; loadfile = nil")
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    assert result is not None, "the script returned nothing"
    return {str(key): str(value) for key, value in result.items()}


def model_deployment(phase: str | None = None, *, generation: int = 3, observed: int | None = 3, paused: bool = False, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "inference.tritonops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "resnet50", "namespace": "vision", "generation": generation},
        "spec": {"model": {"repository": "s3://models/repo", "version": "3"}, "replicas": 4,
                 "rollout": {"steps": [10, 25, 50], "paused": paused}},
    }
    if phase is not None:
        body["status"] = {"phase": phase, "stableRevision": {"hash": "5f2c9a1e", "version": "2"}, **status}
        if observed is not None:
            body["status"]["observedGeneration"] = observed
    return body


@pytest.fixture(scope="module")
def health() -> str:
    return (ARGOCD / "health.lua").read_text()


def test_the_configmap_embeds_the_lua_files_verbatim() -> None:
    configmap = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert (configmap["kind"], configmap["metadata"]["name"], configmap["metadata"]["namespace"]) == ("ConfigMap", "argocd-cm", "argocd")
    assert configmap["data"][HEALTH_KEY] == (ARGOCD / "health.lua").read_text()
    assert configmap["data"][APPLICATION_HEALTH_KEY] == (ARGOCD / "application-health.lua").read_text()


EXPECTED = {
    "Ready": "Healthy",
    "Pending": "Progressing",
    "Progressing": "Progressing",
    "Canary": "Progressing",
    "Promoting": "Progressing",
    "WaitingForCapacity": "Progressing",
    "RolledBack": "Degraded",
    "Failed": "Degraded",
    "Degraded": "Degraded",
}


def test_every_phase_the_operator_sets_is_mapped() -> None:
    assert set(EXPECTED) == set(PHASES)


@pytest.mark.parametrize(("phase", "expected"), sorted(EXPECTED.items()))
def test_each_phase_maps_to_an_argo_health(health: str, phase: str, expected: str) -> None:
    hs = run_health(health, model_deployment(phase, message=f"what the operator says about {phase}"))
    assert hs["status"] == expected
    assert hs["message"].startswith(phase) or phase == "Canary"
    assert f"what the operator says about {phase}" in hs["message"]


def test_a_canary_names_its_weight(health: str) -> None:
    hs = run_health(health, model_deployment("Canary", canaryWeight=25, canaryRevision={"hash": "8d04b7c3"},
                                             message="step 2/3 at 25%: analysing every 15s"))
    assert hs == {"status": "Progressing", "message": "Canary at 25%: step 2/3 at 25%: analysing every 15s"}


def test_a_rolled_back_revision_is_degraded_with_the_reason(health: str) -> None:
    hs = run_health(health, model_deployment("RolledBack", canaryWeight=0, failedRevision={"hash": "8d04b7c3", "reason": "AnalysisFailed"},
                                             message='version "3" (8d04b7c3) rolled back: 2 failed analyses'))
    assert hs == {"status": "Degraded", "message": 'RolledBack: version "3" (8d04b7c3) rolled back: 2 failed analyses'}


@pytest.mark.parametrize("phase", ["Canary", "Promoting", "WaitingForCapacity"])
def test_a_paused_rollout_is_suspended(health: str, phase: str) -> None:
    hs = run_health(health, model_deployment(phase, paused=True, canaryRevision={"hash": "8d04b7c3"}, canaryWeight=10,
                                             message="paused at step 1/3 at 10%; automatic rollback stays armed"))
    assert hs == {"status": "Suspended", "message": "Rollout paused: paused at step 1/3 at 10%; automatic rollback stays armed"}


@pytest.mark.parametrize(("phase", "expected"), [("Ready", "Healthy"), ("RolledBack", "Degraded"), ("Degraded", "Degraded")])
def test_paused_outside_a_rollout_changes_nothing(health: str, phase: str, expected: str) -> None:
    assert run_health(health, model_deployment(phase, paused=True))["status"] == expected


def test_status_of_an_older_generation_waits_for_the_operator(health: str) -> None:
    # Git was just synced: the old status says Ready, but it describes the previous spec.
    hs = run_health(health, model_deployment("Ready", generation=4, observed=3))
    assert hs == {"status": "Progressing", "message": "Waiting for the operator to observe generation 4"}
    # A rolled-back status of an older generation is no verdict on the new spec either.
    assert run_health(health, model_deployment("RolledBack", generation=4, observed=3))["status"] == "Progressing"
    assert run_health(health, model_deployment("Ready", generation=4, observed=None))["status"] == "Progressing"


def test_no_status_yet_is_progressing(health: str) -> None:
    for body in (model_deployment(None), {**model_deployment(None), "status": {}}, {**model_deployment(None), "status": {"observedGeneration": 3}}):
        assert run_health(health, body) == {"status": "Progressing", "message": "Waiting for the operator to report status"}


def test_an_object_without_spec_rollout_or_generation_still_gets_a_health(health: str) -> None:
    body = model_deployment("Ready")
    del body["spec"]["rollout"]
    del body["metadata"]["generation"]
    assert run_health(health, body)["status"] == "Healthy"


def test_an_unknown_phase_is_unknown(health: str) -> None:
    hs = run_health(health, model_deployment("Exploded"))
    assert hs == {"status": "Unknown", "message": "Unknown phase Exploded"}
    assert hs["status"] in ARGO_HEALTH_STATUSES


def test_the_application_health_check_reports_the_child_applications_health() -> None:
    script = (ARGOCD / "application-health.lua").read_text()
    application = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "tritonops-crds"}}
    assert run_health(script, application)["status"] == "Progressing"
    synced = {**application, "status": {"health": {"status": "Healthy"}}}
    assert run_health(script, synced) == {"status": "Healthy", "message": ""}
    broken = {**application, "status": {"health": {"status": "Degraded", "message": "1 of 2 resources degraded"}}}
    assert run_health(script, broken) == {"status": "Degraded", "message": "1 of 2 resources degraded"}


# The Applications: an app of apps whose waves put the CRD first, then the operator, then models.

def _applications() -> dict[str, dict[str, Any]]:
    documents = [yaml.safe_load(path.read_text()) for path in sorted((ARGOCD / "apps").glob("*.yaml"))]
    assert all(document["apiVersion"] == "argoproj.io/v1alpha1" and document["kind"] == "Application" for document in documents)
    return {document["metadata"]["name"]: document for document in documents}


def _wave(application: dict[str, Any]) -> int:
    return int(application["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def test_the_root_application_syncs_the_apps_directory() -> None:
    root = yaml.safe_load((ARGOCD / "root.yaml").read_text())
    assert root["kind"] == "Application"
    assert (ROOT / root["spec"]["source"]["path"]) == ARGOCD / "apps"
    repositories = {app["spec"]["source"]["repoURL"] for app in _applications().values()}
    assert repositories == {root["spec"]["source"]["repoURL"]}


def test_sync_waves_apply_the_crd_then_the_operator_then_the_models() -> None:
    applications = _applications()
    crds, operator, models = applications["tritonops-crds"], applications["tritonops"], applications["vision-models"]
    assert _wave(crds) < _wave(operator) < _wave(models)
    # The CRD application takes this repository's CRD and never prunes it (that would delete every ModelDeployment).
    crd_directory = ROOT / crds["spec"]["source"]["path"]
    assert [path.name for path in crd_directory.glob(crds["spec"]["source"]["directory"]["include"])] == [
        "modeldeployments.inference.tritonops.dev.yaml"
    ]
    assert crds["spec"]["syncPolicy"]["automated"]["prune"] is False
    # The operator comes from this repository's chart, without a second copy of the CRD.
    assert operator["spec"]["source"]["path"] == "charts/tritonops" and (ROOT / "charts" / "tritonops").is_dir()
    assert operator["spec"]["source"]["helm"]["skipCrds"] is True


def test_the_operator_application_renders_with_its_values_and_without_the_crd() -> None:
    """`helm template` as Argo CD runs it for this Application: its values pass the chart's schema, the
    CRD (wave -1's) is left out, and the metrics Service is the job the monitoring alerts expect."""
    operator = _applications()["tritonops"]
    helm = operator["spec"]["source"]["helm"]
    rendered = chart.template(
        ROOT / operator["spec"]["source"]["path"], release=helm["releaseName"], namespace=operator["spec"]["destination"]["namespace"],
        values=helm["valuesObject"], include_crds=not helm["skipCrds"],
    )
    documents = [document for document in yaml.safe_load_all(rendered) if document]
    kinds = {(document["kind"], document["metadata"]["name"]) for document in documents}
    assert not any(kind == "CustomResourceDefinition" for kind, _ in kinds)
    deployment = next(document for document in documents if document["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == helm["valuesObject"]["replicaCount"]
    assert ("Service", "tritonops-metrics") in kinds
    rules = (ROOT / "manifests" / "monitoring" / "rules.yaml").read_text()
    assert 'up{job="tritonops-metrics"}' in rules


def test_the_models_application_leaves_replicas_to_the_hpa() -> None:
    models = _applications()["vision-models"]
    assert models["spec"]["ignoreDifferences"] == [
        {"group": "inference.tritonops.dev", "kind": "ModelDeployment", "jsonPointers": ["/spec/replicas"]}
    ]
    assert "RespectIgnoreDifferences=true" in models["spec"]["syncPolicy"]["syncOptions"]
    # What it deploys exists, and includes a ModelDeployment whose HPA writes /spec/replicas.
    source = models["spec"]["source"]
    directory = ROOT / source["path"]
    patterns = source["directory"]["include"].strip("{}").split(",")
    files = [path for path in sorted(directory.glob("*.yaml")) if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)]
    assert len(files) == len(patterns)
    bodies = [yaml.safe_load(path.read_text()) for path in files]
    assert all(body["kind"] == "ModelDeployment" for body in bodies)
    assert any(body["spec"].get("autoscaling", {}).get("enabled") for body in bodies)


def test_run_health_sees_the_script_change() -> None:
    """The harness is no tautology: a script that maps RolledBack to Healthy is caught."""
    broken = (ARGOCD / "health.lua").read_text().replace("local degraded = {RolledBack = true,", "local degraded = {Nothing = true,")
    body = copy.deepcopy(model_deployment("RolledBack"))
    assert run_health(broken, body)["status"] != "Degraded"

"""The Helm chart and manifests/install.yaml, as users install them.

Lint, values validation, strict schema validation against the local API server's own OpenAPI,
`helm install` and `kubectl apply` into a real RBAC-enforcing control plane, and the RBAC proof: the
operator, authenticated as the chart's ServiceAccount (a TokenRequest token) and started with the
chart's own arguments, drives canary rollouts, rollbacks, retries and promotions (replicas and
gatewayAPI routers) with not one request refused by the API server.

This module starts a control plane of its own (module scope) rather than the session one: the session
`operator` fixture runs an admin operator over every namespace, which would act on these
ModelDeployments too, and every 403 the API server counts here comes from what this module runs.
"""

from __future__ import annotations

import difflib
import json
import pathlib
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.harness import chart as harness
from tests.harness.kubectl import kubectl
from tests.harness.resources import (
    create, crd_established, deployment_replicas, event_reasons_once, install_gateway_api_crds, model_deployment, patch_spec, read, wait_phase,
)
from tritonops.cli import main as tritonops
from tritonops.devcluster import chart, gobuild, operator_release, versions
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

ROOT = pathlib.Path(__file__).parents[2]
CHART = ROOT / chart.CHART
CRD_NAME = "modeldeployments.inference.tritonops.dev"
GATEWAY = ("gateway.networking.k8s.io", "v1")

# The namespaced install of the RBAC proof, and the watched namespace it is bound to.
RELEASE, RELEASE_NAMESPACE, WATCHED = "rbac", "tritonops-rbac", "models-rbac"
RELEASE_FULLNAME = "rbac-tritonops"
# Flags that OperatorProcess sets itself (loopback ports for liveness and metrics, a short resync).
PROCESS_FLAGS = ("--liveness", "--metrics-port", "--metrics-address", "--resync-seconds")
ROLLOUT = {"steps": [25, 50], "stepSeconds": 600, "analysis": {"intervalSeconds": 3, "minRequests": 20, "successRate": {"min": 0.99}}}
# What the operator or kopf would log on a refused request.
REFUSAL = re.compile(r"\b403\b|forbidden|not enough permissions", re.IGNORECASE)
GATEWAY_TRAFFIC = {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference"}], "hostnames": ["models.example.com"]}}


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binaries() -> Mapping[str, pathlib.Path]:
    return gobuild.ensure_binaries([versions.HELM, versions.KUBECONFORM])


@pytest.fixture(scope="module")
def chart_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(directory=tmp_path_factory.mktemp("chart-cluster"), real_node_specifications=())
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def admin(chart_cluster: LocalCluster) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(chart_cluster.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture(scope="module")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return operator_release.helm_environment(tmp_path_factory.mktemp("helm"))


def helm(binaries: Mapping[str, pathlib.Path], environment: Mapping[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return operator_release.run_helm(binaries["helm"], environment, *arguments)


def _restricted_namespace(admin: client.ApiClient, name: str) -> None:
    """A namespace that enforces the restricted Pod Security Standard, as install.yaml's does."""
    body = {"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    client.CoreV1Api(admin).create_namespace(body=body)
    wait_until(lambda: client.CoreV1Api(admin).read_namespaced_service_account("default", name) is not None,
               description=f"the default ServiceAccount in {name}", timeout_seconds=30)


@pytest.fixture(scope="module")
def release(chart_cluster: LocalCluster, admin: client.ApiClient, binaries: Mapping[str, pathlib.Path], helm_home: dict[str, str]) -> str:
    """`helm install` of the chart, watching one namespace, into a namespace that enforces the restricted profile."""
    _restricted_namespace(admin, RELEASE_NAMESPACE)
    _restricted_namespace(admin, WATCHED)
    installed = helm(
        binaries, helm_home, "install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE,
        f"--kubeconfig={chart_cluster.kubeconfig}", "--set", f"watchNamespaces={{{WATCHED}}}", "--wait", "--timeout=90s",
    )
    assert installed.returncode == 0, installed.stderr
    return RELEASE


# prometheus-operator's ServiceMonitor API, served with a schema that keeps any field: its real CRD is not
# available offline, and what is proved with it is only that the operator may create and delete one.
SERVICE_MONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "listKind": "ServiceMonitorList", "plural": "servicemonitors", "singular": "servicemonitor"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


@pytest.fixture(scope="module")
def gateway_api(chart_cluster: LocalCluster, admin: client.ApiClient) -> None:
    """The real Gateway API CRDs (from their Go module) and a stand-in ServiceMonitor CRD."""
    install_gateway_api_crds(chart_cluster.kubeconfig, admin)
    client.ApiextensionsV1Api(admin).create_custom_resource_definition(body=SERVICE_MONITOR_CRD)
    wait_until(lambda: crd_established(admin, "servicemonitors.monitoring.coreos.com"), description="the ServiceMonitor CRD established", timeout_seconds=30)


@pytest.fixture(scope="module")
def schemas(release: str, gateway_api: None, admin: client.ApiClient, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Strict kubeconform schemas of every kind the local API server serves, ModelDeployment included."""
    directory = tmp_path_factory.mktemp("schemas")
    written = harness.write_kubeconform_schemas(harness.openapi_v2(admin), directory)
    assert {"apps/v1/Deployment", "rbac.authorization.k8s.io/v1/ClusterRole", "inference.tritonops.dev/v1alpha1/ModelDeployment"} <= set(written)
    return directory


# -- the chart as files ----------------------------------------------------------------------------------


def test_the_chart_crd_is_a_byte_identical_copy_of_crds() -> None:
    pairs = chart.crd_pairs(ROOT)
    assert [source.name for source, _ in pairs] == [f"{CRD_NAME}.yaml"]
    for source, copy in pairs:
        assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}: run `make manifests`"
    assert chart.stale_crd_copies(ROOT) == [], "the chart's crds/ holds files that crds/ does not: run `make manifests`"


def test_install_manifest_is_the_chart_rendered_with_default_values(binaries: Mapping[str, pathlib.Path]) -> None:
    expected = chart.install_manifest(ROOT, helm=binaries["helm"])
    actual = (ROOT / chart.INSTALL_MANIFEST).read_text()
    diff = "".join(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True), "manifests/install.yaml", "rendered", n=2))
    assert not diff, f"manifests/install.yaml drifted from the chart; run `make manifests`:\n{diff[:4000]}"
    kinds = [document["kind"] for document in harness.documents(actual)]
    assert kinds[:2] == ["Namespace", "CustomResourceDefinition"]
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"} <= set(kinds)
    assert actual.startswith("# tritonops") and "make manifests" in actual.split("---", 1)[0]
    assert chart.main(["--root", str(ROOT), "--check"]) == 0  # what `make manifests` would change: nothing


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={a,b}"], ["--set", "leaderElection.enabled=false", "--set", "metrics.serviceMonitor.enabled=true"]])
def test_helm_lint_strict_is_clean(binaries: Mapping[str, pathlib.Path], helm_home: dict[str, str], values: list[str]) -> None:
    linted = helm(binaries, helm_home, "lint", "--strict", str(CHART), *values)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "[WARNING]" not in linted.stdout and "[ERROR]" not in linted.stdout, linted.stdout


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "two"},
        {"logFormat": "xml"},
        {"watchNamespaces": ["Not_A_Namespace"]},
        {"resyncSeconds": 0},
        {"metrics": {"prot": 8081}},
        {"unknownSetting": True},
        {"replicaCount": 2, "leaderElection": {"enabled": False}},
    ],
)
def test_bad_values_are_refused(binaries: Mapping[str, pathlib.Path], values: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="helm template failed"):
        chart.template(CHART, values=values, helm=binaries["helm"])


def test_values_shape_the_deployment(binaries: Mapping[str, pathlib.Path]) -> None:
    values = {
        "replicaCount": 2, "watchNamespaces": ["vision", "speech"], "logFormat": "text", "resyncSeconds": 30,
        "metrics": {"port": 9091}, "image": {"repository": "registry.example/tritonops", "tag": "1.2.3"},
        "scrapeNetworks": ["10.0.0.0/8"],
    }
    rendered = harness.documents(chart.template(CHART, values=values, helm=binaries["helm"]))
    deployment = next(document for document in rendered if document["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2 and "strategy" not in deployment["spec"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/tritonops:1.2.3"
    assert container["command"] == ["tritonops"]
    assert container["args"] == [
        "run", "--namespace=vision", "--namespace=speech", "--log-format=text", "--log-level=INFO", "--resync-seconds=30",
        "--metrics-port=9091", "--liveness=http://0.0.0.0:8080/healthz", "--scrape-network=10.0.0.0/8",
        "--leader-elect", f"--leader-election-namespace={chart.NAMESPACE}", "--leader-election-name=tritonops-leader",
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {port["name"]: port["containerPort"] for port in container["ports"]} == {"health": 8080, "metrics": 9091}
    # The restricted Pod Security Standard.
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
    assert context["readOnlyRootFilesystem"] is True
    service = next(document for document in rendered if document["kind"] == "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert not any(document["kind"] == "ServiceMonitor" for document in rendered)

    single = harness.documents(chart.template(CHART, values={"leaderElection": {"enabled": False}}, helm=binaries["helm"]))
    deployment = next(document for document in single if document["kind"] == "Deployment")
    # Without leader election the old replica must stop before the new one starts.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not any(argument.startswith("--leader-elect") for argument in deployment["spec"]["template"]["spec"]["containers"][0]["args"])
    assert not any(document["kind"] == "Role" for document in single)


def _rules(documents: list[dict[str, Any]], kind: str, name: str) -> set[tuple[str, str, str, str]]:
    """(apiGroup, resource, verb, resourceName or '') for every grant of one role."""
    role = next(document for document in documents if document["kind"] == kind and document["metadata"]["name"] == name)
    return {
        (group, resource, verb, resource_name)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for resource_name in rule.get("resourceNames") or [""]
    }


def _grants(group: str, resources: str, verbs: str) -> set[tuple[str, str, str, str]]:
    return {(group, resource, verb, "") for resource in resources.split() for verb in verbs.split()}


# What the operator does, and nothing else (see kube.py, handlers.py, leader.py, routers/gateway_api.py):
NAMESPACED_GRANTS = (
    _grants("inference.tritonops.dev", "modeldeployments", "list watch patch")  # kopf watch; one-shot annotations removed
    | _grants("inference.tritonops.dev", "modeldeployments/status", "patch")  # status merge patch
    # Children carry blockOwnerDeletion: OwnerReferencesPermissionEnforcement asks for this on the owner.
    | _grants("inference.tritonops.dev", "modeldeployments/finalizers", "update")
    | _grants("apps", "deployments", "list watch create patch delete")  # watch; server-side apply; removal
    | _grants("apps", "deployments/scale", "patch")
    | _grants("", "services", "list watch create patch delete")
    | _grants("autoscaling", "horizontalpodautoscalers", "list watch create patch delete")
    | _grants("", "pods", "list watch")
    | _grants("", "events", "create patch")  # an aggregated repeat patches the count
    # Routes and ServiceMonitors are watched too, so that one deleted by hand is created again.
    | _grants("gateway.networking.k8s.io", "httproutes grpcroutes", "create patch delete list watch")
    | _grants("monitoring.coreos.com", "servicemonitors", "create patch delete list watch")
)
CLUSTER_GRANTS = _grants("", "nodes", "list") | _grants("apiextensions.k8s.io", "customresourcedefinitions", "list watch")
LEADER_GRANTS = {("coordination.k8s.io", "leases", "create", ""), ("coordination.k8s.io", "leases", "get", "tritonops-leader"),
                 ("coordination.k8s.io", "leases", "update", "tritonops-leader")}


def test_rbac_grants_exactly_what_the_operator_uses(binaries: Mapping[str, pathlib.Path]) -> None:
    everywhere = harness.documents(chart.template(CHART, helm=binaries["helm"]))
    assert _rules(everywhere, "ClusterRole", "tritonops") == CLUSTER_GRANTS | NAMESPACED_GRANTS
    assert _rules(everywhere, "Role", "tritonops-leader-election") == LEADER_GRANTS
    # The one RoleBinding is leader election's; no namespaced grants beyond the ClusterRole.
    assert [(d["metadata"]["namespace"], d["roleRef"]["name"]) for d in everywhere if d["kind"] == "RoleBinding"] == [
        (chart.NAMESPACE, "tritonops-leader-election")]

    listed = harness.documents(chart.template(CHART, values={"watchNamespaces": ["vision", "speech"]}, helm=binaries["helm"]))
    # Cluster-wide only reads: nodes and pods for the capacity check, namespaces and CRDs for kopf.
    assert _rules(listed, "ClusterRole", "tritonops") == CLUSTER_GRANTS | _grants("", "pods", "list") | _grants("", "namespaces", "list watch")
    assert _rules(listed, "ClusterRole", "tritonops-namespaced") == NAMESPACED_GRANTS
    bindings = {d["metadata"]["namespace"]: d["roleRef"] for d in listed if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "tritonops"}
    assert bindings == {ns: {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tritonops-namespaced"} for ns in ("vision", "speech")}

    for documents in (everywhere, listed):
        for role in (d for d in documents if d["kind"] in ("ClusterRole", "Role")):
            for rule in role["rules"]:
                assert "secrets" not in rule["resources"] and "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"], role


# -- against the local API server ------------------------------------------------------------------------------


def _kubeconform_ok(binaries: Mapping[str, pathlib.Path], schemas: pathlib.Path, text: str, *, skip_kinds: tuple[str, ...] = ()) -> None:
    code, resources, output = harness.kubeconform(binaries["kubeconform"], schemas, text, skip_kinds=skip_kinds)
    expected = [d for d in harness.documents(text) if d["kind"] not in skip_kinds]
    assert code == 0, output[-4000:]
    assert len(resources) == 0 and f'"valid": {len(expected)}' in output, output[-4000:]


@pytest.mark.parametrize(
    "values",
    [{}, {"watchNamespaces": ["vision", "speech"], "logFormat": "text"}, {"leaderElection": {"enabled": False}, "replicaCount": 0},
     {"resources": {"requests": {"cpu": 1, "memory": "1Gi"}}, "tolerations": [{"key": "k", "operator": "Exists"}], "priorityClassName": "high"}],
)
def test_rendered_chart_passes_kubeconform_strict(binaries: Mapping[str, pathlib.Path], schemas: pathlib.Path, values: dict[str, Any]) -> None:
    _kubeconform_ok(binaries, schemas, chart.template(CHART, values=values, include_crds=True, helm=binaries["helm"]))


def test_install_manifest_passes_kubeconform_strict(binaries: Mapping[str, pathlib.Path], schemas: pathlib.Path) -> None:
    _kubeconform_ok(binaries, schemas, (ROOT / chart.INSTALL_MANIFEST).read_text())


def test_kubeconform_schemas_are_strict(binaries: Mapping[str, pathlib.Path], schemas: pathlib.Path) -> None:
    """The check bites: an unknown field, a wrong type, or a bad ModelDeployment is refused."""
    rendered = harness.documents(chart.template(CHART, helm=binaries["helm"]))
    deployment = next(document for document in rendered if document["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/healthz"
    code, resources, output = harness.kubeconform(binaries["kubeconform"], schemas, yaml.safe_dump(deployment))
    assert code != 0 and "pth" in output
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"].pop("pth")
    deployment["spec"]["replicas"] = "one"
    code, _, output = harness.kubeconform(binaries["kubeconform"], schemas, yaml.safe_dump(deployment))
    assert code != 0 and "replicas" in output

    # ModelDeployment's own schema, as the API server publishes it from the CRD.
    good = {**model_deployment("resnet50", replicas=2, server={"gpu": {"count": 1, "products": ["NVIDIA-H100-80GB-HBM3"]}}),
            "metadata": {"name": "resnet50", "namespace": "vision"}}
    _kubeconform_ok(binaries, schemas, yaml.safe_dump(good))
    bad = json.loads(json.dumps(good))
    bad["spec"]["modle"] = {"version": "3"}
    code, _, output = harness.kubeconform(binaries["kubeconform"], schemas, yaml.safe_dump(bad))
    assert code != 0 and "modle" in output


def test_service_monitor_scrapes_the_metrics_service(binaries: Mapping[str, pathlib.Path], schemas: pathlib.Path) -> None:
    text = chart.template(CHART, values={"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}}, helm=binaries["helm"])
    # The local cluster has no prometheus-operator CRD: validate everything else strictly, the ServiceMonitor by hand.
    _kubeconform_ok(binaries, schemas, text, skip_kinds=("ServiceMonitor",))
    rendered = harness.documents(text)
    monitor = next(document for document in rendered if document["kind"] == "ServiceMonitor")
    service = next(document for document in rendered if document["kind"] == "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [chart.NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]


def test_helm_install_creates_a_working_release(
    chart_cluster: LocalCluster, admin: client.ApiClient, release: str, binaries: Mapping[str, pathlib.Path], helm_home: dict[str, str]
) -> None:
    listed = helm(binaries, helm_home, "list", "--namespace", RELEASE_NAMESPACE, "--output", "json", f"--kubeconfig={chart_cluster.kubeconfig}")
    assert [(r["name"], r["status"]) for r in json.loads(listed.stdout)] == [(release, "deployed")]
    assert crd_established(admin, CRD_NAME)
    core, apps, rbac = client.CoreV1Api(admin), client.AppsV1Api(admin), client.RbacAuthorizationV1Api(admin)
    assert core.read_namespaced_service_account(RELEASE_FULLNAME, RELEASE_NAMESPACE)
    assert rbac.read_cluster_role(RELEASE_FULLNAME) and rbac.read_cluster_role(f"{RELEASE_FULLNAME}-namespaced")
    assert rbac.read_namespaced_role_binding(RELEASE_FULLNAME, WATCHED).role_ref.name == f"{RELEASE_FULLNAME}-namespaced"
    service = core.read_namespaced_service(f"{RELEASE_FULLNAME}-metrics", RELEASE_NAMESPACE)
    assert [(p.name, p.port) for p in service.spec.ports] == [("metrics", 8081)]
    # helm --wait returned: the Deployment is available, so its pod passed the namespace's restricted
    # Pod Security admission (kwok marks it running; no image is pulled here).
    deployment = apps.read_namespaced_deployment(RELEASE_FULLNAME, RELEASE_NAMESPACE)
    assert deployment.status.available_replicas == 1
    pods = core.list_namespaced_pod(RELEASE_NAMESPACE, label_selector="app.kubernetes.io/instance=rbac").items
    assert [pod.status.phase for pod in pods] == ["Running"]
    assert pods[0].spec.service_account_name == RELEASE_FULLNAME


def _chart_arguments(admin: client.ApiClient, namespace: str, name: str) -> tuple[str, ...]:
    """The installed Deployment's `tritonops run` arguments, less those OperatorProcess sets for loopback."""
    container = client.AppsV1Api(admin).read_namespaced_deployment(name, namespace).spec.template.spec.containers[0]
    assert container.command == ["tritonops"] and container.args[0] == "run"
    return tuple(argument for argument in container.args[1:] if argument.split("=", 1)[0] not in PROCESS_FLAGS)


def _forbidden(cluster: LocalCluster) -> dict[str, int]:
    return harness.forbidden_requests(cluster.apiserver_get("/metrics"))


def _access(admin: client.ApiClient, user: str, *, verb: str, resource: str, namespace: str | None = None, group: str = "") -> bool:
    attributes = {"verb": verb, "resource": resource, "group": group, **({"namespace": namespace} if namespace else {})}
    review = client.AuthorizationV1Api(admin).create_subject_access_review(body={"spec": {"user": user, "resourceAttributes": attributes}})
    return bool(review.status.allowed)


def _services(admin: client.ApiClient, namespace: str, name: str) -> set[str]:
    services = client.CoreV1Api(admin).list_namespaced_service(namespace, label_selector=f"app.kubernetes.io/instance={name}").items
    return {service.metadata.name for service in services if not service.metadata.deletion_timestamp}


def _service_monitors(admin: client.ApiClient, namespace: str) -> set[str]:
    listed = client.CustomObjectsApi(admin).list_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, "servicemonitors")
    return {item["metadata"]["name"] for item in listed["items"] if not item["metadata"].get("deletionTimestamp")}


def _route_weights(admin: client.ApiClient, namespace: str, name: str) -> list[int]:
    route = client.CustomObjectsApi(admin).get_namespaced_custom_object(*GATEWAY, namespace, "httproutes", f"{name}-http")
    return [int(backend["weight"]) for backend in route["spec"]["rules"][0]["backendRefs"]]


def _run_as_service_account(
    cluster: LocalCluster, admin: client.ApiClient, tmp_path: pathlib.Path, *, namespace: str, service_account: str, arguments: tuple[str, ...]
) -> OperatorProcess:
    kubeconfig = harness.service_account_kubeconfig(cluster, admin, namespace=namespace, name=service_account, path=tmp_path / "sa-kubeconfig.yaml")
    return OperatorProcess(kubeconfig=kubeconfig, log=tmp_path / "operator.log", extra_arguments=arguments)


def _drive_canary(
    cluster: LocalCluster, admin: client.ApiClient, namespace: str, names: list[str], *, full: bool,
    check: Callable[[str], None] = lambda phase: None,
) -> None:
    """Ready, then a new version: Canary; abort: RolledBack; and with `full`, retry: Canary; promote: Ready.

    `check(phase)` runs once every ModelDeployment has reached that phase."""
    def cli(*arguments: str) -> int:
        return tritonops([*arguments, "-n", namespace, f"--kubeconfig={cluster.kubeconfig}"])

    stable = {name: wait_phase(admin, namespace, name, "Ready")["status"]["stableRevision"]["hash"] for name in names}
    for name in names:
        patch_spec(admin, namespace, name, {"model": {"version": "2"}})
    canary = {name: wait_phase(admin, namespace, name, "Canary")["status"]["canaryRevision"]["hash"] for name in names}
    for name in names:
        wait_until(lambda name=name: deployment_replicas(admin, namespace, name) == {stable[name]: 3, canary[name]: 1},  # type: ignore[misc]
                   description=f"{name}: a 3+1 split", timeout_seconds=30)
    check("Canary")
    for name in names:
        assert cli("abort", name) == 0
    for name in names:
        status = wait_phase(admin, namespace, name, "RolledBack")["status"]
        assert (status["failedRevision"]["hash"], status["failedRevision"]["reason"]) == (canary[name], "Aborted")
        wait_until(lambda name=name: deployment_replicas(admin, namespace, name) == {stable[name]: 4},  # type: ignore[misc]
                   description=f"{name}: the canary removed", timeout_seconds=30)
        assert "RolledBack" in event_reasons_once(admin, namespace, name, "RolledBack")
    check("RolledBack")
    if not full:
        return
    for name in names:
        assert cli("retry", name) == 0
        wait_phase(admin, namespace, name, "Canary")
        assert cli("promote", name) == 0
    for name in names:
        wait_until(lambda name=name: read(admin, namespace, name)["status"]["stableRevision"]["hash"] == canary[name],  # type: ignore[misc]
                   description=f"{name}: the canary promoted", timeout_seconds=60)
        status = wait_phase(admin, namespace, name, "Ready")["status"]
        assert [entry["outcome"] for entry in status["history"]] == ["RolledBack", "Promoted"]
        wait_until(lambda name=name: deployment_replicas(admin, namespace, name) == {canary[name]: 4},  # type: ignore[misc]
                   description=f"{name}: the old revision removed", timeout_seconds=30)
    check("Ready")


def _run_unrefused(cluster: LocalCluster, process: OperatorProcess, scenario: Callable[[], object]) -> None:
    """Run the operator through `scenario`; fail on any request the API server refused meanwhile, first."""
    before = _forbidden(cluster)
    process.start()
    failure: BaseException | None = None
    try:
        scenario()
    except Exception as error:  # reported after the refusals, which usually explain it
        failure = error
    finally:
        refused = harness.new_forbidden(before, _forbidden(cluster))
        process.stop()
    log = process.log.read_text()
    assert refused == {}, f"requests refused by the API server: {refused}\noperator log:\n{log[-3000:]}"
    refusals = [line for line in log.splitlines() if REFUSAL.search(line)]
    assert not refusals, "the operator logged refusals:\n" + "\n".join(refusals[:10])
    if failure is not None:
        raise failure


def test_the_operator_as_the_charts_service_account_is_never_refused(
    chart_cluster: LocalCluster, admin: client.ApiClient, release: str, gateway_api: None, tmp_path: pathlib.Path
) -> None:
    arguments = _chart_arguments(admin, RELEASE_NAMESPACE, RELEASE_FULLNAME)
    assert f"--namespace={WATCHED}" in arguments and "--leader-elect" in arguments
    process = _run_as_service_account(chart_cluster, admin, tmp_path, namespace=RELEASE_NAMESPACE, service_account=RELEASE_FULLNAME, arguments=arguments)

    def scenario() -> None:
        lease = client.CoordinationV1Api(admin)
        wait_until(lambda: bool(lease.read_namespaced_lease("tritonops-leader", RELEASE_NAMESPACE).spec.holder_identity),
                   description="the operator to take its Lease", timeout_seconds=30)
        create(admin, WATCHED, model_deployment("replicas", replicas=4, rollout=ROLLOUT, monitoring={"serviceMonitor": True}))
        create(admin, WATCHED, model_deployment("gateway", replicas=4, rollout=ROLLOUT, traffic=GATEWAY_TRAFFIC))
        wait_phase(admin, WATCHED, "gateway", "Ready")
        assert _route_weights(admin, WATCHED, "gateway") == [100]
        _drive_canary(chart_cluster, admin, WATCHED, ["replicas", "gateway"], full=True, check=lambda phase: wait_until(
            lambda: _route_weights(admin, WATCHED, "gateway") == ([75, 25] if phase == "Canary" else [100]),
            description=f"the HTTPRoute's weights in {phase}", timeout_seconds=30))
        # The main Service and the promoted revision's: the old revision's Service was deleted.
        wait_until(lambda: len(_services(admin, WATCHED, "gateway")) == 2, description="the old revision's Service deleted", timeout_seconds=30)
        assert process.metric("tritonops_promotions_total") == 2
        # A ServiceMonitor, created with the ModelDeployment, goes when it is no longer asked for.
        assert _service_monitors(admin, WATCHED) == {"replicas"}
        patch_spec(admin, WATCHED, "replicas", {"monitoring": {"serviceMonitor": False}})
        wait_until(lambda: _service_monitors(admin, WATCHED) == set(), description="the ServiceMonitor deleted", timeout_seconds=30)

    _run_unrefused(chart_cluster, process, scenario)
    for name in ("replicas", "gateway"):
        client.CustomObjectsApi(admin).delete_namespaced_custom_object("inference.tritonops.dev", "v1alpha1", WATCHED, "modeldeployments", name)

    # The count above does see this ServiceAccount's refusals: a Secret is one thing it may not read.
    user = f"system:serviceaccount:{RELEASE_NAMESPACE}:{RELEASE_FULLNAME}"
    sa_client = config.new_client_from_config(config_file=str(tmp_path / "sa-kubeconfig.yaml"))
    before = _forbidden(chart_cluster)
    with pytest.raises(ApiException) as refusal:
        client.CoreV1Api(sa_client).list_namespaced_secret(WATCHED)
    sa_client.close()
    assert refusal.value.status == 403
    assert harness.new_forbidden(before, _forbidden(chart_cluster)) == {"authorization no-opinion": 1}
    for verb in ("get", "list", "watch"):
        assert not _access(admin, user, verb=verb, resource="secrets", namespace=WATCHED)
        assert not _access(admin, user, verb=verb, resource="secrets")
    # Namespaced writes only where the chart bound them.
    assert _access(admin, user, verb="create", resource="deployments", group="apps", namespace=WATCHED)
    assert not _access(admin, user, verb="create", resource="deployments", group="apps", namespace="default")
    assert not _access(admin, user, verb="patch", resource="modeldeployments", group="inference.tritonops.dev", namespace="default")


def test_install_manifest_applies_and_the_operator_runs_cluster_wide_unrefused(
    chart_cluster: LocalCluster, admin: client.ApiClient, release: str, tmp_path: pathlib.Path
) -> None:
    applied = kubectl(chart_cluster.kubeconfig, "apply", "-f", str(ROOT / chart.INSTALL_MANIFEST))
    assert "namespace/tritonops-system created" in applied and "deployment.apps/tritonops created" in applied, applied
    assert crd_established(admin, CRD_NAME)
    apps = client.AppsV1Api(admin)
    wait_until(lambda: apps.read_namespaced_deployment("tritonops", chart.NAMESPACE).status.available_replicas == 1,
               description="the install.yaml Deployment available", timeout_seconds=60)
    again = kubectl(chart_cluster.kubeconfig, "apply", "-f", str(ROOT / chart.INSTALL_MANIFEST))
    assert all(line.endswith("unchanged") for line in again.strip().splitlines()), again
    # The header's way, server-side, works over it too.
    server_side = kubectl(chart_cluster.kubeconfig, "apply", "--server-side", "-f", str(ROOT / chart.INSTALL_MANIFEST))
    assert all(line.endswith("serverside-applied") for line in server_side.strip().splitlines()), server_side

    arguments = _chart_arguments(admin, chart.NAMESPACE, "tritonops")
    assert not any(argument.startswith("--namespace") for argument in arguments)  # every namespace
    namespace = "models-wide"
    _restricted_namespace(admin, namespace)
    process = _run_as_service_account(chart_cluster, admin, tmp_path, namespace=chart.NAMESPACE, service_account="tritonops", arguments=arguments)

    def scenario() -> None:
        create(admin, namespace, model_deployment("wide", replicas=4, rollout=ROLLOUT))
        _drive_canary(chart_cluster, admin, namespace, ["wide"], full=False)

    _run_unrefused(chart_cluster, process, scenario)

"""Children changed or deleted by hand are repaired at once, by a watch event, not at the 60 s resync;
children that only look like ours are left alone."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.kubectl import kubectl
from tests.harness.resources import create, event_reasons, install_gateway_api_crds, model_deployment, read, wait_phase
from tritonops import constants
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

pytestmark = pytest.mark.usefixtures("operator")
# Far below the operator's 60 s resync: only a watch event can make a repair this prompt.
PROMPT_SECONDS = 20


def _deployment(kube_client: client.ApiClient, namespace: str, name: str) -> Any:
    stable = read(kube_client, namespace, name)["status"]["stableRevision"]["hash"]
    return client.AppsV1Api(kube_client).read_namespaced_deployment(f"{name}-{stable}", namespace)


def _watching(cluster: LocalCluster, resource: str) -> bool:
    """Whether the API server holds a watch on `resource` (the operator's: no other client watches it)."""
    pattern = rf'^apiserver_longrunning_requests{{[^}}]*resource="{resource}"[^}}]*verb="WATCH"[^}}]*}} (\S+)$'
    return any(float(match.group(1)) > 0 for match in re.finditer(pattern, cluster.apiserver_get("/metrics"), re.MULTILINE))


def _no_more_applies(operator: OperatorProcess) -> None:
    """The repair settles: the events its own write causes lead to no second apply."""
    time.sleep(3)
    before = operator.metric("tritonops_api_writes_total", verb="apply")
    time.sleep(5)
    assert operator.metric("tritonops_api_writes_total", verb="apply") == before


def test_a_child_deployment_scaled_by_hand_is_scaled_back(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess
) -> None:
    create(kube_client, namespace, model_deployment("scaled", replicas=1, server={"gpu": {"count": 0}}))
    wait_phase(kube_client, namespace, "scaled", "Ready")
    before = _deployment(kube_client, namespace, "scaled")
    kubectl(cluster.kubeconfig, "scale", f"deployment/{before.metadata.name}", "--replicas=3", "-n", namespace)
    scaled = time.monotonic()
    # The repair may come before any read here: the generation shows both the hand's write and ours.
    wait_until(lambda: (deployment := _deployment(kube_client, namespace, "scaled")).spec.replicas == 1
               and deployment.metadata.generation >= before.metadata.generation + 2,
               description="the operator to scale its Deployment back to 1", timeout_seconds=PROMPT_SECONDS)
    assert time.monotonic() - scaled < PROMPT_SECONDS
    managers = {entry.manager for entry in _deployment(kube_client, namespace, "scaled").metadata.managed_fields
                if entry.fields_v1 and "f:replicas" in json.dumps(entry.fields_v1) and entry.subresource != "status"}
    assert managers == {constants.FIELD_MANAGER}, "the replicas are ours again"
    _no_more_applies(operator)
    wait_phase(kube_client, namespace, "scaled", "Ready")


def test_a_container_argument_edited_by_hand_is_put_back(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess
) -> None:
    create(kube_client, namespace, model_deployment("edited", server={"gpu": {"count": 0}}))
    wait_phase(kube_client, namespace, "edited", "Ready")
    deployment = _deployment(kube_client, namespace, "edited")
    wanted = list(deployment.spec.template.spec.containers[0].args)
    patch = json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/args/4", "value": "--strict-readiness=false"}])
    kubectl(cluster.kubeconfig, "patch", f"deployment/{deployment.metadata.name}", "-n", namespace, "--type=json", f"-p={patch}")
    wait_until(lambda: (now := _deployment(kube_client, namespace, "edited")).spec.template.spec.containers[0].args == wanted
               and now.metadata.generation >= deployment.metadata.generation + 2,
               description="the operator to put the Triton arguments back", timeout_seconds=PROMPT_SECONDS)
    _no_more_applies(operator)


def test_a_deleted_http_route_is_created_again(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess
) -> None:
    install_gateway_api_crds(cluster.kubeconfig, kube_client)
    traffic = {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference"}]}}
    create(kube_client, namespace, model_deployment("routed", server={"gpu": {"count": 0}}, traffic=traffic))
    wait_phase(kube_client, namespace, "routed", "Ready")
    custom = client.CustomObjectsApi(kube_client)

    def route() -> dict[str, Any] | None:
        try:
            return dict(custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, "httproutes", "routed-http"))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    wait_until(lambda: route() is not None, description="the HTTPRoute", timeout_seconds=30)
    first = route()
    assert first is not None
    # kopf starts watching routes once it sees their CRD: a deletion before that would go unseen.
    wait_until(lambda: _watching(cluster, "httproutes"), description="the operator to watch HTTPRoutes", timeout_seconds=30)
    custom.delete_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, "httproutes", "routed-http")
    deleted = time.monotonic()

    def recreated() -> bool:
        again = route()
        return again is not None and again["metadata"]["uid"] != first["metadata"]["uid"]

    wait_until(recreated, description="the operator to create the HTTPRoute again", timeout_seconds=PROMPT_SECONDS)
    assert time.monotonic() - deleted < PROMPT_SECONDS
    again = route()
    assert again is not None and [b["weight"] for b in again["spec"]["rules"][0]["backendRefs"]] == [100]


def test_a_deployment_with_our_labels_but_not_owned_is_left_alone(kube_client: client.ApiClient, namespace: str) -> None:
    create(kube_client, namespace, model_deployment("owner", server={"gpu": {"count": 0}}))
    wait_phase(kube_client, namespace, "owner", "Ready")
    ours = _deployment(kube_client, namespace, "owner")
    labels = {**ours.metadata.labels, constants.LABEL_REVISION: "0ld0ld00"}
    stranger = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "owner-0ld0ld00", "labels": labels},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "stranger"}},
                 "template": {"metadata": {"labels": {"app": "stranger"}}, "spec": {"containers": [{"name": "c", "image": "stranger:1"}]}}},
    }
    apps = client.AppsV1Api(kube_client)
    apps.create_namespaced_deployment(namespace, stranger)
    wait_until(lambda: "ForeignChild" in event_reasons(kube_client, namespace, "owner"),
               description="the operator to report the Deployment it does not own", timeout_seconds=PROMPT_SECONDS)
    time.sleep(3)  # any pass that would delete it has run by now
    kept = apps.read_namespaced_deployment("owner-0ld0ld00", namespace)
    assert kept.metadata.deletion_timestamp is None and kept.spec.replicas == 0
    assert event_reasons(kube_client, namespace, "owner").count("ForeignChild") == 1, "said once"
    assert read(kube_client, namespace, "owner")["status"]["phase"] == "Ready"


AUTOSCALING = {"enabled": True, "minReplicas": 1, "maxReplicas": 3,
               "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}


def test_an_autoscaler_edited_by_hand_is_put_back(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess
) -> None:
    create(kube_client, namespace, model_deployment("bounded", server={"gpu": {"count": 0}}, autoscaling=AUTOSCALING))
    wait_phase(kube_client, namespace, "bounded", "Ready")
    autoscaling = client.AutoscalingV2Api(kube_client)
    wait_until(lambda: _exists(lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler("bounded", namespace)),
               description="the HPA", timeout_seconds=30)
    # kubectl returns once its patch is stored: any 3 read after it is the operator's repair.
    kubectl(cluster.kubeconfig, "patch", "hpa/bounded", "-n", namespace, "--type=merge", '-p={"spec": {"maxReplicas": 9}}')
    wait_until(lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler("bounded", namespace).spec.max_replicas == 3,
               description="the operator to put maxReplicas back to 3", timeout_seconds=PROMPT_SECONDS)
    managers = {entry.manager for entry in autoscaling.read_namespaced_horizontal_pod_autoscaler("bounded", namespace).metadata.managed_fields
                if entry.fields_v1 and "f:maxReplicas" in json.dumps(entry.fields_v1)}
    assert managers == {constants.FIELD_MANAGER}, "maxReplicas is ours again"
    _no_more_applies(operator)


def test_a_route_weight_edited_by_hand_is_put_back(
    kube_client: client.ApiClient, namespace: str, cluster: LocalCluster, operator: OperatorProcess
) -> None:
    install_gateway_api_crds(cluster.kubeconfig, kube_client)
    traffic = {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "inference"}]}}
    create(kube_client, namespace, model_deployment("weighted", server={"gpu": {"count": 0}}, traffic=traffic))
    wait_phase(kube_client, namespace, "weighted", "Ready")
    custom = client.CustomObjectsApi(kube_client)

    def weights() -> list[int] | None:
        route = _exists(lambda: custom.get_namespaced_custom_object("gateway.networking.k8s.io", "v1", namespace, "httproutes", "weighted-http"))
        return None if route is None else [backend["weight"] for backend in route["spec"]["rules"][0]["backendRefs"]]

    wait_until(lambda: weights() == [100], description="the HTTPRoute at weight 100", timeout_seconds=30)
    wait_until(lambda: _watching(cluster, "httproutes"), description="the operator to watch HTTPRoutes", timeout_seconds=30)
    patch = json.dumps([{"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 0}])
    kubectl(cluster.kubeconfig, "patch", "httproute/weighted-http", "-n", namespace, "--type=json", f"-p={patch}")
    wait_until(lambda: weights() == [100], description="the operator to put the weight back to 100", timeout_seconds=PROMPT_SECONDS)
    _no_more_applies(operator)


def test_an_autoscaler_of_our_name_but_not_owned_is_left_alone(kube_client: client.ApiClient, namespace: str) -> None:
    autoscaling = client.AutoscalingV2Api(kube_client)
    stranger = {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "unscaled", "labels": {constants.LABEL_MODEL_DEPLOYMENT: "unscaled", constants.LABEL_MANAGED_BY: constants.MANAGER_NAME}},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "elsewhere"}, "minReplicas": 1, "maxReplicas": 2},
    }
    autoscaling.create_namespaced_horizontal_pod_autoscaler(namespace, stranger)
    # Autoscaling off: an HPA of this name that were ours would be deleted.
    create(kube_client, namespace, model_deployment("unscaled", server={"gpu": {"count": 0}}))
    wait_phase(kube_client, namespace, "unscaled", "Ready")
    wait_until(lambda: "ForeignChild" in event_reasons(kube_client, namespace, "unscaled"),
               description="the operator to report the HPA it does not own", timeout_seconds=PROMPT_SECONDS)
    time.sleep(3)
    kept = autoscaling.read_namespaced_horizontal_pod_autoscaler("unscaled", namespace)
    assert kept.metadata.deletion_timestamp is None and kept.spec.scale_target_ref.name == "elsewhere"
    assert event_reasons(kube_client, namespace, "unscaled").count("ForeignChild") == 1, "said once"


def _exists(read_object: Any) -> Any:
    try:
        return read_object()
    except ApiException as error:
        if error.status == 404:
            return None
        raise

"""Create, read and wait on ModelDeployments in the real cluster, for integration and e2e tests."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

from kubernetes import client

from tritonops.devcluster.processes import wait_until

GROUP, VERSION, PLURAL = "inference.tritonops.dev", "v1alpha1", "modeldeployments"


def model_deployment(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"repository": "s3://models/repo", "version": "1"}, "replicas": 1},
    }
    body["spec"].update(copy.deepcopy(spec))
    return body


def create(kube_client: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    client.CustomObjectsApi(kube_client).create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def read(kube_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return dict(client.CustomObjectsApi(kube_client).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def patch_spec(kube_client: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> None:
    client.CustomObjectsApi(kube_client).patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"spec": spec})


def wait_phase(kube_client: client.ApiClient, namespace: str, name: str, phase: str, *, timeout: float = 60) -> dict[str, Any]:
    def reached() -> bool:
        status = read(kube_client, namespace, name).get("status") or {}
        return status.get("phase") == phase and status.get("observedGeneration") == read(kube_client, namespace, name)["metadata"]["generation"]

    wait_until(reached, description=f"{namespace}/{name} to reach phase {phase}", timeout_seconds=timeout)
    return read(kube_client, namespace, name)


def pods_of(kube_client: client.ApiClient, namespace: str, name: str) -> list[Any]:
    return list(
        client.CoreV1Api(kube_client).list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={name}").items
    )


def event_reasons(kube_client: client.ApiClient, namespace: str, name: str) -> list[str]:
    events = client.CoreV1Api(kube_client).list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    # Once per occurrence: the operator counts a repeat on its first event (count), as client-go does.
    ordered = sorted(events, key=lambda e: (e.first_timestamp or e.event_time, e.metadata.name))
    return [event.reason for event in ordered for _ in range(max(1, event.count or 1))]


def event_reasons_once(kube_client: client.ApiClient, namespace: str, name: str, reason: str) -> list[str]:
    """The object's event reasons once `reason` is among them: a report of a condition is posted after the status."""
    wait_until(lambda: reason in event_reasons(kube_client, namespace, name), description=f"a {reason} event for {name}", timeout_seconds=10)
    return event_reasons(kube_client, namespace, name)


def deployment_replicas(kube_client: client.ApiClient, namespace: str, name: str) -> dict[str, int]:
    """Replicas of each revision's Deployment, by revision hash."""
    items = client.AppsV1Api(kube_client).list_namespaced_deployment(namespace, label_selector=f"app.kubernetes.io/instance={name}").items
    return {item.metadata.labels["inference.tritonops.dev/revision"]: item.spec.replicas for item in items if not item.metadata.deletion_timestamp}


def crd_established(api: client.ApiClient, name: str) -> bool:
    crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(name)
    return crd.status is not None and any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


def install_gateway_api_crds(kubeconfig: pathlib.Path, api: client.ApiClient) -> list[pathlib.Path]:
    """The standard-channel Gateway API CRDs from the sigs.k8s.io/gateway-api Go module, established."""
    from tests.harness.kubectl import kubectl
    from tritonops.devcluster import gobuild

    crds = gobuild.gateway_api_crds()
    for path in crds:
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(path))
    for name in ("httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io"):
        wait_until(lambda: crd_established(api, name), description=f"{name} established", timeout_seconds=30)
    return crds

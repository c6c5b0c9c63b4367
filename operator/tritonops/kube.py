"""All writes to the Kubernetes API: server-side apply, scale, delete, status patches and events.

Every write is skipped when it would change nothing, so a resync of converged objects makes no writes.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from tritonops import constants, metrics
from tritonops.desired.revision import stable_hash
from tritonops.engine import conditions
from tritonops.engine.actions import ChildReference, Event, Scale
from tritonops.errors import describe
from tritonops.event_series import EventKey, EventSeries, Series
from tritonops.resource import ModelDeployment

logger = logging.getLogger(__name__)

_PLURALS = {
    ("v1", "Service"): "services",
    ("v1", "Event"): "events",
    ("v1", "ConfigMap"): "configmaps",
    ("apps/v1", "Deployment"): "deployments",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproutes",
    ("gateway.networking.k8s.io/v1", "GRPCRoute"): "grpcroutes",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitors",
    (constants.API_VERSION, constants.KIND): constants.PLURAL,
}


class Target(Protocol):
    """What a status patch and an event need of a ModelDeployment: who it is and its current status.

    A ModelDeployment is one; so is the bare identity of an object whose spec could not even be read,
    whose failure must still be reported.
    """

    @property
    def name(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    @property
    def uid(self) -> str: ...

    @property
    def status(self) -> Mapping[str, Any]: ...


def object_path(*, api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{_PLURALS[(api_version, kind)]}"
    return f"{path}/{name}" if name else path


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    return stable_hash(manifest, length=16)


def with_applied_hash(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest plus an annotation recording its own hash, to compare against on later passes."""
    annotated = json.loads(json.dumps(manifest))
    annotated["metadata"].setdefault("annotations", {})[constants.ANNOTATION_APPLIED_HASH] = manifest_hash(manifest)
    return annotated


# A server-side apply body is read as YAML, which refuses raw non-printable characters, folds raw line
# separators, and reads a JSON surrogate pair (how json.dumps escapes a character beyond the BMP, such as an
# emoji in an env value) as two invalid escapes: the API server would refuse the whole body with a 400.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def apply_body(manifest: Mapping[str, Any]) -> bytes:
    """A manifest as a server-side apply body: JSON (a subset of YAML) in UTF-8, every character YAML reads as
    written. Characters beyond the BMP stay raw; those YAML cannot take raw are escaped within the BMP."""
    text = json.dumps(manifest, ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda unsafe: f"\\u{ord(unsafe.group()):04x}", text).encode()


def request_json(
    api_client: client.ApiClient,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    timeout: float = 30,
) -> dict[str, Any]:
    """One API request as plain JSON over the client's pooled connection: no model classes to build or parse."""
    serialized = api_client.param_serialize(
        method=method,
        resource_path=path,
        query_params=list((query or {}).items()),
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(*serialized, _request_timeout=timeout)
    response.read()
    if not 200 <= response.status < 300:
        raise ApiException(http_resp=response)
    return json.loads(response.data) if response.data else {}


def answers_ready(api_client: client.ApiClient, *, timeout: float) -> None:
    """Returns when the API server's /readyz answers ok (its checks include etcd); raises otherwise."""
    serialized = api_client.param_serialize(method="GET", resource_path="/readyz", header_params={"Accept": "text/plain"},
                                            auth_settings=["BearerToken"])
    response = api_client.call_api(*serialized, _request_timeout=timeout)
    response.read()
    if response.status != 200:
        raise ApiException(http_resp=response)


# Pages of a list request, and how many pages at most (500 x 400: 200,000 pods).
LIST_PAGE_SIZE = 500
LIST_PAGE_LIMIT = 400


class KubernetesWriter:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.event_series = EventSeries()

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        return request_json(self.api_client, method, path, body=body, query=query, content_type=content_type)

    def apply(self, manifest: Mapping[str, Any], *, live_hash: str | None) -> dict[str, Any] | None:
        """Server-side apply unless the live object already carries this manifest's hash (pass None to
        apply anyway, as for a repair of drift). Returns the object as applied, managedFields included."""
        if live_hash == manifest_hash(manifest):
            return None
        metadata = manifest["metadata"]
        path = object_path(api_version=manifest["apiVersion"], kind=manifest["kind"], namespace=metadata["namespace"], name=metadata["name"])
        applied = self._request(
            "PATCH",
            path,
            body=apply_body(with_applied_hash(manifest)),
            query={"fieldManager": constants.FIELD_MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml",
        )
        metrics.api_writes_total.labels(verb="apply").inc()
        return applied or {"metadata": {}}

    def scale(self, *, namespace: str, action: Scale) -> None:
        path = object_path(api_version="apps/v1", kind="Deployment", namespace=namespace, name=action.name) + "/scale"
        # Under our own field manager, so that the replicas we set are never mistaken for a hand's drift.
        self._request("PATCH", path, body={"spec": {"replicas": action.replicas}}, query={"fieldManager": constants.FIELD_MANAGER},
                      content_type="application/merge-patch+json")
        metrics.api_writes_total.labels(verb="scale").inc()

    def delete(self, *, namespace: str, reference: ChildReference) -> None:
        path = object_path(api_version=reference.api_version, kind=reference.kind, namespace=namespace, name=reference.name)
        try:
            self._request("DELETE", path, body={"propagationPolicy": "Background"})
        except ApiException as error:
            if error.status != 404:
                raise
        metrics.api_writes_total.labels(verb="delete").inc()

    def patch_status(self, resource: Target, status: Mapping[str, Any]) -> dict[str, Any] | None:
        """Write the status only if it differs; keys that disappeared are removed with null."""
        if dict(status) == dict(resource.status):
            return None
        patch: dict[str, Any] = {key: value for key, value in status.items() if resource.status.get(key) != value}
        patch.update({key: None for key in resource.status if key not in status})
        path = object_path(api_version=constants.API_VERSION, kind=constants.KIND, namespace=resource.namespace, name=resource.name) + "/status"
        updated = self._request("PATCH", path, body={"status": patch}, content_type="application/merge-patch+json")
        metrics.api_writes_total.labels(verb="status").inc()
        return updated

    def remove_annotations(self, resource: ModelDeployment, names: list[str]) -> None:
        """Clear one-shot annotations once acted upon, so the same request is never acted on twice."""
        path = object_path(api_version=constants.API_VERSION, kind=constants.KIND, namespace=resource.namespace, name=resource.name)
        self._request("PATCH", path, body={"metadata": {"annotations": dict.fromkeys(names)}}, content_type="application/merge-patch+json")
        metrics.api_writes_total.labels(verb="annotations").inc()

    def serves(self, *, api_version: str, plural: str) -> bool:
        """Whether the API server serves a resource (an optional CRD such as ServiceMonitor)."""
        try:
            resources = self._request("GET", f"/apis/{api_version}").get("resources") or []
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return any(item.get("name") == plural for item in resources)

    def read_config_map(self, *, namespace: str, name: str) -> dict[str, str]:
        """A ConfigMap's data (the golden set of spec.rollout.analysis.golden); ApiException if it cannot be read."""
        found = self._request("GET", object_path(api_version="v1", kind="ConfigMap", namespace=namespace, name=name))
        return {str(key): str(value) for key, value in (found.get("data") or {}).items()}

    def list_all(self, path: str, *, query: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a list, in pages: one huge response would hold the API server (and this worker's
        memory) for the whole cluster at once. Bounded in pages; a list that outgrows them is an error."""
        items: list[dict[str, Any]] = []
        token = ""
        for _ in range(LIST_PAGE_LIMIT):
            page = self._request("GET", path, query={**(query or {}), "limit": str(LIST_PAGE_SIZE), **({"continue": token} if token else {})})
            items.extend(page.get("items") or [])
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items
        raise RuntimeError(f"{path} has more than {LIST_PAGE_LIMIT * LIST_PAGE_SIZE} items: listed the first {len(items)}")

    def list_capacity_inputs(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every node, and every pod not finished: what the GPU capacity check of a new canary reads."""
        nodes = self.list_all("/api/v1/nodes")
        pods = self.list_all("/api/v1/pods", query={"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"})
        return nodes, pods

    def emit_transition(self, resource: Target, event: Event, *, now: datetime.datetime) -> None:
        """Post the event of a transition (one with a key) under a name derived from the object's uid, the
        reason and the key: a retried pass's create of the same transition is a 409, and is skipped.

        Raises when the event cannot be posted: the pass then fails before it writes the status that records
        the transition, and is retried, so that the event is neither lost nor posted twice."""
        assert event.key is not None, event
        digest = hashlib.sha256("\0".join((resource.uid, event.reason, event.key)).encode()).hexdigest()[:16]
        name = f"{resource.name}.{digest}"
        body = self._event_body(resource, event, name=name, message=event.message[:1024], now=now)
        try:
            self._request("POST", object_path(api_version="v1", kind="Event", namespace=resource.namespace), body=body)
        except ApiException as error:
            if error.status != 409:
                raise
            logger.debug("event %s (%s) of %s/%s was posted before", name, event.reason, resource.namespace, resource.name)
            return
        metrics.api_writes_total.labels(verb="event").inc()

    def emit_event(self, resource: Target, event: Event, *, now: datetime.datetime) -> None:
        """Post an event, or count a repeat of one posted within the last minutes on that same object."""
        message = event.message[:1024]
        key = EventKey(namespace=resource.namespace, name=resource.name, uid=resource.uid, type=event.type, reason=event.reason, message=message)
        try:
            repeat = self.event_series.repeat_of(key, now=now)
            if repeat is not None and self._count_repeat(resource, repeat):
                return
            name = f"{resource.name}.{uuid.uuid4().hex[:12]}"
            self._request("POST", object_path(api_version="v1", kind="Event", namespace=resource.namespace), body=self._event_body(resource, event, name=name, message=message, now=now))
            metrics.api_writes_total.labels(verb="event").inc()
            self.event_series.started(key, event_name=name, now=now)
        except (ApiException, HTTPError) as error:
            # An event that cannot be recorded must never stop reconciliation, nor an outage the report of one.
            logger.warning("could not record event %s for %s/%s: %s", event.reason, resource.namespace, resource.name, describe(error))

    def _count_repeat(self, resource: Target, repeat: Series) -> bool:
        """One more of an existing event (count and lastTimestamp); False if that event has expired meanwhile."""
        path = object_path(api_version="v1", kind="Event", namespace=resource.namespace, name=repeat.event_name)
        try:
            self._request("PATCH", path, body={"count": repeat.count, "lastTimestamp": conditions.timestamp(repeat.last)},
                          content_type="application/merge-patch+json")
        except ApiException as error:
            if error.status != 404:
                raise
            return False
        metrics.api_writes_total.labels(verb="event").inc()
        return True

    @staticmethod
    def _event_body(resource: Target, event: Event, *, name: str, message: str, now: datetime.datetime) -> dict[str, Any]:
        stamp = conditions.timestamp(now)
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": resource.namespace},
            "involvedObject": {
                "apiVersion": constants.API_VERSION,
                "kind": constants.KIND,
                "name": resource.name,
                "namespace": resource.namespace,
                "uid": resource.uid,
            },
            "type": event.type,
            "reason": event.reason,
            "message": message,
            "source": {"component": constants.MANAGER_NAME},
            "reportingComponent": constants.MANAGER_NAME,
            "reportingInstance": constants.MANAGER_NAME,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }

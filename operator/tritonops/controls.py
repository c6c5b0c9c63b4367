"""The manual controls behind the CLI: read a ModelDeployment, set its one-shot annotations, pause or resume it.

Every failure the user can cause or fix (no such object, no cluster, a bad kubeconfig, a refused control) is
raised as `ControlError` with a one-line message, so the CLI never shows a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tritonops import constants
from tritonops.engine.conditions import timestamp
from tritonops.spec import try_parse_spec

# (connect, read) seconds: an unreachable API server must fail the command quickly, not hang it.
REQUEST_TIMEOUT = (5.0, 30.0)
# A guarded write is retried this often when the object changed between the read and the write.
CONFLICT_ATTEMPTS = 5
SERVICE_ACCOUNT_NAMESPACE = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
MERGE_PATCH = "application/merge-patch+json"


class ControlError(Exception):
    """A failure to report as one line, without a traceback."""

    def __init__(self, message: str) -> None:
        # Multi-line messages (YAML parser errors, API server bodies) are folded so the report stays one line.
        super().__init__(" ".join(str(message).split()))


@dataclasses.dataclass(frozen=True)
class Connection:
    api: Any  # kubernetes.client.CustomObjectsApi (untyped)
    default_namespace: str
    server: str


def connect(*, kubeconfig: str | None) -> Connection:
    """A client for the kubeconfig (or, with none given and no default file, the in-cluster account)."""
    configuration = client.Configuration()
    if kubeconfig is not None and not pathlib.Path(kubeconfig).expanduser().is_file():
        raise ControlError(f"kubeconfig {kubeconfig} does not exist")
    default_file = pathlib.Path(config.KUBE_CONFIG_DEFAULT_LOCATION.split(os.pathsep)[0]).expanduser()
    in_cluster = kubeconfig is None and not default_file.is_file()
    if in_cluster and config.incluster_config.SERVICE_HOST_ENV_NAME not in os.environ:
        raise ControlError(f"no kubeconfig: {default_file} does not exist and this is not a pod in a cluster (use --kubeconfig)")
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
            namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip() if SERVICE_ACCOUNT_NAMESPACE.is_file() else ""
        else:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
            _, active_context = config.list_kube_config_contexts(config_file=kubeconfig)
            namespace = str(_mapping(_mapping(active_context).get("context")).get("namespace") or "")
    except Exception as error:  # the loader raises anything from TypeError to YAML errors on a bad file
        source = "in-cluster configuration" if in_cluster else (kubeconfig or str(default_file))
        raise ControlError(f"cannot load kubeconfig {source}: {error}") from error
    # urllib3 would log each retry as a multi-line warning; one attempt and one clear error line is better here.
    configuration.retries = 0
    return Connection(
        api=client.CustomObjectsApi(client.ApiClient(configuration)),
        default_namespace=namespace or "default",
        server=str(configuration.host),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _api_error(error: ApiException, *, namespace: str, name: str) -> ControlError:
    try:
        body = _mapping(json.loads(error.body or "{}"))
    except ValueError:
        body = {}
    if error.status == 404:
        # A missing object names its kind in the details; a missing API (no CRD) has no details.
        if _mapping(body.get("details")).get("kind") == constants.PLURAL:
            return ControlError(f'modeldeployment "{name}" not found in namespace "{namespace}"')
        return ControlError(f"the cluster does not serve {constants.PLURAL}.{constants.GROUP}/{constants.VERSION}: is the tritonops CRD installed?")
    message = body.get("message") or error.reason or "no message"
    return ControlError(f"the API server refused the request ({error.status}): {message}")


def _call(connection: Connection, *, namespace: str, name: str, method: str, **arguments: Any) -> dict[str, Any]:
    try:
        result = getattr(connection.api, method)(
            group=constants.GROUP, version=constants.VERSION, plural=constants.PLURAL, namespace=namespace, name=name,
            _request_timeout=REQUEST_TIMEOUT, **arguments,
        )
    except ApiException as error:
        raise _api_error(error, namespace=namespace, name=name) from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise ControlError(f"cannot reach the API server at {connection.server}: {reason}") from error
    return dict(result)


def read(connection: Connection, *, namespace: str, name: str) -> dict[str, Any]:
    return _call(connection, namespace=namespace, name=name, method="get_namespaced_custom_object")


def _merge_patch(connection: Connection, *, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    return _call(
        connection, namespace=namespace, name=name, method="patch_namespaced_custom_object", body=dict(patch), _content_type=MERGE_PATCH,
    )


def promote_refusal(body: Mapping[str, Any]) -> str | None:
    """Why promote cannot be asked for now, or None when it can: there must be a canary."""
    status = _mapping(body.get("status"))
    if not _mapping(status.get("canaryRevision")):
        return f"nothing to promote: no canary is running (phase {status.get('phase') or 'unknown'})"
    return None


def retry_refusal(body: Mapping[str, Any]) -> str | None:
    """Why retry cannot be asked for now, or None when it can: there must be a failed revision."""
    status = _mapping(body.get("status"))
    if not _mapping(status.get("failedRevision")):
        return f"nothing to retry: no revision has failed (phase {status.get('phase') or 'unknown'})"
    return None


@dataclasses.dataclass(frozen=True)
class Control:
    annotation: str
    verb: str
    # Why the control cannot be asked for now (None: it can), for controls with a precondition.
    refusal: Callable[[Mapping[str, Any]], str | None] | None


CONTROLS = {
    "promote": Control(annotation=constants.ANNOTATION_PROMOTE, verb="promotion", refusal=promote_refusal),
    "abort": Control(annotation=constants.ANNOTATION_ABORT, verb="abort (rollback)", refusal=None),
    "retry": Control(annotation=constants.ANNOTATION_RETRY, verb="retry of the failed revision", refusal=retry_refusal),
}


def request(connection: Connection, *, control: str, namespace: str, name: str, now: datetime.datetime) -> str:
    """Set the control's one-shot annotation to `now` (RFC 3339); the operator acts on it and removes it.

    A control with a precondition sends the resourceVersion it checked, so the API server refuses the write
    if the object changed in between (the canary might just have been rolled back); it is then checked again.
    """
    spec = CONTROLS[control]
    annotations = {spec.annotation: timestamp(now)}
    for _ in range(CONFLICT_ATTEMPTS):
        body = read(connection, namespace=namespace, name=name)
        metadata: dict[str, Any] = {"annotations": annotations}
        if spec.refusal is not None:
            refusal = spec.refusal(body)
            if refusal is not None:
                raise ControlError(f"{namespace}/{name}: {refusal}")
            metadata["resourceVersion"] = _mapping(body.get("metadata")).get("resourceVersion")
        try:
            _merge_patch(connection, namespace=namespace, name=name, patch={"metadata": metadata})
        except ControlError as error:
            if spec.refusal is not None and isinstance(error.__cause__, ApiException) and error.__cause__.status == 409:
                continue
            raise
        return f"{namespace}/{name}: {spec.verb} requested ({spec.annotation}={annotations[spec.annotation]})"
    raise ControlError(f"{namespace}/{name}: the object kept changing; {control} was not requested, try again")


def set_paused(connection: Connection, *, namespace: str, name: str, paused: bool) -> str:
    """Merge-patch spec.rollout.paused; no write when it already has that value."""
    body = read(connection, namespace=namespace, name=name)
    word = "paused" if paused else "resumed"
    spec = try_parse_spec(body.get("spec"))
    # A spec that cannot be read is patched anyway: whether it is paused is not known.
    if spec is not None and spec.rollout.paused == paused:
        return f"{namespace}/{name}: rollout already {word}"
    _merge_patch(connection, namespace=namespace, name=name, patch={"spec": {"rollout": {"paused": paused}}})
    return f"{namespace}/{name}: rollout {word}"

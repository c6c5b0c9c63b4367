"""Errors that the reconcile loop tells apart from the rest, and how any error is shown."""

from __future__ import annotations

import json
import re
from typing import Any

from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError, MaxRetryError

from tritonops.redaction import redact

# Conditions and events are read by people: one line, and no longer than an event message may be.
MESSAGE_LIMIT = 1024
# `<urllib3.connection.HTTPSConnection object at 0x7f...>`: an address differs on every attempt, and a
# message that differs each retry would be a status write each retry.
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>:?\s*")


class InvalidSpecError(ValueError):
    """A spec the CRD's schema and rules let through but the operator cannot build from.

    Retrying does not help until the spec changes, so it is reported in status (with
    `observedGeneration` advanced) rather than only retried.
    """

    def __init__(self, *, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ChildRefusedError(Exception):
    """A child the cluster will not take as built: the API server refused it (422: a passed-through value
    that its own validation rejects) or does not serve its kind (an optional CRD that is not installed).

    The spec is at fault or the cluster lacks something, so it is reported for the generation, like an
    invalid spec, but retried with backoff as well: a CRD can be installed, a policy changed.
    """

    def __init__(self, *, reason: str, kind: str, name: str, message: str) -> None:
        super().__init__(f"{kind} {name}: {message}")
        self.reason = reason
        self.kind = kind
        self.name = name
        self.message = message


CHILD_REJECTED = "ChildRejected"
API_NOT_SERVED = "APINotServed"
# Optional APIs and how to get them, for the message of a child whose kind the cluster does not serve.
_INSTALL_HINTS = {
    "gateway.networking.k8s.io": "install the Gateway API CRDs (standard channel) or set spec.traffic.router to replicas",
    "monitoring.coreos.com": "install the prometheus-operator CRDs or set spec.monitoring.serviceMonitor to false",
}


def _status_body(error: ApiException) -> dict[str, Any] | None:
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body
    try:
        status = json.loads(body) if body else None
    except ValueError:
        return None
    return status if isinstance(status, dict) and status.get("kind") == "Status" else None


def child_write_error(error: ApiException, *, api_version: str, kind: str, name: str) -> Exception:
    """What a failed write of one child means: a refusal to report (ChildRefusedError), or the error itself."""
    if error.status == 422:
        return ChildRefusedError(reason=CHILD_REJECTED, kind=kind, name=name, message=f"refused by the API server: {_api_message(error)}")
    # A write to a kind the server does not serve gets its mux's bare "404 page not found", not a Status;
    # a missing namespace or object answers with a Status, and is not this.
    if error.status == 404 and _status_body(error) is None:
        group = api_version.split("/")[0] if "/" in api_version else ""
        hint = _INSTALL_HINTS.get(group, f"install the CRD that serves {kind}")
        return ChildRefusedError(reason=API_NOT_SERVED, kind=kind, name=name, message=f"the cluster does not serve {kind} ({api_version}): {hint}")
    return error


def namespace_terminating(error: BaseException) -> bool:
    """Whether a write was refused because its namespace is being deleted: nothing to repair or retry, the
    object itself goes with the namespace."""
    if not isinstance(error, ApiException) or error.status != 403:
        return False
    status = _status_body(error) or {}
    causes = (status.get("details") or {}).get("causes") or []
    return any(cause.get("reason") == "NamespaceTerminating" for cause in causes if isinstance(cause, dict)) or (
        "because it is being terminated" in str(status.get("message", ""))
    )


def _api_message(error: ApiException) -> str:
    """The API server's own words (the Status body's `message`), after its HTTP status."""
    head = " ".join(str(part) for part in ("API error", error.status, error.reason) if part is not None)
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body
    if not body:
        return head
    try:
        status = json.loads(body)
    except ValueError:
        return f"{head}: {body}"
    message = status.get("message") if isinstance(status, dict) else None
    return f"{head}: {message or body}"


def _connection_message(error: HTTPError) -> str:
    if isinstance(error, MaxRetryError):
        return f"cannot reach the API server ({error.url}): {error.reason}"
    return f"cannot reach the API server: {error}"


def describe(error: BaseException) -> str:
    """The real cause of a failed reconcile, in one bounded line for a condition, an event and a log."""
    if isinstance(error, InvalidSpecError):
        text = f"{error.field}: {error.message}"
    elif isinstance(error, ChildRefusedError):
        text = f"{error.kind} {error.name}: {error.message}"
    elif isinstance(error, ApiException):
        text = _api_message(error)
    elif isinstance(error, HTTPError):
        text = _connection_message(error)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = redact(_OBJECT_REPR.sub("", text))
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."

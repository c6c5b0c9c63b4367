"""Errors that the reconcile loop tells apart from the rest, and how any error is shown."""

from __future__ import annotations

import json
import re

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
    elif isinstance(error, ApiException):
        text = _api_message(error)
    elif isinstance(error, HTTPError):
        text = _connection_message(error)
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = redact(_OBJECT_REPR.sub("", text))
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."

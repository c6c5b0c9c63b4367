"""The one-line description of a failed reconcile that status, events and logs show."""

from __future__ import annotations

import json

from kubernetes.client.rest import ApiException
from urllib3.connection import HTTPSConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError

from tritonops.errors import InvalidSpecError, describe

INVALID = (
    'Deployment.apps "bad-5f2c9a1e" is invalid: spec.template.spec.containers[0].resources.requests: '
    'Invalid value: "16Gi": must be less than or equal to memory limit of 8Gi'
)


def test_an_api_error_shows_the_api_servers_own_message() -> None:
    body = json.dumps({"kind": "Status", "status": "Failure", "message": INVALID, "reason": "Invalid", "code": 422})
    text = describe(ApiException(status=422, reason="Unprocessable Entity", body=body))
    assert INVALID in text and "422" in text


def test_an_api_error_without_a_status_body_still_says_what_came_back() -> None:
    assert describe(ApiException(status=503, reason="Service Unavailable", body="<html>upstream down</html>")) == (
        "API error 503 Service Unavailable: <html>upstream down</html>"
    )
    assert describe(ApiException(status=500, reason="Internal Server Error")) == "API error 500 Internal Server Error"


def test_an_unreachable_api_server_is_said_so_without_object_addresses() -> None:
    connection = HTTPSConnection("127.0.0.1", 6443)
    cause = NewConnectionError(connection, "Failed to establish a new connection: [Errno 111] Connection refused")
    text = describe(MaxRetryError(None, "/apis/apps/v1/namespaces/n/deployments/d", cause))  # type: ignore[arg-type]
    assert "cannot reach the API server" in text and "Connection refused" in text and "/apis/apps/v1" in text
    assert "0x" not in text, "a memory address would make every retry's message new: a status write each time"


def test_any_other_error_names_its_type_and_message() -> None:
    assert describe(TypeError("int() argument must be a string, not 'dict'")) == "TypeError: int() argument must be a string, not 'dict'"
    assert describe(KeyError("model")) == "KeyError: 'model'"
    assert describe(RuntimeError()) == "RuntimeError"
    assert describe(InvalidSpecError(field="spec.server.affinity", message="nodeSelectorTerms[0] must be an object")) == (
        "spec.server.affinity: nodeSelectorTerms[0] must be an object"
    )


def test_descriptions_are_one_bounded_line_and_never_carry_a_token() -> None:
    text = describe(RuntimeError("refused\nAuthorization: Bearer abc.def-ghi\n" + "x" * 5000))
    assert "\n" not in text and len(text) <= 1024
    assert "abc.def-ghi" not in text and "Bearer <redacted>" in text

"""Helpers for the chart tests: kubeconform schemas from the local API server's own OpenAPI, a kubeconfig
for a ServiceAccount's token, and the API server's count of refused (403) requests."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import yaml
from kubernetes import client

from tritonops.devcluster.cluster import LocalCluster
from tritonops.kube import request_json

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
# kubeconform's name for a schema file, from its own template variables.
SCHEMA_LOCATION = "{{ .ResourceKind }}{{ .KindSuffix }}.json"


def openapi_v2(api_client: client.ApiClient) -> dict[str, Any]:
    """The API server's OpenAPI v2 document: built-in kinds and every CRD's published schema."""
    return request_json(api_client, "GET", "/openapi/v2", timeout=60)


def kind_suffix(api_version: str) -> str:
    """kubeconform's KindSuffix: `-apps-v1` for apps/v1, `-v1` for v1, `-gateway-v1` for gateway.networking.k8s.io/v1."""
    group, _, version = api_version.rpartition("/")
    if not group:
        return f"-{version.lower()}"
    return f"-{group.split('.')[0].lower()}-{version.lower()}"


def strict_schema(schema: Any) -> Any:
    """OpenAPI to a strict JSON schema, as kubeconform's openapi2jsonschema does for its `-strict` schemas:
    objects with declared properties take no others, int-or-string takes both; `$ref`s stay local."""
    if not isinstance(schema, dict):
        return schema
    if schema.get("format") == "int-or-string" or schema.get("x-kubernetes-int-or-string") is True:
        return {"description": schema.get("description", ""), **INT_OR_STRING}
    converted = dict(schema)
    if isinstance(schema.get("properties"), dict):
        converted["properties"] = {name: strict_schema(child) for name, child in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            converted["additionalProperties"] = False
    for keyword in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(keyword), dict):
            converted[keyword] = strict_schema(schema[keyword])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(keyword), list):
            converted[keyword] = [strict_schema(child) for child in schema[keyword]]
    return converted


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/definitions/"):
            yield reference.removeprefix("#/definitions/")
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _closure(name: str, definitions: Mapping[str, Any]) -> set[str]:
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        for reference in _references(definitions[current]):
            if reference not in seen:
                seen.add(reference)
                pending.append(reference)
    return seen


def write_kubeconform_schemas(openapi: Mapping[str, Any], directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """One standalone strict schema file per kind the server serves, named as kubeconform looks them up.

    Returns the files by `apiVersion/Kind`."""
    directory.mkdir(parents=True, exist_ok=True)
    definitions = {name: strict_schema(definition) for name, definition in openapi["definitions"].items()}
    # A Quantity is a string or a number in YAML ("500m", 2); OpenAPI v2 says only string.
    if QUANTITY in definitions:
        definitions[QUANTITY] = {"description": definitions[QUANTITY].get("description", ""), "oneOf": [{"type": "string"}, {"type": "number"}]}
    written: dict[str, pathlib.Path] = {}
    for name, definition in definitions.items():
        for gvk in openapi["definitions"][name].get("x-kubernetes-group-version-kind") or []:
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            key = f"{api_version}/{gvk['kind']}"
            if key in written:
                continue
            schema = {
                **definition,
                "definitions": {reference: definitions[reference] for reference in sorted(_closure(name, definitions))},
            }
            path = directory / f"{gvk['kind'].lower()}{kind_suffix(api_version)}.json"
            path.write_text(json.dumps(schema))
            written[key] = path
    return written


def kubeconform(
    binary: pathlib.Path, schemas: pathlib.Path, manifests: str, *, skip_kinds: Iterable[str] = ()
) -> tuple[int, list[dict[str, Any]], str]:
    """Validate with `kubeconform -strict` against the local schemas only; returns (exit code, resources, output)."""
    command = [str(binary), "-strict", "-summary", "-output", "json", "-schema-location", f"{schemas}/{SCHEMA_LOCATION}"]
    if skip := ",".join(skip_kinds):
        command += ["-skip", skip]
    completed = subprocess.run(command, input=manifests, capture_output=True, text=True, timeout=120, check=False)
    try:
        resources = list(json.loads(completed.stdout).get("resources") or [])
    except json.JSONDecodeError:
        resources = []
    return completed.returncode, resources, completed.stdout + completed.stderr


def documents(text: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(text) if document]


def service_account_kubeconfig(
    cluster: LocalCluster, api_client: client.ApiClient, *, namespace: str, name: str, path: pathlib.Path, seconds: int = 3600
) -> pathlib.Path:
    """A kubeconfig that authenticates as the ServiceAccount with a token from the TokenRequest API."""
    assert cluster.pki is not None
    request = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        name, namespace, body={"spec": {"expirationSeconds": seconds}}
    )
    user = f"system:serviceaccount:{namespace}:{name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": cluster.apiserver_url, "certificate-authority": str(cluster.pki.ca.certificate)}}],
        "users": [{"name": user, "user": {"token": request.status.token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": user, "namespace": namespace}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
    return path


def forbidden_requests(metrics_text: str) -> dict[str, int]:
    """Requests the API server refused, from its own metrics.

    A request that RBAC refuses is answered 403 by the authorization filter before the request is
    instrumented, so `apiserver_request_total` never counts it: `authorization_attempts_total` does,
    by result (`no-opinion` when no authorizer allowed it, `denied`, `error`). 403s given later (by a
    handler or admission) are in `apiserver_request_total{code="403"}`, by verb and resource.
    """
    counts: dict[str, int] = {}
    for line in metrics_text.splitlines():
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if line.startswith("authorization_attempts_total{") and labels.get("result") != "allowed":
            key = f"authorization {labels.get('result')}"
        elif line.startswith("apiserver_request_total{") and labels.get("code") == "403":
            subresource = f"/{labels['subresource']}" if labels.get("subresource") else ""
            key = f"403 {labels.get('verb')} {labels.get('group') or 'core'}/{labels.get('resource')}{subresource} ({labels.get('scope')})"
        else:
            continue
        counts[key] = counts.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def new_forbidden(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {key: count - before.get(key, 0) for key, count in after.items() if count > before.get(key, 0)}

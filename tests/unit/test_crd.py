"""The CRD's schema, read as the API server reads it: every schema node uses only OpenAPI keywords.

A description with a comma inside a YAML flow mapping (`{type: string, description: a, b}`) silently
becomes a key of its own; the API server drops it, and `kubectl apply` then reports the CRD changed on
every run.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

CRD = pathlib.Path(__file__).parents[2] / "crds" / "modeldeployments.inference.tritonops.dev.yaml"
KEYWORDS = {
    "type", "description", "default", "properties", "items", "required", "enum", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "pattern", "format", "nullable", "anyOf", "allOf",
    "oneOf", "not", "additionalProperties", "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string", "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
    "minProperties", "maxProperties", "multipleOf", "uniqueItems", "x-kubernetes-embedded-resource",
}


def schema_nodes(node: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    for keyword in ("items", "additionalProperties"):
        if isinstance(node.get(keyword), Mapping):
            yield from schema_nodes(node[keyword], f"{path}[{keyword}]")
    for keyword in ("anyOf", "allOf", "oneOf"):
        for index, child in enumerate(node.get(keyword) or []):
            yield from schema_nodes(child, f"{path}.{keyword}[{index}]")


def test_every_schema_node_uses_only_openapi_keywords() -> None:
    document = yaml.safe_load(CRD.read_text())
    for version in document["spec"]["versions"]:
        for path, node in schema_nodes(version["schema"]["openAPIV3Schema"], version["name"]):
            assert set(node) <= KEYWORDS, f"{path} has {sorted(set(node) - KEYWORDS)}: a comma in a flow mapping?"
            assert isinstance(node.get("description", ""), str), path

"""ModelDeployment bodies for unit tests, defaulted exactly as the API server would from the CRD."""

from __future__ import annotations

import copy
import functools
import pathlib
from typing import Any

import yaml

from tritonops.resource import ModelDeployment

CRD_FILE = pathlib.Path(__file__).parents[2] / "crds" / "modeldeployments.inference.tritonops.dev.yaml"


@functools.cache
def _schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    return dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def apply_schema_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting: fill each missing property that has a default, then descend."""
    if isinstance(value, dict) and "properties" in schema:
        for key, child in schema["properties"].items():
            if key not in value and "default" in child:
                value[key] = copy.deepcopy(child["default"])
            if key in value:
                value[key] = apply_schema_defaults(child, value[key])
    elif isinstance(value, list) and "items" in schema:
        return [apply_schema_defaults(schema["items"], item) for item in value]
    return value


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def model_deployment_body(
    spec: dict[str, Any] | None = None, *, name: str = "resnet", namespace: str = "vision", status: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ModelDeployment body as the API server stores it: `spec` over a minimal model, the CRD's defaults filled in."""
    base = {"model": {"repository": "s3://models/repo", "version": "1"}}
    body = {
        "apiVersion": "inference.tritonops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-1234", "generation": 1},
        "spec": deep_merge(base, spec or {}),
        "status": status or {},
    }
    return dict(apply_schema_defaults(_schema(), body))


def model_deployment(spec: dict[str, Any] | None = None, *, name: str = "resnet", namespace: str = "vision", status: dict[str, Any] | None = None) -> ModelDeployment:
    return ModelDeployment.from_body(model_deployment_body(spec, name=name, namespace=namespace, status=status))

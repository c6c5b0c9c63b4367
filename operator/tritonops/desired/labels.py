"""Labels, selectors and owner references shared by every child object."""

from __future__ import annotations

from typing import Any

from tritonops import constants
from tritonops.resource import ModelDeployment


def selector_labels(resource: ModelDeployment) -> dict[str, str]:
    """What selects every Triton pod of one ModelDeployment, whatever its revision."""
    return {constants.LABEL_NAME: constants.SERVER_NAME, constants.LABEL_INSTANCE: resource.name}


def selector_string(resource: ModelDeployment) -> str:
    return ",".join(f"{key}={value}" for key, value in selector_labels(resource).items())


def common_labels(resource: ModelDeployment) -> dict[str, str]:
    return {
        **selector_labels(resource),
        constants.LABEL_COMPONENT: "inference-server",
        constants.LABEL_PART_OF: constants.MANAGER_NAME,
        constants.LABEL_MANAGED_BY: constants.MANAGER_NAME,
        constants.LABEL_MODEL_DEPLOYMENT: resource.name,
    }


def revision_labels(resource: ModelDeployment, *, revision: str, model_version: str) -> dict[str, str]:
    return {**common_labels(resource), constants.LABEL_REVISION: revision, constants.LABEL_VERSION: model_version}


def owner_reference(resource: ModelDeployment) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "name": resource.name,
        "uid": resource.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_metadata(resource: ModelDeployment, *, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": resource.namespace,
        "labels": labels if labels is not None else common_labels(resource),
        "ownerReferences": [owner_reference(resource)],
    }

"""Turn raw child objects (as kopf's indexes hold them) into the observations the pure core reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tritonops import constants
from tritonops.engine.observations import DeploymentObservation, Observations, UnschedulablePod


def owner_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, ModelDeployment name) of a child, from the label every child carries."""
    metadata = body.get("metadata", {})
    name = (metadata.get("labels") or {}).get(constants.LABEL_MODEL_DEPLOYMENT)
    return (str(metadata.get("namespace")), str(name)) if name else None


def deployment_summary(body: Mapping[str, Any]) -> dict[str, Any]:
    metadata, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status") or {}
    return {
        "name": metadata.get("name"),
        "revision": (metadata.get("labels") or {}).get(constants.LABEL_REVISION),
        "appliedHash": (metadata.get("annotations") or {}).get(constants.ANNOTATION_APPLIED_HASH),
        "replicas": int(spec.get("replicas", 1)),
        "readyReplicas": int(status.get("readyReplicas", 0)),
        "availableReplicas": int(status.get("availableReplicas", 0)),
        "updatedReplicas": int(status.get("updatedReplicas", 0)),
        "caughtUp": int(status.get("observedGeneration", 0)) >= int(metadata.get("generation", 0)),
    }


def unschedulable_summary(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """A pod the scheduler has refused, with the scheduler's own reason; None for any other pod."""
    metadata = body.get("metadata", {})
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False" and condition.get("reason") == "Unschedulable":
            return {
                "name": metadata.get("name"),
                "revision": (metadata.get("labels") or {}).get(constants.LABEL_REVISION),
                "message": str(condition.get("message", "")),
            }
    return None


def applied_hash(body: Mapping[str, Any]) -> str | None:
    return (body.get("metadata", {}).get("annotations") or {}).get(constants.ANNOTATION_APPLIED_HASH)


def observations_from(
    *, deployments: Iterable[Mapping[str, Any]], unschedulable: Iterable[Mapping[str, Any]], autoscaler_exists: bool
) -> Observations:
    observed = {
        str(summary["revision"]): DeploymentObservation(
            name=str(summary["name"]),
            revision=str(summary["revision"]),
            replicas=int(summary["replicas"]),
            ready_replicas=int(summary["readyReplicas"]),
            available_replicas=int(summary["availableReplicas"]),
            updated_replicas=int(summary["updatedReplicas"]),
            caught_up=bool(summary["caughtUp"]),
        )
        for summary in deployments
        if summary.get("revision")
    }
    pods = [UnschedulablePod(name=str(p["name"]), revision=str(p["revision"]), message=str(p["message"])) for p in unschedulable]
    return Observations(deployments=observed, unschedulable=pods, autoscaler_exists=autoscaler_exists)

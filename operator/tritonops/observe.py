"""Turn raw child objects (as kopf's indexes hold them) into the observations the pure core reads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from tritonops import constants, drift
from tritonops.engine.observations import DeploymentObservation, Observations, PodFailure, ServedContent, UnschedulablePod
from tritonops.redaction import redact

# The label the Deployment controller gives every pod and ReplicaSet of one pod template.
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
# Words in a dead Triton's last log lines (the termination message) that mean the model never loaded.
_LOAD_FAILURE_MARKERS = ("failed to load", "load failed", "failed to initialize", "unable to load", "no model version was found")


def owner_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, ModelDeployment name) of a child, from the label every child carries."""
    metadata = body.get("metadata", {})
    name = (metadata.get("labels") or {}).get(constants.LABEL_MODEL_DEPLOYMENT)
    return (str(metadata.get("namespace")), str(name)) if name else None


# What a client-side `kubectl apply` leaves on an object: a second copy of its spec.
_LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def model_deployment_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """A ModelDeployment as its index keeps it: everything but its managedFields and a client-side apply's
    copy of the spec, which no pass reads and which made up much of the operator's memory at 4000 objects."""
    metadata = {key: value for key, value in (body.get("metadata") or {}).items() if key != "managedFields"}
    annotations = metadata.get("annotations")
    if annotations and _LAST_APPLIED_ANNOTATION in annotations:
        metadata["annotations"] = {key: value for key, value in annotations.items() if key != _LAST_APPLIED_ANNOTATION}
    return {**body, "metadata": metadata}


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
        **ownership_summary(body),
    }


def ownership_summary(body: Mapping[str, Any]) -> dict[str, Any]:
    """Whose child it is, and which fields other field managers own in it: what drift is judged by."""
    return {"ownerUid": drift.controller_uid(body), "foreignFields": drift.foreign_paths(body)}


def child_summary(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a pass reads of a Service, an HPA, a route or a ServiceMonitor: what we applied, whose it is,
    and which fields other managers own (its drift)."""
    return {"name": body.get("metadata", {}).get("name"), "appliedHash": applied_hash(body), **ownership_summary(body)}


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


# Waiting reasons of a container the kubelet cannot start at all: no restart or exit code will ever
# come, so waiting for one would leave only the progress deadline.
_IMAGE_WAITING_REASONS = ("ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ImageInspectError")
_START_WAITING_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreCreateHookError", "PreStartHookError")


def _storage_status(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    statuses = (body.get("status") or {}).get("initContainerStatuses") or []
    return next((s for s in statuses if s.get("name") == constants.STORAGE_CONTAINER_NAME), None)


def _storage_failure(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The model-storage init container could not read the model: its own message names the repository."""
    container = _storage_status(body)
    if container is None:
        return None
    state, last = container.get("state") or {}, container.get("lastState") or {}
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in _IMAGE_WAITING_REASONS or waiting.get("reason") in _START_WAITING_REASONS:
        return {"reason": "ModelStorageUnreadable",
                "message": f"the model-storage container cannot start: {waiting.get('reason')}: {str(waiting.get('message') or '')[:300]}"}
    for terminated in (state.get("terminated"), last.get("terminated")):
        if terminated and terminated.get("exitCode", 0) != 0:
            message = str(terminated.get("message") or f"the model-storage container exited with code {terminated.get('exitCode')}")
            return {"reason": "ModelStorageUnreadable", "message": message.strip()[:600]}
    return None


def served_digest(body: Mapping[str, Any]) -> str | None:
    """The content digest the model-storage container wrote when it copied the model, if it finished."""
    container = _storage_status(body)
    terminated = ((container or {}).get("state") or {}).get("terminated") or {}
    if terminated.get("exitCode") != 0:
        return None
    try:
        digest = json.loads(str(terminated.get("message") or "")).get("digest")
    except (ValueError, AttributeError):
        return None
    return str(digest) if isinstance(digest, str) and digest.startswith("sha256:") else None


def _failure(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """How the Triton container died or why it cannot start, if so: restarts, a crash loop, a non-zero
    exit, an image the node cannot run, or a container the runtime cannot create."""
    statuses = [s for s in (body.get("status") or {}).get("containerStatuses") or [] if s.get("name") == constants.SERVER_NAME]
    if not statuses:
        return None
    container = statuses[0]
    state, last = container.get("state") or {}, container.get("lastState") or {}
    terminated = last.get("terminated") or state.get("terminated")
    waiting = state.get("waiting") or {}
    waiting_reason = waiting.get("reason")
    restarts = int(container.get("restartCount", 0))
    if waiting_reason in _IMAGE_WAITING_REASONS or waiting_reason in _START_WAITING_REASONS:
        reason = "ImageUnavailable" if waiting_reason in _IMAGE_WAITING_REASONS else "CanaryCrashed"
        detail = f"Triton cannot start: {waiting_reason}"
        return {"reason": reason, "message": f"{detail}: {str(waiting.get('message'))[:300]}" if waiting.get("message") else detail}
    if not restarts and not (terminated and terminated.get("exitCode", 0) != 0) and waiting_reason not in ("CrashLoopBackOff", "Error"):
        return None
    message = str((terminated or {}).get("message") or "")
    exit_code = (terminated or {}).get("exitCode")
    if (terminated or {}).get("reason") == "OOMKilled":
        return {"reason": "OutOfMemory", "message": f"Triton was OOMKilled (exit code {exit_code}), {restarts} restart(s)"}
    reason = "ModelLoadFailed" if any(marker in message.lower() for marker in _LOAD_FAILURE_MARKERS) else "CanaryCrashed"
    detail = f"Triton exited with code {exit_code}" if exit_code is not None else f"Triton is in {waiting_reason}"
    detail += f", {restarts} restart(s)"
    cause = next((line.strip() for line in message.splitlines() if any(m in line.lower() for m in _LOAD_FAILURE_MARKERS)), "")
    return {"reason": reason, "message": f"{detail}: {cause[:300]}" if cause else detail}


def _redacted(failure: dict[str, Any] | None) -> dict[str, Any] | None:
    """A failure whose message quotes Triton's own log lines, with any credential in them taken out."""
    return None if failure is None else {**failure, "message": redact(str(failure["message"]))}


def pod_summary(body: Mapping[str, Any]) -> dict[str, Any]:
    """What decisions and analysis read of one Triton pod."""
    metadata, status = body.get("metadata", {}), body.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    unschedulable = unschedulable_summary(body)
    # A pod on its way out serves nothing and condemns nothing: a retried revision must not be rolled
    # back again for the crashes of the pods its last rollback is still deleting.
    leaving = bool(metadata.get("deletionTimestamp"))
    return {
        "name": metadata.get("name"),
        "revision": (metadata.get("labels") or {}).get(constants.LABEL_REVISION),
        "ip": status.get("podIP"),
        "ready": ready and not leaving,
        "failure": None if leaving else _redacted(_storage_failure(body) or _failure(body)),
        "servedDigest": None if leaving else served_digest(body),
        "unschedulable": unschedulable["message"] if unschedulable else None,
        "leaving": leaving,
        # Who made it: only pods of our own Deployments' ReplicaSets are counted and scraped (drift.made_by).
        "replicaSet": drift.replica_set_of(body),
        "templateHash": (metadata.get("labels") or {}).get(POD_TEMPLATE_HASH_LABEL),
    }


def applied_hash(body: Mapping[str, Any]) -> str | None:
    return (body.get("metadata", {}).get("annotations") or {}).get(constants.ANNOTATION_APPLIED_HASH)


def observations_from(
    *,
    deployments: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    autoscaler_exists: bool,
    routing_children: Iterable[tuple[str, str]] = (),
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
    pods = list(pods)
    leaving: dict[str, int] = {}
    for pod in pods:
        if pod.get("leaving") and pod.get("revision"):
            leaving[str(pod["revision"])] = leaving.get(str(pod["revision"]), 0) + 1
    return Observations(
        deployments=observed,
        unschedulable=[
            UnschedulablePod(name=str(p["name"]), revision=str(p["revision"]), message=str(p["unschedulable"])) for p in pods if p.get("unschedulable")
        ],
        pod_failures=[
            PodFailure(name=str(p["name"]), revision=str(p["revision"]), reason=str(p["failure"]["reason"]), message=str(p["failure"]["message"]))
            for p in pods
            if p.get("failure")
        ],
        autoscaler_exists=autoscaler_exists,
        served=[
            ServedContent(pod=str(p["name"]), revision=str(p["revision"]), digest=str(p["servedDigest"]))
            for p in pods
            if p.get("servedDigest") and p.get("revision")
        ],
        routing_children=list(routing_children),
        leaving=leaving,
    )

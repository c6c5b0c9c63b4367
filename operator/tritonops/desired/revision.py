"""The revision: a short hash of everything that shapes the Triton pods."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tritonops.spec import Spec, thaw


@dataclasses.dataclass(frozen=True)
class Revision:
    hash: str
    version: str
    image: str

    def as_status(self) -> dict[str, str]:
        return {"hash": self.hash, "version": self.version, "image": self.image}

    @classmethod
    def from_status(cls, value: Mapping[str, Any]) -> Revision:
        """A revision as status records it (stableRevision, canaryRevision)."""
        return cls(hash=str(value["hash"]), version=str(value.get("version", "")), image=str(value.get("image", "")))


def stable_hash(value: Any, *, length: int = 8) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def pod_shaping_fields(spec: Spec, *, model_name: str) -> Mapping[str, Any]:
    """What the hash covers, in the form the spec was written: the hash must never change for the same body.

    Fields of spec.server that change the pods, and the model. Anything else (replicas, autoscaling,
    rollout, traffic, service, monitoring) applies in place without new pods.
    """
    model, server, gpu = spec.model, spec.server, spec.server.gpu
    gpu_fields: dict[str, Any] = {"count": gpu.count, "resourceName": gpu.resource_name}
    if gpu.products is not None:
        gpu_fields["products"] = list(gpu.products)
    server_fields: dict[str, Any] = {
        "image": server.image,
        "args": list(server.args),
        "env": thaw(server.env),
        "resources": thaw(server.resources),
        "gpu": gpu_fields,
        "shmSize": server.shm_size,
        "startupTimeoutSeconds": server.startup_timeout_seconds,
        "nodeSelector": thaw(server.node_selector),
        "tolerations": thaw(server.tolerations),
        "affinity": thaw(server.affinity),
        "priorityClassName": server.priority_class_name,
        "serviceAccountName": server.service_account_name,
        "imagePullSecrets": [{"name": name} for name in server.image_pull_secrets],
        "volumes": thaw(server.volumes),
        "volumeMounts": thaw(server.volume_mounts),
    }
    credentials = model.credentials_secret_name
    return {
        "model": {
            "name": model_name,
            "repository": model.repository,
            "version": model.version,
            "credentialsSecretRef": None if credentials is None else {"name": credentials},
        },
        # An absent field and an empty one shape the same pod, so both hash alike.
        "server": {key: value for key, value in server_fields.items() if value not in (None, "", [], {})},
    }


def revision_of(spec: Spec, *, model_name: str) -> Revision:
    """The revision a spec asks for; `model_name` is spec.model.name resolved against metadata.name."""
    return Revision(hash=stable_hash(pod_shaping_fields(spec, model_name=model_name)), version=spec.model.version, image=spec.server.image)

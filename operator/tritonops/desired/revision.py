"""The revision: a short hash of everything that shapes the Triton pods."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tritonops.resource import ModelDeployment

# Fields of spec.server that change the pods. Anything else (replicas, autoscaling, rollout, traffic,
# service, monitoring) applies in place without new pods.
_POD_SHAPING_SERVER_FIELDS = (
    "image", "args", "env", "resources", "gpu", "shmSize", "startupTimeoutSeconds", "nodeSelector",
    "tolerations", "affinity", "priorityClassName", "serviceAccountName", "imagePullSecrets",
)


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


def pod_shaping_fields(resource: ModelDeployment) -> Mapping[str, Any]:
    model = resource.section("model")
    server = resource.section("server")
    return {
        "model": {
            "name": resource.model_name,
            "repository": model.get("repository"),
            "version": resource.model_version,
            "credentialsSecretRef": model.get("credentialsSecretRef"),
        },
        # An absent field and an empty one shape the same pod, so both hash alike.
        "server": {key: server[key] for key in _POD_SHAPING_SERVER_FIELDS if server.get(key) not in (None, "", [], {})},
    }


def revision_of(resource: ModelDeployment) -> Revision:
    server = resource.section("server")
    return Revision(
        hash=stable_hash(pod_shaping_fields(resource)),
        version=resource.model_version,
        image=str(server.get("image", "")),
    )

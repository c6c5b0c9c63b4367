"""A typed view of one ModelDeployment object, as the API server stored it (defaults filled in)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class ModelDeployment:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ModelDeployment:
        metadata = body.get("metadata", {})
        return cls(
            name=metadata["name"],
            namespace=metadata["namespace"],
            uid=metadata.get("uid", ""),
            generation=int(metadata.get("generation", 0)),
            spec=body.get("spec", {}),
            status=body.get("status") or {},
            annotations=metadata.get("annotations") or {},
        )

    @property
    def model_name(self) -> str:
        return str(self.spec["model"].get("name") or self.name)

    @property
    def model_version(self) -> str:
        return str(self.spec["model"]["version"])

    def section(self, key: str) -> Mapping[str, Any]:
        """A spec section; the schema defaults it, but tolerate its absence in hand-made bodies."""
        value = self.spec.get(key)
        return value if isinstance(value, Mapping) else {}

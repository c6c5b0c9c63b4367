"""One ModelDeployment object, as the API server stored it (defaults filled in), its spec parsed once."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tritonops.desired.revision import Revision, revision_of
from tritonops.spec import Spec, parse_spec


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelDeployment:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: Spec
    # The Triton model name: spec.model.name, or metadata.name when that is empty.
    model_name: str
    # The revision the spec asks for, computed once per body: every reader of one pass sees the same.
    revision: Revision
    status: Mapping[str, Any]
    annotations: Mapping[str, str]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ModelDeployment:
        """Raises InvalidSpecError, naming the field, for a spec the operator cannot build from."""
        metadata = body.get("metadata", {})
        name = str(metadata["name"])
        spec = parse_spec(body.get("spec") or {})
        model_name = spec.model.name or name
        return cls(
            name=name,
            namespace=metadata["namespace"],
            uid=metadata.get("uid", ""),
            generation=int(metadata.get("generation", 0)),
            spec=spec,
            model_name=model_name,
            revision=revision_of(spec, model_name=model_name),
            status=body.get("status") or {},
            annotations=metadata.get("annotations") or {},
        )


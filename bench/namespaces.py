"""Where a bench-scale phase puts its objects: all in one namespace, or spread a fixed number to a namespace.

Kubernetes' Deployment and ReplicaSet controllers and the scheduler look at every object of a namespace
when they sync one (their listers take the whole namespace, then filter by selector), so with every
object in one namespace their work per object grows with the count. Spread so that each namespace holds
the same number, that part stays flat: running both is how bench-scale tells that growth from the operator's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from bench.progress import Predicate


@dataclasses.dataclass(frozen=True)
class Spread:
    """Objects named by index, `per_namespace` to a namespace `<prefix>-NNN`; 0 puts them all in `<prefix>`."""

    prefix: str
    per_namespace: int = 0

    def __post_init__(self) -> None:
        if self.per_namespace < 0:
            raise ValueError(f"per_namespace must be 0 or more, not {self.per_namespace}")

    def namespace_of(self, index: int) -> str:
        if not self.per_namespace:
            return self.prefix
        return f"{self.prefix}-{index // self.per_namespace:03d}"

    def namespaces(self, count: int) -> list[str]:
        """Every namespace that `count` objects occupy, in order."""
        return list(dict.fromkeys(self.namespace_of(index) for index in range(count)))

    def collection_path(self, api_path: str, plural: str) -> str:
        """One namespace's collection, or the whole cluster's when spread (one watch for all, filtered by `holds`)."""
        if not self.per_namespace:
            return f"{api_path}/namespaces/{self.prefix}/{plural}"
        return f"{api_path}/{plural}"

    def holds(self, item: Mapping[str, Any]) -> bool:
        namespace = str((item.get("metadata") or {}).get("namespace") or "")
        if not self.per_namespace:
            return namespace == self.prefix
        head, separator, number = namespace.rpartition("-")
        return separator == "-" and head == self.prefix and number.isdigit()

    def counting(self, predicate: Predicate) -> Predicate:
        """`predicate`, for this spread's objects only."""
        return lambda item: self.holds(item) and predicate(item)

    def describe(self) -> str:
        return f"{self.per_namespace} to a namespace" if self.per_namespace else "all in one namespace"

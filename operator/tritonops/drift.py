"""Drift and ownership of children, read from the live objects alone. Pure.

A child whose applied-hash annotation matches may still have been changed by hand (`kubectl scale`,
`kubectl edit`), since the annotation says what we applied, not what is there now. Comparing every
live value with the desired one would trip over the API server's defaulting and normalisation (a
quantity "0.5" comes back "500m") and make writes on every pass. Server-side apply already tracks the
difference that matters: any write by another field manager that changes a value we set moves that
field's ownership (managedFields) from our manager to theirs. So a child has drifted exactly when
another manager owns a field that our manifest sets. The paths are compared with list elements
collapsed ("[]"), since managedFields key list items by their merge keys, which the manifest alone
cannot spell without the schema; the one cost is a false alarm for another manager's own list item
beside ours (a sidecar container added by hand), which a re-apply cannot take back and which the
controller therefore repairs once, not on every pass (see `Controller`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from tritonops import constants

Path = tuple[str, ...]
ITEM = "[]"


def manifest_paths(manifest: Mapping[str, Any]) -> frozenset[Path]:
    """The leaf paths a manifest sets, list items collapsed; apiVersion and kind are no fields."""
    return frozenset(_value_paths({key: value for key, value in manifest.items() if key not in ("apiVersion", "kind")}, ()))


def _value_paths(value: Any, prefix: Path) -> Iterator[Path]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _value_paths(item, (*prefix, str(key)))
    elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        for item in value:
            yield from _value_paths(item, (*prefix, ITEM))
    else:
        # A scalar, an empty map or list, or a list of scalars (atomic or a set: owned as a whole).
        yield prefix


def fields_paths(fields: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """The leaf paths of one managedFields fieldsV1 set, list items collapsed as in `manifest_paths`."""
    for key, item in fields.items():
        if key == "." or (item and set(item) == {"."}):
            continue  # only that a map or list item exists: no value of anyone's
        if key.startswith("v:"):
            yield prefix  # an item of a set of scalars: the list is the leaf
            continue
        path = (*prefix, ITEM) if key.startswith(("k:", "i:")) else (*prefix, key.removeprefix("f:"))
        if item:
            yield from fields_paths(item, path)
        else:
            yield path


def foreign_paths(body: Mapping[str, Any], *, manager: str = constants.FIELD_MANAGER) -> tuple[Path, ...]:
    """The leaf paths other field managers own in a live object, sorted; status writers are left out."""
    paths: set[Path] = set()
    for entry in (body.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager or entry.get("subresource") == "status":
            continue
        paths.update(fields_paths(entry.get("fieldsV1") or {}))
    return tuple(sorted(paths))


def taken(manifest: Mapping[str, Any], foreign: Iterable[Iterable[str]]) -> tuple[Path, ...]:
    """The paths of `foreign` that overlap a field the manifest sets (one inside the other), sorted."""
    wanted = manifest_paths(manifest)
    prefixes = {path[:length] for path in wanted for length in range(1, len(path) + 1)}
    overlapping: set[Path] = set()
    for path in (tuple(p) for p in foreign):
        if path in prefixes or any(path[:length] in wanted for length in range(1, len(path))):
            overlapping.add(path)
    return tuple(sorted(overlapping))


def controller_uid(body: Mapping[str, Any]) -> str | None:
    """The uid of the ModelDeployment named as the controlling owner of a child, if any."""
    for reference in (body.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller") and reference.get("kind") == constants.KIND and str(reference.get("apiVersion", "")).startswith(constants.GROUP + "/"):
            return str(reference.get("uid") or "") or None
    return None


def replica_set_of(body: Mapping[str, Any]) -> str | None:
    """The name of the ReplicaSet named as the controlling owner of a pod, if any."""
    for reference in (body.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller") and reference.get("kind") == "ReplicaSet" and reference.get("apiVersion") == "apps/v1":
            return str(reference.get("name") or "") or None
    return None


def made_by(*, replica_set: str | None, template_hash: str | None, deployments: Collection[str]) -> bool:
    """Whether a pod is one of these Deployments': its controlling ReplicaSet has the name the Deployment
    controller gives the ReplicaSets of a Deployment, `<deployment>-<pod-template-hash>`.

    Labels alone would take in any pod labelled like ours (made by hand, or by another controller), and
    count its crashes, its GPUs and its metrics as a revision's. ReplicaSets are not watched, so the name
    stands in for their owner reference: only the Deployment controller makes a ReplicaSet of that name
    beside a Deployment of ours (it would make another name on a collision).
    """
    if not replica_set or not template_hash:
        return False
    return replica_set.endswith(f"-{template_hash}") and replica_set.removesuffix(f"-{template_hash}") in deployments

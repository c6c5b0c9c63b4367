"""What each live revision serves, by content digest, and whether that content changed under the same
version number. Pure.

The model-storage container of every pod writes the digest of what it copied. The first digest seen for
a revision is its record; a pod that later copies other content for the same revision (files replaced in
the bucket under the same version directory) is reported, never silently served.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from tritonops.engine.actions import Event
from tritonops.engine.observations import ServedContent


@dataclasses.dataclass(frozen=True)
class ServedState:
    """servedDigests for status, the events of this pass, and the ModelStorage condition's fields."""

    entries: list[dict[str, Any]]
    events: list[Event]
    changed: list[str]


def track(
    *, previous: Sequence[Mapping[str, Any]], served: Sequence[ServedContent], live: Mapping[str, str], now: str,
) -> ServedState:
    """`live`: the version of every revision that still has a Deployment, by revision hash."""
    recorded = {str(entry.get("revision")): dict(entry) for entry in previous if str(entry.get("revision")) in live}
    events: list[Event] = []
    for content in sorted(served, key=lambda item: (item.revision, item.pod)):
        if content.revision not in live:
            continue
        entry = recorded.get(content.revision)
        if entry is None:
            recorded[content.revision] = {"revision": content.revision, "version": live[content.revision], "digest": content.digest, "at": now}
        elif content.digest != entry["digest"] and entry.get("changedTo") != content.digest:
            entry["changedTo"] = content.digest
            events.append(Event(
                "Warning", "ModelContentChanged",
                f"revision {content.revision}: pod {content.pod} copied version {entry['version']} with content {content.digest}, "
                f"but the revision first served {entry['digest']}: the files of version {entry['version']} changed in the repository",
            ))
    changed = [
        f"revision {entry['revision']} version {entry['version']}: {entry['digest']} became {entry['changedTo']}"
        for entry in recorded.values() if entry.get("changedTo")
    ]
    return ServedState(entries=[recorded[key] for key in sorted(recorded)], events=events, changed=changed)

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bench.watched_count import WatchExpired, apply_event, lines


def _ready(item: Mapping[str, Any]) -> bool:
    return bool((item.get("status") or {}).get("ready"))


def _event(kind: str, name: str, *, ready: bool = False, resource_version: str = "7") -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"name": name, "resourceVersion": resource_version}, "status": {"ready": ready}}}


@pytest.mark.parametrize(
    ("before", "event", "after", "resource_version"),
    [
        (set(), _event("ADDED", "a", ready=True), {"a"}, "7"),
        (set(), _event("ADDED", "a"), set(), "7"),
        ({"a"}, _event("MODIFIED", "a", ready=False, resource_version="9"), set(), "9"),  # no longer ready
        ({"b"}, _event("MODIFIED", "a", ready=True), {"a", "b"}, "7"),
        ({"a", "b"}, _event("DELETED", "a", ready=True), {"b"}, "7"),  # gone even though its last state was ready
        ({"a"}, {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}}, {"a"}, "12"),
        ({"a"}, {"type": "BOOKMARK", "object": {"metadata": {}}}, {"a"}, None),
    ],
)
def test_each_event_updates_the_names_that_match(before: set[str], event: dict[str, Any], after: set[str], resource_version: str | None) -> None:
    matching = set(before)
    assert apply_event(matching, event, _ready) == resource_version
    assert matching == after


def test_an_expired_resource_version_asks_for_a_new_list() -> None:
    with pytest.raises(WatchExpired):
        apply_event(set(), {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}, _ready)


def test_any_other_watch_error_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="internal error"):
        apply_event(set(), {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "internal error"}}, _ready)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b'{"a":1}\n{"b":2}\n'], [b'{"a":1}', b'{"b":2}']),
        ([b'{"a":', b'1}\n{"b"', b':2}\n'], [b'{"a":1}', b'{"b":2}']),  # events split across chunks
        ([b'{"a":1}\n\n', b'{"b":2}'], [b'{"a":1}', b'{"b":2}']),  # blank lines skipped, last line without newline kept
        ([], []),
    ],
)
def test_a_stream_is_read_as_whole_lines(chunks: list[bytes], expected: list[bytes]) -> None:
    assert list(lines(iter(chunks))) == expected


def _in_namespace(kind: str, namespace: str, name: str, *, ready: bool) -> dict[str, Any]:
    event = _event(kind, name, ready=ready)
    event["object"]["metadata"]["namespace"] = namespace
    return event


def test_a_cluster_wide_watch_counts_the_same_name_in_two_namespaces_apart() -> None:
    matching: set[str] = set()
    apply_event(matching, _in_namespace("ADDED", "bench-000", "model", ready=True), _ready)
    apply_event(matching, _in_namespace("ADDED", "bench-001", "model", ready=True), _ready)
    assert len(matching) == 2
    apply_event(matching, _in_namespace("DELETED", "bench-000", "model", ready=True), _ready)
    assert matching == {"bench-001/model"}

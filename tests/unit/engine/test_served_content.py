from __future__ import annotations

from tritonops.engine.observations import ServedContent
from tritonops.engine.served_content import track

NOW = "2026-01-01T00:00:00Z"


def test_the_first_digest_of_a_revision_is_recorded_once() -> None:
    state = track(previous=[], served=[ServedContent("p1", "abc", "sha256:1"), ServedContent("p2", "abc", "sha256:1")], live={"abc": "1"}, now=NOW)
    assert state.entries == [{"revision": "abc", "version": "1", "digest": "sha256:1", "at": NOW}]
    assert not state.events and not state.changed


def test_other_content_under_the_same_revision_is_reported_once() -> None:
    previous = [{"revision": "abc", "version": "1", "digest": "sha256:1", "at": NOW}]
    served = [ServedContent("p1", "abc", "sha256:1"), ServedContent("p3", "abc", "sha256:3")]
    state = track(previous=previous, served=served, live={"abc": "1"}, now=NOW)
    assert [event.reason for event in state.events] == ["ModelContentChanged"]
    assert "sha256:1" in state.events[0].message and "sha256:3" in state.events[0].message and "p3" in state.events[0].message
    assert state.entries[0]["digest"] == "sha256:1" and state.entries[0]["changedTo"] == "sha256:3"
    again = track(previous=state.entries, served=served, live={"abc": "1"}, now=NOW)
    assert not again.events and again.changed == state.changed


def test_revisions_no_longer_live_are_dropped() -> None:
    previous = [{"revision": "old", "version": "1", "digest": "sha256:1", "at": NOW}]
    state = track(previous=previous, served=[ServedContent("p", "new", "sha256:2")], live={"new": "2"}, now=NOW)
    assert [entry["revision"] for entry in state.entries] == ["new"]

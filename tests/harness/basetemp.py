"""Keep a session's temporary tree (a cluster's kubeconfig, certificates and data) from other pytest runs.

A run without --basetemp makes /tmp/pytest-of-<user>/pytest-<n> and, at its start and end, deletes the
entries of that directory named pytest-<anything> whose suffix is not one of the newest numbers; a suffix
that is not a number counts as -1, so every `--basetemp=/tmp/pytest-of-root/pytest-<name>-basetemp` of a
running session qualifies. Only an entry holding a recent `.lock` file is spared (pytest's own numbered
directories hold one while in use). Found by tests/e2e/test_chaos.py: the cluster's kubeconfig and
certificates vanished mid-test, which showed as FileNotFoundError and SSL errors at the next TLS connection,
first seen right after an apiserver restart, when every client connects again.
"""

from __future__ import annotations

import pathlib

LOCK = ".lock"


def protect_from_pytest_cleanup(basetemp: pathlib.Path) -> None:
    """Hold the lock file pytest's cleanup looks for; touched again, it stays recent for a long session."""
    (basetemp / LOCK).touch()

from __future__ import annotations

import pathlib
import time

from _pytest.pathlib import cleanup_numbered_dir

from tests.harness.basetemp import protect_from_pytest_cleanup


def _root_with_a_session(tmp_path: pathlib.Path, *, protected: bool) -> pathlib.Path:
    for number in range(1, 6):
        (tmp_path / f"pytest-{number}").mkdir(parents=True)
    session = tmp_path / "pytest-chaos-basetemp"
    (session / "cluster0").mkdir(parents=True)
    (session / "cluster0" / "kubeconfig.yaml").write_text("apiVersion: v1\n")
    if protected:
        protect_from_pytest_cleanup(session)
    return session


def _pytest_cleanup(root: pathlib.Path) -> None:
    """What a run without --basetemp does to its root at exit (keep 3, locks older than 3 days are dead)."""
    cleanup_numbered_dir(root=root, prefix="pytest-", keep=3, consider_lock_dead_if_created_before=time.time() - 3 * 86400)


def test_a_given_basetemp_under_pytests_root_is_deleted_by_another_run_unless_protected(tmp_path: pathlib.Path) -> None:
    exposed = _root_with_a_session(tmp_path / "exposed", protected=False)
    _pytest_cleanup(exposed.parent)
    assert not (exposed / "cluster0" / "kubeconfig.yaml").exists(), "pytest no longer deletes it: the protection may go"

    protected = _root_with_a_session(tmp_path / "protected", protected=True)
    _pytest_cleanup(protected.parent)
    assert (protected / "cluster0" / "kubeconfig.yaml").read_text() == "apiVersion: v1\n"

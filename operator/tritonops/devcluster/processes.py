"""Start, watch and stop the local processes (control plane, Triton, Prometheus) by process id."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence


@dataclasses.dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log: pathlib.Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, characters: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except FileNotFoundError:
            return ""


_PR_SET_PDEATHSIG = 1
# The process's own symbols, libc's prctl among them (no library search, no subprocess at import).
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _kill_when_parent_dies() -> None:
    # Runs in the child between fork and exec; the function was resolved in the parent already.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def start_process(
    *,
    name: str,
    command: Sequence[str],
    log: pathlib.Path,
    environment: Mapping[str, str] | None = None,
    directory: pathlib.Path | None = None,
    die_with_parent: bool = False,
) -> ManagedProcess:
    """Start a command in a session of its own, its output appended to `log`.

    `die_with_parent`: the kernel SIGKILLs the process when the thread that started it exits, so a
    supervisor that is killed outright leaves nothing running (start such processes from the main thread).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        popen = subprocess.Popen(
            list(command),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(environment) if environment is not None else None,
            cwd=directory,
            # A session of its own lets us stop the process and any children it spawned as one group.
            start_new_session=True,
            preexec_fn=_kill_when_parent_dies if die_with_parent else None,
        )
    return ManagedProcess(name=name, popen=popen, log=log)


def stop_process_group(pid: int, *, grace_seconds: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after the grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        _reap(pid)
        time.sleep(0.1)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_until(
    check: Callable[[], bool],
    *,
    description: str,
    timeout_seconds: float,
    interval_seconds: float = 0.25,
    watched: Sequence[ManagedProcess] = (),
) -> None:
    """Poll `check` until it holds; bounded in time, and fails fast if a watched process died."""
    deadline = time.monotonic() + timeout_seconds
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        for process in watched:
            if not process.running():
                raise RuntimeError(
                    f"{process.name} exited with code {process.popen.returncode} while waiting for "
                    f"{description}; its log ends with:\n{process.log_tail()}"
                )
        try:
            if check():
                return
        except Exception as error:  # a check that cannot connect yet is the normal case while starting
            last_error = error
        time.sleep(interval_seconds)
    detail = f" (last error: {last_error})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout_seconds:.0f}s waiting for {description}{detail}")


def processes_with_argument(text: str, *, program: str | None = None) -> list[int]:
    """Process ids of live processes (other than this one) with an argument containing `text`, from /proc;
    only those whose program is named `program`, when given."""
    marker = text.encode()
    found: list[int] = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if program is not None and not (argv and pathlib.Path(argv[0].decode(errors="replace")).name == program):
            continue
        if any(marker in word for word in argv):
            found.append(int(entry.name))
    return found

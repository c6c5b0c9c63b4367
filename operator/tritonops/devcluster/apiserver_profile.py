"""A CPU profile of kube-apiserver over a whole phase of a benchmark, read with `go tool pprof`.

Request counts and latencies say which requests were slow; the profile says what the apiserver's CPU
went to while serving them (encoding watch events, server-side apply's field manager, etcd, admission).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import ssl
import subprocess
import threading
import urllib.request

from tritonops.devcluster import gobuild

# "  flat  flat%   sum%        cum   cum%  function", the rows `go tool pprof -top` prints under its header.
_ROW = re.compile(r"^\s*(?P<flat_time>\S+)\s+(?P<flat>[\d.]+)%\s+[\d.]+%\s+(?P<cumulative_time>\S+)\s+(?P<cumulative>[\d.]+)%\s+(?P<function>.+?)\s*$")
# The units pprof prints CPU time in ("0" has none).
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "mins": 60.0, "hrs": 3600.0}
_TIME = re.compile(r"^(?P<value>[\d.]+)(?P<unit>ns|us|ms|s|mins|hrs)?$")


def seconds_of(text: str) -> float:
    """A pprof CPU time ("4.10s", "450ms", "1.50mins", "0") in seconds."""
    match = _TIME.match(text)
    if match is None:
        raise ValueError(f"not a pprof time: {text!r}")
    return float(match["value"]) * _UNIT_SECONDS[match["unit"] or "s"]


@dataclasses.dataclass(frozen=True)
class ProfileEntry:
    """One function's share of the profiled CPU: its own (flat) and with what it calls (cumulative)."""

    function: str
    flat_percent: float
    cumulative_percent: float
    flat_seconds: float = 0.0
    cumulative_seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        return {"function": self.function, "flat_percent": self.flat_percent, "cumulative_percent": self.cumulative_percent,
                "flat_seconds": self.flat_seconds, "cumulative_seconds": self.cumulative_seconds}


def parse_top(text: str) -> list[ProfileEntry]:
    """The rows of `go tool pprof -top` output, in its order; header and summary lines are skipped."""
    entries = []
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            entries.append(ProfileEntry(function=match["function"], flat_percent=float(match["flat"]), cumulative_percent=float(match["cumulative"]),
                                        flat_seconds=seconds_of(match["flat_time"]), cumulative_seconds=seconds_of(match["cumulative_time"])))
    return entries


def top(profiles: list[pathlib.Path], *, count: int, cumulative: bool) -> list[ProfileEntry]:
    """The `count` functions with the most CPU in saved profiles, merged, by flat or by cumulative time."""
    arguments = ["go", "tool", "pprof", "-top", f"-nodecount={count}", *(["-cum"] if cumulative else []), *map(str, profiles)]
    completed = subprocess.run(arguments, env=gobuild.go_environment(), capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"go tool pprof failed on {profiles}: {completed.stderr[-2000:]}")
    return parse_top(completed.stdout)


class ProfileRecording:
    """CPU profiles taken one window after another in the background, from the start of a phase until
    `summary` is asked for at its end: the phase whatever its length, give or take one window."""

    def __init__(self, *, url: str, context: ssl.SSLContext, window_seconds: int, destination: pathlib.Path) -> None:
        self.window_seconds = window_seconds
        self.destination = destination
        self.windows: list[pathlib.Path] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record_all, args=(f"{url}/debug/pprof/profile?seconds={window_seconds}", context),
                                        name=f"profile-{destination.stem}", daemon=True)
        self._thread.start()

    def _record_all(self, url: str, context: ssl.SSLContext) -> None:
        # Bounded by the phase: the bench asks for the summary once it converged or timed out.
        while not self._stop.is_set():
            path = self.destination.with_name(f"{self.destination.stem}-{len(self.windows):03d}{self.destination.suffix}")
            try:
                # The apiserver answers only once the whole window has been sampled.
                with urllib.request.urlopen(url, context=context, timeout=self.window_seconds + 60) as response:
                    path.write_bytes(response.read())
            except OSError as error:
                self.errors.append(str(error))
                return
            self.windows.append(path)

    def summary(self, *, count: int = 40) -> dict[str, object]:
        """The busiest functions by flat and by cumulative CPU over all windows; waits for the last to end."""
        self._stop.set()
        self._thread.join(timeout=self.window_seconds + 90)
        if not self.windows:
            return {"seconds_sampled": 0, "errors": self.errors}
        return {
            "seconds_sampled": self.window_seconds * len(self.windows),
            "windows": len(self.windows),
            "by_flat_cpu": [entry.as_json() for entry in top(self.windows, count=count, cumulative=False)],
            "by_cumulative_cpu": [entry.as_json() for entry in top(self.windows, count=count, cumulative=True)],
            **({"errors": self.errors} if self.errors else {}),
        }

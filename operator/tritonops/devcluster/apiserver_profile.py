"""A CPU profile of kube-apiserver over one phase of a benchmark, read with `go tool pprof`.

Request counts and latencies say which requests were slow; the profile says what the apiserver's CPU
went to while serving them (encoding watch events, server-side apply's field manager, etcd, admission).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import pathlib
import re
import ssl
import subprocess
import urllib.request

from tritonops.devcluster import gobuild

# "  flat  flat%   sum%        cum   cum%  function", the rows `go tool pprof -top` prints under its header.
_ROW = re.compile(r"^\s*\S+\s+(?P<flat>[\d.]+)%\s+[\d.]+%\s+\S+\s+(?P<cumulative>[\d.]+)%\s+(?P<function>.+?)\s*$")


@dataclasses.dataclass(frozen=True)
class ProfileEntry:
    """One function's share of the profiled CPU: its own (flat) and with what it calls (cumulative)."""

    function: str
    flat_percent: float
    cumulative_percent: float

    def as_json(self) -> dict[str, object]:
        return {"function": self.function, "flat_percent": self.flat_percent, "cumulative_percent": self.cumulative_percent}


def parse_top(text: str) -> list[ProfileEntry]:
    """The rows of `go tool pprof -top` output, in its order; header and summary lines are skipped."""
    entries = []
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            entries.append(ProfileEntry(function=match["function"], flat_percent=float(match["flat"]),
                                        cumulative_percent=float(match["cumulative"])))
    return entries


def top(profile: pathlib.Path, *, count: int, cumulative: bool) -> list[ProfileEntry]:
    """The `count` functions with the most CPU in a saved profile, by flat or by cumulative share."""
    arguments = ["go", "tool", "pprof", "-top", f"-nodecount={count}", *(["-cum"] if cumulative else []), str(profile)]
    completed = subprocess.run(arguments, env=gobuild.go_environment(), capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"go tool pprof failed on {profile}: {completed.stderr[-2000:]}")
    return parse_top(completed.stdout)


class ProfileRecording:
    """A CPU profile taken in the background: started with the phase, read once the phase is over."""

    def __init__(self, *, url: str, context: ssl.SSLContext, seconds: int, destination: pathlib.Path) -> None:
        self.seconds = seconds
        self.destination = destination
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._future = self._pool.submit(self._record, f"{url}/debug/pprof/profile?seconds={seconds}", context)

    def _record(self, url: str, context: ssl.SSLContext) -> pathlib.Path:
        # The apiserver answers only once the whole window has been sampled.
        with urllib.request.urlopen(url, context=context, timeout=self.seconds + 60) as response:
            self.destination.write_bytes(response.read())
        return self.destination

    def summary(self, *, count: int = 25) -> dict[str, object]:
        """The busiest functions by flat and by cumulative CPU; waits for the window to end."""
        try:
            profile = self._future.result(timeout=self.seconds + 90)
        finally:
            self._pool.shutdown(wait=False)
        return {
            "seconds_sampled": self.seconds,
            "by_flat_cpu": [entry.as_json() for entry in top(profile, count=count, cumulative=False)],
            "by_cumulative_cpu": [entry.as_json() for entry in top(profile, count=count, cumulative=True)],
        }

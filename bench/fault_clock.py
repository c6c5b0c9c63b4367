"""What the rollback benchmarks time with: a 100 ms poll that returns when a condition first held, the pod
status that shows a dead container (the onset of the faults the kubelet reports), and every pod Ready."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

POLL_SECONDS = 0.1
# The waiting reasons of a container that will not run: a crash loop, or an image no node can pull.
DEAD_WAITING_REASONS = frozenset({"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"})


def shows_dead_container(pod: Any) -> bool:
    """A restart, a terminated last state or a dead waiting reason in the pod's container statuses."""
    for container in pod.status.container_statuses or []:
        waiting = container.state.waiting.reason if container.state and container.state.waiting else None
        if container.restart_count or (container.last_state and container.last_state.terminated):
            return True
        if waiting in DEAD_WAITING_REASONS:
            return True
    return False


def all_ready(pods: list[Any]) -> bool:
    """At least one pod, and every one Ready: the onset of a wrong answer, which only a probe of Ready pods can see."""
    return bool(pods) and all(
        any(condition.type == "Ready" and condition.status == "True" for condition in pod.status.conditions or []) for pod in pods
    )


def poll(condition: Callable[[], bool], *, timeout: float, description: str) -> float:
    """Poll every 100 ms; the wall-clock time the condition first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.time()
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {description}")

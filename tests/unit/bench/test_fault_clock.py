from __future__ import annotations

import time

import pytest
from kubernetes import client

from bench.fault_clock import all_ready, poll, shows_dead_container


def _pod(*, restarts: int = 0, waiting: str | None = None, terminated: bool = False) -> client.V1Pod:
    state = client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason=waiting) if waiting else None)
    last_state = client.V1ContainerState(terminated=client.V1ContainerStateTerminated(exit_code=1) if terminated else None)
    status = client.V1ContainerStatus(name="triton", image="i", image_id="", ready=False, restart_count=restarts,
                                      state=state, last_state=last_state)
    return client.V1Pod(status=client.V1PodStatus(container_statuses=[status]))


@pytest.mark.parametrize(
    ("pod", "dead"),
    [
        (_pod(), False),
        (_pod(waiting="ContainerCreating"), False),
        (_pod(restarts=1), True),
        (_pod(terminated=True), True),
        (_pod(waiting="CrashLoopBackOff"), True),
        (_pod(waiting="ErrImagePull"), True),
        (_pod(waiting="ImagePullBackOff"), True),
        (client.V1Pod(status=client.V1PodStatus(container_statuses=None)), False),
    ],
)
def test_shows_dead_container(pod: client.V1Pod, dead: bool) -> None:
    assert shows_dead_container(pod) is dead


def _with_ready(ready: str) -> client.V1Pod:
    return client.V1Pod(status=client.V1PodStatus(conditions=[client.V1PodCondition(type="Ready", status=ready)]))


def test_all_ready_needs_a_pod_and_every_one_ready() -> None:
    assert all_ready([_with_ready("True"), _with_ready("True")])
    assert not all_ready([_with_ready("True"), _with_ready("False")])
    assert not all_ready([client.V1Pod(status=client.V1PodStatus(conditions=None))])
    assert not all_ready([])


def test_poll_returns_the_time_the_condition_first_held() -> None:
    calls = iter([False, False, True])
    before = time.time()
    assert before <= poll(lambda: next(calls), timeout=5, description="the third call") <= time.time()


def test_poll_names_what_it_waited_for_on_timeout() -> None:
    with pytest.raises(TimeoutError, match="waiting for never"):
        poll(lambda: False, timeout=0.3, description="never")

"""What the operator remembers per object and per pod: pruned when they go, safe under worker threads."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from tests.harness.specs import model_deployment
from tritonops.analyzer import Analyzer
from tritonops.desired.revision import Revision
from tritonops.providers import RevisionTarget
from tritonops.providers.bounded_http import Deadline
from tritonops.providers.triton import TritonProvider

STABLE = Revision(hash="aaaa", version="1", image="i")
CANARY = Revision(hash="bbbb", version="2", image="i")
NEXT_CANARY = Revision(hash="cccc", version="3", image="i")


def metrics_text(url: str, *, deadline: Deadline) -> str:
    return 'nv_inference_request_success{model="resnet",version="2"} 1\n'


def pod(name: str, revision: Revision, *, ready: bool = True) -> dict[str, Any]:
    return {"name": name, "revision": revision.hash, "ip": "127.77.0.1", "ready": ready}


def test_samples_of_pods_that_are_gone_are_pruned_and_not_ready_pods_keep_theirs() -> None:
    analyzer = Analyzer(fetch=metrics_text)
    resource = model_deployment()
    key = (resource.namespace, resource.name)
    pods = [pod("s-1", STABLE), pod("c-1", CANARY), pod("c-2", CANARY)]
    analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=pods)
    assert analyzer.triton.sampled(key) == {STABLE.hash: frozenset({"s-1"}), CANARY.hash: frozenset({"c-1", "c-2"})}
    # c-2 is deleted; c-1 is not Ready for a moment: its sample stays, so its next window starts from it.
    analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=[pod("s-1", STABLE), pod("c-1", CANARY, ready=False)])
    assert analyzer.triton.sampled(key) == {STABLE.hash: frozenset({"s-1"}), CANARY.hash: frozenset({"c-1"})}


def test_samples_of_revisions_no_longer_measured_and_of_deleted_objects_are_pruned() -> None:
    analyzer = Analyzer(fetch=metrics_text)
    resource = model_deployment()
    key = (resource.namespace, resource.name)
    analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=[pod("s-1", STABLE), pod("c-1", CANARY)])
    # The canary was rolled back; the next rollout's canary is measured against the same stable.
    analyzer.analyse(resource, stable=STABLE, canary=NEXT_CANARY, pods=[pod("s-1", STABLE), pod("n-1", NEXT_CANARY)])
    assert analyzer.triton.sampled(key) == {STABLE.hash: frozenset({"s-1"}), NEXT_CANARY.hash: frozenset({"n-1"})}
    analyzer.forget(key)
    assert analyzer.triton.sampled(key) == {}


@contextlib.contextmanager
def frequent_thread_switches() -> Iterator[None]:
    # Threads switch every few microseconds instead of every 5 ms, so that races show within a bounded run.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def hammer(*, workers: list[Any], seconds: float = 1.5) -> list[BaseException]:
    """Run each callable in a loop on its own thread for `seconds`; the exceptions they raised."""
    errors: list[BaseException] = []
    stop = time.monotonic() + seconds

    def loop(work: Any) -> None:
        count = 0
        while time.monotonic() < stop and count < 100_000:  # bounded in time and in count
            count += 1
            try:
                work(count)
            except BaseException as error:  # noqa: BLE001 (collected for the assertion)
                errors.append(error)
                return

    threads = [threading.Thread(target=loop, args=(work,), daemon=True) for work in workers]
    with frequent_thread_switches():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 10)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_the_triton_providers_forget_is_safe_while_workers_measure() -> None:
    provider = TritonProvider(fetch=metrics_text)
    # Many remembered objects, so that one pass of forget takes long enough to be interrupted.
    for number in range(2000):
        provider.measure(RevisionTarget(key=("idle", f"md-{number}"), revision="r", model="resnet", version="2", pods={}), window_seconds=15)

    def measurer(worker: int) -> Any:
        def work(count: int) -> None:
            key = ("busy", f"md-{worker}-{count % 50}")
            provider.measure(RevisionTarget(key=key, revision=f"r{count % 7}", model="resnet", version="2", pods={}), window_seconds=15)

        return work

    def forgetter(count: int) -> None:
        provider.forget(("busy", f"md-{count % 4}-{count % 50}"))
        provider.forget(("idle", f"md-{count % 2000}"))

    errors = hammer(workers=[measurer(worker) for worker in range(4)] + [forgetter])
    assert errors == []
    for worker in range(4):
        for number in range(50):
            provider.forget(("busy", f"md-{worker}-{number}"))
    assert all(provider.sampled(("busy", f"md-{worker}-{number}")) == {} for worker in range(4) for number in range(50))

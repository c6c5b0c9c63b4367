"""What the operator remembers per object and per pod: pruned when they go, safe under worker threads."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY

from tests.harness.specs import model_deployment, model_deployment_body
from tests.unit.test_controller import NOW, RecordingWriter
from tritonops import metrics
from tritonops.analyzer import Analyzer
from tritonops.controller import ChildState, Controller
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
        while time.monotonic() < stop and count < 2_000_000:  # bounded in time and in count
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


def test_analysis_metrics_forget_is_safe_while_workers_record() -> None:
    def recorder(worker: int) -> Any:
        def work(count: int) -> None:
            metrics.record_analysis(namespace="hammer", name=f"md-{count % 3}", check=f"c{worker}-{count % 20}", revision="canary", value=1.0)

        return work

    def forgetter(count: int) -> None:
        metrics.forget(namespace="hammer", name=f"md-{count % 3}")

    errors = hammer(workers=[recorder(worker) for worker in range(4)] + [forgetter])
    assert errors == []
    for number in range(3):
        metrics.forget(namespace="hammer", name=f"md-{number}")
    assert REGISTRY.get_sample_value("tritonops_analysis_value", {"namespace": "hammer", "name": "md-0", "check": "c0-0", "revision": "canary"}) is None


class BlockingWriter(RecordingWriter):
    """Holds the pass in its status write until the test has deleted the object."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Event()
        self.release = threading.Event()

    def patch_status(self, resource: Any, status: Any) -> dict[str, Any] | None:
        self.writing.set()
        assert self.release.wait(timeout=10)
        return super().patch_status(resource, status)


def test_an_object_deleted_during_its_pass_leaves_nothing_behind() -> None:
    writer = BlockingWriter()
    controller = Controller(writer, clock=lambda: NOW)  # type: ignore[arg-type]
    body = model_deployment_body(name="deleted-meanwhile")
    body["metadata"]["resourceVersion"] = "50"
    labels = {"namespace": "vision", "name": "deleted-meanwhile", "phase": "Progressing"}
    worker = threading.Thread(target=controller.reconcile, args=(body, ChildState()), daemon=True)
    worker.start()
    assert writer.writing.wait(timeout=10)
    controller.forget(("vision", "deleted-meanwhile"))  # the DELETED event, from the event loop
    writer.release.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    # The pass wrote its status and metrics after the object was forgotten; neither may stay.
    assert REGISTRY.get_sample_value("tritonops_rollout_phase", labels) is None
    echo = {**body, "metadata": {**body["metadata"], "resourceVersion": "101"}, "status": writer.statuses[-1]}
    assert not controller.is_own_echo(echo)


def test_controller_bookkeeping_is_safe_under_worker_threads_and_deletions() -> None:
    controller = Controller(RecordingWriter(), clock=lambda: NOW)  # type: ignore[arg-type]
    bodies = [model_deployment_body(name=f"md-{number}") for number in range(4)]

    def reconciler(number: int) -> Any:
        def work(count: int) -> None:
            controller.reconcile(bodies[number], ChildState())
            controller.child_changed(("vision", f"md-{number}"), kind="Pod", name=f"p-{count % 5}", summary={"count": count})

        return work

    def forgetter(count: int) -> None:
        key = ("vision", f"md-{count % 4}")
        controller.child_deleted(key, kind="Pod", name=f"p-{count % 5}")
        controller.forget(key)

    errors = hammer(workers=[reconciler(number) for number in range(4)] + [forgetter], seconds=1.0)
    assert errors == []
    for number in range(4):
        controller.forget(("vision", f"md-{number}"))
    assert not any(controller.remembers(("vision", f"md-{number}")) for number in range(4))




def test_an_object_forgotten_while_workers_prune_its_samples_stays_forgotten() -> None:
    provider = TritonProvider(fetch=metrics_text)
    key = ("vision", "resnet")
    target = RevisionTarget(key=key, revision=CANARY.hash, model="resnet", version="2", pods={})

    def pruner(count: int) -> None:
        provider.retain(key, revisions={CANARY.hash}, pods={"c-1"})

    def deleter(count: int) -> None:
        provider.measure(target, window_seconds=15)  # the object's first sample, then its deletion
        provider.forget(key)
        # Pruning only ever shrinks what is remembered: it must not bring a forgotten object back.
        assert provider.sampled(key) == {}

    errors = hammer(workers=[pruner, pruner, pruner, pruner, deleter])
    assert errors == []

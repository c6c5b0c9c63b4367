"""The writer against the real API server: what only the server itself can confirm."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

from kubernetes import client

from tritonops.engine.actions import Event
from tritonops.kube import KubernetesWriter


def test_a_repeated_event_is_one_event_object_whose_count_the_api_server_keeps(kube_client: client.ApiClient, namespace: str) -> None:
    writer = KubernetesWriter(kube_client)
    target = SimpleNamespace(name="resnet", namespace=namespace, uid="0b5a1f0c-0000-4000-8000-000000000001", status={})
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    for second in range(3):
        writer.emit_event(target, Event("Warning", "InsufficientGPU", "needs 1 more nvidia.com/gpu"), now=start + datetime.timedelta(seconds=second))  # type: ignore[arg-type]
    writer.emit_event(target, Event("Normal", "Promoted", "promoted 5f2c9a1e"), now=start)  # type: ignore[arg-type]
    events = client.CoreV1Api(kube_client).list_namespaced_event(namespace, field_selector="involvedObject.name=resnet").items
    by_reason = {event.reason: event for event in events}
    assert len(events) == 2 and set(by_reason) == {"InsufficientGPU", "Promoted"}
    repeated = by_reason["InsufficientGPU"]
    assert repeated.count == 3 and repeated.first_timestamp == start and repeated.last_timestamp == start + datetime.timedelta(seconds=2)
    assert by_reason["Promoted"].count == 1


def test_a_transitions_event_posted_again_by_a_retried_pass_is_still_one_event_object(kube_client: client.ApiClient, namespace: str) -> None:
    target = SimpleNamespace(name="resnet", namespace=namespace, uid="0b5a1f0c-0000-4000-8000-000000000002", status={})
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    # Two processes (a kill in between): the second knows nothing of the first one's post.
    for attempt in range(2):
        KubernetesWriter(kube_client).emit_transition(target, Event("Normal", "Promoted", f"promoted, attempt {attempt}", key="5f2c9a1e/@"), now=now)  # type: ignore[arg-type]
    events = client.CoreV1Api(kube_client).list_namespaced_event(namespace, field_selector="involvedObject.name=resnet").items
    assert [(event.reason, event.message, event.count) for event in events] == [("Promoted", "promoted, attempt 0", 1)]

"""Read the apiserver's own request counters, to count writes without trusting the client."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"})
# The kinds tritonops writes: every subresource of its own resource, the main object of its children.
OPERATOR_RESOURCES = ("modeldeployments",)
OPERATOR_CHILD_RESOURCES = ("deployments", "services", "horizontalpodautoscalers", "httproutes", "grpcroutes")


def count_writes(
    metrics_text: str,
    *,
    resources: Iterable[str] = OPERATOR_RESOURCES,
    main_object_resources: Iterable[str] = OPERATOR_CHILD_RESOURCES,
) -> int:
    """Sum apiserver_request_total over write verbs for the given resources.

    `resources` count with any subresource; `main_object_resources` only without one, because the
    controllers of the control plane write those kinds' status subresources on their own.
    """
    any_subresource, main_only = set(resources), set(main_object_resources)
    total = 0
    for line in metrics_text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if labels.get("verb") not in WRITE_VERBS:
            continue
        resource = labels.get("resource")
        if resource in any_subresource or (resource in main_only and not labels.get("subresource")):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


@dataclasses.dataclass(frozen=True)
class RequestTime:
    """How many requests of one kind the apiserver served, and the seconds they took in all."""

    verb: str
    resource: str
    subresource: str
    requests: int
    seconds: float

    @property
    def mean_milliseconds(self) -> float:
        return 1000 * self.seconds / self.requests if self.requests else 0.0

    def as_json(self) -> dict[str, object]:
        kind = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return {"verb": self.verb, "resource": kind, "requests": self.requests,
                "mean_ms": round(self.mean_milliseconds, 2), "total_seconds": round(self.seconds, 2)}


def request_times(metrics_text: str) -> dict[tuple[str, str, str], RequestTime]:
    """apiserver_request_duration_seconds' count and sum per (verb, resource, subresource), WATCH excluded
    (a watch lasts as long as it is open: its duration says nothing about load)."""
    totals: dict[str, dict[tuple[str, str, str], float]] = {"_count{": {}, "_sum{": {}}
    for line in metrics_text.splitlines():
        for suffix, into in totals.items():
            if not line.startswith("apiserver_request_duration_seconds" + suffix):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if labels.get("verb") in ("WATCH", "CONNECT"):
                continue
            key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
            into[key] = into.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    counts, sums = totals["_count{"], totals["_sum{"]
    return {key: RequestTime(*key, requests=int(counts[key]), seconds=sums.get(key, 0.0)) for key in counts}


def request_times_between(before: str, after: str, *, top: int = 8) -> list[RequestTime]:
    """The kinds of request that took the apiserver the most time between two scrapes, busiest first."""
    earlier = request_times(before)
    spent = []
    for key, later in request_times(after).items():
        previous = earlier.get(key)
        requests = later.requests - (previous.requests if previous else 0)
        if requests > 0:
            spent.append(RequestTime(*key, requests=requests, seconds=later.seconds - (previous.seconds if previous else 0.0)))
    return sorted(spent, key=lambda entry: entry.seconds, reverse=True)[:top]

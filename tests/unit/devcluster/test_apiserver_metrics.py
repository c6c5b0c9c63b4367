from __future__ import annotations

from tritonops.devcluster.apiserver_metrics import count_writes, request_times, request_times_between

SAMPLE = """# HELP apiserver_request_total x
apiserver_request_total{code="201",component="apiserver",dry_run="",group="inference.tritonops.dev",resource="modeldeployments",scope="resource",subresource="",verb="POST",version="v1alpha1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="",group="inference.tritonops.dev",resource="modeldeployments",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="status",verb="PUT",version="v1"} 99
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="GET",version="v1"} 50
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 33
"""


def test_counts_writes_of_the_operator_kinds_only() -> None:
    assert count_writes(SAMPLE) == 10 + 7 + 4


def test_custom_resource_sets() -> None:
    assert count_writes(SAMPLE, resources=["pods"], main_object_resources=[]) == 33


DURATIONS = """# HELP apiserver_request_duration_seconds x
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1",le="0.05"} 3
apiserver_request_duration_seconds_sum{component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} 0.5
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} 4
apiserver_request_duration_seconds_sum{component="apiserver",dry_run="",group="inference.tritonops.dev",resource="modeldeployments",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 1.0
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="inference.tritonops.dev",resource="modeldeployments",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 10
apiserver_request_duration_seconds_sum{component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="WATCH",version="v1"} 900
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="WATCH",version="v1"} 2
"""


def test_request_times_sum_count_and_seconds_per_kind_without_watches() -> None:
    times = request_times(DURATIONS)
    assert set(times) == {("APPLY", "deployments", ""), ("PATCH", "modeldeployments", "status")}
    apply = times["APPLY", "deployments", ""]
    assert (apply.requests, apply.seconds, apply.mean_milliseconds) == (4, 0.5, 125.0)


def test_request_times_between_two_scrapes_busiest_first() -> None:
    later = DURATIONS.replace("} 0.5", "} 2.5").replace("} 4\n", "} 8\n").replace("} 1.0", "} 1.2").replace("} 10\n", "} 14\n")
    spent = request_times_between(DURATIONS, later)
    assert [entry.as_json() for entry in spent] == [
        {"verb": "APPLY", "resource": "deployments", "requests": 4, "mean_ms": 500.0, "total_seconds": 2.0},
        {"verb": "PATCH", "resource": "modeldeployments/status", "requests": 4, "mean_ms": 50.0, "total_seconds": 0.2},
    ]
    assert request_times_between(DURATIONS, DURATIONS) == []

from __future__ import annotations

from tritonops.devcluster.apiserver_metrics import count_writes

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

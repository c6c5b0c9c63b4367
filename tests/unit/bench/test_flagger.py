"""Flagger's objects as the benchmark writes them: valid for its CRDs' meaning, and alike to tritonops' pods."""

from __future__ import annotations

import pathlib

import pytest

from bench import flagger

ANALYSIS = flagger.FlaggerAnalysis(interval_seconds=10, threshold=2, iterations=10, progress_deadline_seconds=60,
                                   success_rate_min_percent=99.0, latency_max_ms=80)


def test_the_canary_is_blue_green_on_the_kubernetes_provider_with_both_triton_checks() -> None:
    document = flagger.canary(name="doubler", namespace="ns", analysis=ANALYSIS)
    spec = document["spec"]
    assert document["apiVersion"] == "flagger.app/v1beta1" and document["kind"] == "Canary"
    assert spec["provider"] == "kubernetes"
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "doubler"}
    assert spec["progressDeadlineSeconds"] == 60
    analysis = spec["analysis"]
    # iterations, not stepWeight: the kubernetes provider can only do blue/green.
    assert analysis["interval"] == "10s" and analysis["threshold"] == 2 and analysis["iterations"] == 10
    assert "stepWeight" not in analysis and "maxWeight" not in analysis
    metrics = {metric["name"]: metric for metric in analysis["metrics"]}
    assert metrics[flagger.SUCCESS_RATE]["thresholdRange"] == {"min": 99.0}
    assert metrics[flagger.LATENCY]["thresholdRange"] == {"max": 80}
    # The query's window is the analysis interval, as tritonops' window is its intervalSeconds.
    assert {metric["interval"] for metric in metrics.values()} == {"10s"}
    assert {metric["templateRef"]["namespace"] for metric in metrics.values()} == {"ns"}


def test_metric_templates_read_tritons_counters_of_the_canary_pods_only() -> None:
    templates = {t["metadata"]["name"]: t for t in flagger.metric_templates(namespace="ns", prometheus_url="http://127.0.0.1:9090")}
    assert set(templates) == {flagger.SUCCESS_RATE, flagger.LATENCY}
    for template in templates.values():
        assert template["spec"]["provider"] == {"type": "prometheus", "address": "http://127.0.0.1:9090"}
        query = template["spec"]["query"]
        assert '{namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"}[{{ interval }}]' in query
    success = templates[flagger.SUCCESS_RATE]["spec"]["query"]
    assert success.startswith("100 * sum(increase(nv_inference_request_success{")
    assert "nv_inference_request_failure" in success
    latency = templates[flagger.LATENCY]["spec"]["query"]
    assert latency.startswith("sum(increase(nv_inference_request_duration_us{") and latency.endswith("/ 1000")


def test_the_canary_pod_pattern_tells_the_canary_from_the_primary() -> None:
    import re

    pattern = "doubler-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"  # Prometheus anchors regular expressions at both ends
    assert re.fullmatch(pattern, "doubler-7d9f8c6b5-x2k4q")
    assert not re.fullmatch(pattern, "doubler-primary-7d9f8c6b5-x2k4q")


def test_metric_templates_refuse_a_prometheus_off_loopback() -> None:
    with pytest.raises(ValueError):
        flagger.metric_templates(namespace="ns", prometheus_url="http://10.0.0.1:9090")


def test_the_target_is_tritonops_deployment_renamed_and_selected_by_flaggers_label() -> None:
    built = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "doubler-1a2b3c4d", "namespace": "ns", "ownerReferences": [{"kind": "ModelDeployment"}],
                     "labels": {"app.kubernetes.io/managed-by": "tritonops", "app.kubernetes.io/part-of": "tritonops",
                                "inference.tritonops.dev/revision": "1a2b3c4d"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/instance": "doubler"}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/managed-by": "tritonops",
                                                      "inference.tritonops.dev/modeldeployment": "doubler",
                                                      "inference.tritonops.dev/revision": "1a2b3c4d"}},
                              "spec": {"containers": [{"name": "triton"}]}}},
    }
    target = flagger.target_deployment(built, name="doubler")
    assert target["metadata"]["name"] == "doubler" and "ownerReferences" not in target["metadata"]
    assert target["spec"]["selector"] == {"matchLabels": {"app": "doubler"}}
    labels = target["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "doubler", "inference.tritonops.dev/modeldeployment": "doubler", "inference.tritonops.dev/revision": "1a2b3c4d"}
    assert target["metadata"]["labels"] == {"app": "doubler", "inference.tritonops.dev/revision": "1a2b3c4d"}
    assert target["spec"]["template"]["spec"] == built["spec"]["template"]["spec"]
    # The input is left as it was.
    assert built["metadata"]["name"] == "doubler-1a2b3c4d"


def test_flagger_runs_on_the_kubernetes_provider_against_the_given_cluster_and_prometheus() -> None:
    arguments = flagger.flagger_arguments(kubeconfig=pathlib.Path("/k/kubeconfig.yaml"), metrics_server="http://127.0.0.1:9", port=1234)
    assert "-kubeconfig=/k/kubeconfig.yaml" in arguments
    assert "-mesh-provider=kubernetes" in arguments and "-control-loop-interval=1s" in arguments
    assert "-metrics-server=http://127.0.0.1:9" in arguments and "-port=1234" in arguments


def test_flagger_is_pinned_and_built_for_the_benchmark_only() -> None:
    from tritonops.devcluster import versions

    # `make deps` (and so the cold CI run) builds ALL_COMPONENTS; Flagger is built by `make bench-versus`.
    assert flagger.COMPONENT not in versions.ALL_COMPONENTS
    assert flagger.COMPONENT.package == "github.com/fluxcd/flagger/cmd/flagger" and flagger.COMPONENT.version == "v1.44.0"


def test_a_missing_binary_says_how_to_build_it(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITONOPS_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match="make bench-versus"):
        flagger.binary()

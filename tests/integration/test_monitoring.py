"""manifests/monitoring against the real tools: promtool checks and unit-tests the alerting rules; the
real Prometheus, scraping a real operator and real tritonservers, evaluates every rule, the
prometheus-adapter query (rendered as the adapter renders it) and every dashboard query; the rollback
alert fires for a real rollback and not for old ones; the adapter's ratio tells a saturated pod from an
idle one."""

from __future__ import annotations

import concurrent.futures
import json
import math
import pathlib
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tritonclient.http
import yaml
from kubernetes import client

from tests.harness.models import Faults, write_model
from tests.harness.resources import create, model_deployment, patch_spec, wait_phase
from tritonops.cli import main as tritonops
from tritonops.devcluster import network
from tritonops.devcluster.cluster import LocalCluster
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until
from tritonops.devcluster.prometheus import PrometheusServer, ScrapeJob
from tritonops.devcluster.triton import TritonServer
from tritonops.providers.prometheus import REVISION_LABEL

ROOT = pathlib.Path(__file__).parents[2]
MONITORING = ROOT / "manifests" / "monitoring"
RULES = MONITORING / "rules.yaml"
# The job of the chart's ServiceMonitor for release `tritonops` (its Service tritonops-metrics): what the rules expect.
OPERATOR_JOB = "tritonops-metrics"
# Values Grafana gives its built-in variables, for running the dashboard's queries here.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "10m", "$__interval": "15s", "$namespace": ".*", "$name": ".*"}


def _promtool() -> str:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool comes with Debian's prometheus package: tests/install-dependencies.sh"
    return binary


def rule_groups() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RULES.read_text())["groups"])


def alert_rules() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups() for rule in group["rules"] if "alert" in rule}


def adapter_rules() -> list[dict[str, Any]]:
    configmap = yaml.safe_load((MONITORING / "prometheus-adapter.yaml").read_text())
    return list(yaml.safe_load(configmap["data"]["config.yaml"])["rules"])


def render_adapter_query(rule: dict[str, Any], *, namespace: str, pods: list[str]) -> str:
    """The metricsQuery as prometheus-adapter renders it for a pods metric of `pods` in `namespace`."""
    series_name = re.match(r"^(\w+)", rule["seriesQuery"].strip("'\"")).group(1)  # type: ignore[union-attr]
    overrides = {override["resource"]: label for label, override in rule["resources"]["overrides"].items()}
    matchers = f'{overrides["namespace"]}="{namespace}",{overrides["pod"]}=~"{"|".join(pods)}"'
    rendered = str(rule["metricsQuery"]).replace("<<.Series>>", series_name).replace("<<.LabelMatchers>>", matchers)
    rendered = rendered.replace("<<.GroupBy>>", overrides["pod"])
    assert "<<" not in rendered, f"a template field the test does not know: {rendered}"
    return rendered


def dashboard() -> dict[str, Any]:
    return dict(json.loads((MONITORING / "grafana-dashboard.json").read_text()))


def dashboard_queries() -> dict[str, str]:
    """Every PromQL of the dashboard (panel targets and annotations), by where it is."""
    board = dashboard()
    queries = {f"{panel['title']} [{target['refId']}]": target["expr"]
               for panel in board["panels"] for target in panel.get("targets", [])}
    queries.update({f"annotation {annotation['name']}": annotation["expr"] for annotation in board["annotations"]["list"] if "expr" in annotation})
    return queries


def render_grafana(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a dashboard variable the test does not know: {expr}"
    return expr


def variable_queries() -> dict[str, tuple[str, str]]:
    """The dashboard's query variables: `label_values(SELECTOR, LABEL)` as (selector, label)."""
    found = {}
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
            assert match, variable
            found[variable["name"]] = (render_grafana(match.group(1)), match.group(2))
    return found


# -- Pure checks: the files, promtool ------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    completed = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in completed.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    """rules.test.yaml: the rollback alert on a counter's first sample and not on old rollbacks, the phase
    alerts after their `for`, operator down, reconcile errors."""
    completed = subprocess.run([_promtool(), "test", "rules", "rules.test.yaml"], cwd=MONITORING, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    tested = set(re.findall(r"alertname: (\w+)", (MONITORING / "rules.test.yaml").read_text()))
    assert tested == set(alert_rules()), "every alert has a promtool unit test"


def test_the_prometheus_rule_has_exactly_the_plain_rule_groups() -> None:
    resource = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert (resource["apiVersion"], resource["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert resource["spec"]["groups"] == rule_groups()


def test_the_rules_cover_rollbacks_phases_operator_down_and_reconcile_errors() -> None:
    expressions = {name: rule["expr"] for name, rule in alert_rules().items()}
    assert any("tritonops_rollbacks_total" in expr for expr in expressions.values())
    assert any(re.search(r'tritonops_rollout_phase\{phase=~"[^"]*RolledBack[^"]*"\}', expr) for expr in expressions.values())
    assert any(re.search(r'tritonops_rollout_phase\{phase=~"[^"]*Canary[^"]*"\}', expr) for expr in expressions.values())
    assert any(f'up{{job="{OPERATOR_JOB}"}}' in expr for expr in expressions.values())
    assert any('tritonops_reconcile_total{result="error"}' in expr for expr in expressions.values())
    for name, rule in alert_rules().items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_the_dashboard_is_well_formed_and_covers_the_rollout_metrics() -> None:
    board = dashboard()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
    everything = " ".join(dashboard_queries().values())
    for metric in ("tritonops_rollout_phase", "tritonops_canary_weight", "tritonops_analysis_value", "tritonops_rollbacks_total",
                   "nv_inference_queue_duration_us"):
        assert metric in everything, metric
    assert set(variable_queries()) == {"namespace", "name"}


def test_render_adapter_query_fills_every_field() -> None:
    [rule] = adapter_rules()
    rendered = render_adapter_query(rule, namespace="vision", pods=["a", "b"])
    assert 'namespace="vision",pod=~"a|b"' in rendered and "sum by (pod)" in rendered
    with pytest.raises(AssertionError):
        render_adapter_query({**rule, "metricsQuery": "<<.Unknown>>"}, namespace="vision", pods=["a"])


# -- Against the real Prometheus ----------------------------------------------------------------


def _api(prometheus: PrometheusServer, path: str, **parameters: str) -> Any:
    address = f"{prometheus.url}/api/v1/{path}"
    if parameters:
        address += "?" + urllib.parse.urlencode(parameters)
    try:
        with urllib.request.urlopen(address, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise AssertionError(f"Prometheus refused {parameters or path}: {error.read().decode()}") from error
    assert body["status"] == "success", body
    return body["data"]


def query(prometheus: PrometheusServer, promql: str) -> list[dict[str, Any]]:
    """An instant query that must run without error (a parse error or a bad function fails the test)."""
    data = _api(prometheus, "query", query=promql)
    assert data["resultType"] in ("vector", "scalar"), (promql, data)
    return list(data["result"]) if data["resultType"] == "vector" else [{"metric": {}, "value": data["result"]}]


def alerts(prometheus: PrometheusServer, name: str) -> list[dict[str, Any]]:
    return [alert for alert in _api(prometheus, "alerts")["alerts"] if alert["labels"]["alertname"] == name]


def rule_evaluations(prometheus: PrometheusServer) -> list[dict[str, Any]]:
    return [rule for group in _api(prometheus, "rules")["groups"] for rule in group["rules"]]


def last_evaluation(prometheus: PrometheusServer) -> float:
    """The oldest of the rule groups' last evaluation times (unix seconds); 0 before all have run."""
    groups = _api(prometheus, "rules")["groups"]
    stamps = []
    for group in groups:
        stamp = group.get("lastEvaluation", "")
        if not stamp or stamp.startswith("0001-"):
            return 0.0
        stamps.append(_parse_time(stamp))
    return min(stamps) if stamps else 0.0


def _parse_time(stamp: str) -> float:
    import datetime

    # RFC 3339 with nanoseconds: keep microseconds for fromisoformat.
    match = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", stamp)
    assert match, stamp
    fraction = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.datetime.fromisoformat(f"{match.group(1)}{fraction}{zone}").timestamp()


def metric_names(promql: str) -> set[str]:
    return set(re.findall(r"\b((?:tritonops|nv)_[a-z_]+)\b", promql))


def _infer(server: TritonServer, count: int) -> None:
    triton = tritonclient.http.InferenceServerClient(url=f"{server.address}:{server.http_port}")
    tensor = tritonclient.http.InferInput("INPUT", [1], "FP32")
    tensor.set_data_from_numpy(np.asarray([1.0], dtype=np.float32))
    for _ in range(count):
        triton.infer("doubler", [tensor])
    triton.close()


def _wait_targets_up(prometheus: PrometheusServer, count: int) -> None:
    wait_until(lambda: list(prometheus.targets_up().values()) == ["up"] * count, description=f"prometheus to scrape {count} targets", timeout_seconds=30)


def test_the_adapter_rule_tells_a_saturated_pod_from_an_idle_one(
    tmp_path: pathlib.Path, start_triton: Callable[..., TritonServer], prometheus: PrometheusServer
) -> None:
    """Two real tritonservers as two pods: eight clients at once on one (each request waits for the
    others: queue time several times compute time), one client at a time on the other (no queue)."""
    write_model(tmp_path / "models", faults=Faults(delay_ms=40))
    busy, idle = start_triton(tmp_path / "models"), start_triton(tmp_path / "models")
    pods = {"resnet-7d9f-busy": busy, "resnet-7d9f-idle": idle}
    prometheus.start(jobs=[
        ScrapeJob(name=f"triton-{pod}", targets=[f"{server.address}:{server.metrics_port}"], labels={"namespace": "vision", "pod": pod})
        for pod, server in pods.items()
    ])
    _wait_targets_up(prometheus, 2)
    [rule] = adapter_rules()

    # Discovery, as the adapter does it: /api/v1/series for seriesQuery, named by `name`, mapped to pods by `resources`.
    def discovered() -> list[dict[str, str]]:
        return list(_api(prometheus, "series", **{"match[]": rule["seriesQuery"]}))

    wait_until(lambda: len(discovered()) == 2, description="the adapter's seriesQuery to find both pods", timeout_seconds=30)
    assert {series["pod"] for series in discovered()} == set(pods)
    for series in discovered():
        assert re.search(rule["name"]["matches"], series["__name__"])
        assert set(rule["resources"]["overrides"]) <= set(series)
    assert re.sub(rule["name"]["matches"], rule["name"]["as"], discovered()[0]["__name__"]) == "triton_queue_compute_ratio"

    with concurrent.futures.ThreadPoolExecutor(max_workers=9) as pool:
        loads = [pool.submit(_infer, busy, 6) for _ in range(8)] + [pool.submit(_infer, idle, 20)]
        for load in loads:
            load.result(timeout=120)

    promql = render_adapter_query(rule, namespace="vision", pods=sorted(pods))

    def ratios() -> dict[str, float]:
        return {sample["metric"]["pod"]: float(sample["value"][1]) for sample in query(prometheus, promql)}

    # Eight at once on one instance: each waits for about 3.5 others, against well under 1 when served alone.
    wait_until(lambda: set(ratios()) == set(pods) and ratios()["resnet-7d9f-busy"] > 2 and ratios()["resnet-7d9f-idle"] < 0.5,
               description=f"{promql} to read busy > 2 and idle < 0.5", timeout_seconds=30, interval_seconds=1)
    assert all(math.isfinite(value) and value >= 0 for value in ratios().values())


def test_operator_down_is_seen_when_no_operator_answers(tmp_path: pathlib.Path, prometheus: PrometheusServer) -> None:
    closed_port = network.free_port()  # nothing listens there
    prometheus.start(jobs=[ScrapeJob(name=OPERATOR_JOB, targets=[f"127.0.0.1:{closed_port}"])], rule_files=[RULES])
    wait_until(lambda: list(prometheus.targets_up().values()) == ["down"], description="the scrape to fail", timeout_seconds=30)
    expr = alert_rules()["TritonOpsOperatorDown"]["expr"]
    wait_until(lambda: bool(query(prometheus, expr)), description="TritonOpsOperatorDown's condition", timeout_seconds=30)
    wait_until(lambda: [alert["state"] for alert in alerts(prometheus, "TritonOpsOperatorDown")] == ["pending"],
               description="TritonOpsOperatorDown pending (it fires after its `for`)", timeout_seconds=30)


def _abort(cluster: LocalCluster, namespace: str, name: str) -> None:
    assert tritonops(["abort", name, "-n", namespace, f"--kubeconfig={cluster.kubeconfig}"]) == 0


def _roll_back(kube_client: client.ApiClient, cluster: LocalCluster, operator: OperatorProcess, namespace: str, *, version: str) -> None:
    """Start a canary of `version` and abort it; return once the operator has counted the rollback."""
    before = operator.metric("tritonops_rollbacks_total", reason="Aborted")
    patch_spec(kube_client, namespace, "m", {"model": {"version": version}})
    wait_phase(kube_client, namespace, "m", "Canary")
    _abort(cluster, namespace, "m")
    wait_phase(kube_client, namespace, "m", "RolledBack")
    wait_until(lambda: operator.metric("tritonops_rollbacks_total", reason="Aborted") == before + 1,
               description="the rollback counted", timeout_seconds=10)


def test_rules_adapter_and_dashboard_against_a_real_operator_and_triton(
    tmp_path: pathlib.Path, cluster: LocalCluster, kube_client: client.ApiClient, namespace: str, operator: OperatorProcess,
    start_triton: Callable[..., TritonServer], prometheus: PrometheusServer,
) -> None:
    write_model(tmp_path / "models")
    triton = start_triton(tmp_path / "models")
    rollout = {"steps": [50], "stepSeconds": 600, "analysis": {"intervalSeconds": 3}}
    create(kube_client, namespace, model_deployment("m", replicas=2, server={"gpu": {"count": 0}}, rollout=rollout))
    wait_phase(kube_client, namespace, "m", "Ready")
    # A rollback before Prometheus starts: a counter it first sees at 1 is no news, and must not alert.
    _roll_back(kube_client, cluster, operator, namespace, version="2")

    pod = "m-5f2c9a1e-7d9f-x2k4q"
    prometheus.start(
        jobs=[
            ScrapeJob(name=OPERATOR_JOB, targets=[f"127.0.0.1:{operator.metrics_port}"]),
            # Labels as the operator's ServiceMonitor gives a Triton pod's series.
            ScrapeJob(name="m", targets=[f"{triton.address}:{triton.metrics_port}"],
                      labels={"namespace": namespace, "pod": pod, "service": "m", REVISION_LABEL: "5f2c9a1e"}),
        ],
        rule_files=[RULES],
    )
    _wait_targets_up(prometheus, 2)
    _infer(triton, 10)
    started = time.time()
    wait_until(lambda: bool(query(prometheus, 'count_over_time(tritonops_rollbacks_total{reason="Aborted"}[1m]) >= 3')),
               description="three scrapes of the old rollback counter", timeout_seconds=30)
    wait_until(lambda: last_evaluation(prometheus) > started + 3, description="rules evaluated after them", timeout_seconds=30)
    assert alerts(prometheus, "TritonOpsRollback") == [], "an old rollback alerted when Prometheus started"

    # A real rollback now: the alert fires (no `for`), and the ModelDeployment's RolledBack phase is pending.
    _roll_back(kube_client, cluster, operator, namespace, version="3")

    def firing() -> list[dict[str, Any]]:
        return [alert for alert in alerts(prometheus, "TritonOpsRollback") if alert["state"] == "firing"]

    wait_until(lambda: bool(firing()), description="TritonOpsRollback to fire", timeout_seconds=60)
    assert [(alert["labels"]["reason"], alert["labels"]["job"]) for alert in firing()] == [("Aborted", OPERATOR_JOB)]
    assert firing()[0]["annotations"]["summary"] == "tritonops rolled back a canary (Aborted)"

    def unhealthy() -> list[dict[str, str]]:
        return [alert["labels"] for alert in alerts(prometheus, "TritonOpsModelDeploymentUnhealthy") if alert["labels"]["namespace"] == namespace]

    wait_until(lambda: bool(unhealthy()), description="TritonOpsModelDeploymentUnhealthy for m", timeout_seconds=30)
    assert [(labels["name"], labels["phase"]) for labels in unhealthy()] == [("m", "RolledBack")]

    # Every rule evaluates without error in the real Prometheus.
    evaluations = rule_evaluations(prometheus)
    assert {rule["name"] for rule in evaluations} == set(alert_rules())
    assert all(rule["health"] == "ok" for rule in evaluations), [(rule["name"], rule.get("lastError")) for rule in evaluations]

    # Every query: the rules', the adapter's as rendered for this pod, the dashboard's and its variables'.
    scraped = set(_api(prometheus, "label/__name__/values"))
    declared = set(re.findall(r"^# TYPE (\S+) ", operator.metrics_text(), flags=re.MULTILINE))
    queries = {f"alert {name}": rule["expr"] for name, rule in alert_rules().items()}
    queries.update({f"adapter {rule['name']['as']}": render_adapter_query(rule, namespace=namespace, pods=[pod]) for rule in adapter_rules()})
    queries.update({f"dashboard {where}": render_grafana(expr) for where, expr in dashboard_queries().items()})
    results = {where: query(prometheus, promql) for where, promql in queries.items()}
    for where, promql in queries.items():
        unknown = {name for name in metric_names(promql) if name not in scraped and name not in declared}
        assert not unknown, f"{where} names metrics nothing exports: {unknown}"

    # With a RolledBack ModelDeployment, a scraped operator and a Triton pod, these have data; only the
    # analysis values need a canary with real traffic (tests/e2e), and the others are alert conditions.
    may_be_empty = {where for where in queries if where.startswith("alert ")} | {
        where for where, promql in queries.items() if "tritonops_analysis_value" in promql}
    empty = [where for where, result in results.items() if not result and where not in may_be_empty]
    assert not empty, f"queries with no data: {empty}"
    assert {"alert TritonOpsRollback", "alert TritonOpsModelDeploymentUnhealthy"} <= {where for where, result in results.items() if result}
    [ratio] = results["adapter triton_queue_compute_ratio"]
    assert ratio["metric"] == {"pod": pod} and float(ratio["value"][1]) >= 0
    phases = {(sample["metric"]["namespace"], sample["metric"]["name"], sample["metric"]["phase"])
              for sample in results["dashboard Current phase [A]"]}
    assert (namespace, "m", "RolledBack") in phases

    for variable, (selector, label) in variable_queries().items():
        values = {sample["metric"].get(label) for sample in query(prometheus, f"count by ({label}) ({selector})")}
        assert {"namespace": namespace, "name": "m"}[variable] in values, (variable, values)

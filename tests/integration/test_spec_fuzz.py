"""Hundreds of generated specs against the real API server with the real operator running (issue 12, point 6).

Every spec is either refused by the API server with a message that names a `spec.` field, or accepted and
reported by the operator in status for its generation (a spec the cluster cannot satisfy shows why). The
operator never crashes, and a good object in the same namespace keeps being reconciled throughout.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.resources import GROUP, PLURAL, VERSION, create, deployment_replicas, model_deployment, patch_spec, read, wait_phase
from tests.harness.spec_fuzz import Case, cases
from tritonops.devcluster.operator_process import OperatorProcess
from tritonops.devcluster.processes import wait_until

# 12 batches of 25: a few hundred specs in well under three minutes on two shared cores.
BATCH = 25
BATCHES = 12
REPORT_TIMEOUT_SECONDS = 60.0
# Generated specs ask for up to 1000 replicas; the quota keeps that a Deployment's number, not 1000 pods.
POD_QUOTA = "20"
ANCHOR = "anchor"


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Accepted:
    name: str
    generation: int
    case: Case


def _body(*, name: str, spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ModelDeployment", "metadata": {"name": name}, "spec": spec}


def _refusal(*, error: ApiException) -> tuple[str, list[str]]:
    """The API server's message and the fields its causes name."""
    body = json.loads(error.body or "{}")
    causes = (body.get("details") or {}).get("causes") or []
    # Some causes have no field (`<nil>`): the note that the CEL rules were skipped after a schema error, the
    # details of an int-or-string value's anyOf. The scale subresource's check names its JSONPath, .spec.replicas.
    return str(body.get("message", "")), [str(cause["field"]).lstrip(".") for cause in causes if cause.get("field") not in (None, "", "<nil>")]


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((condition for condition in status.get("conditions") or [] if condition.get("type") == kind), {})


def _reported(*, status: dict[str, Any], generation: int) -> bool:
    """The operator has looked at this generation: carried out or found invalid (observedGeneration), or a
    failed pass shown on the Reconciled condition of this generation (observedGeneration stays, by design)."""
    if status.get("observedGeneration") == generation:
        return True
    reconciled = _condition(status, "Reconciled")
    return reconciled.get("status") == "False" and reconciled.get("observedGeneration") == generation


def _check_refused(*, case: Case, error: ApiException) -> None:
    assert error.status in (400, 422), f"HTTP {error.status} for {case.spec}: {error.body}"
    message, fields = _refusal(error=error)
    assert case.mode != "valid", f"a valid spec was refused: {message}\n{case.spec}"
    assert case.broken is None or case.broken.level == "schema", f"{case.broken}: refused by the API server: {message}"
    assert "spec." in message and fields and all(field.startswith("spec") for field in fields), (message, fields, case.spec)
    if case.broken is not None:
        assert case.broken.names in message, f"{message!r} does not name {case.broken.names}; spec {case.spec}"


def _check_report(*, accepted: _Accepted, status: dict[str, Any]) -> str:
    """What the operator said about an accepted spec, checked against what is known of it."""
    case = accepted.case
    ready = _condition(status, "Ready")
    invalid = status.get("phase") == "Failed" and ready.get("reason") == "InvalidSpec"
    if invalid:
        assert str(status.get("message", "")).startswith("spec."), status
        assert case.mode != "valid", f"a valid spec was reported invalid: {status['message']}\n{case.spec}"
        assert case.broken is None or case.broken.level == "operator", f"{case.broken}: reported invalid: {status['message']}"
        if case.broken is not None:
            assert str(status["message"]).startswith(case.broken.names), f"{status['message']!r} does not name {case.broken.names}"
        return "InvalidSpec"
    assert case.broken is None or case.broken.level != "operator", f"{case.broken.names} was not reported invalid: {status}\n{case.spec}"
    router = ((case.spec.get("traffic") or {}).get("router"))
    if status.get("phase") == "Failed" and ready.get("reason") in ("ChildRejected", "APINotServed"):
        # The cluster cannot carry out this generation: reported for it, with the API server's words.
        assert status.get("message") and ready.get("observedGeneration") == accepted.generation, status
        if ready["reason"] == "ChildRejected":
            assert case.mode != "valid", f"a valid spec's child was refused: {status['message']}\n{case.spec}"
            assert "refused by the API server" in str(status["message"]), status
        else:
            # A valid spec's children are valid too; only its routes may be unserved, in a cluster without the Gateway API.
            assert router == "gatewayAPI" and "install the Gateway API CRDs" in str(status["message"]), status
        return str(ready["reason"])
    reconciled = _condition(status, "Reconciled")
    if reconciled.get("status") == "False":
        assert reconciled.get("reason") == "ReconcileFailed" and reconciled.get("message"), reconciled
        assert case.mode != "valid", f"a valid spec failed to reconcile: {reconciled['message']}\n{case.spec}"
        return "ReconcileFailed"
    return str(status.get("phase"))


def _collected(problems: list[str], name: str, check: Callable[[], None]) -> bool:
    """Run a check; a failed assertion is recorded in `problems` (bounded in length) instead of raised."""
    try:
        check()
    except AssertionError as error:
        problems.append(f"{name}: {str(error)[:3000]}")
        return False
    return True


@pytest.mark.timeout(420)
def test_random_specs_are_refused_naming_the_field_or_reported_while_a_good_object_reconciles(
    kube_client: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    objects = client.CustomObjectsApi(kube_client)
    client.CoreV1Api(kube_client).create_namespaced_resource_quota(
        namespace, client.V1ResourceQuota(metadata=client.V1ObjectMeta(name="pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": POD_QUOTA}))
    )
    create(kube_client, namespace, model_deployment(ANCHOR, server={"gpu": {"count": 0}}))
    wait_phase(kube_client, namespace, ANCHOR, "Ready")
    assert operator.process is not None
    watched = operator.process
    pid, log_start = watched.pid, len(operator.log.read_text(errors="replace"))
    names = (f"fuzz-{index}" for index in itertools.count())
    outcomes: collections.Counter[str] = collections.Counter()
    # Every broken property of every batch, gathered so one run shows all of them, asserted empty at the end.
    problems: list[str] = []
    started = time.monotonic()

    def unreported(batch: list[_Accepted]) -> list[tuple[_Accepted, dict[str, Any]]]:
        listed: list[dict[str, Any]] = cast(dict[str, Any], objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))["items"]
        statuses = {item["metadata"]["name"]: item.get("status") or {} for item in listed}
        return [(item, statuses.get(item.name, {})) for item in batch if not _reported(status=statuses.get(item.name, {}), generation=item.generation)]

    @settings(
        max_examples=BATCHES, deadline=None, derandomize=True, database=None,
        # No shrinking: each step would be another batch on the cluster; the failing spec is in the message.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(batch=st.lists(cases(), min_size=BATCH, max_size=BATCH))
    def fuzz(batch: list[Case]) -> None:
        accepted: list[_Accepted] = []
        for case in batch:
            name = next(names)
            try:
                created = cast(dict[str, Any], objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _body(name=name, spec=case.spec)))
            except ApiException as error:
                outcomes["refused" if _collected(problems, name, lambda: _check_refused(case=case, error=error)) else "problem"] += 1
                continue
            accepted.append(_Accepted(name=name, generation=int(created["metadata"]["generation"]), case=case))
        try:
            wait_until(lambda: not unreported(accepted), description=f"the operator to report {len(accepted)} accepted specs",
                       timeout_seconds=REPORT_TIMEOUT_SECONDS, interval_seconds=0.5, watched=[watched])
        except TimeoutError:
            pytest.fail(f"accepted but never reported: {[(item.name, item.case.spec, status) for item, status in unreported(accepted)]}")
        for item in accepted:
            status = read(kube_client, namespace, item.name).get("status") or {}
            seen: list[str] = []
            outcomes[seen[0] if _collected(problems, item.name, lambda: seen.append(_check_report(accepted=item, status=status))) else "problem"] += 1
            objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, item.name)
        anchor = read(kube_client, namespace, ANCHOR)
        assert (anchor["status"]["phase"], anchor["status"]["observedGeneration"]) == ("Ready", 1), anchor["status"]

    fuzz()
    elapsed = time.monotonic() - started
    print(f"spec fuzz: {sum(outcomes.values())} specs in {elapsed:.0f} s: {dict(outcomes)}")
    assert not problems, f"{len(problems)} specs broke a property:\n" + "\n\n".join(problems[:15])
    # The generator reaches every outcome; one that vanished would make the properties above vacuous.
    assert sum(outcomes.values()) == BATCH * BATCHES, outcomes
    assert outcomes["refused"] >= 50 and outcomes["InvalidSpec"] >= 5 and outcomes["ChildRejected"] >= 1, outcomes
    assert sum(count for outcome, count in outcomes.items() if outcome not in ("refused", "InvalidSpec", "ReconcileFailed")) >= 50, outcomes

    # The good object is reconciled promptly after all of it: a spec change reaches status and its Deployment.
    patch_spec(kube_client, namespace, ANCHOR, {"replicas": 2})
    wait_until(
        lambda: (read(kube_client, namespace, ANCHOR).get("status") or {}).get("observedGeneration") == 2,
        description="the operator to reconcile the good object's change", timeout_seconds=15, interval_seconds=0.2,
    )
    assert read(kube_client, namespace, ANCHOR)["status"]["replicas"] == 2
    wait_until(lambda: list(deployment_replicas(kube_client, namespace, ANCHOR).values()) == [2],
               description="the good object's Deployment to scale to 2", timeout_seconds=15, interval_seconds=0.2)
    # The same process all along, alive, and no unexpected exception (whose traceback it would log).
    assert operator.process is not None and operator.process.pid == pid and operator.process.running()
    assert operator.alive()
    log = operator.log.read_text(errors="replace")[log_start:]
    assert "Traceback" not in log, log[max(0, log.find("Traceback") - 2000):][:6000]

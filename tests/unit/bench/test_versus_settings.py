"""bench-versus's settings: both tools judged alike, on identical pods, at the same canary load."""

from __future__ import annotations

import pathlib

from bench import flagger, golden, versus_settings
from tests.harness.real_node import real_node_server_spec
from tritonops import constants


def test_flaggers_fastest_setting_is_its_common_one_so_its_runs_are_shared() -> None:
    common, fastest = versus_settings.SETTINGS["common"], versus_settings.SETTINGS["fastest"]
    assert common.parameters("tritonops") == (10, 2) and common.parameters("flagger") == (10, 2)
    assert fastest.parameters("tritonops") == (5, 2)
    # Flagger's interval floor is 10 s and its threshold is tritonops' failureLimit.
    assert fastest.parameters("flagger") == common.parameters("flagger")
    assert fastest.tritonops_failure_limit == fastest.flagger_threshold
    assert set(fastest.kinds) == {"errors", "latency"} and set(common.kinds) == set(versus_settings.KINDS)


def test_both_tools_judge_with_the_same_thresholds() -> None:
    setting = versus_settings.SETTINGS["common"]
    analysis = versus_settings.flagger_analysis(setting)
    body = versus_settings.tritonops_body(setting, repository=pathlib.Path("/r"))
    tritonops = body["spec"]["rollout"]["analysis"]
    assert tritonops["intervalSeconds"] == analysis.interval_seconds == 10
    assert tritonops["failureLimit"] == analysis.threshold == 2
    assert tritonops["successRate"]["min"] * 100 == analysis.success_rate_min_percent == 99
    assert tritonops["latencyMs"]["max"] == analysis.latency_max_ms
    assert body["spec"]["rollout"]["progressDeadlineSeconds"] == analysis.progress_deadline_seconds


def test_five_percent_errors_fail_the_success_rate_check() -> None:
    assert 1 - versus_settings.KINDS["errors"].failure_rate < versus_settings.SUCCESS_RATE_MIN
    assert versus_settings.KINDS["latency"].delay_ms > versus_settings.LATENCY_MAX_MS
    assert versus_settings.KINDS["never-ready"].hang_load and versus_settings.KINDS["load-failure"].fail_load


def test_flaggers_target_runs_the_pods_tritonops_builds_for_the_same_spec() -> None:
    setting = versus_settings.SETTINGS["common"]
    version_1 = versus_settings.flagger_target(setting, repository=pathlib.Path("/r"), namespace="ns", version="1")
    version_2 = versus_settings.flagger_target(setting, repository=pathlib.Path("/r"), namespace="ns", version="2")
    assert version_1["metadata"]["name"] == "doubler" and version_1["spec"]["replicas"] == 1
    pod = version_1["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == real_node_server_spec()["image"]
    assert "--load-model=doubler" in pod["containers"][0]["args"]
    # The next release differs in the version it mounts and in the revision label, as tritonops' canary does.
    assert version_1["spec"]["template"]["metadata"]["labels"][constants.LABEL_REVISION] != \
        version_2["spec"]["template"]["metadata"]["labels"][constants.LABEL_REVISION]
    assert version_1["spec"]["selector"] == version_2["spec"]["selector"] == {"matchLabels": {"app": "doubler"}}
    mounts = {mount["mountPath"] for mount in version_2["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert "/models/doubler/2" in mounts


def test_the_canarys_load_is_what_tritonops_canary_gets_at_its_step() -> None:
    # Two replicas at one 50 % step: one stable and one canary pod share the Service's load evenly.
    assert versus_settings.CANARY_RATE == versus_settings.RATE * versus_settings.STEP_PERCENT / 100


def test_the_wrong_answer_is_written_before_the_rollout_and_only_tritonops_golden_gate_sees_it() -> None:
    assert versus_settings.KINDS["wrong-answer"].factor == 2.5
    assert "wrong-answer" not in versus_settings.SWITCHED and "wrong-answer" in versus_settings.SETTINGS["common"].kinds
    assert "wrong-answer" not in versus_settings.SETTINGS["fastest"].kinds
    setting = versus_settings.SETTINGS["common"]
    gated = versus_settings.tritonops_body(setting, repository=pathlib.Path("/r"), kind="wrong-answer")["spec"]["rollout"]["analysis"]
    assert gated["golden"] == golden.GOLDEN
    assert "golden" not in versus_settings.tritonops_body(setting, repository=pathlib.Path("/r"), kind="errors")["spec"]["rollout"]["analysis"]
    # Flagger's checks are its two metrics only: nothing in them reads an answer.
    checks = flagger.canary(name="doubler", namespace="ns", analysis=versus_settings.flagger_analysis(setting))["spec"]["analysis"]["metrics"]
    assert [check["name"] for check in checks] == [flagger.SUCCESS_RATE, flagger.LATENCY]

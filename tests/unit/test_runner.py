from __future__ import annotations

import json
import logging

import pytest

from tritonops.cli import _parser, main
from tritonops.leader import Timings
from tritonops.runner import configure_logging


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="json", level="INFO")
    logging.getLogger("tritonops.test").info("reconciled %s", "vision/resnet")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["message"] == "reconciled vision/resnet"
    assert entry["level"] == "INFO" and entry["logger"] == "tritonops.test"


def test_run_arguments() -> None:
    arguments = _parser().parse_args(["run", "-n", "a", "--namespace", "b", "--liveness", "off", "--metrics-port", "9000"])
    assert arguments.namespace == ["a", "b"]
    assert arguments.liveness == "off"
    assert arguments.metrics_port == 9000


def test_leader_election_timings_default_to_the_elector_s_and_unsafe_ones_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = _parser().parse_args(["run"])
    assert Timings(
        lease_seconds=arguments.leader_election_lease_seconds,
        renew_deadline_seconds=arguments.leader_election_renew_deadline_seconds,
        retry_seconds=arguments.leader_election_retry_seconds,
    ) == Timings()
    with pytest.raises(SystemExit) as exited:
        main(["run", "--leader-elect", "--leader-election-lease-seconds=5", "--leader-election-renew-deadline-seconds=6"])
    assert exited.value.code == 2 and "renew deadline" in capsys.readouterr().err

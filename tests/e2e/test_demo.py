"""`make demo`, the README's main command, end to end: it must roll version 2 back, promote version 3, stop
version 4 at the golden gate and clean up.

The demo runs as `make demo` runs it: `python -m tritonops.demo` under tests/sandbox.sh, so in a
loopback-only network namespace of its own, apart from this session's cluster (whose real nodes use the
same 127.0.0.1N addresses and 127.88.N.0/24 pod subnets). It starts its own control plane and real
nodes, and installs the operator with Helm from its image.
"""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[2]
DEMO_TIMEOUT_SECONDS = 540


def processes_naming(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (the demo's work directory)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if state != "Z" and text in command:
            found.append(f"{entry.name}: {command[:200]}")
    return found


@pytest.mark.timeout(DEMO_TIMEOUT_SECONDS + 150)
def test_make_demo_rolls_back_version_2_promotes_version_3_and_stops_version_4_at_the_golden_gate(tmp_path: pathlib.Path) -> None:
    work_dir = tmp_path / "demo"
    result = tmp_path / "result.json"
    output = tmp_path / "demo.log"
    command = [
        str(ROOT / "tests" / "sandbox.sh"), sys.executable, "-m", "tritonops.demo",
        f"--timeout={DEMO_TIMEOUT_SECONDS}", f"--work-dir={work_dir}", "--keep", f"--result={result}",
    ]
    with output.open("w") as log:
        demo = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            demo.wait(timeout=DEMO_TIMEOUT_SECONDS + 60)
        except subprocess.TimeoutExpired:
            # As Ctrl-C would: the demo tears down what it started before it exits.
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
    text = output.read_text(errors="replace")
    assert demo.returncode == 0, text[-6000:]
    outcome = json.loads(result.read_text())
    assert outcome["succeeded"] and outcome["version2RolledBack"] and outcome["version3Promoted"], outcome
    assert outcome["version4StoppedByTheGoldenGate"], outcome

    # Version 2 was rolled back by the analysis of real Triton metrics: its requests failed in torch.
    failed = outcome["rolledBack"]["failedRevision"]
    assert failed["version"] == "2" and failed["reason"] == "AnalysisFailed", failed
    success = next(m for m in failed["measurements"] if m["check"] == "successRate")
    assert success["passed"] is False and success["value"] < 0.95
    assert outcome["rolledBack"]["stableRevision"]["version"] == "1"

    # Version 3 went through both steps and was promoted after passed analyses.
    promoted = outcome["promoted"]
    assert promoted["stableRevision"]["version"] == "3" and promoted["history"][-1]["outcome"] == "Promoted"
    assert promoted["lastAnalysis"]["result"] == "Passed"
    assert "canaryRevision" not in promoted

    # Version 4 answered wrongly (fast and error-free): the golden gate, on version 3's packaged golden set,
    # rolled it back before it took traffic; version 3, the baseline, answered within tolerance.
    gated = outcome["gated"]
    failed = gated["failedRevision"]
    assert failed["version"] == "4" and failed["reason"] == "GoldenGateFailed", failed
    assert "before the canary took any traffic" in failed["message"]
    golden = [m for m in failed["measurements"] if m["check"].startswith("golden:") and "passed" in m]
    assert golden and all(m["passed"] is False and m["value"] > 1e-3 for m in golden), failed["measurements"]
    assert gated["stableRevision"]["version"] == "3" and gated["history"][-1]["outcome"] == "RolledBack"

    # The load went through the Service's selector: versions 1 and 3 answered, version 2 failed, and not one
    # request reached version 4.
    load = outcome["load"]
    assert load["1"]["success"] > 0 and load["3"]["success"] > 0
    assert load["2"]["failure"] > 0 and load["2"]["success"] == 0
    assert load.get("4", {"success": 0, "failure": 0}) == {"success": 0, "failure": 0}, load

    # What a user sees: the packaging, the live rollback and promotion, the final status, the teardown.
    assert "$ tritonops package tritonops.demo.model:classifier -e float32:1x4" in text
    assert "RolledBack" in text and "canary v3 weight 67%  step 2/2 (67%)" in text
    assert "analysis Passed" in text and "analysis Failed" in text
    assert "ModelDeployment demo/classifier" in text  # the `tritonops status` report
    assert "Golden gate (worst |difference| per output)" in text and "stopped by the golden gate" in text
    assert "torn down" in text and "demo succeeded" in text
    # The operator ran as users run it: a pod from its image, installed by Helm, on a real node.
    assert "`helm install` of charts/tritonops" in text and "Ready on a real node" in text
    assert outcome["seconds"] < DEMO_TIMEOUT_SECONDS

    # Nothing it started is left running.
    assert processes_naming(str(work_dir)) == []

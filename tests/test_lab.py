"""``privlink lab``: every step passes against an embedded privlink, and a dead target fails
the health step with one sentence."""

from __future__ import annotations

import json
import subprocess
import sys


def _lab(*args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "privlink", "lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_lab_passes_every_step():
    out = _lab("--json")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["ok"] is True
    steps = {s["step"]: s for s in report["steps"]}
    for n in (
        "1",
        "2",
        "3",
        "3b",
        "4",
        "5",
        "6",
        "check 1",
        "check 2",
        "check 3",
        "check 4",
        "check 5",
        "check 6",
        "7",
    ):
        assert steps[n]["ok"] is True, steps.get(n)
        assert steps[n]["cli"], n  # each step names its aws CLI equivalent
    assert "pendingAcceptance" in steps["5"]["saw"]
    assert "PROXY v2" in steps["check 5"]["saw"] and "vpce-" in steps["check 5"]["saw"]
    assert "all ACCEPT" in steps["check 6"]["saw"]
    assert report["seconds"] < 60


def test_lab_walkthrough_prints_commands_expectations_and_results():
    out = _lab()
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "$ aws ec2 accept-vpc-endpoint-connections" in text
    assert text.count("expect:") == text.count("saw:") >= 15
    assert "every step passed" in text


def test_lab_names_the_health_step_when_the_target_dies():
    out = _lab("--fault", "kill-target")
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "step 2 (target health) failed" in lines[0], out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_lab_refuses_an_endpoint_where_nothing_answers():
    out = _lab("--endpoint-url", "http://127.0.0.1:1", timeout=60)
    assert out.returncode != 0 and "no privlink server answers" in out.stderr

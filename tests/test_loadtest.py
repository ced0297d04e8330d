"""Row 23 in a small configuration: the Chromium load test (tools/loadtest/chromium.py) with 2 Chromium sessions x 6 interactions while a third
party (session 0) retrains and publishes a model. Asserts no errors and that every interaction completed;
latencies are printed by the script, never asserted (docs/reliability.md has the figures of a full run)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.browser import browser_test_marks
from tools.harness import PROJECT_ROOT, SHIPPED_MODEL

pytestmark = [
    *browser_test_marks(),
    pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="needs the shipped model"),
]


def test_two_sessions_interact_while_a_third_retrains_without_errors(tmp_path):
    report = tmp_path / "loadtest.json"
    done = subprocess.run(
        [sys.executable, "-m", "tools.loadtest.chromium", "--sessions", "2", "--interactions", "6", "--retrain",
         "--epochs", "1", "--think", "0.5", "--timeout", "300", "--json", str(report),
         "--log", str(PROJECT_ROOT / "artifacts" / "loadtest_server.log"),
         "--screenshots", str(PROJECT_ROOT / "artifacts" / "screenshots" / "loadtest")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=420,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(report.read_text())
    assert summary["errors"] == 0, summary["error_list"]
    assert done.returncode == 0, done.stdout[-3000:]
    assert summary["completed"] == 12
    assert {"upload -> prediction", "layer -> heatmap", "channel -> heatmap"} <= set(summary["latency"])
    outcome = summary["retrain_outcome"]
    assert outcome["state"] == "done" and outcome["published"], outcome
    assert summary["server_rss_mb"]["peak_server"] > 0

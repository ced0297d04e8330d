"""The WebSocket load test (tools/loadtest/websocket.py) end to end: 3 WebSocket clients x 6 interactions on a
real server, one retraining; and 2 clients x 3 interactions while client 0's layer-images job runs.

No timing assertions: this checks that every interaction completes without an error, that the retrain
the server spawned published a model (on a copy: models/ is never written) while the clients interacted,
and that the Channels view's background job of a whole layer started (--layer-images).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tools.harness import PROJECT_ROOT, SHIPPED_MODEL

SESSIONS, INTERACTIONS = 3, 6


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="needs the shipped model models/shapes_cnn.h5")
def test_three_clients_interact_while_one_retrains(tmp_path):
    report = tmp_path / "loadtest_ws.json"
    run = subprocess.run(
        [sys.executable, "-m", "tools.loadtest.websocket", "--sessions", str(SESSIONS), "--interactions", str(INTERACTIONS),
         "--retrain", "--epochs", "1", "--think", "0.5", "--model", str(SHIPPED_MODEL), "--json", str(report)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert report.is_file(), f"no report (exit {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    summary = json.loads(report.read_text())

    assert summary["errors"] == 0, summary["error_list"]
    assert run.returncode == 0, run.stdout[-3000:]
    assert summary["completed"] == SESSIONS * INTERACTIONS
    assert {"upload -> prediction", "layer -> heatmap", "channel -> heatmap"} <= set(summary["latency"])
    assert summary["retrain_outcome"]["state"] == "done"
    assert summary["retrain_outcome"]["published"] is True


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="needs the shipped model models/shapes_cnn.h5")
def test_two_clients_interact_while_a_layer_images_job_runs(tmp_path):
    report = tmp_path / "loadtest_ws_layer_images.json"
    run = subprocess.run(
        [sys.executable, "-m", "tools.loadtest.websocket", "--sessions", "2", "--interactions", "3", "--no-retrain",
         "--layer-images", "--think", "0.5", "--model", str(SHIPPED_MODEL), "--json", str(report)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert report.is_file(), f"no report (exit {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    summary = json.loads(report.read_text())

    assert summary["errors"] == 0, summary["error_list"]
    assert run.returncode == 0, run.stdout[-3000:]
    assert summary["completed"] == 2 * 3  # client 0's set-up steps and looks at the job are not interactions
    outcome = summary["layer_images_outcome"]
    assert outcome["started"] is True, outcome
    assert outcome["layer"] == "conv2_2" and outcome["images_at_last_look"].startswith("conv2_2: ")
    assert "layer images: layer conv2_2, started True" in run.stdout

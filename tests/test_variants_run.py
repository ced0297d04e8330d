"""`python -m shapes_viz variants`: every variant trained on the same data, results.json complete and written
atomically, a run killed halfway resumes without training again what was done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shapes_viz import cli
from shapes_viz.model_files import check_model_file
from shapes_viz.training.variants_run import multiply_adds
from shapes_viz.variants import VARIANTS

ROOT = Path(__file__).resolve().parent.parent


def test_multiply_adds_count_every_weight_use_like_keras_shapes_say():
    model = VARIANTS["tutorial"].build(0)
    expected = 0
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            h, w, c_out = (int(d) for d in layer.output.shape[1:])
            kh, kw, c_in, _ = layer.kernel.shape
            expected += h * w * c_out * kh * kw * c_in
        elif type(layer).__name__ == "Dense":
            expected += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"macs_{os.getpid()}.h5"
    model.save(path)
    try:
        assert multiply_adds(check_model_file(path).layers) == expected
    finally:
        path.unlink()
    assert 15_000_000 < expected < 17_000_000  # "about 16 million multiply-adds per drawing"


@pytest.mark.slow
def test_a_run_killed_halfway_resumes_and_writes_complete_results(tiny_data, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "shapes_viz", "variants", "--data", str(tiny_data), "--epochs", "1",
               "--only", "tiny_vgg,one_block_gap", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    first = out / "tiny_vgg" / "seed0" / "model.h5"
    deadline = time.monotonic() + 240
    while not (out / "results.json").is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # killed after the first variant, during (or before) the second
    process.wait(timeout=30)
    assert first.is_file() and json.loads((out / "results.json").read_text())["variants"]["tiny_vgg"]
    made = first.stat().st_mtime_ns
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tiny_vgg seed 0: done before, kept" in done.stdout
    assert first.stat().st_mtime_ns == made  # not trained again
    results = json.loads((out / "results.json").read_text())
    assert set(results["variants"]) == {"tiny_vgg", "one_block_gap"}
    for name, result in results["variants"].items():
        assert result["params"] == VARIANTS[name].params
        assert result["multiply_adds"] > 0 and 0 <= result["test_accuracy"]["mean"] <= 1
        assert 0 <= result["browser_accuracy"]["mean"] <= 1 and 0 <= result["dead_share"]["mean"] <= 1
        (run,) = result["runs"]
        assert run["epochs_run"] == 1 and len(run["val_accuracy"]) == 1 and run["latency_ms"] > 0
    history = json.loads((out / "one_block_gap" / "seed0" / "model.history.json").read_text())
    assert history["architecture"] == "one_block_gap"


def test_unknown_variants_are_one_error_line(tmp_path, capsys):
    assert cli.main(["variants", "--only", "tiny_vgg,vgg16", "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("error: Unknown variant") and "vgg16" in err[0]
    assert not (tmp_path / "x").exists()

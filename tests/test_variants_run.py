"""`python -m shapes_viz variants`: every variant trained on the same data, results.json complete and written
atomically, a run killed halfway resumes without training again what was done, `--jobs 2` writes the same results
as one job and a killed worker fails only its seed, an unusable data folder is one error line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shapes_viz import cli
from shapes_viz.model_files import check_model_file
from shapes_viz.training.variants_run import (MIN_TRAIN_PER_CLASS, PROCESS_DIED, multiply_adds,
                                                 run_variants)
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


def _structure(results: dict) -> tuple:
    """The keys of results.json at every level (the run's values aside)."""
    return (sorted(results), {name: (sorted(result), [sorted(run) for run in result["runs"]])
                              for name, result in results["variants"].items()})


@pytest.mark.slow
def test_two_jobs_write_the_same_results_as_one(tiny_data, tmp_path, capsys):
    # The tutorial recipe: 2 steps an epoch on tiny_data, where the default recipe runs 64.
    arguments = ["variants", "--data", str(tiny_data), "--epochs", "1", "--recipe", "tutorial",
                 "--only", "tiny_vgg,one_block_gap"]
    assert cli.main([*arguments, "--out", str(tmp_path / "one")]) == 0
    capsys.readouterr()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "shapes_viz", *arguments, "--jobs", "2", "--out", str(tmp_path / "two")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    for name in ("tiny_vgg", "one_block_gap"):
        assert sum(line.startswith(f"{name} seed 0: trained in ") for line in lines) == 1
        assert sum(line.startswith(f"{name}: ") for line in lines) == 1
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert _structure(two) == _structure(one)
    assert list(two["variants"]) == ["tiny_vgg", "one_block_gap"]  # the order asked for, whichever ended first
    for name, result in two["variants"].items():
        assert result["params"] == one["variants"][name]["params"] == VARIANTS[name].params
        assert result["multiply_adds"] == one["variants"][name]["multiply_adds"]
        (run,) = result["runs"]
        assert run["epochs_run"] == 1 and 0 <= run["test_accuracy"] <= 1 and run["latency_ms"] > 0
        history = json.loads((tmp_path / "two" / name / "seed0" / "model.history.json").read_text())
        assert history["architecture"] == name


@pytest.mark.slow
def test_a_killed_worker_fails_only_its_seed_and_the_run_resumes(tiny_data, tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "shapes_viz", "variants", "--data", str(tiny_data), "--epochs", "1",
               "--recipe", "tutorial", "--only", "tiny_vgg,one_block_gap", "--jobs", "2", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers = []
    while not workers and time.monotonic() < deadline and process.poll() is None:
        workers = [child for child in psutil.Process(process.pid).children()
                   if "spawn_main" in " ".join(child.cmdline())]  # not the resource tracker
        time.sleep(0.05)
    assert workers, "no worker process started"
    workers[0].kill()  # still importing TensorFlow or training: either way its seed cannot finish
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stdout + stderr
    assert stderr == ""
    failed = [line for line in stdout.splitlines() if line.endswith(f": failed: {PROCESS_DIED}")]
    assert len(failed) == 1, stdout
    results = json.loads((out / "results.json").read_text())
    runs = [run for result in results["variants"].values() for run in result["runs"]]
    assert set(results["variants"]) == {"tiny_vgg", "one_block_gap"} and len(runs) == 2
    assert [run["error"] for run in runs if "error" in run] == [PROCESS_DIED]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("done before, kept") == 1 and done.stdout.count("trained in") == 1
    results = json.loads((out / "results.json").read_text())
    assert all("error" not in run and run["epochs_run"] == 1
               for result in results["variants"].values() for run in result["runs"])


def _too_small(root: Path) -> Path:
    """1 training and 1 validation drawing per class."""
    from shapes_viz.generator import generate_dataset

    generate_dataset(root, per_class=2, seed=0)
    return root


def _plain_too_small(root: Path) -> Path:
    """A folder of class subfolders with 1 drawing each: nothing to split into training and validation."""
    shutil.copytree(_too_small(root.parent / "split") / "training_set", root)
    return root


def _empty(root: Path) -> Path:
    root.mkdir()
    return root


@pytest.mark.parametrize("make, expected", [
    (_too_small, ["is too small to train the variants", "circles 1, squares 1, triangles 1 usable training",
                  f"at least {MIN_TRAIN_PER_CLASS} training"]),
    (_plain_too_small, ["is too small to train the variants", "holds circles 1, squares 1, triangles 1",
                        f"at least {MIN_TRAIN_PER_CLASS} training"]),
    (_empty, ["No class folders in"]),
    (lambda root: root, ["Data folder not found"]),
], ids=["too-small", "plain-too-small", "empty", "missing"])
def test_an_unusable_data_folder_is_one_error_line_before_anything_is_written(tmp_path, capsys, make, expected):
    data = make(tmp_path / "data")
    out = tmp_path / "out"
    assert cli.main(["variants", "--data", str(data), "--only", "tiny_vgg", "--jobs", "2", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("error: ") and str(data) in err[0], captured
    assert all(text in err[0] for text in expected), err[0]
    assert captured.out == "" and not out.exists()


def test_jobs_must_be_a_positive_integer(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["variants", "--jobs", "0", "--out", "x"])
    assert exit_info.value.code == 2
    assert "argument --jobs: expected a positive integer, received '0'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="jobs=0"):
        run_variants("data", "x", jobs=0)

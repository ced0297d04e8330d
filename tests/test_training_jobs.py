"""shapes_viz.training.jobs, .status and .progress: the training subprocess as the server sees it.

Most tests use a fake trainer (a small script speaking the CLI's progress protocol) because the subject is
the job handling, not training; `test_real_cli_one_epoch` runs the real CLI once on a tiny generated set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shapes_viz.artifacts import read_history
from shapes_viz.errors import TrainingBusyError, TrainingError
from shapes_viz.training import CANCELLED, DONE, FAILED, IDLE, KEPT, RUNNING, TrainingJobs, TrainRequest
from shapes_viz.training.progress import parse_progress
from shapes_viz.training.status import JOB_FILE, STOP_FILE

FAKE_TRAINER = textwrap.dedent(
    """
    import argparse, json, os, sys, time
    from pathlib import Path

    parser = argparse.ArgumentParser()
    parser.add_argument("--out"); parser.add_argument("--progress"); parser.add_argument("--stop-file")
    parser.add_argument("--epochs", type=int, default=3)
    args, _ = parser.parse_known_args()
    mode = os.environ.get("FAKE_MODE", "ok")
    delay = float(os.environ.get("FAKE_EPOCH_SECONDS", "0.05"))

    def emit(event):
        with open(args.progress, "a") as handle:
            handle.write(json.dumps(event) + "\\n")

    if mode == "busy":
        emit({"event": "error", "message": "another training is running"})
        sys.exit(3)
    if mode == "crash":
        print("Traceback (most recent call last):\\nRuntimeError: boom", flush=True)
        sys.exit(1)
    emit({"event": "start", "epochs": args.epochs, "recipe": "stable", "train_count": 21, "val_count": 9,
          "skipped": ["bad.png: corrupt image"]})
    for epoch in range(1, args.epochs + 1):
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if os.path.exists(args.stop_file):
                emit({"event": "cancelled"})
                sys.exit(0)
            time.sleep(0.01)
        emit({"event": "epoch", "epoch": epoch, "epochs": args.epochs, "loss": 1.0 / epoch,
              "accuracy": 0.3 * epoch, "val_loss": 1.1 / epoch, "val_accuracy": 0.25 * epoch})
        if mode == "error" and epoch == 1:
            emit({"event": "error", "message": "Training diverged (loss became NaN)"})
            sys.exit(2)
    Path(args.out).write_bytes(b"model")
    emit({"event": "done", "model_path": args.out, "best_epoch": args.epochs, "val_accuracy": 0.75})
    """
)


@pytest.fixture
def fake_trainer(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    return [sys.executable, str(script)]


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder / "shapes_cnn.h5"


def make_jobs(model_path: Path, trainer: list[str], **env: str) -> TrainingJobs:
    return TrainingJobs(model_path, trainer=trainer, env={**os.environ, **env}, nice=0)


def request(tmp_path: Path, **kwargs) -> TrainRequest:
    return TrainRequest(data_dir=tmp_path / "data", **kwargs)


def test_idle_before_any_job(model_path):
    status = TrainingJobs(model_path).status()
    assert status.state == IDLE and not status.active and status.run_dir is None


def test_job_runs_to_done_and_reports_every_epoch(tmp_path, model_path, fake_trainer):
    jobs = make_jobs(model_path, fake_trainer)
    started = jobs.start(request(tmp_path, epochs=3))
    assert started.active
    run_dir = Path(started.run_dir)
    assert run_dir.parent == model_path.parent / ".runs"
    status = jobs.wait(timeout=30)
    assert status.state == DONE, status
    assert (status.epoch, status.epochs) == (3, 3)
    assert status.history["loss"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert status.history["val_accuracy"] == pytest.approx([0.25, 0.5, 0.75])
    assert status.best_epoch == 3 and status.val_accuracy == pytest.approx(0.75)
    assert status.train_count == 21 and status.skipped == ["bad.png: corrupt image"]
    assert "best epoch 3" in status.message
    assert model_path.read_bytes() == b"model"
    job = json.loads((run_dir / JOB_FILE).read_text())
    assert "--epochs" in job["command"] and str(model_path) in job["command"]


def test_a_second_start_is_refused_while_running_even_from_another_server(tmp_path, model_path, fake_trainer):
    jobs = make_jobs(model_path, fake_trainer, FAKE_EPOCH_SECONDS="0.5")
    jobs.start(request(tmp_path, epochs=20))
    try:
        with pytest.raises(TrainingBusyError, match="already running") as refused:
            jobs.start(request(tmp_path, epochs=1))
        from shapes_viz.ui import i18n  # the UI's errors.<code> in English is the message itself

        assert refused.value.code in ("training_busy", "training_busy_epoch")
        assert i18n.text("en", f"errors.{refused.value.code}", **refused.value.values) == str(refused.value)
        other_server = make_jobs(model_path, fake_trainer)  # same files, no process handle
        deadline = time.monotonic() + 20
        while other_server.status().state != RUNNING and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other_server.status().state == RUNNING  # every session sees the running job
        with pytest.raises(TrainingBusyError):
            other_server.start(request(tmp_path, epochs=1))
    finally:
        jobs.cancel()
        jobs.wait(timeout=20)


def test_cancel_stops_within_an_epoch_and_publishes_nothing(tmp_path, model_path, fake_trainer):
    jobs = make_jobs(model_path, fake_trainer, FAKE_EPOCH_SECONDS="0.3")
    jobs.start(request(tmp_path, epochs=50))
    deadline = time.monotonic() + 20
    while jobs.status().epoch < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    epoch_at_cancel = jobs.status().epoch
    assert jobs.cancel() is True
    status = jobs.wait(timeout=20)
    assert status.state == CANCELLED and status.cancel_requested
    assert status.epoch <= epoch_at_cancel + 1, (status.epoch, epoch_at_cancel)  # within the running epoch
    assert "cancel" in status.message.lower()
    assert not model_path.exists()
    assert jobs.cancel() is False  # nothing active any more


def test_trainer_reporting_busy_is_a_failure_with_its_message(tmp_path, model_path, fake_trainer):
    jobs = make_jobs(model_path, fake_trainer, FAKE_MODE="busy")
    jobs.start(request(tmp_path))
    status = jobs.wait(timeout=20)
    assert status.state == FAILED
    assert status.message == "another training is running"


def test_error_event_keeps_its_reason(tmp_path, model_path, fake_trainer):
    jobs = make_jobs(model_path, fake_trainer, FAKE_MODE="error")
    jobs.start(request(tmp_path, epochs=5))
    status = jobs.wait(timeout=20)
    assert status.state == FAILED and "diverged" in status.message
    assert status.epoch == 1 and not model_path.exists()


def test_crash_without_result_is_reported_with_exit_code_and_last_output(tmp_path, model_path, fake_trainer):
    jobs = make_jobs(model_path, fake_trainer, FAKE_MODE="crash")
    jobs.start(request(tmp_path))
    status = jobs.wait(timeout=20)
    assert status.state == FAILED
    assert "code 1" in status.message and "RuntimeError: boom" in status.message
    # a server restarted later (no process handle) still reports the failure
    assert make_jobs(model_path, fake_trainer).status().state == FAILED


def test_missing_trainer_executable_is_a_training_error(tmp_path, model_path):
    jobs = TrainingJobs(model_path, trainer=[str(tmp_path / "no-such-program")], nice=0)
    with pytest.raises(TrainingError, match="Could not start"):
        jobs.start(request(tmp_path))
    assert jobs.status().state == FAILED


def test_old_runs_are_pruned(tmp_path, model_path, fake_trainer):
    jobs = TrainingJobs(model_path, trainer=fake_trainer, keep_runs=2, nice=0)
    for _ in range(4):
        jobs.start(request(tmp_path, epochs=1))
        assert jobs.wait(timeout=20).state == DONE
    assert len(list((model_path.parent / ".runs").iterdir())) == 3  # 2 kept + the newest


def test_runs_of_another_model_in_the_same_folder_are_not_mixed_up(tmp_path, model_path, fake_trainer):
    make_jobs(model_path, fake_trainer).start(request(tmp_path, epochs=1))
    other = make_jobs(model_path.with_name("other.h5"), fake_trainer)
    assert other.status().state == IDLE
    make_jobs(model_path, fake_trainer).wait(timeout=20)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(epochs=0), "Epochs"),
        (dict(epochs=10_000), "Epochs"),
        (dict(batch_size=0), "Batch size"),
        (dict(generate=1), "Generated"),
        (dict(recipe="nope"), "Unknown recipe"),
        (dict(seed=-1), "Seed"),
    ],
)
def test_invalid_requests_are_refused_before_spawning(tmp_path, model_path, kwargs, error):
    jobs = TrainingJobs(model_path, trainer=["false"])
    with pytest.raises(TrainingError, match=error):
        jobs.start(request(tmp_path, **kwargs))
    assert not (model_path.parent / ".runs").exists()


def test_request_arguments():
    args = TrainRequest(data_dir=Path("/d"), generate=10, epochs=2, batch_size=8, seed=5).cli_arguments()
    assert args == ["--generate", "10", "--recipe", "stable", "--seed", "5", "--epochs", "2", "--batch-size", "8"]
    assert TrainRequest(data_dir=Path("/d")).cli_arguments()[:2] == ["--data", "/d"]
    assert "--publish-if-worse" not in TrainRequest(data_dir=Path("/d")).cli_arguments()
    assert TrainRequest(data_dir=Path("/d"), publish_if_worse=True).cli_arguments()[-1] == "--publish-if-worse"


def test_parse_progress_reads_a_kept_outcome_and_the_gate_of_a_done_one():
    kept = parse_progress([
        '{"event": "start", "epochs": 1, "recipe": "tutorial", "train_count": 21, "val_count": 9, "skipped": []}\n',
        '{"event": "kept", "message": "Not published: ...", "new_accuracy": 0.25, "current_accuracy": 1.0, "val_count": 9}\n',
    ])
    assert kept["terminal"] == "kept" and kept["message"] == "Not published: ..."
    assert (kept["val_accuracy"], kept["current_accuracy"]) == (0.25, 1.0)
    done = parse_progress(['{"event": "done", "best_epoch": 2, "val_accuracy": 0.9, '
                           '"publish_gate": {"current_accuracy": 0.8, "new_accuracy": 0.9}}\n'])
    assert done["terminal"] == "done" and done["current_accuracy"] == 0.8


def test_the_events_the_trainer_writes_are_the_events_the_app_reads(tmp_path):
    """progress.py both writes (the trainer's side) and parses (the app's side) one vocabulary."""
    from shapes_viz.errors import ModelNotPublished, TrainingCancelled
    from shapes_viz.training import progress

    metrics = {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.75}
    history = {"best_epoch": 2, "val_accuracy_best": 0.75, "seconds": 3.0}
    runs = {
        "done": [progress.done_event(tmp_path / "m.h5", history, {"current_accuracy": 0.5})],
        "kept": [progress.failure_event(ModelNotPublished(0.25, 1.0, 9))],
        "cancelled": [progress.failure_event(TrainingCancelled("stopped"))],
        "error": [progress.failure_event(TrainingBusyError("Another training is running"))],
    }
    summaries = {}
    for name, ending in runs.items():
        path = tmp_path / name / "progress.jsonl"
        write = progress.ProgressWriter(path)
        for event in [progress.start_event(2, "stable", 21, 9, ["bad.png: corrupt"]),
                      progress.epoch_event(1, 2, metrics), progress.epoch_event(2, 2, metrics), *ending]:
            write(event)
        summaries[name] = parse_progress(path.read_text().splitlines(keepends=True))
    for name, summary in summaries.items():
        assert summary["terminal"] == name
        assert summary["started"] and (summary["epoch"], summary["epochs"]) == (2, 2)
        assert summary["history"]["val_accuracy"] == [0.75, 0.75] and summary["skipped"] == ["bad.png: corrupt"]
    assert (summaries["done"]["best_epoch"], summaries["done"]["current_accuracy"]) == (2, 0.5)
    assert (summaries["kept"]["val_accuracy"], summaries["kept"]["current_accuracy"]) == (0.25, 1.0)
    assert summaries["cancelled"]["message"] == progress.CANCELLED_MESSAGE
    assert summaries["error"]["message"] == "Another training is running"
    assert progress.failure_event(ValueError("boom")) == {"event": "error", "message": "ValueError: boom"}
    # the message's code and values travel with it (the UI shows it in the page's language)
    assert (summaries["kept"]["message_code"], summaries["kept"]["message_values"]) == (
        "model_not_published", {"new_accuracy": 0.25, "current_accuracy": 1.0, "val_count": 9})
    assert (summaries["cancelled"]["message_code"], summaries["cancelled"]["message_values"]) == ("training_cancelled", {})
    assert summaries["error"]["message_code"] is None  # raised without a code: shown as it is
    assert summaries["done"]["message_code"] is None  # run_status words the published message
    busy = progress.failure_event(TrainingBusyError("Another training is running; wait for it to finish.",
                                                    code="training_locked"))
    assert busy == {"event": "error", "message": "Another training is running; wait for it to finish.", "busy": True,
                    "code": "training_locked", "values": {}}


def test_parse_progress_reads_message_codes_and_tolerates_bad_ones():
    def ending(event: dict) -> dict:
        summary = parse_progress([json.dumps(event) + "\n"])
        return {key: summary[key] for key in ("terminal", "message", "message_code", "message_values")}

    assert ending({"event": "error", "message": "Data folder not found: /d", "code": "data_folder_missing",
                   "values": {"folder": "/d", "nested": [1]}}) == {
        "terminal": "error", "message": "Data folder not found: /d", "message_code": "data_folder_missing",
        "message_values": {"folder": "/d"}}  # only plain values are kept
    for bad in ({"code": "Not A Code"}, {"code": 3}, {"code": "data_folder_missing", "values": [1]}):
        assert ending({"event": "error", "message": "old text", **bad})["message_code"] is None, bad
    assert ending({"event": "error"}) == {"terminal": "error", "message": "Training failed.",
                                          "message_code": "training_failed", "message_values": {}}
    assert ending({"event": "kept"})["message_code"] == "model_kept"
    assert ending({"event": "cancelled"})["message_code"] == "training_cancelled"


def test_parse_progress_tolerates_partial_and_repeated_lines():
    lines = [
        '{"event": "start", "epochs": 2, "recipe": "stable", "train_count": 3, "val_count": 1, "skipped": []}\n',
        '{"event": "epoch", "epoch": 1, "epochs": 2, "loss": 1, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4}\n',
        '{"event": "epoch", "epoch": 1, "epochs": 2, "loss": 1, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4}\n',
        '{"event": "epoch", "epo',
    ]
    summary = parse_progress(lines)
    assert summary["started"] and summary["terminal"] is None
    assert summary["epoch"] == 1 and summary["history"]["loss"] == [1.0]


def test_real_cli_one_epoch(tmp_path, model_path):
    """The real trainer, 1 epoch on a tiny generated set: progress events, a published model, history."""
    pytest.importorskip("tensorflow")
    jobs = TrainingJobs(model_path, nice=0)
    jobs.start(TrainRequest(data_dir=tmp_path / "unused", generate=8, recipe="tutorial", epochs=1, batch_size=16, seed=3))
    status = jobs.wait(timeout=240)
    log = (Path(status.run_dir) / "log.txt").read_text(errors="replace")
    assert status.state == DONE, f"{status.message}\n{log[-2000:]}"
    assert status.epoch == 1 and len(status.history["val_accuracy"]) == 1
    assert model_path.exists()
    history = read_history(model_path)
    assert history is not None and len(history["loss"]) == 1
    assert not (Path(status.run_dir) / STOP_FILE).exists()


@pytest.mark.parametrize("name", ["jobs", "status", "progress"])
def test_the_job_side_is_core_code(name):
    """No Streamlit, Plotly or TensorFlow in the job manager (it must import fast and run anywhere)."""
    import ast
    import importlib

    module = importlib.import_module(f"shapes_viz.training.{name}")
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"streamlit", "plotly", "tensorflow", "keras"}, imported


def test_importing_the_training_package_imports_no_tensorflow():
    """The app imports `shapes_viz.training` (the jobs API) and `shapes_viz.artifacts`; TensorFlow stays out."""
    code = (
        "import sys, shapes_viz.training, shapes_viz.artifacts\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_real_cli_worse_model_ends_kept_with_both_accuracies(tmp_path, model_path):
    """The real trainer, 1 epoch, over a copy of the shipped model (99.8%): the gate keeps it; the job ends
    "kept" (not "failed") with the trainer's message, and --publish-if-worse then publishes."""
    pytest.importorskip("tensorflow")
    shipped = Path(__file__).resolve().parent.parent / "models" / "shapes_cnn.h5"
    if not shipped.is_file():
        pytest.skip("needs the shipped model models/shapes_cnn.h5")
    model_path.write_bytes(shipped.read_bytes())
    before = model_path.read_bytes()
    jobs = TrainingJobs(model_path, nice=0)
    job = TrainRequest(data_dir=tmp_path / "unused", generate=8, recipe="tutorial", epochs=1, batch_size=16, seed=3)
    jobs.start(job)
    status = jobs.wait(timeout=240)
    log = (Path(status.run_dir) / "log.txt").read_text(errors="replace")
    assert status.state == KEPT, f"{status.message}\n{log[-2000:]}"
    assert not status.active and status.finished_at is not None
    assert status.message == (
        f"Not published: the new model reached {status.val_accuracy:.1%} on the {status.val_count} validation "
        f"images, the current model {status.current_accuracy:.1%} on the same images; the current model stays."
    )
    assert status.current_accuracy - status.val_accuracy > 0.01
    assert model_path.read_bytes() == before
    assert jobs.status().state == KEPT  # what every session sees

    jobs.start(dataclasses.replace(job, publish_if_worse=True))
    status = jobs.wait(timeout=240)
    assert status.state == DONE, status.message
    assert "--publish-if-worse" in json.loads((Path(status.run_dir) / JOB_FILE).read_text())["command"]
    assert model_path.read_bytes() != before
    assert re.fullmatch(r"New model published: best epoch 1, validation accuracy \d+\.\d% "
                        r"\(the previous model: \d+\.\d% on the same images\)\.", status.message), status.message

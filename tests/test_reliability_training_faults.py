"""The trainer fails (docs/reliability.md, "training faults"): killed while it publishes, diverging, a data
folder it cannot use, a full disk or an unwritable models folder. The published model and its history stay
byte-identical and loadable, and the app says why.

Faults are real where the operating system allows it without privileges: SIGKILL, RLIMIT_FSIZE (a write past
the limit fails with EFBIG exactly as a full disk fails with ENOSPC), a folder that cannot be created, a real
training diverging.
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.drawings import shape_png
from tools.harness import PROJECT_ROOT
from tests.helpers.reliability import (
    WAIT_TRAINER_S,
    assert_clean,
    assert_unchanged,
    custom_trainer,
    new_app,
    own_model,
    point_app_at,
    run_until,
    sidebar_text,
    snapshot,
    trainer_env,
    upload,
)
from shapes_viz import config
from shapes_viz.errors import ModelFileError, TrainingError
from shapes_viz.training import FAILED, TrainingJobs, TrainRequest

pytest.importorskip("tensorflow")


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["temp file created", "temp file fully written"])
def test_killing_the_cli_trainer_while_it_publishes_keeps_the_published_model(tmp_path, tiny_data, trained, moment):
    """SIGKILL the real trainer the moment its temp model file appears, or once it is as large as the old model
    (the reload check is running): the published model and its history are untouched and load."""
    from shapes_viz.artifacts import is_training, save_model_atomic

    model = own_model(tmp_path, trained)
    before = snapshot(model)
    full_size = model.stat().st_size
    trainer = subprocess.Popen(
        [sys.executable, "-m", "shapes_viz", "train", "--data", str(tiny_data), "--out", str(model),
         "--epochs", "1", "--recipe", "tutorial", "--quiet", "--publish-if-worse"],  # it must reach the publish
        cwd=PROJECT_ROOT, env=trainer_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    killed_at = None
    try:
        deadline = time.monotonic() + WAIT_TRAINER_S
        while trainer.poll() is None and time.monotonic() < deadline and killed_at is None:
            for temp in model.parent.glob(f".{model.stem}.*.tmp.h5"):
                try:
                    size = temp.stat().st_size
                except FileNotFoundError:
                    continue
                if moment == "temp file created" or size >= 0.9 * full_size:
                    trainer.send_signal(signal.SIGKILL)
                    killed_at = size
                    break
            time.sleep(0.001)
    finally:
        if trainer.poll() is None:
            trainer.kill()
        trainer.wait(timeout=30)
    assert killed_at is not None, f"the trainer ended ({trainer.returncode}) before it was caught publishing"
    assert trainer.returncode == -signal.SIGKILL
    assert snapshot(model) == before
    assert list(model.parent.glob(f".{model.stem}.*.tmp.h5")), "the kill landed inside the publish"
    assert not is_training(model), "the kernel released the trainer's lock"
    from shapes_viz.model import load_model

    save_model_atomic(load_model(model), model)  # the next publish is not blocked by the leftover



ABSURD = 'import dataclasses\nfrom shapes_viz import config\nconfig.RECIPES["absurd"] = dataclasses.replace(config.RECIPES["tutorial"], name="absurd", learning_rate=1e12, batch_size=4)\n'


@pytest.mark.slow
def test_a_diverging_real_training_publishes_nothing_and_the_app_says_why(tmp_path, monkeypatch, trained, tiny_data):
    """The real trainer with an absurd learning rate (1e12)."""
    monkeypatch.setitem(config.RECIPES, "absurd", dataclasses.replace(config.RECIPES["tutorial"], name="absurd"))
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    jobs = TrainingJobs(model, trainer=custom_trainer(ABSURD), env=trainer_env(), nice=0)
    jobs.start(TrainRequest(data_dir=tiny_data, recipe="absurd", epochs=5))
    status = jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == FAILED and "diverged" in status.message, status
    assert_unchanged(model, before)

    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png(), "triangle.png")
    assert_clean(at)
    text = sidebar_text(at)
    assert "training failed, the previous model stays" in text and "diverged" in text, text
    assert len(at.main.metric) == 1  # the old model still predicts


@pytest.mark.slow
def test_a_data_folder_problem_is_reported_in_the_app_and_corrupt_files_are_listed(tmp_path, monkeypatch, trained, tiny_data):
    """Through the Retrain form: an empty class refuses the folder; then a corrupt image and a stray
    file are skipped, listed, and the model is trained on the rest."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    data = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    squares = data / "training_set" / "squares"
    kept = tmp_path / "squares_kept"
    shutil.move(squares, kept)
    squares.mkdir()
    point_app_at(monkeypatch, model, data)

    def start(at):
        at.radio(key="train_source").set_value("project data folder")
        at.selectbox(key="train_recipe").select("tutorial")
        at.number_input(key="train_epochs").set_value(1)
        at.checkbox(key="train_publish_if_worse").check()  # about the skipped files, not about the publish gate
        return at.button(key="train_start").click().run()

    at = start(new_app().run())
    assert_clean(at)
    run_until(at, lambda a: "training failed" in sidebar_text(a), "the refused folder")
    assert "Class folder missing or empty" in sidebar_text(at) and "squares" in sidebar_text(at)
    assert_unchanged(model, before)

    shutil.rmtree(squares)
    shutil.move(kept, squares)
    (squares / "broken.png").write_bytes(shape_png()[:120])
    (data / "training_set" / "circles" / "notes.txt").write_text("not an image")
    at = start(new_app().run())
    run_until(at, lambda a: "New model published" in sidebar_text(a) or "training failed" in sidebar_text(a),
              "the second training")
    assert_clean(at)
    assert "New model published" in sidebar_text(at), sidebar_text(at)
    (expander,) = [e for e in at.sidebar.expander if "files skipped" in e.label]
    assert expander.label == "2 files skipped"
    listed = "\n".join(str(m.value) for m in expander.markdown)
    assert "broken.png" in listed and "notes.txt" in listed


FSIZE_LIMIT = 256 * 1024  # the model file is ~2 MB; progress lines and the lock are far below this
FULL_DISK = f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, ({FSIZE_LIMIT}, {FSIZE_LIMIT}))\n"


@pytest.mark.slow
def test_a_full_disk_at_publish_keeps_the_old_model_and_the_app_says_why(tmp_path, monkeypatch, trained, tiny_data):
    """The real trainer may not write files over 256 KB (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the
    write fails with EFBIG as it would with ENOSPC on a full disk). It trains, fails to publish, says so."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    jobs = TrainingJobs(model, trainer=custom_trainer(FULL_DISK), env=trainer_env(), nice=0)
    jobs.start(TrainRequest(data_dir=tiny_data, recipe="tutorial", epochs=1, publish_if_worse=True))  # reach the publish
    status = jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == FAILED and status.epoch == 1, status  # it trained, then could not publish
    assert "Could not save the model" in status.message and "File too large" in status.message, status.message
    assert_unchanged(model, before)
    assert not list(model.parent.glob(f".{model.stem}.*")), "a temp file was left behind"

    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png(), "triangle.png")
    assert_clean(at)
    text = sidebar_text(at)
    assert "training failed, the previous model stays" in text and "File too large" in text, text
    assert len(at.main.metric) == 1


def test_a_models_folder_that_cannot_be_written_is_a_clear_message_when_retrain_is_pressed(
    tmp_path, monkeypatch, trained, tiny_data
):
    """An unwritable folder: the run folder cannot be created (`.runs` is a file; a read-only mount fails the
    same call with EROFS). Before the fix this was an OSError and the generic 'Something went wrong'."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    (model.parent / ".runs").write_text("in the way")
    with pytest.raises(TrainingError, match=r"^Cannot write to the models folder .*; the current model stays\."):
        TrainingJobs(model).start(TrainRequest(data_dir=tiny_data, recipe="tutorial", epochs=1))

    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png(), "triangle.png")
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_start").click().run()
    assert_clean(at)
    assert "Cannot write to the models folder" in sidebar_text(at), sidebar_text(at)
    assert len(at.main.metric) == 1 and not at.button(key="train_start").disabled
    assert_unchanged(model, before)


def test_a_full_disk_while_writing_the_history_publishes_neither_file(tmp_path, monkeypatch, trained, tiny_data):
    """The pair: before the fix the model was replaced first and a full disk at the history left the
    new model beside the old history, while the job reported 'failed, the previous model stays'."""
    from shapes_viz import artifacts
    from shapes_viz.training import train

    model = own_model(tmp_path, trained)
    before = snapshot(model)
    real_stage = artifacts.stage_json

    def disk_full(path, data):
        if path.name.endswith(".history.json"):
            raise OSError(28, "No space left on device")
        return real_stage(path, data)

    monkeypatch.setattr(artifacts, "stage_json", disk_full)
    with pytest.raises(TrainingError, match=r"Could not write the training history .*No space left on device.*nothing was published"):
        train(tiny_data, model, recipe="tutorial", epochs=1, publish_if_worse=True)
    assert_unchanged(model, before)


def test_a_folder_that_cannot_be_created_is_a_model_file_error(tmp_path, fresh_model):
    from shapes_viz.artifacts import save_model_atomic

    blocker = tmp_path / "models"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(ModelFileError, match=r"^Could not save the model to .*models/shapes_cnn\.h5"):
        save_model_atomic(fresh_model, blocker / "shapes_cnn.h5")


"""shapes_viz.artifacts: publishing a model file atomically (both formats, every failure leaves the old file,
a real SIGKILL never breaks it), file identities and digests, the history beside a model."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shapes_viz import artifacts
from shapes_viz.artifacts import (
    file_digest,
    file_identity,
    history_path,
    read_history,
    save_model_atomic,
    write_json_atomic,
)
from shapes_viz.errors import ModelFileError
from shapes_viz.model import build_model, load_model, model_summary

ROOT = Path(__file__).resolve().parent.parent


def probe(count: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 28, 28, 3), dtype=np.float32)


def predictions(model, x=None) -> np.ndarray:
    return np.asarray(model(probe() if x is None else x, training=False))


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_round_trip_gives_identical_predictions(tmp_path, trained_model, suffix):
    path = save_model_atomic(trained_model, tmp_path / f"model{suffix}")
    assert path == tmp_path / f"model{suffix}"
    reloaded = load_model(path)
    x = probe(8)
    np.testing.assert_array_equal(predictions(reloaded, x), predictions(trained_model, x))
    assert model_summary(reloaded) == model_summary(trained_model)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"model{suffix}"]  # no temp file left


def test_h5_and_keras_files_of_one_model_agree(tmp_path, trained_model):
    h5 = load_model(save_model_atomic(trained_model, tmp_path / "m.h5"))
    kf = load_model(save_model_atomic(trained_model, tmp_path / "m.keras"))
    np.testing.assert_array_equal(predictions(h5), predictions(kf))


def test_save_refuses_other_suffixes(tmp_path, fresh_model):
    with pytest.raises(ModelFileError, match=r"must end in \.h5 or \.keras"):
        save_model_atomic(fresh_model, tmp_path / "model.pkl")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- failures while publishing


@pytest.fixture
def published(tmp_path, fresh_model) -> tuple[Path, bytes]:
    """A published model file and its bytes, in a folder of its own."""
    folder = tmp_path / "models"
    path = save_model_atomic(fresh_model, folder / "shapes_cnn.h5")
    return path, path.read_bytes()


def assert_old_model_intact(path: Path, old_bytes: bytes, fresh_model) -> None:
    assert path.read_bytes() == old_bytes
    np.testing.assert_array_equal(predictions(load_model(path)), predictions(fresh_model))
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name], "a temp file was left behind"


def test_exception_mid_save_leaves_the_old_file(published, fresh_model, monkeypatch):
    path, old_bytes = published
    other = build_model(seed=1)
    real_save = type(other).save

    def half_save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(other), "save", half_save)
    with pytest.raises(ModelFileError, match="Could not save the model.*No space left on device"):
        save_model_atomic(other, path)
    monkeypatch.setattr(type(other), "save", real_save)
    assert_old_model_intact(path, old_bytes, fresh_model)


def test_a_silently_corrupt_save_is_caught_by_the_reload_check(published, fresh_model, monkeypatch):
    path, old_bytes = published
    other = build_model(seed=1)

    def corrupt_save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"not a model at all")

    monkeypatch.setattr(type(other), "save", corrupt_save)
    with pytest.raises(ModelFileError, match="(?i)not a valid model file"):
        save_model_atomic(other, path)
    monkeypatch.undo()
    assert_old_model_intact(path, old_bytes, fresh_model)


def test_reload_check_failure_leaves_the_old_file(published, fresh_model, monkeypatch):
    path, old_bytes = published
    impostor = build_model(seed=2)  # what a broken writer could hand back: other weights
    monkeypatch.setattr(artifacts, "load_model", lambda p: impostor)
    with pytest.raises(ModelFileError, match="Reload check failed for shapes_cnn.h5"):
        save_model_atomic(build_model(seed=1), path)
    monkeypatch.undo()
    assert_old_model_intact(path, old_bytes, fresh_model)


def test_failed_publish_rename_leaves_the_old_file(published, fresh_model, monkeypatch):
    path, old_bytes = published

    def no_space(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(ModelFileError, match="No space left on device"):
        save_model_atomic(build_model(seed=1), path)
    monkeypatch.undo()
    assert_old_model_intact(path, old_bytes, fresh_model)


def test_interrupt_mid_save_leaves_no_temp_file(published, fresh_model, monkeypatch):
    path, old_bytes = published
    other = build_model(seed=1)

    def interrupted(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(type(other), "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model_atomic(other, path)
    monkeypatch.undo()
    assert_old_model_intact(path, old_bytes, fresh_model)


def test_publishing_replaces_the_file_and_changes_its_identity(published, fresh_model):
    path, old_bytes = published
    before = file_identity(path)
    other = build_model(seed=1)
    save_model_atomic(other, path)
    assert file_identity(path) != before
    assert path.read_bytes() != old_bytes
    np.testing.assert_array_equal(predictions(load_model(path)), predictions(other))


# --------------------------------------------------------------------------- the history beside a model


def test_a_history_beside_another_model_is_not_read_as_its_history(trained, tmp_path):
    """A kill between publishing the model and renaming its history (one rename apart) leaves the new model
    beside the old history. The history names its model's digest, so it is not shown as the new one's."""
    path, result, _ = trained
    model, history = tmp_path / path.name, history_path(tmp_path / path.name)
    shutil.copy2(path, model)
    shutil.copy2(history_path(path), history)
    assert read_history(model) == result.history
    assert result.history["model_sha256"] == file_digest(path)

    save_model_atomic(build_model(seed=1), model)  # what such a kill leaves: a new model, the old history
    assert read_history(model) is None

    legacy = {key: value for key, value in result.history.items() if key != "model_sha256"}
    history.write_text(json.dumps(legacy))  # histories written before digests existed are still read
    assert read_history(model) == legacy


def test_history_json_is_written_atomically_and_read_back(tmp_path):
    model_path = tmp_path / "m.keras"
    assert read_history(model_path) is None
    write_json_atomic(history_path(model_path), {"best_epoch": 3})
    assert read_history(model_path) == {"best_epoch": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["m.history.json"]
    history_path(model_path).write_text("{not json")
    assert read_history(model_path) is None
    history_path(model_path).write_text("[1, 2]")
    assert read_history(model_path) is None


# --------------------------------------------------------------------------- a real kill during save

SAVE_LOOP = r"""
import sys
sys.path.insert(0, sys.argv[1])
from shapes_viz.artifacts import save_model_atomic
from shapes_viz.model import build_model
models = [build_model(seed=1), build_model(seed=2)]
print("ready", flush=True)
i = 0
while True:
    save_model_atomic(models[i % 2], sys.argv[2])
    i += 1
"""


@pytest.mark.slow
def test_sigkill_during_save_never_breaks_the_published_file(tmp_path):
    """Four rounds, alternating .h5 and .keras: start a save loop, SIGKILL it at a random moment, load."""
    candidates = [predictions(build_model(seed=s)) for s in (1, 2)]
    paths = [tmp_path / "shapes_cnn.h5", tmp_path / "shapes_cnn.keras"]
    for path in paths:
        save_model_atomic(build_model(seed=1), path)
    rng = random.Random(0)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for round_ in range(4):
        path = paths[round_ % 2]
        child = subprocess.Popen(
            [sys.executable, "-c", SAVE_LOOP, str(ROOT), str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 1.2))  # a save with its reload check takes ~0.2-0.5 s
            assert child.poll() is None, "the save loop died on its own"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        loaded = predictions(load_model(path))
        assert any(np.array_equal(loaded, c) for c in candidates)
    # The kills did land inside save_model_atomic: their temp files are still there (and ignored).
    assert list(tmp_path.glob(".shapes_cnn.*.tmp.h5")) and list(tmp_path.glob(".shapes_cnn.*.tmp.keras"))

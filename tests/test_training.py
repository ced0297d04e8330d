"""shapes_viz.training.run: a short real training publishes atomically; cancel, divergence, busy and crash do not."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shapes_viz import config
from shapes_viz.artifacts import history_path, is_training, read_history, training_lock
from shapes_viz.errors import DatasetError, ModelNotPublished, TrainingBusyError, TrainingCancelled, TrainingError
from shapes_viz.model import load_model
from shapes_viz.training import train
from shapes_viz.training.pipeline import make_augmenter
from shapes_viz.training.run import resolve_recipe

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / "shapes_cnn.h5"  # 99.8% on its validation split: a better current model
HISTORY_KEYS = {
    "loss", "accuracy", "val_loss", "val_accuracy", "best_epoch", "val_accuracy_best", "epochs_run",
    "recipe", "data", "classes", "seed", "date", "seconds", "publish_gate", "model_sha256", "stopped_early",
    "architecture", "epoch_seconds", "precision", "intra_op_threads", "steps_per_execution",
}
DATA_KEYS = {"source", "layout", "train_count", "val_count", "train_counts", "val_counts", "skipped"}


@pytest.fixture
def old_model(tmp_path, trained) -> tuple[Path, bytes, bytes]:
    """A published model + history in a folder of its own (a copy of the session's): (path, model bytes, history bytes)."""
    source = trained[0]
    path = tmp_path / "models" / "shapes_cnn.h5"
    path.parent.mkdir()
    shutil.copyfile(source, path)
    shutil.copyfile(history_path(source), history_path(path))
    return path, path.read_bytes(), history_path(path).read_bytes()


def assert_untouched(old_model) -> None:
    path, model_bytes, history_bytes = old_model
    assert path.read_bytes() == model_bytes
    assert history_path(path).read_bytes() == history_bytes
    load_model(path)
    leftovers = sorted(p.name for p in path.parent.iterdir())
    assert leftovers == sorted([path.name, history_path(path).name, path.name + ".lock"]), leftovers


def test_a_short_training_publishes_a_loadable_model_and_its_history(trained, tiny_data):
    path, result, events = trained
    model = load_model(path)
    assert model.count_params() == 174_243
    history = json.loads(history_path(path).read_text())
    assert history == result.history == read_history(path)
    assert set(history) == HISTORY_KEYS
    assert set(history["data"]) == DATA_KEYS
    assert history["epochs_run"] == 1 and history["best_epoch"] == 1 == result.best_epoch
    assert history["stopped_early"] is None and history["architecture"] == "tutorial"
    assert isinstance(history["intra_op_threads"], int) and history["intra_op_threads"] >= 0  # 0: TensorFlow's default
    assert len(history["epoch_seconds"]) == 1 and 0 < history["epoch_seconds"][0] < history["seconds"]
    assert history["steps_per_execution"] == 2  # 21 images in batches of 16: the epoch's 2 steps in one graph call
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history[key]) == 1 and math.isfinite(history[key][0])
    assert history["val_accuracy_best"] == history["val_accuracy"][0] == result.val_accuracy
    assert history["recipe"] == dataclasses.asdict(dataclasses.replace(config.RECIPES["tutorial"], epochs=1))
    assert history["data"]["layout"] == "train+test folders"
    assert history["data"]["source"] == str(tiny_data)
    assert (history["data"]["train_count"], history["data"]["val_count"]) == (21, 9)
    assert history["data"]["train_counts"] == {"circles": 7, "squares": 7, "triangles": 7}
    assert history["classes"] == ["circles", "squares", "triangles"] and history["seed"] == 0
    # progress events: start, one per epoch, done
    assert [e["event"] for e in events] == ["start", "epoch", "done"]
    start_time = events[0]["time"]
    assert {k: v for k, v in events[0].items() if k != "time"} == {"event": "start", "epochs": 1, "recipe": "tutorial", "patience": 0, "min_loss_improvement": 0.0, "min_epochs": 0, "train_count": 21,
                         "val_count": 9, "skipped": []}
    assert events[1]["epoch"] == 1 and events[1]["epochs"] == 1
    assert 0 < events[1]["time"] - start_time < history["seconds"]  # the app's time left comes from these
    assert events[1]["val_accuracy"] == history["val_accuracy"][0]
    assert events[2]["model_path"] == str(path) and events[2]["best_epoch"] == 1
    # no current model: published, with the new model's accuracy on the 9 validation images recorded
    gate = history["publish_gate"]
    assert gate == result.publish_gate == events[2]["publish_gate"]
    assert gate["decision"] == "no current model: published" and gate["current_accuracy"] is None
    assert gate["val_count"] == 9 and gate["margin"] == config.PUBLISH_MARGIN
    assert gate["new_accuracy"] == pytest.approx(history["val_accuracy_best"], abs=1e-6)
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.h5", "tiny.h5.lock", "tiny.history.json"]


def test_should_stop_publishes_nothing_and_keeps_the_old_model(old_model, tiny_data):
    path = old_model[0]
    polls = []
    events = []

    def stop_now() -> bool:
        polls.append(1)
        return True

    with pytest.raises(TrainingCancelled, match="cancelled"):
        train(tiny_data, path, recipe="tutorial", epochs=3, on_event=events.append, should_stop=stop_now)
    assert len(polls) == 1, "stops after the first batch"
    assert [e["event"] for e in events] == ["start"]
    assert_untouched(old_model)
    assert not is_training(path), "the lock is released"


def test_a_diverging_run_publishes_nothing(old_model, tiny_data, monkeypatch):
    absurd = dataclasses.replace(config.RECIPES["tutorial"], name="absurd", learning_rate=1e12, batch_size=4)
    monkeypatch.setitem(config.RECIPES, "absurd", absurd)
    with pytest.raises(TrainingError, match="diverged") as raised:
        train(tiny_data, old_model[0], recipe="absurd", epochs=3)
    assert not isinstance(raised.value, TrainingCancelled)
    assert_untouched(old_model)


def test_a_diverging_first_run_leaves_no_model_at_all(tmp_path, tiny_data, monkeypatch):
    absurd = dataclasses.replace(config.RECIPES["tutorial"], name="absurd", learning_rate=1e12, batch_size=4)
    monkeypatch.setitem(config.RECIPES, "absurd", absurd)
    out = tmp_path / "models" / "new.keras"
    with pytest.raises(TrainingError, match="diverged"):
        train(tiny_data, out, recipe="absurd", epochs=3)
    assert not out.exists() and not history_path(out).exists()
    assert [p.name for p in out.parent.iterdir()] == ["new.keras.lock"]


def test_a_second_training_of_the_same_model_is_busy(old_model, tiny_data):
    path = old_model[0]
    with training_lock(path):
        assert is_training(path)
        with pytest.raises(TrainingBusyError, match="Another training is running"):
            train(tiny_data, path, recipe="tutorial", epochs=1)
        with pytest.raises(TrainingBusyError):
            with training_lock(path):
                pass
    assert not is_training(path)
    assert_untouched(old_model)


HOLD_LOCK = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from shapes_viz.artifacts import training_lock
with training_lock(sys.argv[2]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_the_lock_is_released_when_the_trainer_is_killed(tmp_path, tiny_data):
    path = tmp_path / "models" / "shapes_cnn.h5"
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(ROOT), str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        assert is_training(path)
        with pytest.raises(TrainingBusyError):  # another process holds it
            train(tiny_data, path, recipe="tutorial", epochs=1)
        assert Path(str(path) + ".lock").read_text().strip() == str(child.pid)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert not is_training(path)
    with training_lock(path) as lock_path:
        assert lock_path.read_text().strip() == str(os.getpid())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"recipe": "fastest"}, r"Unknown recipe 'fastest'\. Choose one of: stable, thorough, tutorial"),
        ({"epochs": 0}, r"epochs must be at least 1\. Received: epochs=0"),
        ({"batch_size": -2}, r"batch_size must be at least 1\. Received: batch_size=-2"),
    ],
)
def test_bad_recipe_arguments_are_training_errors(tmp_path, tiny_data, kwargs, message):
    with pytest.raises(TrainingError, match=message):
        train(tiny_data, tmp_path / "m.h5", **kwargs)
    assert not (tmp_path / "m.h5").exists()


def test_resolve_recipe_overrides():
    recipe = resolve_recipe("stable", epochs=2, batch_size=8)
    assert (recipe.epochs, recipe.batch_size, recipe.optimizer) == (2, 8, "adam")
    assert config.RECIPES["stable"].epochs == 30  # the table itself is not changed


def test_the_same_seed_trains_the_same_weights(tiny_data, tmp_path):
    """Augmented batches come one at a time from the seed's generator and tf.data does not autotune
    (`training.pipeline`): two trainings of one seed are the same run. With autotuning they differed (in the
    first epoch's validation loss, the fourth digit)."""
    results = [train(tiny_data, tmp_path / f"{name}.h5", recipe="stable", epochs=1, seed=3) for name in "ab"]
    assert results[0].history["loss"] == results[1].history["loss"]
    assert results[0].history["val_loss"] == results[1].history["val_loss"]
    for first, second in zip(load_model(tmp_path / "a.h5").get_weights(), load_model(tmp_path / "b.h5").get_weights()):
        np.testing.assert_array_equal(first, second)
    other = train(tiny_data, tmp_path / "c.h5", recipe="stable", epochs=1, seed=4)
    assert other.history["loss"] != results[0].history["loss"], "the seed matters"


def test_the_compiled_metrics_exist_before_fit_so_the_first_step_creates_no_variable():
    """Keras (without a strategy of its own) creates the compiled metrics' variables inside the first traced step,
    and TensorFlow then traces that step again; `build_compiled_metrics` makes them first, with zero state."""
    keras = pytest.importorskip("keras")
    from shapes_viz.training.run import build_compiled_metrics

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 3)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.optimizer.build(model.trainable_variables)
    images = np.random.default_rng(0).random((8, 28, 28, 3), dtype=np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    before = len(model.variables) + len(model.metrics_variables)
    build_compiled_metrics(model, images[:1], labels[:1])
    built = [np.asarray(v) for v in model.metrics_variables]
    assert len(model.variables) + len(model.metrics_variables) > before and all(not v.any() for v in built)
    created = []

    def creator(next_creator, **kwargs):
        created.append(kwargs.get("name"))
        return next_creator(**kwargs)

    import tensorflow as tf

    with tf.variable_creator_scope(creator):
        model.fit(images, np.eye(3, dtype=np.float32)[labels], batch_size=4, epochs=1, verbose=0)
    assert created == []


def test_the_pipelines_do_not_autotune(tiny_data):
    from shapes_viz.dataset import load_folder
    from shapes_viz.training.pipeline import make_eval_dataset, make_train_dataset

    part = load_folder(tiny_data / "test_set")
    train_ds, _ = make_train_dataset(part.images, part.labels, config.RECIPES["stable"], seed=0)
    for dataset in (train_ds, make_eval_dataset(part.images, part.labels)):
        assert dataset.options().autotune.enabled is False


def test_an_unusable_data_folder_publishes_nothing(old_model, tmp_path):
    (tmp_path / "data" / "circles").mkdir(parents=True)
    with pytest.raises(DatasetError):
        train(tmp_path / "data", old_model[0], recipe="tutorial", epochs=1)
    assert_untouched(old_model)


def test_augmentation_keeps_shape_range_and_paper(tiny_data):
    from shapes_viz.dataset import load_folder

    images = load_folder(tiny_data / "test_set").images
    augmented = np.asarray(make_augmenter(seed=0)(images))
    assert augmented.shape == images.shape and augmented.dtype == np.float32
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0
    np.testing.assert_array_equal(augmented[..., 0], augmented[..., 2])
    border = np.concatenate([augmented[:, 0], augmented[:, -1], augmented[:, :, 0], augmented[:, :, -1]], axis=1)
    assert border.mean() > 0.95, "what moves in from outside is paper"
    assert np.abs(augmented - images).mean() > 0.005, "it changes something"


# --------------------------------------------------------------------------- the publish gate


@pytest.fixture
def better_model(tmp_path) -> tuple[Path, bytes, bytes]:
    """A copy of the shipped model (99.8%) as the current model: (path, model bytes, history bytes)."""
    if not SHIPPED_MODEL.is_file():
        pytest.skip(f"needs the shipped model {SHIPPED_MODEL}")
    path = tmp_path / "models" / "shapes_cnn.h5"
    path.parent.mkdir()
    shutil.copyfile(SHIPPED_MODEL, path)
    shutil.copyfile(history_path(SHIPPED_MODEL), history_path(path))
    return path, path.read_bytes(), history_path(path).read_bytes()


GATE_MESSAGE = (
    r"^Not published: the new model reached (\d+\.\d)% on the 9 validation images, the current model "
    r"(\d+\.\d)% on the same images; the current model stays\. "
    r"Pass publish_if_worse=True \(CLI: --publish-if-worse\) to replace it anyway\.$"
)


def test_a_worse_model_is_not_published_and_the_better_current_model_stays(better_model, tiny_data):
    """One epoch of the tutorial recipe on 21 drawings (chance) against the shipped model, on the same 9 images."""
    from shapes_viz.engine.keras_engine import KerasEngine
    from shapes_viz.evaluation import evaluate

    path = better_model[0]
    events: list[dict] = []
    with pytest.raises(ModelNotPublished) as raised:
        train(tiny_data, path, recipe="tutorial", epochs=1, seed=0, on_event=events.append)
    exc = raised.value
    assert isinstance(exc, TrainingError)
    match = re.fullmatch(GATE_MESSAGE, str(exc))
    assert match, str(exc)
    # the current model's figure is its accuracy on exactly the run's validation images (tiny_data's test_set)
    current = evaluate(KerasEngine(load_model(path), warm_up=False), tiny_data / "test_set")
    assert current.total == exc.val_count == 9
    assert exc.current_accuracy == pytest.approx(current.accuracy)
    assert exc.new_accuracy == pytest.approx(events[1]["val_accuracy"], abs=1e-6)  # the best (only) epoch's
    assert exc.current_accuracy - exc.new_accuracy > config.PUBLISH_MARGIN
    assert match.groups() == (f"{exc.new_accuracy:.1%}"[:-1], f"{exc.current_accuracy:.1%}"[:-1])
    assert [e["event"] for e in events] == ["start", "epoch"]  # no "done"
    assert_untouched(better_model)  # byte-identical model and history, no temp file left
    assert not is_training(path)


def test_publish_if_worse_publishes_and_records_both_accuracies(better_model, tiny_data):
    path, old_bytes, _ = better_model
    result = train(tiny_data, path, recipe="tutorial", epochs=1, seed=0, publish_if_worse=True)
    assert path.read_bytes() != old_bytes
    load_model(path)
    gate = read_history(path)["publish_gate"]
    assert gate == result.publish_gate
    assert gate["decision"] == "worse than the current model, published as asked (publish_if_worse)"
    assert gate["current_accuracy"] - gate["new_accuracy"] > config.PUBLISH_MARGIN
    assert gate["val_count"] == 9


def test_a_corrupt_current_model_is_replaced(tmp_path, tiny_data):
    """Anything beats no usable model: a current file that fails the checked loader is not compared."""
    path = tmp_path / "models" / "shapes_cnn.h5"
    path.parent.mkdir()
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(500))
    events: list[dict] = []
    result = train(tiny_data, path, recipe="tutorial", epochs=1, seed=0, on_event=events.append)
    load_model(path)
    gate = result.publish_gate
    assert gate["decision"].startswith("the current model cannot be used (")
    assert gate["decision"].endswith("): published without comparing")
    assert gate["current_accuracy"] is None and gate["new_accuracy"] is not None
    assert events[-1]["event"] == "done" and events[-1]["publish_gate"] == gate

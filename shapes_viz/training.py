"""Training the tutorial's network with a recipe, and publishing the result atomically.

`train` loads a data folder (every image through `preprocess`), builds the network inside a
`tf.distribute` strategy scope (several GPUs -> MirroredStrategy, else the default strategy), feeds
it through tf.data (cache, shuffle, augmentation, prefetch), keeps the weights of the best epoch by
val_accuracy in memory, and publishes the model and its history JSON only if training finished
normally: temp file in the same folder, reload check, `os.replace`. NaN loss or a stop request
publishes nothing. The publish gate: when a model is already published there, it is measured on the
same validation images, and a new model worse by more than `PUBLISH_MARGIN` is not published
(`ModelNotPublished`) unless the caller passes `publish_if_worse=True`. One training per model file at a
time (an OS-level lock on `<model>.lock`, released by the kernel even if the trainer crashes).

Progress is reported through plain callables (`on_event` receives dicts), so the CLI can print or
write JSON lines and the app can read them, with no UI code here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from shapes_viz.config import (
    CLASS_NAMES,
    DEFAULT_RECIPE,
    NUM_CLASSES,
    PUBLISH_MARGIN,
    RECIPES,
    Recipe,
    history_path,
)
from shapes_viz.dataset import DatasetSplits, LabeledImages, load_dataset
from shapes_viz.errors import ModelFileError, ModelNotPublished, TrainingBusyError, TrainingCancelled, TrainingError
from shapes_viz.model import build_model, file_digest, load_model, public_file_mode, save_model_atomic

Event = dict[str, Any]


@dataclass(frozen=True)
class TrainingResult:
    """What a finished training published.

    Attributes:
        model_path: the published model file.
        history: the JSON-able history written beside it (see `read_history`).
    """

    model_path: Path
    history: dict[str, Any]

    @property
    def best_epoch(self) -> int:
        return int(self.history["best_epoch"])

    @property
    def val_accuracy(self) -> float:
        return float(self.history["val_accuracy_best"])

    @property
    def publish_gate(self) -> dict[str, Any]:
        """The gate's record (see `train`): new_accuracy, current_accuracy (None without a usable current model),
        val_count, decision."""
        return dict(self.history["publish_gate"])


def resolve_recipe(name: str = DEFAULT_RECIPE, epochs: int | None = None, batch_size: int | None = None) -> Recipe:
    """The named recipe with optional overrides. Raises TrainingError for unknown names or bad values."""
    if name not in RECIPES:
        raise TrainingError(f"Unknown recipe {name!r}. Choose one of: {', '.join(RECIPES)}.")
    recipe = RECIPES[name]
    if epochs is not None:
        if epochs < 1:
            raise TrainingError(f"epochs must be at least 1. Received: epochs={epochs}")
        recipe = dataclasses.replace(recipe, epochs=int(epochs))
    if batch_size is not None:
        if batch_size < 1:
            raise TrainingError(f"batch_size must be at least 1. Received: batch_size={batch_size}")
        recipe = dataclasses.replace(recipe, batch_size=int(batch_size))
    return recipe


@contextlib.contextmanager
def training_lock(model_path: str | Path) -> Iterator[Path]:
    """Hold the exclusive training lock of `model_path` (`<model>.lock`, flock, non-blocking).

    Raises:
        TrainingBusyError: another process (or this one) is training the same model.
    """
    lock_path = Path(str(model_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingBusyError("Another training is running; wait for it to finish.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield lock_path
    finally:
        handle.close()  # closing the descriptor releases the flock


def is_training(model_path: str | Path) -> bool:
    """True if some process holds the training lock of `model_path`."""
    try:
        with training_lock(model_path):
            return False
    except TrainingBusyError:
        return True


def train(
    data_dir: str | Path,
    out_path: str | Path,
    recipe: str = DEFAULT_RECIPE,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    on_event: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    verbose: int | str = 0,
    data_description: str | None = None,
    publish_if_worse: bool = False,
) -> TrainingResult:
    """Train on `data_dir` and publish the best epoch's model at `out_path` (.h5 or .keras).

    Args:
        data_dir: a data folder (see `shapes_viz.dataset.load_dataset`).
        out_path: where to publish the model; its history goes to `history_path(out_path)`.
        recipe, epochs, batch_size: the recipe name and optional overrides.
        seed: seeds Python, NumPy and TensorFlow (weights, shuffling, augmentation, split).
        on_event: receives {"event": "start" | "epoch" | "done", ...} dicts (see the CLI's --progress).
        should_stop: polled after every batch; True stops within the epoch and publishes nothing.
        verbose: Keras' progress output (0 silent, "auto", 1 bar, 2 one line per epoch).
        data_description: how the data was made, recorded in the history (default: the folder).
        publish_if_worse: publish even if the new model is worse than the current one (the gate still measures
            and records both; see `publish_gate`).

    The publish gate: if a model is published at `out_path`, it is loaded through `load_model` (file checks,
    safe mode) and measured on this run's validation images, as is the new model (best epoch). If the new
    accuracy is below the current one by more than `config.PUBLISH_MARGIN`, nothing is published and
    `ModelNotPublished` is raised (unless `publish_if_worse`). Without a current model, or one that cannot be
    loaded, the new model is published. Both accuracies and the decision are in the history's "publish_gate"
    and the "done" event.

    Raises:
        TrainingBusyError: another training of the same model is running.
        ModelNotPublished: the new model is worse than the current one (which stays, with its history).
        TrainingCancelled: `should_stop` returned True.
        TrainingError: NaN loss, bad recipe, or publishing failed (the old model stays).
        DatasetError: the data folder cannot be used.
    """
    import keras
    import tensorflow as tf

    emit = on_event or (lambda event: None)
    chosen = resolve_recipe(recipe, epochs, batch_size)
    out_path = Path(out_path)
    with training_lock(out_path):
        started = time.perf_counter()
        splits = load_dataset(data_dir, seed=seed)
        keras.utils.set_random_seed(seed)
        emit(
            {
                "event": "start",
                "epochs": chosen.epochs,
                "recipe": chosen.name,
                "train_count": len(splits.train),
                "val_count": len(splits.validation),
                "skipped": [f"{path}: {reason}" for path, reason in splits.skipped],
            }
        )
        strategy = _strategy(tf)
        with strategy.scope():
            model = build_model()
            model.compile(
                optimizer=_optimizer(keras, chosen),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=chosen.label_smoothing),
                metrics=["accuracy"],
            )
        train_ds, steps = make_train_dataset(splits.train.images, splits.train.labels, chosen, seed)
        val_ds = make_eval_dataset(splits.validation.images, splits.validation.labels)
        watcher = _make_watcher(chosen.epochs, emit, should_stop)
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=chosen.epochs,
            steps_per_epoch=steps,
            shuffle=False,  # tf.data shuffles; Keras' own flag would only warn
            callbacks=[keras.callbacks.TerminateOnNaN(), watcher],
            verbose=verbose,
        )
        if watcher.cancelled:
            raise TrainingCancelled("Training cancelled; the previous model stays.")
        if watcher.diverged or watcher.best_weights is None:
            raise TrainingError(
                "Training diverged (loss became NaN or infinite); nothing was published. "
                "Try a lower learning rate or the 'stable' recipe."
            )
        model.set_weights(watcher.best_weights)
        gate = publish_gate(model, out_path, splits.validation, publish_if_worse)
        history = _history(watcher, chosen, splits, seed, time.perf_counter() - started, data_description)
        history["publish_gate"] = gate
        _publish(model, out_path, history)
    emit({"event": "done", "model_path": str(out_path), "best_epoch": history["best_epoch"],
          "val_accuracy": history["val_accuracy_best"], "seconds": history["seconds"], "publish_gate": gate})
    return TrainingResult(out_path, history)


def validation_accuracy(model, validation: LabeledImages) -> float:
    """Share of `validation` images (preprocessed, as trained on) whose argmax prediction is the label."""
    from shapes_viz.evaluation import predict_batch

    predicted = predict_batch(model, validation.images).argmax(axis=1)
    return float(np.mean(predicted == validation.labels))


def publish_gate(model, out_path: Path, validation: LabeledImages, publish_if_worse: bool = False) -> dict[str, Any]:
    """Compare `model` with the model published at `out_path` on the same validation images.

    Returns:
        {"new_accuracy": float, "current_accuracy": float | None, "val_count": int, "margin": float,
         "decision": str}; "decision" says why publishing goes ahead ("not worse than the current model",
        "publish_if_worse", "no current model", "current model unusable: ...", "no validation images").

    Raises:
        ModelNotPublished: the new accuracy is below the current one by more than PUBLISH_MARGIN and
            `publish_if_worse` is False.
    """
    count = len(validation)
    record: dict[str, Any] = {"new_accuracy": None, "current_accuracy": None, "val_count": count,
                              "margin": PUBLISH_MARGIN, "decision": ""}
    if count == 0:
        record["decision"] = "no validation images: published without comparing"
        return record
    record["new_accuracy"] = validation_accuracy(model, validation)
    if not out_path.exists():
        record["decision"] = "no current model: published"
        return record
    try:
        current = load_model(out_path)
    except (ModelFileError, OSError) as exc:  # anything beats no usable model
        record["decision"] = f"the current model cannot be used ({exc}): published without comparing"
        return record
    record["current_accuracy"] = validation_accuracy(current, validation)
    worse = record["current_accuracy"] - record["new_accuracy"] > PUBLISH_MARGIN + 1e-9
    if not worse:
        record["decision"] = "not worse than the current model: published"
    elif publish_if_worse:
        record["decision"] = "worse than the current model, published as asked (publish_if_worse)"
    else:
        raise ModelNotPublished(
            record["new_accuracy"], record["current_accuracy"], count,
            hint="Pass publish_if_worse=True (CLI: --publish-if-worse) to replace it anyway.",
        )
    return record


def _strategy(tf):
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def _optimizer(keras, recipe: Recipe):
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=recipe.learning_rate)
    if recipe.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=recipe.learning_rate)
    raise TrainingError(f"Unknown optimizer {recipe.optimizer!r} in recipe {recipe.name!r}.")


def make_train_dataset(images: np.ndarray, labels: np.ndarray, recipe: Recipe, seed: int):
    """tf.data pipeline for training: cache, shuffle, repeat, batch, augment, prefetch.

    Args:
        images: (N, 28, 28, 3) float32 in [0, 1] (preprocessed).
        labels: (N,) int class indices.

    Returns:
        (dataset of (batch, 28, 28, 3) float32 and (batch, 3) one-hot float32, steps per epoch).
    """
    import tensorflow as tf

    count = len(labels)
    samples = max(count, recipe.min_samples_per_epoch)
    steps = max(1, math.ceil(samples / recipe.batch_size))
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    ds = tf.data.Dataset.from_tensor_slices((images, onehot)).cache()
    ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(recipe.batch_size, drop_remainder=False)
    if recipe.augment:
        augment = make_augmenter(seed)
        ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE), steps


def make_eval_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int = 256):
    """tf.data pipeline for validation: one-hot labels, cached, batched, prefetched."""
    import tensorflow as tf

    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    return tf.data.Dataset.from_tensor_slices((images, onehot)).cache().batch(batch_size).prefetch(tf.data.AUTOTUNE)


def make_augmenter(seed: int) -> Callable:
    """Random label-preserving changes to a batch of preprocessed images (dark ink on white).

    Works on ink (1 - image) so that everything moved in from outside is paper: quarter turns and
    mirror images (a rotated triangle is a triangle), small rotations, zoom and shifts that keep the
    drawing inside the 3-pixel margin that `preprocess` leaves, and stroke thickening or thinning.
    """
    import keras
    import tensorflow as tf

    small_changes = keras.Sequential(
        [
            keras.layers.RandomRotation(0.04, fill_mode="constant", fill_value=0.0, seed=seed),
            keras.layers.RandomZoom((-0.05, 0.2), fill_mode="constant", fill_value=0.0, seed=seed + 1),
            keras.layers.RandomTranslation(0.07, 0.07, fill_mode="constant", fill_value=0.0, seed=seed + 2),
        ]
    )
    generator = tf.random.Generator.from_seed(seed)

    def augment(batch):
        ink = 1.0 - batch[..., :1]
        quarter_turns = generator.uniform((), 0, 4, dtype=tf.int32)
        ink = tf.image.rot90(ink, quarter_turns)
        ink = tf.where(generator.uniform(()) < 0.5, tf.reverse(ink, axis=[2]), ink)
        ink = small_changes(ink, training=True)
        choice = generator.uniform(())
        thicker = tf.nn.max_pool2d(ink, 2, 1, "SAME")
        thinner = -tf.nn.max_pool2d(-ink, 2, 1, "SAME")
        ink = tf.where(choice < 0.15, thicker, tf.where(choice > 0.9, tf.maximum(thinner, 0.5 * ink), ink))
        ink = tf.clip_by_value(ink, 0.0, 1.0)
        return tf.repeat(1.0 - ink, 3, axis=-1)

    return augment


def _make_watcher(epochs: int, emit: Callable[[Event], None], should_stop: Callable[[], bool] | None):
    """A Keras callback that records metrics, keeps the best epoch's weights (by val_accuracy, then
    val_loss) in memory, stops on NaN loss or a stop request, and emits one event per epoch."""
    import keras

    class EpochWatcher(keras.callbacks.Callback):
        def __init__(self, epochs: int, emit: Callable[[Event], None], should_stop: Callable[[], bool] | None):
            super().__init__()
            self.epochs = epochs
            self.emit = emit
            self.should_stop = should_stop
            self.metrics: dict[str, list[float]] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
            self.best_weights: list[np.ndarray] | None = None
            self.best_epoch = 0
            self.best_val_accuracy = -1.0
            self.best_val_loss = math.inf
            self.cancelled = False
            self.diverged = False

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.diverged = True
                self.model.stop_training = True
            if self.should_stop is not None and self.should_stop():
                self.cancelled = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if self.cancelled:
                return
            values = {k: float(logs.get(k, math.nan)) for k in self.metrics}
            if not math.isfinite(values["loss"]):
                self.diverged = True
                self.model.stop_training = True
                return
            for key, value in values.items():
                self.metrics[key].append(value)
            better = values["val_accuracy"] > self.best_val_accuracy or (
                values["val_accuracy"] == self.best_val_accuracy and values["val_loss"] < self.best_val_loss
            )
            if better and math.isfinite(values["val_loss"]):
                self.best_val_accuracy = values["val_accuracy"]
                self.best_val_loss = values["val_loss"]
                self.best_epoch = epoch + 1
                self.best_weights = self.model.get_weights()
            self.emit({"event": "epoch", "epoch": epoch + 1, "epochs": self.epochs, **values})

    return EpochWatcher(epochs, emit, should_stop)


def _history(watcher, recipe: Recipe, splits: DatasetSplits, seed: int, seconds: float, description: str | None) -> dict[str, Any]:
    return {
        **watcher.metrics,
        "best_epoch": watcher.best_epoch,
        "val_accuracy_best": watcher.best_val_accuracy,
        "epochs_run": len(watcher.metrics["loss"]),
        "recipe": dataclasses.asdict(recipe),
        "data": {
            "source": description or splits.source,
            "layout": splits.layout,
            "train_count": len(splits.train),
            "val_count": len(splits.validation),
            "train_counts": splits.train.counts(),
            "val_counts": splits.validation.counts(),
            "skipped": [f"{path}: {reason}" for path, reason in splits.skipped],
        },
        "classes": list(CLASS_NAMES),
        "seed": seed,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
    }


def _publish(model, out_path: Path, history: dict[str, Any]) -> None:
    """Publish the model and its history as a pair.

    The model is written and checked in a temp file (`save_model_atomic`); before it replaces the current
    model, the history is staged beside it with the new file's digest (`model_sha256`), so a full disk
    fails before anything is replaced; after it, the history is renamed into place (a rename needs no
    space). A kill between the two renames leaves the new model beside the old history, whose digest then
    does not match: `read_history` ignores it rather than describe another model.

    Raises:
        TrainingError: the history could not be written (the old model and history stay).
        ModelFileError: the model could not be published (the old model and history stay).
    """
    target = history_path(out_path)
    staged: list[Path] = []

    def stage_history(checked_model: Path) -> None:
        try:
            history["model_sha256"] = file_digest(checked_model)
            staged.append(_stage_json(target, history))
        except OSError as exc:
            raise TrainingError(
                f"Could not write the training history beside {out_path} ({exc.strerror or exc}); "
                "nothing was published."
            ) from None

    try:
        save_model_atomic(model, out_path, before_replace=stage_history)
        os.replace(staged[0], target)
    finally:
        for leftover in staged:
            leftover.unlink(missing_ok=True)  # already renamed on success


def _stage_json(path: Path, data: dict[str, Any]) -> Path:
    """Write `data` as JSON to a fsynced temp file beside `path` (mode as for a plain file); return it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, public_file_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write JSON through a temp file in the same folder and `os.replace` (never half written)."""
    tmp = _stage_json(Path(path), data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_history(model_path: str | Path) -> dict[str, Any] | None:
    """The history JSON written beside `model_path`, or None if there is none, it is unreadable, or it
    belongs to another model: its `model_sha256` (written by `_publish`) differs from the file's digest."""
    try:
        with open(history_path(model_path)) as handle:
            history = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(history, dict):
        return None
    recorded = history.get("model_sha256")
    if recorded is not None:
        try:
            stat = os.stat(model_path)
            if recorded != _cached_digest(str(model_path), stat.st_mtime_ns, stat.st_size):
                return None
        except OSError:
            return None
    return history


@functools.lru_cache(maxsize=16)
def _cached_digest(path: str, mtime_ns: int, size: int) -> str:
    """`file_digest` of a model file version (path, mtime_ns, size): hashed once per version."""
    return file_digest(path)

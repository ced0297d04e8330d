"""A training run: `train` a recipe on a data folder and publish the best epoch's model.

`train` loads a data folder (every image through `preprocess`), builds the network inside a
`tf.distribute` strategy scope (several GPUs -> MirroredStrategy, else the default strategy), in bfloat16
where the processor multiplies it natively (`precision`; the published copy is float32), its Dropout(0.5)
drawn as random bits (`coin_dropout`; the published copy has Keras' own layers), with one thread
per operation on small CPU-only machines (`threads`), feeds it through tf.data (`pipeline`; 16 steps a
graph call, `config.TRAINING_STEPS_PER_EXECUTION`), keeps the weights of the best epoch by val_accuracy in
memory (`watcher`; their moving average when the recipe averages, `Recipe.ema_momentum`, put in view by
`averaging`), stops early by
the recipe's rule (`stopping`), and publishes the model and its history JSON only if training finished
normally and the publish gate (`gate`) lets it (`artifacts.publish_model_and_history`: temp file, reload
check, `os.replace`). NaN loss or a stop request publishes nothing. One training per model file at a time
(`artifacts.training_lock`, released by the kernel even if the trainer crashes).

Progress is reported through a plain callable (`on_event` receives the events of `progress`), so the
CLI can write JSON lines and the app can read them, with no UI code here. TensorFlow is imported when
`train` runs, not with this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from shapes_viz.artifacts import publish_model_and_history, training_lock
from shapes_viz.config import CLASS_NAMES, DEFAULT_RECIPE, NUM_CLASSES, RECIPES, Recipe
from shapes_viz.dataset import DatasetSplits, load_dataset
from shapes_viz.errors import TrainingCancelled, TrainingError
from shapes_viz.model import build_model
from shapes_viz.training.averaging import make_average_in_view
from shapes_viz.training.coin_dropout import with_coin_dropout
from shapes_viz.training.gate import publish_gate
from shapes_viz.training.pipeline import make_eval_dataset, make_train_dataset, steps_per_execution
from shapes_viz.training.precision import as_float32, dtype_policy, training_policy
from shapes_viz.training.progress import CANCELLED_MESSAGE, Event, done_event, start_event
from shapes_viz.training.threads import apply_intra_op_threads, training_threads
from shapes_viz.training.watcher import make_watcher
from shapes_viz.variants import VARIANTS, variant


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


def resolve_recipe(name: str | Recipe = DEFAULT_RECIPE, epochs: int | None = None,
                   batch_size: int | None = None) -> Recipe:
    """The named recipe (or a Recipe, used as given) with optional overrides. Raises TrainingError for unknown
    names or bad values."""
    if isinstance(name, Recipe):
        recipe = name
    elif name not in RECIPES:
        raise TrainingError(f"Unknown recipe {name!r}. Choose one of: {', '.join(RECIPES)}.")
    else:
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


def train(
    data_dir: str | Path,
    out_path: str | Path,
    recipe: str | Recipe = DEFAULT_RECIPE,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    on_event: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    verbose: int | str = 0,
    data_description: str | None = None,
    publish_if_worse: bool = False,
    architecture: str = "tutorial",
    observers: Sequence[Any] = (),
) -> TrainingResult:
    """Train on `data_dir` and publish the best epoch's model at `out_path` (.h5 or .keras).

    Args:
        data_dir: a data folder (see `shapes_viz.dataset.load_dataset`).
        out_path: where to publish the model; its history goes beside it (`artifacts.history_path`).
        recipe, epochs, batch_size: the recipe (its name in RECIPES, or a Recipe) and optional overrides.
        seed: seeds Python, NumPy and TensorFlow (weights, shuffling, augmentation, split).
        on_event: receives the "start", "epoch" and "done" events of `shapes_viz.training.progress`.
        should_stop: polled after every graph call (`steps_per_execution` steps, 16 in the default recipe); True
            stops within the epoch and publishes nothing.
        verbose: Keras' progress output (0 silent, "auto", 1 bar, 2 one line per epoch).
        data_description: how the data was made, recorded in the history (default: the folder).
        publish_if_worse: publish even if the new model is worse than the current one (the gate still measures
            and records both; see `publish_gate`).
        architecture: a name of `shapes_viz.variants.VARIANTS` ("tutorial": the tutorial's network).
        observers: Keras callbacks called before the run's own (they see the trained weights at each epoch's
            end, before an averaging recipe swaps the average in; `tools/recipe_study.py` scores both).

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

    threads = apply_intra_op_threads(tf, training_threads(len(tf.config.list_physical_devices("GPU"))))
    emit = on_event or (lambda event: None)
    if architecture not in VARIANTS:
        raise TrainingError(f"Unknown architecture. Expected one of {', '.join(VARIANTS)}. "
                            f"Received: architecture={architecture!r}")
    chosen = resolve_recipe(recipe, epochs, batch_size)
    out_path = Path(out_path)
    with training_lock(out_path):
        started = time.perf_counter()
        splits = load_dataset(data_dir, seed=seed)
        keras.utils.set_random_seed(seed)
        skipped = [f"{path}: {reason}" for path, reason in splits.skipped]
        strategy = _strategy(tf)
        build = build_model if architecture == "tutorial" else variant(architecture).build
        policy = training_policy(len(tf.config.list_logical_devices("GPU")))
        per_call = steps_per_execution(chosen, len(splits.train))
        with strategy.scope():
            with dtype_policy(policy):
                model = with_coin_dropout(build())  # Dropout(0.5) drawn as random bits: `coin_dropout`
            model.compile(
                optimizer=_optimizer(keras, chosen),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=chosen.label_smoothing),
                metrics=["accuracy"],
                steps_per_execution=per_call,
            )
            # The optimizer's slots (and averages) and the compiled metrics made here, not while the first graph
            # call is traced (TensorFlow then traces a function that creates variables once more).
            model.optimizer.build(model.trainable_variables)
            if not tf.distribute.has_strategy():  # under MirroredStrategy Keras builds the metrics before fit
                build_compiled_metrics(model, splits.train.images[:1], splits.train.labels[:1])
        train_ds, steps = make_train_dataset(splits.train.images, splits.train.labels, chosen, seed)
        val_ds = make_eval_dataset(splits.validation.images, splits.validation.labels)
        watcher = make_watcher(chosen.epochs, emit, should_stop, chosen.patience, chosen.min_loss_improvement,
                               prefer_later=chosen.ema_momentum > 0, min_epochs=chosen.min_epochs)
        emit(start_event(chosen.epochs, chosen.name, len(splits.train), len(splits.validation), skipped,
                         chosen.patience, chosen.min_loss_improvement, chosen.min_epochs))
        with collection_paused():
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=chosen.epochs,
                steps_per_epoch=steps,
                shuffle=False,  # tf.data shuffles; Keras' own flag would only warn
                callbacks=[*observers, *callbacks(keras, chosen, watcher)],
                verbose=verbose,
            )
        if watcher.cancelled:
            raise TrainingCancelled(CANCELLED_MESSAGE)
        if watcher.diverged or watcher.best_weights is None:
            raise TrainingError(
                "Training diverged (loss became NaN or infinite); nothing was published. "
                "Try a lower learning rate or the 'stable' recipe."
            )
        model.set_weights(watcher.best_weights)
        # The published file: Keras' own layers (no CoinDropout), computing in float32 like every engine.
        model = as_float32(model, build)
        gate = publish_gate(model, out_path, splits.validation, publish_if_worse)
        history = _history(watcher, chosen, splits, seed, time.perf_counter() - started, data_description)
        history["publish_gate"] = gate
        history["architecture"] = architecture
        history["precision"] = policy
        history["intra_op_threads"] = threads
        history["steps_per_execution"] = per_call
        publish_model_and_history(model, out_path, history)
    emit(done_event(out_path, history, gate))
    return TrainingResult(out_path, history)


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Python's automatic garbage collection paused inside (one full collection afterwards), unless it was off.

    Around `model.fit`: a collection that starts while Keras releases the tf.data pipeline at the end of fit
    stalled the process for 1-13 s (measured on 2 cores: the default recipe took 43.8 s instead of 26-31 s in
    the benchmark, every time its stop came after a warm-up training in the same process). With collection
    paused during fit, the one collection afterwards takes about 0.2 s.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()


def build_compiled_metrics(model, images, labels) -> None:
    """Create the compiled loss's and metrics' variables now, on one preprocessed image (`images`: (1, 28, 28, 3)
    float32, `labels`: (1,) int), with their state reset afterwards.

    Without a distribution strategy of its own, Keras creates them while it traces the first training step;
    TensorFlow then traces that graph once more without creating variables. Made here, the step is traced once:
    the first epoch takes 2.9-3.0 s instead of 3.6-3.8 s, and the run trains the same weights.
    """
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    predicted = model(images, training=False)
    model.compute_loss(images, onehot, predicted)
    model.compute_metrics(images, onehot, predicted, None)
    model.reset_metrics()


def _strategy(tf):
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def callbacks(keras, recipe: Recipe, watcher) -> list:
    """The callbacks of a run, in order: NaN stop; with an averaging recipe, `averaging`'s callback, which puts
    the averaged weights in the model for validation and at every epoch's end, so that the watcher (last)
    judges, keeps and publishes them."""
    ema = [make_average_in_view()] if recipe.ema_momentum > 0 else []
    return [keras.callbacks.TerminateOnNaN(), *ema, watcher]


def _optimizer(keras, recipe: Recipe):
    averaging = dict(use_ema=True, ema_momentum=recipe.ema_momentum) if recipe.ema_momentum > 0 else {}
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=recipe.learning_rate, **averaging)
    if recipe.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=recipe.learning_rate, **averaging)
    raise TrainingError(f"Unknown optimizer {recipe.optimizer!r} in recipe {recipe.name!r}.")


def _history(watcher, recipe: Recipe, splits: DatasetSplits, seed: int, seconds: float, description: str | None) -> dict[str, Any]:
    return {
        **watcher.metrics,
        "best_epoch": watcher.best_epoch,
        "val_accuracy_best": watcher.best_val_accuracy,
        "epochs_run": len(watcher.metrics["loss"]),
        "epoch_seconds": watcher.epoch_seconds,
        "stopped_early": watcher.stopped_early,
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

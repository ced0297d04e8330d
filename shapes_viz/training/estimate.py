"""How long a training takes: expected before Start, and the time left while it runs.

    before = estimate_training(RECIPES["stable"], train_count=210, history=published_history)
    before.expected_s, before.at_most_s                # e.g. 24.0, 58.0 (seconds)
    left = time_left(4, 30, val_accuracy=[...], val_loss=[...], patience=5, min_loss_improvement=0.02,
                     seconds_so_far=11.2, min_epochs=20)

A run costs a fixed part (process start, TensorFlow import, data load, model build, publish gate and
publish: `STARTUP_SECONDS`, `FINISH_SECONDS`) plus a part proportional to the samples it sees (epochs x
samples per epoch). The seconds per sample come from the published model's last run when it was trained on
the same architecture with the same batch size and augmentation (its history's `epoch_seconds`), else from
`TYPICAL_SECONDS_PER_SAMPLE` (2 cores).
With early stopping (`Recipe.patience`, `training.stopping`) a run ends `patience` epochs after validation
last improved, and not before `Recipe.min_epochs`: the expected figure replays the last run of the same
recipe (its validation curves) under the recipe's rule when there is one, else assumes the last improvement
at `TYPICAL_LAST_IMPROVEMENT`; the "at most" figure assumes every planned epoch runs.

No TensorFlow, Streamlit or Plotly here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shapes_viz.config import Recipe
from shapes_viz.training.pipeline import steps_per_epoch
from shapes_viz.training.stopping import replay

# Measured on the project's 2-core machine with the tutorial's network (batch 64, augmented), per training
# precision (`precision.training_policy`): an epoch of 4096 samples takes 2.45 s in float32 (0.6 ms a sample)
# and 1.0-1.1 s in mixed bfloat16 on its AMX unit (with the trainer's `coin_dropout` and `averaging`).
TYPICAL_SECONDS_PER_SAMPLE = {"float32": 0.6e-3, "mixed_bfloat16": 0.26e-3}
STARTUP_SECONDS = 7.0  # spawn + TensorFlow import + data load + model build (measured 6-8 s on 2 cores)
FINISH_SECONDS = 1.5  # publish gate (the current model measured) + writing the model and its history
# Epoch at which the default recipe's validation last improved on data/ (seeds 0-5, averaged weights,
# bfloat16: 10-16, mean 13.5), when no run of the recipe says otherwise.
TYPICAL_LAST_IMPROVEMENT = 14


@dataclass(frozen=True)
class Estimate:
    """A duration in seconds: what to expect and an upper bound.

    Attributes:
        expected_s: the likely duration (early stopping as usual).
        at_most_s: every planned epoch runs.
        basis: "last run" (seconds per sample measured by the published model's own training) or "typical"
            (the 2-core figure of this module).
    """

    expected_s: float
    at_most_s: float
    basis: str


def samples_per_epoch(recipe: Recipe, train_count: int) -> int:
    """Samples one epoch sees: its steps (`pipeline.steps_per_epoch`) times the batch size."""
    return steps_per_epoch(recipe, train_count) * recipe.batch_size


def seconds_per_sample(history: Mapping[str, Any] | None, recipe: Recipe, precision: str = "float32",
                       architecture: str = "tutorial") -> float | None:
    """Seconds per training sample measured by a finished run (its history dict) when it trained the same
    architecture in the same precision with the same batch size and augmentation as `recipe`: the median
    epoch after the first (which also traces the graph), over the samples of an epoch. None when the history
    does not say (older histories have no `epoch_seconds`), is of another kind of run, or holds nonsense."""
    if not isinstance(history, Mapping) or history.get("architecture", "tutorial") != architecture:
        return None
    if history.get("precision", "float32") != precision:
        return None
    try:
        ran = Recipe(**history["recipe"])
        times = [float(value) for value in history["epoch_seconds"]][1:]
        per_epoch = samples_per_epoch(ran, int(history["data"]["train_count"]))
    except (KeyError, TypeError, ValueError):
        return None
    if (ran.batch_size, ran.augment) != (recipe.batch_size, recipe.augment) or not times:
        return None
    seconds = statistics.median(times)
    return seconds / per_epoch if math.isfinite(seconds) and seconds > 0 else None


def expected_epochs(recipe: Recipe, epochs: int, history: Mapping[str, Any] | None = None) -> int:
    """Epochs a run of `recipe` planned for `epochs` is expected to run: all of them without patience;
    otherwise where the published model's last run (when it used this recipe) would have stopped under this
    recipe's rule (`stopping.replay`), else `patience` epochs after `TYPICAL_LAST_IMPROVEMENT`; never before
    the recipe's `min_epochs`."""
    if not recipe.patience:
        return epochs
    stop = TYPICAL_LAST_IMPROVEMENT + recipe.patience
    if isinstance(history, Mapping) and (history.get("recipe") or {}).get("name") == recipe.name:
        accuracy, loss = _curve(history, "val_accuracy"), _curve(history, "val_loss")
        if accuracy:
            stopped, last = replay(accuracy, loss if len(loss) == len(accuracy) else None, recipe.patience,
                                   recipe.min_loss_improvement, recipe.min_epochs)
            stop = stopped or last + recipe.patience
    return max(1, min(epochs, max(stop, recipe.min_epochs)))


def _curve(history: Mapping[str, Any], key: str) -> list[float]:
    values = history.get(key)
    if isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return []


def estimate_training(recipe: Recipe, train_count: int, history: Mapping[str, Any] | None = None,
                      epochs: int | None = None, precision: str = "float32") -> Estimate:
    """The duration of a training run before it starts.

    Args:
        recipe: the recipe (its `epochs` unless `epochs` overrides it).
        train_count: images in the training split.
        history: the published model's history dict, if any (its speed and its last rise are used).
        precision: the policy the training will compute in (`precision.training_policy()`).
    """
    planned = int(epochs or recipe.epochs)
    measured = seconds_per_sample(history, recipe, precision)
    typical = TYPICAL_SECONDS_PER_SAMPLE.get(precision, TYPICAL_SECONDS_PER_SAMPLE["float32"])
    per_epoch = samples_per_epoch(recipe, train_count) * (measured or typical)
    fixed = STARTUP_SECONDS + FINISH_SECONDS
    return Estimate(
        expected_s=fixed + expected_epochs(recipe, planned, history) * per_epoch,
        at_most_s=fixed + planned * per_epoch,
        basis="last run" if measured else "typical",
    )


def time_left(epoch: int, epochs: int, val_accuracy: Sequence[float], val_loss: Sequence[float] | None,
              patience: int, min_loss_improvement: float, seconds_so_far: float,
              typical_improvement: int = TYPICAL_LAST_IMPROVEMENT, min_epochs: int = 0) -> Estimate | None:
    """The time left of a running training, or None before its first epoch ends.

    Args:
        epoch: epochs finished; epochs: epochs planned.
        val_accuracy, val_loss: one value per finished epoch (val_loss None: accuracy only).
        patience, min_loss_improvement, min_epochs: the recipe's early stop (patience 0: every epoch runs).
        seconds_so_far: seconds from the start of the first epoch to the end of the last finished one.
        typical_improvement: the epoch of the last improvement to expect when the run has not got that far.
    """
    if epoch < 1 or seconds_so_far <= 0:
        return None
    per_epoch = seconds_so_far / epoch
    at_most = max(epochs - epoch, 0)
    expected = at_most
    if patience:
        _, last = replay(val_accuracy[:epoch], None if val_loss is None else val_loss[:epoch], patience,
                         min_loss_improvement, min_epochs)
        stop = min(epochs, max(max(last, typical_improvement) + patience, min_epochs))
        expected = max(min(stop - epoch, at_most), 0)
    return Estimate(expected_s=expected * per_epoch + FINISH_SECONDS, at_most_s=at_most * per_epoch + FINISH_SECONDS,
                    basis="this run")

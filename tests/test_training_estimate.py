"""shapes_viz.training.estimate: the expected duration before Start and the time left while training, against
sums done by hand; and the progress events that carry the times."""

from __future__ import annotations

import dataclasses
import json

import pytest

from shapes_viz.config import RECIPES
from shapes_viz.training import estimate
from shapes_viz.training.pipeline import steps_per_epoch, steps_per_execution
from shapes_viz.training.progress import epoch_event, parse_progress, start_event

# The default recipe without its floor on the stopping epoch: the sums below count the patience alone (the
# floor has its own test).
STABLE = dataclasses.replace(RECIPES["stable"], min_epochs=0)


def history(epoch_seconds=3.0, epochs_run=10, val_accuracy=None, recipe=STABLE, train_count=210, **extra):
    """A history as `train` writes it: the first epoch takes 5 s longer (graph tracing)."""
    values = val_accuracy if val_accuracy is not None else [0.5] * epochs_run
    times = [epoch_seconds + 5.0] + [epoch_seconds] * (epochs_run - 1)
    return {"epoch_seconds": times, "epochs_run": epochs_run, "val_accuracy": values,
            "recipe": dataclasses.asdict(recipe), "data": {"train_count": train_count}, **extra}


def test_samples_per_epoch_are_whole_batches_of_at_least_the_recipes_minimum():
    assert estimate.samples_per_epoch(STABLE, 210) == 4096  # 64 batches of 64: 4 graph calls of 16 steps
    # more images than the minimum: one pass, 79 batches, rounded up to 5 graph calls of 16 steps
    assert estimate.samples_per_epoch(STABLE, 5000) == 80 * 64
    assert (steps_per_execution(STABLE, 5000), steps_per_epoch(STABLE, 5000)) == (16, 80)
    assert estimate.samples_per_epoch(RECIPES["tutorial"], 210) == 14 * 16  # 14 batches: one call of all 14
    assert (steps_per_execution(RECIPES["tutorial"], 210), steps_per_epoch(RECIPES["tutorial"], 210)) == (14, 14)


def test_seconds_per_sample_come_from_the_last_runs_epochs_after_the_first():
    assert estimate.seconds_per_sample(history(3.0, 10), STABLE) == pytest.approx(3.0 / 4096)
    assert estimate.seconds_per_sample(history(3.0, 10, architecture="tiny_vgg"), STABLE) is None  # another network
    assert estimate.seconds_per_sample({"epochs_run": 3}, STABLE) is None  # an older history without epoch times
    assert estimate.seconds_per_sample(history(float("nan"), 10), STABLE) is None
    assert estimate.seconds_per_sample(history(3.0, 1), STABLE) is None  # only the first (tracing) epoch
    # batches of 16 without augmentation run at another speed per sample: not a measure of the stable recipe
    assert estimate.seconds_per_sample(history(0.1, 10, recipe=RECIPES["tutorial"]), STABLE) is None
    assert estimate.seconds_per_sample(None, STABLE) is None
    # a run in bfloat16 says nothing of the speed in float32, and the other way round
    assert estimate.seconds_per_sample(history(1.0, 10, precision="mixed_bfloat16"), STABLE) is None
    assert estimate.seconds_per_sample(history(1.0, 10, precision="mixed_bfloat16"), STABLE,
                                       "mixed_bfloat16") == pytest.approx(1.0 / 4096)


def test_expected_epochs_replay_the_recipes_rule_on_its_last_run():
    no_patience = dataclasses.replace(STABLE, patience=0)
    assert estimate.expected_epochs(no_patience, 30) == 30
    accuracy_only = dataclasses.replace(STABLE, min_loss_improvement=0.0)
    rising = history(val_accuracy=[0.4, 0.7, 0.9, 1.0, 1.0, 1.0], epochs_run=6)
    assert estimate.expected_epochs(accuracy_only, 30, rising) == 4 + STABLE.patience  # not stopped within 6
    assert estimate.expected_epochs(STABLE, 30) == estimate.TYPICAL_LAST_IMPROVEMENT + STABLE.patience
    assert estimate.expected_epochs(accuracy_only, 3, rising) == 3  # never more than planned
    # a run without early stopping whose accuracy crept up late would have stopped long before
    long_run = history(val_accuracy=[0.5, 0.9, 0.98] + [0.98] * 20 + [0.99], epochs_run=24)
    assert estimate.expected_epochs(accuracy_only, 30, long_run) == 3 + STABLE.patience
    # with the loss: it falls 10% an epoch until epoch 12, then stays; the stop comes 5 epochs later
    losses = [0.9 ** k for k in range(12)] + [0.9 ** 11] * 12
    with_loss = history(val_accuracy=[1.0] * 24, epochs_run=24, val_loss=losses)
    assert estimate.expected_epochs(STABLE, 30, with_loss) == 12 + STABLE.patience
    assert estimate.expected_epochs(accuracy_only, 30, with_loss) == 1 + STABLE.patience
    other = history(val_accuracy=[0.4, 1.0], epochs_run=2, recipe=RECIPES["tutorial"])
    assert estimate.expected_epochs(STABLE, 30, other) == estimate.TYPICAL_LAST_IMPROVEMENT + STABLE.patience


def test_expected_epochs_never_fall_under_the_recipes_floor():
    floored = dataclasses.replace(STABLE, min_loss_improvement=0.0, min_epochs=20)
    rising = history(val_accuracy=[0.4, 0.7, 0.9, 1.0, 1.0, 1.0], epochs_run=6)
    assert estimate.expected_epochs(floored, 30, rising) == 20  # patience alone: epoch 9
    assert estimate.expected_epochs(floored, 12, rising) == 12  # never more than planned
    late = history(val_accuracy=[0.5 + 0.02 * k for k in range(21)], epochs_run=21)  # rising to the end
    assert estimate.expected_epochs(floored, 30, late) == 21 + STABLE.patience  # past the floor: patience counts
    default = RECIPES["stable"]
    assert estimate.expected_epochs(default, default.epochs) == max(
        estimate.TYPICAL_LAST_IMPROVEMENT + default.patience, default.min_epochs)


def test_estimate_before_start_adds_the_fixed_part_to_epochs_times_samples_times_speed():
    last = history(epoch_seconds=2.5, epochs_run=8, val_accuracy=[0.5, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                   val_loss=[1.0, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    got = estimate.estimate_training(STABLE, 210, last)
    per_sample = 2.5 / 4096
    fixed = estimate.STARTUP_SECONDS + estimate.FINISH_SECONDS
    assert got.basis == "last run"
    assert got.expected_s == pytest.approx(fixed + (3 + STABLE.patience) * 4096 * per_sample)
    assert got.at_most_s == pytest.approx(fixed + STABLE.epochs * 4096 * per_sample)
    typical = estimate.estimate_training(STABLE, 210, None, epochs=12)
    assert typical.basis == "typical"
    assert typical.at_most_s == pytest.approx(fixed + 12 * 4096 * estimate.TYPICAL_SECONDS_PER_SAMPLE["float32"])
    bf16 = estimate.estimate_training(STABLE, 210, None, epochs=12, precision="mixed_bfloat16")
    assert bf16.at_most_s == pytest.approx(fixed + 12 * 4096 * estimate.TYPICAL_SECONDS_PER_SAMPLE["mixed_bfloat16"])


def test_time_left_uses_this_runs_seconds_per_epoch():
    assert estimate.time_left(0, 30, [], [], 3, 0.02, 0.0) is None
    left = estimate.time_left(4, 30, [0.5, 0.9, 0.9, 0.9], [1.0, 0.5, 0.5, 0.5], patience=3,
                              min_loss_improvement=0.02, seconds_so_far=10.0, typical_improvement=2)
    # the last improvement was epoch 2: the stop is expected at epoch 5, one epoch of 2.5 s away
    assert left.expected_s == pytest.approx(2.5 + estimate.FINISH_SECONDS)
    assert left.at_most_s == pytest.approx(26 * 2.5 + estimate.FINISH_SECONDS)
    falling = estimate.time_left(4, 30, [0.5, 0.9, 0.9, 0.9], [1.0, 0.5, 0.4, 0.3], patience=3,
                                 min_loss_improvement=0.02, seconds_so_far=10.0, typical_improvement=2)
    assert falling.expected_s == pytest.approx(3 * 2.5 + estimate.FINISH_SECONDS)  # the loss still falls
    floored = estimate.time_left(4, 30, [0.5, 0.9, 0.9, 0.9], [1.0, 0.5, 0.5, 0.5], patience=3,
                                 min_loss_improvement=0.02, seconds_so_far=10.0, typical_improvement=2, min_epochs=9)
    assert floored.expected_s == pytest.approx(5 * 2.5 + estimate.FINISH_SECONDS)  # no stop before epoch 9
    plain = estimate.time_left(4, 10, [0.5] * 4, None, patience=0, min_loss_improvement=0.0, seconds_so_far=8.0)
    assert plain.expected_s == plain.at_most_s == pytest.approx(6 * 2.0 + estimate.FINISH_SECONDS)


def test_progress_events_carry_the_times_the_app_reads_back(monkeypatch):
    clock = iter([100.0, 104.0, 106.5])
    monkeypatch.setattr("shapes_viz.training.progress.time.time", lambda: next(clock))
    metrics = {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5}
    lines = [json.dumps(event) for event in (start_event(30, "stable", 210, 90, [], patience=5, min_loss_improvement=0.02,
                                                                         min_epochs=20),
                                             epoch_event(1, 30, metrics), epoch_event(2, 30, metrics))]
    summary = parse_progress(lines)
    assert summary["patience"] == 5 and summary["min_loss_improvement"] == 0.02 and summary["min_epochs"] == 20
    assert summary["seconds_so_far"] == pytest.approx(6.5)
    assert parse_progress(lines[:2] + ['{"event": "epoch", "epoch": 3, "time": "soon"}'])["seconds_so_far"] == 4.0

"""shapes_viz.training.watcher: the epoch callback keeps the best epoch and stops early when validation has
stopped improving, saying when and why (driven with the logs Keras would give it)."""

from __future__ import annotations

import math

import numpy as np

from shapes_viz.training.watcher import make_watcher


class FakeModel:
    """What the callback touches of a Keras model: its weights and the stop flag."""

    def __init__(self):
        self.stop_training = False
        self.epoch = 0

    def get_weights(self):
        return [np.array([self.epoch])]


def drive(accuracies: list[float], patience: int, epochs: int = 30, losses: list[float] | None = None, **options):
    """Feed the watcher these validation accuracies (and losses: by default 1 - accuracy / 2), one epoch each,
    until it stops the run; each epoch's weights are [the epoch's number]. `options`: make_watcher's keywords."""
    events = []
    watcher = make_watcher(epochs, events.append, None, patience, **options)
    model = FakeModel()
    watcher.set_model(model)
    for epoch, accuracy in enumerate(accuracies):
        model.epoch = epoch + 1
        loss = losses[epoch] if losses else 1.0 - accuracy / 2
        watcher.on_epoch_end(epoch, {"loss": 1.0, "accuracy": 0.5, "val_loss": loss, "val_accuracy": accuracy})
        if model.stop_training:
            break
    return watcher, events


def test_it_stops_after_patience_epochs_without_a_rise_and_says_why():
    watcher, events = drive([0.5, 0.8, 0.9, 0.9, 0.85, 0.9, 0.9, 0.95, 0.9], patience=3)
    assert watcher.stopped_early == {
        "epoch": 6, "reason": "validation accuracy had not risen for 3 epochs (last improvement at epoch 3); "
                              "the best epoch, 3, had validation accuracy 0.9000"}
    assert len(events) == 6 and watcher.best_epoch == 3  # a tie (same accuracy, same loss) does not replace it
    assert int(watcher.best_weights[0][0]) == 3


def test_without_patience_or_while_it_rises_it_never_stops_early():
    watcher, events = drive([0.5, 0.5, 0.5, 0.5, 0.5], patience=0)
    assert watcher.stopped_early is None and len(events) == 5
    watcher, _ = drive([0.1 * k for k in range(1, 10)], patience=2)
    assert watcher.stopped_early is None and watcher.best_epoch == 9


def test_the_last_epoch_is_not_an_early_stop():
    watcher, _ = drive([0.9, 0.9, 0.9], patience=2, epochs=3)
    assert watcher.stopped_early is None


def test_a_nan_loss_is_divergence_not_an_early_stop():
    events = []
    watcher = make_watcher(10, events.append, None, 2)
    model = FakeModel()
    watcher.set_model(model)
    watcher.on_epoch_end(0, {"loss": math.nan, "accuracy": 0.3, "val_loss": 1.0, "val_accuracy": 0.3})
    assert watcher.diverged and model.stop_training and watcher.stopped_early is None


def test_among_epochs_of_equal_accuracy_averaged_weights_keep_the_latest():
    accuracies, losses = [0.9, 1.0, 1.0, 1.0, 0.99], [0.5, 0.20, 0.18, 0.19, 0.17]
    watcher, _ = drive(accuracies, patience=0, losses=losses)
    assert watcher.best_epoch == 3 == int(watcher.best_weights[0][0])  # the lowest loss of the best accuracy
    watcher, _ = drive(accuracies, patience=0, losses=losses, prefer_later=True)
    assert watcher.best_epoch == 4 == int(watcher.best_weights[0][0])  # the latest of the best accuracy


def test_no_early_stop_before_the_floor_and_the_history_says_why():
    flat = [0.5, 0.9] + [0.9] * 10
    watcher, events = drive(flat, patience=3, min_epochs=8)
    assert len(events) == 8 and watcher.stopped_early["epoch"] == 8  # patience alone: epoch 5
    assert "(last improvement at epoch 2), and at least 8 epochs had run" in watcher.stopped_early["reason"]

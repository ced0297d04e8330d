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


def drive(accuracies: list[float], patience: int, epochs: int = 30):
    events = []
    watcher = make_watcher(epochs, events.append, None, patience)
    model = FakeModel()
    watcher.set_model(model)
    for epoch, accuracy in enumerate(accuracies):
        model.epoch = epoch + 1
        watcher.on_epoch_end(epoch, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.0 - accuracy / 2,
                                     "val_accuracy": accuracy})
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

"""The epoch watcher: the Keras callback of a training run. Like Keras' `History` it records (metrics, the
best epoch's weights) and reports (one progress event per epoch); it stops the run on a non-finite loss or
a stop request. Keras is imported when a watcher is made, not with this module.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from shapes_viz.training.progress import METRICS, Event, epoch_event
from shapes_viz.training.stopping import EarlyStop, keeps


def make_watcher(epochs: int, emit: Callable[[Event], None], should_stop: Callable[[], bool] | None,
                 patience: int = 0, min_loss_improvement: float = 0.0, prefer_later: bool = False,
                 min_epochs: int = 0):
    """A Keras callback that records metrics, keeps the best epoch's weights in memory (the highest
    val_accuracy; among epochs of equal accuracy the lowest val_loss, or with `prefer_later` the latest),
    stops on NaN loss or a stop request, times every epoch (`epoch_seconds`) and emits one event per epoch.
    `prefer_later` suits averaged weights (`Recipe.ema_momentum`): on drawings unlike the training set they
    keep improving for epochs after 90 validation drawings stop telling them apart. With
    `patience`, it stops when validation has not improved for that many epochs (`stopping.EarlyStop`: a new
    maximum of val_accuracy, or val_loss down by `min_loss_improvement`; never before `min_epochs`;
    `stopped_early` says when and why)."""
    import keras

    class EpochWatcher(keras.callbacks.Callback):
        def __init__(self, epochs: int, emit: Callable[[Event], None], should_stop: Callable[[], bool] | None):
            super().__init__()
            self.epochs = epochs
            self.emit = emit
            self.should_stop = should_stop
            self.metrics: dict[str, list[float]] = {k: [] for k in METRICS}
            self.best_weights: list[np.ndarray] | None = None
            self.best_epoch = 0
            self.best_val_accuracy = -1.0
            self.best_val_loss = math.inf
            self.cancelled = False
            self.diverged = False
            self.rule = EarlyStop(patience, min_loss_improvement, min_epochs)
            self.stopped_early: dict | None = None
            self.epoch_seconds: list[float] = []  # each finished epoch's wall time, validation included
            self._epoch_started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch_started = time.perf_counter()

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
            self.epoch_seconds.append(round(time.perf_counter() - self._epoch_started, 3))
            self.rule.update(epoch + 1, values["val_accuracy"], values["val_loss"])
            if keeps(values["val_accuracy"], values["val_loss"], self.best_val_accuracy, self.best_val_loss,
                     prefer_later):
                self.best_val_accuracy = values["val_accuracy"]
                self.best_val_loss = values["val_loss"]
                self.best_epoch = epoch + 1
                self.best_weights = self.model.get_weights()
            self.emit(epoch_event(epoch + 1, self.epochs, values))
            if self.rule.should_stop(epoch + 1) and epoch + 1 < self.epochs:
                self.model.stop_training = True
                self.stopped_early = {
                    "epoch": epoch + 1,
                    "reason": f"{self.rule.reason()}; the best epoch, {self.best_epoch}, had validation accuracy "
                              f"{self.best_val_accuracy:.4f}",
                }

    return EpochWatcher(epochs, emit, should_stop)

"""The averaged weights (Recipe.ema_momentum): with an averaging recipe the watcher judges and keeps the
exponential moving average of the weights, recomputed here step by step from the weights Keras trained."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shapes_viz.config import RECIPES
from shapes_viz.training.run import _optimizer, callbacks
from shapes_viz.training.watcher import make_watcher

keras = pytest.importorskip("keras")


def _fit(recipe, epochs=2, observers=()):
    """A tiny dense network fitted with the run's optimizer and callbacks (after `observers`); returns (watcher,
    the weights after every step)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=_optimizer(keras, recipe), loss="categorical_crossentropy", metrics=["accuracy"])
    steps: list[list[np.ndarray]] = []

    class Steps(keras.callbacks.Callback):  # first in the list: the model holds the trained weights here
        def on_train_batch_end(self, batch, logs=None):
            steps.append([np.array(w) for w in self.model.get_weights()])

    watcher = make_watcher(epochs, lambda event: None, None)
    model.fit(x, y, batch_size=16, epochs=epochs, validation_data=(x[:32], y[:32]), verbose=0, shuffle=False,
              callbacks=[Steps(), *observers, *callbacks(keras, recipe, watcher)])
    return watcher, steps


def test_the_default_recipe_averages_and_the_previous_one_does_not():
    assert RECIPES["stable"].ema_momentum == 0.99 and RECIPES["thorough"].ema_momentum == 0.0
    optimizer = _optimizer(keras, RECIPES["stable"])
    assert optimizer.use_ema and optimizer.ema_momentum == 0.99
    assert not _optimizer(keras, RECIPES["thorough"]).use_ema
    names = [type(c).__name__ for c in callbacks(keras, RECIPES["stable"], make_watcher(1, print, None))]
    assert names == ["TerminateOnNaN", "AverageInView", "EpochWatcher"]  # the swap before the watcher judges


def test_the_watcher_keeps_the_moving_average_of_the_best_epoch():
    recipe = dataclasses.replace(RECIPES["stable"], ema_momentum=0.9, learning_rate=0.05)
    watcher, steps = _fit(recipe)
    per_epoch = len(steps) // 2
    average = None
    for step, weights in enumerate(steps[: watcher.best_epoch * per_epoch]):
        average = weights if step == 0 else [0.9 * a + 0.1 * w for a, w in zip(average, weights)]
    for kept, expected, last in zip(watcher.best_weights, average, steps[watcher.best_epoch * per_epoch - 1]):
        np.testing.assert_allclose(kept, expected, rtol=1e-5, atol=1e-6)
        assert not np.allclose(kept, last)  # the average, not the last step's weights


def test_without_averaging_the_watcher_keeps_the_trained_weights():
    recipe = dataclasses.replace(RECIPES["stable"], ema_momentum=0.0, learning_rate=0.05)
    watcher, steps = _fit(recipe)
    per_epoch = len(steps) // 2
    for kept, trained in zip(watcher.best_weights, steps[watcher.best_epoch * per_epoch - 1]):
        np.testing.assert_array_equal(kept, trained)


def test_the_swap_is_exact_and_callbacks_before_it_see_the_trained_weights():
    """At an epoch's end a callback before the swap sees the trained weights and the watcher the average; when the
    next epoch's first step begins the model holds the trained weights again, bit for bit (Keras' SwapEMAWeights
    swaps by addition and subtraction, which rounds them)."""
    seen: dict[str, list] = {"end": [], "begin": []}

    class Seen(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["end"].append([np.array(w) for w in self.model.get_weights()])

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                seen["begin"].append([np.array(w) for w in self.model.get_weights()])

    recipe = dataclasses.replace(RECIPES["stable"], ema_momentum=0.9, learning_rate=0.05)
    watcher, steps = _fit(recipe, epochs=3, observers=[Seen()])
    per_epoch = len(steps) // 3
    for epoch in range(2):
        for trained, at_end, next_begin in zip(steps[(epoch + 1) * per_epoch - 1], seen["end"][epoch],
                                               seen["begin"][epoch + 1]):
            np.testing.assert_array_equal(at_end, trained)
            np.testing.assert_array_equal(next_begin, trained)
    assert not all(np.array_equal(a, b) for a, b in zip(watcher.best_weights, seen["end"][watcher.best_epoch - 1]))


def test_the_swap_refuses_an_optimizer_without_an_average():
    from shapes_viz.training.averaging import make_average_in_view

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, y = np.zeros((4, 2), np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    with pytest.raises(ValueError, match="use_ema=True"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[make_average_in_view()])

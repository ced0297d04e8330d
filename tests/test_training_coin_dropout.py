"""CoinDropout, the trainer's Dropout(0.5): Keras' Dropout in distribution (each unit kept with probability 1/2,
independently, scaled by 2), checked by counting; the same layer everywhere else; never in a published file."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from shapes_viz.model import build_model  # noqa: E402
from shapes_viz.training.coin_dropout import coin_dropout_class, with_coin_dropout  # noqa: E402
from shapes_viz.training.precision import as_float32, dtype_policy  # noqa: E402


def _masks(dtype: str, shape=(64, 13, 13, 32), calls: int = 4) -> list[np.ndarray]:
    """Which units each of `calls` training calls kept, on an input of ones (as 0/1 arrays)."""
    layer = coin_dropout_class()(0.5, seed=7)
    x = tf.ones(shape, dtype=dtype)
    out = [np.asarray(tf.cast(layer(x, training=True), tf.float32)) for _ in range(calls)]
    for y in out:
        assert set(np.unique(y)) <= {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - 0.5)
    return [(y > 0).astype(np.float64) for y in out]


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_each_unit_is_a_fair_coin_independent_of_its_neighbours_and_of_the_next_call(dtype):
    masks = _masks(dtype)
    n = masks[0].size
    limit = 5 * math.sqrt(0.25 / n)  # five standard deviations of a fair coin's mean over n units
    for mask in masks:
        assert abs(mask.mean() - 0.5) < limit
        flat = mask.ravel()
        for lag in (1, 31, 32, 33, 13 * 32):  # the units of one 32-bit word, of the next word, the next row
            both = (flat[:-lag] * flat[lag:]).mean()  # P(both kept) = 1/4 when independent
            assert abs(both - 0.25) < 5 * math.sqrt(0.25 * 0.75 / (n - lag)), lag
    assert abs((masks[0] * masks[1]).mean() - 0.25) < 5 * math.sqrt(0.1875 / n)  # a new draw every call
    assert abs(np.mean([m.mean() for m in masks]) - 0.5) < limit


def test_the_gradient_passes_the_kept_units_times_two_and_nothing_else():
    layer = coin_dropout_class()(0.5, seed=3)
    x = tf.Variable(np.random.default_rng(0).uniform(0.5, 1.5, (8, 5, 5, 4)).astype(np.float32))
    weights = np.arange(1.0, 1.0 + x.shape.num_elements(), dtype=np.float32).reshape(x.shape)
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        total = tf.reduce_sum(y * weights)
    kept = np.asarray(y) != 0
    np.testing.assert_allclose(np.asarray(tape.gradient(total, x)), np.where(kept, 2.0 * weights, 0.0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(y), np.where(kept, 2.0 * np.asarray(x), 0.0), rtol=1e-6)


def test_inference_other_rates_and_noise_shapes_are_keras_dropout():
    coin = coin_dropout_class()
    x = tf.constant(np.random.default_rng(1).random((6, 10), dtype=np.float32))
    np.testing.assert_array_equal(coin(0.5)(x, training=False), x)
    for kwargs in (dict(rate=0.3), dict(rate=0.5, noise_shape=(6, 1))):
        ours, theirs = coin(seed=11, **kwargs), keras.layers.Dropout(seed=11, **kwargs)
        np.testing.assert_array_equal(ours(x, training=True), theirs(x, training=True))


def test_a_copy_with_coin_dropout_is_the_same_network_and_the_published_copy_has_keras_layers():
    with dtype_policy("mixed_bfloat16"):
        model = build_model(seed=0)
        training = with_coin_dropout(model)
    assert [type(layer).__name__ for layer in model.layers].count("Dropout") == 4  # the original is unchanged
    assert [layer.name for layer in training.layers] == [layer.name for layer in model.layers]
    assert training.name == model.name
    assert [type(layer).__name__ for layer in training.layers if "drop" in layer.name] == ["CoinDropout"] * 4
    assert all(layer.dtype_policy.name == "mixed_bfloat16" for layer in training.layers)
    for a, b in zip(model.get_weights(), training.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(2).random((3, 28, 28, 3), dtype=np.float32)
    np.testing.assert_array_equal(training(images, training=False), model(images, training=False))
    published = as_float32(training, build_model)
    assert not any(type(layer).__name__ == "CoinDropout" for layer in published.layers)
    assert all(layer.dtype_policy.name == "float32" for layer in published.layers)


def test_a_model_without_dropout_at_one_half_is_returned_as_is():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.25), keras.layers.Dense(3)])
    assert with_coin_dropout(model) is model

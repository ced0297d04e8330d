"""shapes_viz.model: the tutorial's network as built, and its summary as data (saving: test_artifacts.py)."""

from __future__ import annotations

import numpy as np

from shapes_viz.model import LayerInfo, build_model, model_summary

# The tutorial's model.summary(): name, type, output shape without the batch axis, parameters.
TUTORIAL_SUMMARY = [
    ("conv1_1", "Conv2D", (28, 28, 32), 896),
    ("conv1_2", "Conv2D", (26, 26, 32), 9248),
    ("pool1", "MaxPooling2D", (13, 13, 32), 0),
    ("drop1", "Dropout", (13, 13, 32), 0),
    ("conv2_1", "Conv2D", (13, 13, 64), 18496),
    ("conv2_2", "Conv2D", (11, 11, 64), 36928),
    ("pool2", "MaxPooling2D", (5, 5, 64), 0),
    ("drop2", "Dropout", (5, 5, 64), 0),
    ("conv3_1", "Conv2D", (5, 5, 64), 36928),
    ("conv3_2", "Conv2D", (3, 3, 64), 36928),
    ("pool3", "MaxPooling2D", (1, 1, 64), 0),
    ("drop3", "Dropout", (1, 1, 64), 0),
    ("flatten", "Flatten", (64,), 0),
    ("dense", "Dense", (512,), 33280),
    ("drop4", "Dropout", (512,), 0),
    ("predictions", "Dense", (3,), 1539),
]


def probe(count: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((count, 28, 28, 3), dtype=np.float32)


def predictions(model, x=None) -> np.ndarray:
    return np.asarray(model(probe() if x is None else x, training=False))


def test_summary_equals_the_tutorials(fresh_model):
    summary = model_summary(fresh_model)
    assert all(isinstance(row, LayerInfo) for row in summary)
    assert [(r.name, r.kind, r.output_shape, r.params) for r in summary] == TUTORIAL_SUMMARY
    assert sum(r.params for r in summary) == fresh_model.count_params() == 174_243
    assert tuple(fresh_model.inputs[0].shape[1:]) == (28, 28, 3)


def test_activations_and_dropout_rates(fresh_model):
    import keras

    for layer in fresh_model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert layer.get_config()["activation"] == "relu" and layer.kernel_size == (3, 3)
        if isinstance(layer, keras.layers.Dropout):
            assert layer.rate == 0.5
    assert fresh_model.get_layer("dense").get_config()["activation"] == "relu"
    assert fresh_model.get_layer("predictions").get_config()["activation"] == "softmax"
    p = predictions(fresh_model)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_build_model_seed_makes_weights_reproducible():
    a, b, c = build_model(seed=3), build_model(seed=3), build_model(seed=4)
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])

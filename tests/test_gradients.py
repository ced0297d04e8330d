"""shapes_viz.engine.gradients: the numpy backward pass equals tf.GradientTape on the Keras model
(the oracle: tests/helpers/gradient_oracle.py)."""

from __future__ import annotations

import numpy as np
import pytest

from shapes_viz.config import PROJECT_ROOT
from shapes_viz.engine.gradients import backward, logit_gradients, trace, unit_gradients
from shapes_viz.engine.numpy_engine import NumpyEngine
from tests.helpers.gradient_oracle import keras_gradients

SHIPPED = PROJECT_ROOT / "models" / "shapes_cnn.h5"
DATA = PROJECT_ROOT / "data" / "test_set"


@pytest.fixture(scope="module")
def drawings() -> np.ndarray:
    """20 of the shipped data set's test drawings (all three classes), preprocessed: (20, 28, 28, 3) float32."""
    from shapes_viz.preprocessing import preprocess

    files = [path for name in ("circles", "squares", "triangles") for path in sorted((DATA / name).glob("*.png"))[:7]]
    return np.concatenate([preprocess(path) for path in files[:20]])


@pytest.mark.parametrize("target", [0, 1, 2])
def test_logit_gradients_equal_gradient_tape_for_every_conv_layer_on_20_drawings(drawings, target):
    from shapes_viz.model import load_model

    engine = NumpyEngine.from_file(SHIPPED)
    expected = keras_gradients(load_model(SHIPPED), drawings, target)
    ours = logit_gradients(engine, trace(engine, drawings), target)
    np.testing.assert_allclose(ours.input, expected["input"], atol=1e-4, rtol=1e-3, err_msg="input")
    convs = [name for name, kind in zip(engine.layer_names, engine.layer_kinds) if kind == "Conv2D"]
    assert len(convs) == 6
    for name in convs:
        np.testing.assert_allclose(ours.pre_activation(name), expected[f"{name}/pre"], atol=1e-4, rtol=1e-3, err_msg=name)
        np.testing.assert_allclose(ours.output(name), expected[f"{name}/out"], atol=1e-4, rtol=1e-3, err_msg=name)
    assert np.abs(ours.input).max() > 1e-4  # not trivially zero: the logit is not saturated like a softmax


def test_other_layer_settings_have_the_gradients_keras_has(tmp_path):
    """Strides, "same" pooling, uneven windows, no bias, tanh and sigmoid: each layer's backward rule."""
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 3)),
        L.Conv2D(4, 3, strides=2, padding="same", activation="tanh", name="c1"),
        L.MaxPooling2D(pool_size=3, strides=2, padding="same", name="p1"),
        L.Conv2D(5, (3, 2), use_bias=False, activation="sigmoid", name="c2"),
        L.MaxPooling2D(pool_size=(2, 1), name="p2"),
        L.Flatten(name="f"), L.Dense(6, activation="relu", name="d"), L.Dense(3, activation="softmax", name="out"),
    ])
    path = tmp_path / "variant.h5"
    model.save(path)
    engine = NumpyEngine.from_file(path)
    images = np.random.default_rng(1).random((4, 28, 28, 3), dtype=np.float32)
    expected = keras_gradients(model, images, target=2)
    ours = logit_gradients(engine, trace(engine, images), 2)
    np.testing.assert_allclose(ours.input, expected["input"], atol=1e-5, rtol=1e-3)
    for name in ("c1", "c2", "d"):
        np.testing.assert_allclose(ours.pre_activation(name), expected[f"{name}/pre"], atol=1e-5, rtol=1e-3, err_msg=name)


def test_global_average_pooling_has_the_gradient_keras_has(tmp_path):
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(4)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 3)), L.Conv2D(6, 3, padding="same", activation="relu", name="c1"),
        L.MaxPooling2D(2, name="p1"), L.Conv2D(8, 3, activation="relu", name="c2"),
        L.GlobalAveragePooling2D(name="gap"), L.Dense(3, activation="softmax", name="out"),
    ])
    path = tmp_path / "gap.h5"
    model.save(path)
    engine = NumpyEngine.from_file(path)
    images = np.random.default_rng(2).random((3, 28, 28, 3), dtype=np.float32)
    expected = keras_gradients(model, images, target=1)
    ours = logit_gradients(engine, trace(engine, images), 1)
    np.testing.assert_allclose(ours.input, expected["input"], atol=1e-5, rtol=1e-3)
    for name in ("c1", "c2"):
        np.testing.assert_allclose(ours.pre_activation(name), expected[f"{name}/pre"], atol=1e-5, rtol=1e-3, err_msg=name)


def test_a_unit_gradient_equals_finite_differences(drawings):
    """d (one conv2_1 output cell) / d input, checked on the pixels around the cell by central differences."""
    engine = NumpyEngine.from_file(SHIPPED)
    x = drawings[:1].astype(np.float64)
    run = trace(engine, drawings[:1])
    layer, unit = "conv2_1", (6, 6, 0)
    values = run.outputs[run.index(layer)][0]
    unit = (*np.unravel_index(values[..., 0].argmax(), values.shape[:2]), 0)  # a positive cell: ReLU is open
    grads = unit_gradients(engine, run, layer, unit)

    def value(image: np.ndarray) -> float:
        return float(trace(engine, image.astype(np.float32)).outputs[run.index(layer)][(0, *unit)])

    largest = np.argsort(np.abs(grads.input[0]).ravel())[-8:]
    for flat in largest:
        i, j, c = np.unravel_index(flat, (28, 28, 3))
        step = np.zeros_like(x)
        step[0, i, j, c] = 1e-3
        numeric = (value(x + step) - value(x - step)) / 2e-3
        assert numeric == pytest.approx(grads.input[0, i, j, c], abs=2e-3, rel=0.05), (i, j, c)


def test_gradients_refuse_what_does_not_exist(drawings):
    engine = NumpyEngine.from_file(SHIPPED)
    run = trace(engine, drawings[:1])
    with pytest.raises(ValueError, match=r"Received: target=3"):
        logit_gradients(engine, run, 3)
    with pytest.raises(KeyError, match=r"Received: layer='conv9'"):
        unit_gradients(engine, run, "conv9", (0, 0, 0))
    with pytest.raises(ValueError, match=r"Received: unit=\(28, 0, 0\)"):
        unit_gradients(engine, run, "conv1_1", (28, 0, 0))
    with pytest.raises(ValueError, match=r"Received: seed.shape=\(1, 3\)"):
        backward(engine, run, 0, np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"Received: images.shape=\(28, 28, 3\)"):
        trace(engine, drawings[0])
    grads = unit_gradients(engine, run, "conv1_2", (3, 3, 0))
    with pytest.raises(ValueError, match="comes after the target"):
        grads.output("conv2_1")

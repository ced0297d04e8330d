"""shapes_viz.engine.numpy_engine: the dashboard's TensorFlow-free forward pass equals Keras, layer by layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from shapes_viz.errors import ModelFileError
from shapes_viz.engine import Unsupported
from shapes_viz.engine.numpy_engine import NumpyEngine

ROOT = Path(__file__).resolve().parent.parent


def inputs(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((1, 28, 28, 3), dtype=np.float32) for _ in range(count)]


@pytest.fixture(scope="module")
def model_file(trained) -> Path:
    return Path(trained[0])


@pytest.fixture(scope="module")
def engine(model_file) -> NumpyEngine:
    return NumpyEngine.from_file(model_file)


@pytest.fixture(scope="module")
def sample(tiny_data) -> np.ndarray:
    from shapes_viz.preprocessing import preprocess

    return preprocess(sorted((tiny_data / "test_set" / "circles").glob("*.png"))[0])


def test_every_layer_equals_the_compiled_keras_engine(engine, trained_model, sample):
    from shapes_viz.engine.keras_engine import KerasEngine

    reference = KerasEngine(trained_model, jit_compile=False)
    for x in [sample, *inputs(2)]:
        ours, theirs = engine.run(x), reference.run(x)
        assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
        assert [l.kind for l in ours.layers] == [l.kind for l in theirs.layers]
        for a, b in zip(ours.layers, theirs.layers):
            assert a.values.shape == b.values.shape and a.values.dtype == np.float32, a.name
            np.testing.assert_allclose(a.values, b.values, atol=1e-5, err_msg=a.name)
            np.testing.assert_allclose(a.stats.maximum, b.stats.maximum, atol=1e-5, err_msg=a.name)
            np.testing.assert_allclose(a.stats.mean, b.stats.mean, atol=1e-5, err_msg=a.name)
        np.testing.assert_allclose(ours.probabilities, theirs.probabilities, atol=1e-6)
        assert ours.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_batches_summary_and_evaluation_equal_keras(engine, trained_model, tiny_data):
    from shapes_viz.engine.keras_engine import KerasEngine
    from shapes_viz.evaluation import evaluate
    from shapes_viz.model import model_summary

    images = np.concatenate(inputs(9, seed=3))
    np.testing.assert_allclose(engine.probabilities(images), np.asarray(trained_model(images, training=False)), atol=1e-6)
    assert engine.summary() == model_summary(trained_model)
    ours, theirs = evaluate(engine, tiny_data / "test_set"), evaluate(KerasEngine(trained_model, warm_up=False), tiny_data / "test_set")
    np.testing.assert_array_equal(ours.confusion, theirs.confusion)
    assert engine.probabilities(inputs(1)[0]).shape == (1, 3)


@pytest.mark.parametrize(
    "x, error",
    [(np.zeros((28, 28, 3), np.float32), "shape"), (np.zeros((1, 28, 28, 3), np.float64), "dtype")],
)
def test_run_refuses_other_shapes_and_dtypes(engine, x, error):
    with pytest.raises(ValueError, match=f"Received: x.shape=.*{'' if error == 'shape' else 'float64'}"):
        engine.run(x)


def small_model(layers, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(shape=(28, 28, 3)), *layers])


def variants():
    import keras
    from keras import layers as L

    return {
        "strided same conv, same pool": lambda: small_model([
            L.Conv2D(4, 3, strides=2, padding="same", activation="tanh"),
            L.MaxPooling2D(pool_size=3, strides=2, padding="same"),
            L.Flatten(), L.Dense(3, activation="softmax"),
        ]),
        "5x3 kernel, no bias, sigmoid, uneven pool": lambda: small_model([
            L.Conv2D(5, (5, 3), use_bias=False, activation="sigmoid"),
            L.MaxPooling2D(pool_size=(3, 2)),
            L.Dropout(0.3), L.Flatten(), L.Dense(7, activation="relu"), L.Dense(3, activation="softmax"),
        ]),
        "linear activations, stride 3": lambda: small_model([
            L.Conv2D(3, 4, strides=3, padding="same"), L.Flatten(), L.Dense(3),
        ]),
        "global average pooling": lambda: small_model([
            L.Conv2D(6, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
            L.Conv2D(8, 3, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(3, activation="softmax"),
        ]),
        "global average pooling, keepdims": lambda: small_model([
            L.Conv2D(4, 5, activation="relu"), L.GlobalAveragePooling2D(keepdims=True), L.Flatten(),
            L.Dense(3, activation="softmax"),
        ]),
    }


@pytest.mark.parametrize("name", list(variants()))
def test_other_layer_settings_equal_keras(tmp_path, name):
    model = variants()[name]()
    path = tmp_path / "variant.h5"
    model.save(path)
    engine = NumpyEngine.from_file(path)
    x = inputs(1, seed=5)[0]
    reference = [np.asarray(o)[0] for o in _all_outputs(model, x)]
    for layer, expected in zip(engine.run(x).layers, reference):
        np.testing.assert_allclose(layer.values, expected, atol=1e-5, err_msg=layer.name)


def _all_outputs(model, x):
    outputs = []
    for layer in model.layers:
        x = layer(x, training=False)
        outputs.append(x)
    return outputs


def test_files_it_does_not_read_are_unsupported_not_errors(tmp_path, fresh_model):
    from keras import layers as L

    keras_file = tmp_path / "model.keras"
    fresh_model.save(keras_file)
    with pytest.raises(Unsupported):
        NumpyEngine.from_file(keras_file)
    dilated = small_model([L.Conv2D(2, 3, dilation_rate=2), L.Flatten(), L.Dense(3, activation="softmax")])
    dilated.save(tmp_path / "dilated.h5")
    with pytest.raises(Unsupported):
        NumpyEngine.from_file(tmp_path / "dilated.h5")


def _kernel_name(group) -> str:
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
    return next(n for n in names if n.rsplit("/", 1)[-1].startswith("kernel"))


def wrong_kernel_shape(weights) -> None:
    group = weights["conv1_1"]
    name = _kernel_name(group)
    del group[name]
    group.create_dataset(name, data=np.zeros((3, 3, 3, 31), np.float32))


def missing_layer(weights) -> None:
    del weights["dense"]


@pytest.mark.parametrize(
    "change, message",
    [(wrong_kernel_shape, "conv1_1.*shape"), (missing_layer, "no weights for layer 'dense'")],
    ids=["wrong kernel shape", "missing layer"],
)
def test_broken_weights_are_model_file_errors(tmp_path, model_file, change, message):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(model_file.read_bytes())
    with h5py.File(broken, "r+") as handle:
        change(handle["model_weights"])
    with pytest.raises(ModelFileError, match=message):
        NumpyEngine.from_file(broken)


def test_unsafe_files_are_refused_before_reading_weights(tmp_path, model_file):
    bad = tmp_path / "lambda.h5"
    bad.write_bytes(model_file.read_bytes())
    with h5py.File(bad, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        config["config"]["layers"][1]["class_name"] = "Lambda"
        handle.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ModelFileError, match="Refused lambda.h5"):
        NumpyEngine.from_file(bad)


def test_the_dashboard_engine_needs_no_tensorflow(model_file):
    """A fresh interpreter loads the model, predicts, and never imports TensorFlow or Keras."""
    script = (
        "import sys, numpy as np\n"
        "from shapes_viz.engine.numpy_engine import NumpyEngine\n"
        f"engine = NumpyEngine.from_file({str(model_file)!r})\n"
        "p = engine.run(np.zeros((1, 28, 28, 3), np.float32)).probabilities\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules), round(float(p.sum()), 3))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[] 1.0"


def test_the_app_uses_it_for_h5_files_and_keras_otherwise(tmp_path, model_file, fresh_model):
    from shapes_viz.artifacts import file_identity
    from shapes_viz.engine.keras_engine import KerasEngine
    from shapes_viz.ui import resources

    keras_file = tmp_path / "model.keras"
    fresh_model.save(keras_file)
    assert isinstance(resources.load_engine(file_identity(model_file)).engine, NumpyEngine)
    assert isinstance(resources.load_engine(file_identity(keras_file)).engine, KerasEngine)

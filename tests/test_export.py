"""shapes_viz.engine.export: the model packed for the browser unpacks (in Python, independently of the
packing code's loops) into the same weights and the same forward pass as the numpy engine it came from."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from shapes_viz.engine import Unsupported
from shapes_viz.engine.export import FORMAT, engine_from_export, export_model, unpack_weights
from shapes_viz.engine.layers import Layer, layer_from_spec
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.model_files import LayerSpec, check_model_config


def _config(activation: str = "relu") -> dict:
    """A small Sequential config with every kind the browser runs: same and valid convolutions, pooling,
    dropout, flatten, dense."""
    def layer(kind, **config):
        return {"class_name": kind, "config": {"name": config.pop("name"), **config}}

    return {"class_name": "Sequential", "config": {"layers": [
        layer("InputLayer", name="image", batch_shape=[None, 28, 28, 3]),
        layer("Conv2D", name="c1", filters=4, kernel_size=[3, 3], padding="same", activation=activation),
        layer("Conv2D", name="c2", filters=5, kernel_size=[3, 3], padding="valid", activation="tanh"),
        layer("MaxPooling2D", name="p1", pool_size=[2, 2], strides=[2, 2], padding="valid"),
        layer("Dropout", name="d1", rate=0.25),
        layer("Conv2D", name="c3", filters=3, kernel_size=[5, 5], strides=[2, 2], padding="same", activation="sigmoid"),
        layer("MaxPooling2D", name="p2", pool_size=[3, 3], strides=[2, 2], padding="same"),
        layer("Flatten", name="flat"),
        layer("Dense", name="hidden", units=7, activation="relu", use_bias=False),
        layer("Dense", name="out", units=3, activation="softmax"),
    ]}}


def _engine(seed: int = 0, activation: str = "relu") -> NumpyEngine:
    rng = np.random.default_rng(seed)
    specs = check_model_config(_config(activation)).layers
    layers = [layer_from_spec(spec, tuple(rng.normal(0, 0.3, shape).astype(np.float32) for shape in spec.weight_shapes))
              for spec in specs]
    return NumpyEngine(layers)


@pytest.fixture(scope="module")
def engine() -> NumpyEngine:
    return _engine()


def test_the_payload_is_json_and_holds_every_weight_as_float32(engine):
    payload = json.loads(json.dumps(export_model(engine, "d" * 64)))
    assert payload["format"] == FORMAT and payload["digest"] == "d" * 64 and payload["dtype"] == "float32"
    assert [layer["name"] for layer in payload["layers"]] == list(engine.layer_names)
    data = base64.b64decode(payload["data"])
    total = sum(w.size for layer in engine.layers for w in layer.weights)
    assert len(data) == 4 * total == 4 * payload["params"]
    # The bytes are the weights in layer order, kernel then bias, each flattened in Keras' layout.
    expected = np.concatenate([w.reshape(-1) for layer in engine.layers for w in layer.weights]).astype("<f4")
    assert data == expected.tobytes()


def test_unpacked_weights_equal_the_engines(engine):
    unpacked = unpack_weights(export_model(engine, "x"))
    for layer, weights in zip(engine.layers, unpacked):
        assert len(weights) == len(layer.weights), layer.name
        for got, want in zip(weights, layer.weights):
            assert got.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_the_unpacked_engine_computes_what_the_original_does(activation):
    original = _engine(seed=3, activation=activation)
    rebuilt = engine_from_export(json.loads(json.dumps(export_model(original, "x"))))
    x = np.random.default_rng(1).random((4, 28, 28, 3), dtype=np.float32)
    for got, want in zip(rebuilt.forward(x), original.forward(x)):
        np.testing.assert_array_equal(got, want)
    assert rebuilt.summary() == original.summary()


def test_only_numpy_engines_and_known_layer_kinds_are_exported(engine):
    with pytest.raises(Unsupported, match="Received: engine=object"):
        export_model(object(), "x")
    odd = LayerSpec(name="odd", kind="LayerNormalization", input_shape=(28, 28, 3), output_shape=(28, 28, 3), params=0)
    with pytest.raises(Unsupported, match="LayerNormalization"):
        export_model(NumpyEngine([Layer(odd), *engine.layers]), "x")


def test_a_payload_of_another_format_or_with_weights_outside_its_data_is_refused(engine):
    payload = export_model(engine, "x")
    with pytest.raises(ValueError, match="format=2"):
        unpack_weights({**payload, "format": 2})
    broken = json.loads(json.dumps(payload))
    broken["layers"][-1]["weights"][0]["offset"] = payload["params"]
    with pytest.raises(ValueError, match="outside the data"):
        unpack_weights(broken)

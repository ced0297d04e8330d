"""shapes_viz.engine.keras_engine: the compiled engine equals applying the layers one by one."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from shapes_viz.engine import Activations
from shapes_viz.engine.keras_engine import KerasEngine
from shapes_viz.engine.results import channel_stats
from shapes_viz.model import model_summary


def inputs(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((1, 28, 28, 3), dtype=np.float32) for _ in range(count)]


@pytest.fixture(scope="module")
def engine(trained_model) -> KerasEngine:
    return KerasEngine(trained_model)


@pytest.fixture(scope="module")
def sample(tiny_data) -> np.ndarray:
    """A real drawing, preprocessed as the app does."""
    from shapes_viz.preprocessing import preprocess

    return preprocess(sorted((tiny_data / "test_set" / "triangles").glob("*.png"))[0])


def layer_by_layer(model, x: np.ndarray) -> list[np.ndarray]:
    """The reference: call each layer on the previous layer's output, in inference mode."""
    outputs = []
    for layer in model.layers:
        x = layer(x, training=False)
        outputs.append(np.asarray(x)[0])
    return outputs


@pytest.mark.parametrize("jit_compile", [True, False], ids=["xla", "graph"])
def test_engine_equals_applying_the_layers_one_by_one(trained_model, sample, jit_compile, engine):
    engine = engine if jit_compile else KerasEngine(trained_model, jit_compile=False)
    for x in [sample, *inputs(2)]:
        result = engine.run(x)
        reference = layer_by_layer(trained_model, x)
        assert isinstance(result, Activations)
        assert len(result.layers) == len(reference) == 16
        for layer, expected in zip(result.layers, reference):
            assert layer.values.shape == expected.shape, layer.name
            assert layer.values.dtype == np.float32
            np.testing.assert_allclose(layer.values, expected, atol=1e-5, rtol=1e-5, err_msg=layer.name)
        np.testing.assert_allclose(result.probabilities, reference[-1], atol=1e-5)
        np.testing.assert_allclose(engine.probabilities(x), reference[-1][None, :], atol=1e-5)


def test_layer_names_kinds_and_shapes_follow_the_model(engine, trained_model, sample):
    result = engine.run(sample)
    summary = model_summary(trained_model)
    assert [l.name for l in result.layers] == [r.name for r in summary] == list(engine.layer_names)
    assert [l.kind for l in result.layers] == [r.kind for r in summary]
    assert [l.values.shape for l in result.layers] == [r.output_shape for r in summary]
    assert [l.is_map for l in result.layers] == [len(r.output_shape) == 3 for r in summary]
    assert result.layer("conv2_2").channels == 64
    assert result.probabilities.shape == (3,) and result.probabilities.dtype == np.float32
    assert abs(float(result.probabilities.sum()) - 1.0) < 1e-5
    with pytest.raises(KeyError, match="No layer named 'conv9'"):
        result.layer("conv9")


def numpy_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    flat = values.reshape(-1, values.shape[-1]) if values.ndim == 3 else values.reshape(1, -1)
    return {
        "minimum": flat.min(axis=0),
        "maximum": flat.max(axis=0),
        "mean": flat.mean(axis=0, dtype=np.float64),
        "zero_fraction": (flat == 0).mean(axis=0),
        "dead": (flat <= 0).all(axis=0),
    }


def test_channel_statistics_match_numpy(engine, sample):
    result = engine.run(sample)
    for layer in result.layers:
        expected = numpy_stats(layer.values)
        for name, value in expected.items():
            received = getattr(layer.stats, name)
            assert received.shape == (layer.channels,), (layer.name, name)
            if name == "dead":
                np.testing.assert_array_equal(received, value, err_msg=layer.name)
            else:
                np.testing.assert_allclose(received, value, atol=1e-5, rtol=1e-4, err_msg=f"{layer.name}.{name}")
        # the pure-numpy helper agrees with the compiled statistics
        helper = channel_stats(layer.values)
        np.testing.assert_allclose(helper.mean, layer.stats.mean, atol=1e-5, rtol=1e-4)
        np.testing.assert_array_equal(helper.dead, layer.stats.dead)
    assert result.layer("conv1_1").stats.zero_fraction.max() > 0  # ReLU zeros are counted


def test_channel_stats_on_known_values():
    values = np.zeros((2, 2, 3), np.float32)
    values[..., 0] = [[1, 2], [3, 4]]
    values[..., 1] = [[0, 0], [0, 5]]
    values[..., 2] = [[-1, 0], [0, -2]]
    stats = channel_stats(values)
    np.testing.assert_array_equal(stats.minimum, [1, 0, -2])
    np.testing.assert_array_equal(stats.maximum, [4, 5, 0])
    np.testing.assert_allclose(stats.mean, [2.5, 1.25, -0.75])
    np.testing.assert_array_equal(stats.zero_fraction, [0, 0.75, 0.5])
    np.testing.assert_array_equal(stats.dead, [False, False, True])
    vector = channel_stats(np.array([0.0, 2.0, -1.0], np.float32))
    np.testing.assert_array_equal(vector.dead, [True, False, True])
    np.testing.assert_array_equal(vector.zero_fraction, [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "x, received",
    [
        (np.zeros((28, 28, 3), np.float32), r"x\.shape=\(28, 28, 3\), x\.dtype=float32"),
        (np.zeros((2, 28, 28, 3), np.float32), r"x\.shape=\(2, 28, 28, 3\)"),
        (np.zeros((1, 28, 28, 1), np.float32), r"x\.shape=\(1, 28, 28, 1\)"),
        (np.zeros((1, 32, 32, 3), np.float32), r"x\.shape=\(1, 32, 32, 3\)"),
        (np.zeros((1, 28, 28, 3), np.float64), r"x\.dtype=float64"),
        (np.zeros((1, 28, 28, 3), np.uint8), r"x\.dtype=uint8"),
    ],
    ids=["no batch axis", "batch of 2", "one channel", "32x32", "float64", "uint8"],
)
def test_wrong_input_is_a_value_error_naming_what_was_received(engine, x, received):
    with pytest.raises(ValueError, match=r"Expected x of shape \(1, 28, 28, 3\) and dtype float32\. Received: .*" + received):
        engine.run(x)


def test_concurrent_calls_from_8_threads_give_each_caller_its_own_result(engine):
    xs = inputs(8, seed=1)
    expected = [engine.run(x) for x in xs]
    results: dict[tuple[int, int], tuple[int, Activations]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        try:
            start.wait()
            for round_ in range(6):
                k = (index + round_) % len(xs)
                results[(index, round_)] = (k, engine.run(xs[k]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == 48
    for k, result in results.values():
        for got, want in zip(result.layers, expected[k].layers):
            np.testing.assert_array_equal(got.values, want.values)
            np.testing.assert_array_equal(got.stats.mean, want.stats.mean)


def test_results_are_independent_copies(engine, sample):
    first = engine.run(sample)
    kept = first.layer("dense").values.copy()
    engine.run(inputs(1, seed=5)[0])
    np.testing.assert_array_equal(first.layer("dense").values, kept)

"""The compare core (shapes_viz.compare) against independent recomputations, on the shipped model and data/:
similarity per layer and the depth hierarchy, the morph's ends, the PCA against np.linalg.svd, PNG bytes and
colours against Plotly's own colour scale, the .npz round trip against engine.run."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shapes_viz import __version__
from shapes_viz.artifacts import file_digest
from shapes_viz.channels.scan import load_splits
from shapes_viz.compare import export, pca
from shapes_viz.compare.morph import STEPS, blend, morph
from shapes_viz.compare.similarity import class_gap, cosine, layer_similarity
from shapes_viz.config import CLASS_NAMES, PROJECT_ROOT
from shapes_viz.dataset import load_folder
from shapes_viz.engine.numpy_engine import NumpyEngine

MODEL = PROJECT_ROOT / "models" / "shapes_cnn.h5"
DATA = PROJECT_ROOT / "data"
pytestmark = pytest.mark.skipif(not MODEL.exists() or not (DATA / "test_set").is_dir(),
                                reason="needs the shipped model and data/")


@pytest.fixture(scope="module")
def engine() -> NumpyEngine:
    return NumpyEngine.from_file(MODEL)


@pytest.fixture(scope="module")
def test_set():
    return load_folder(DATA / "test_set")


@pytest.fixture(scope="module")
def both_splits():
    return load_splits(DATA)


def test_cosine_equals_the_formula_and_layer_similarity_uses_it(engine, test_set):
    a, b = test_set.images[:1], test_set.images[-1:]
    run_a, run_b = engine.run(a), engine.run(b)
    sims = layer_similarity(run_a, run_b)
    for k, (la, lb) in enumerate(zip(run_a.layers, run_b.layers)):
        u, v = la.values.astype(np.float64).ravel(), lb.values.astype(np.float64).ravel()
        expected = sum(u * v) / (np.sqrt(sum(u * u)) * np.sqrt(sum(v * v)))
        assert sims[k] == pytest.approx(expected, rel=1e-9, abs=1e-12), la.name
    assert layer_similarity(run_a, run_a) == pytest.approx(np.ones(len(run_a.layers)))
    assert cosine(np.zeros(4), np.zeros(4)) == 1.0 and cosine(np.zeros(4), np.ones(4)) == 0.0
    with pytest.raises(ValueError, match="Received"):
        cosine(np.zeros(3), np.zeros(4))


def test_same_class_gap_grows_with_depth(engine, test_set):
    """Same-class minus different-class similarity: small at conv1_1, large at conv3_2 (the network decides late)."""
    outputs = engine.forward(test_set.images)
    gaps = dict(zip(engine.layer_names, class_gap(outputs, test_set.labels)))
    assert gaps["conv3_2"] > gaps["conv2_2"] > gaps["conv1_1"]
    assert gaps["conv3_2"] - gaps["conv1_1"] > 0.3
    # one gap recomputed pair by pair, independently of the Gram-matrix code
    i, j = np.triu_indices(len(test_set.labels), 1)
    flat = outputs[engine.layer_names.index("conv1_1")].reshape(len(test_set.labels), -1).astype(np.float64)
    sims = np.array([cosine(flat[p], flat[q]) for p, q in zip(i, j)])
    same = test_set.labels[i] == test_set.labels[j]
    assert gaps["conv1_1"] == pytest.approx(sims[same].mean() - sims[~same].mean(), abs=1e-9)


def test_morph_ends_are_a_and_b_and_steps_are_blends(engine, test_set):
    a, b = test_set.images[:1], test_set.images[-1:]
    result = morph(engine, a, b)
    assert result.probabilities.shape == (STEPS, len(CLASS_NAMES))
    np.testing.assert_allclose(result.probabilities[0], engine.run(a).probabilities, atol=1e-6)
    np.testing.assert_allclose(result.probabilities[-1], engine.run(b).probabilities, atol=1e-6)
    np.testing.assert_array_equal(result.inputs[0], a[0])
    np.testing.assert_array_equal(result.inputs[-1], b[0])
    middle = engine.run(((a + b) / 2).astype(np.float32))
    np.testing.assert_allclose(result.inputs[10], ((a + b) / 2)[0], atol=1e-6)
    np.testing.assert_allclose(result.layer("conv2_1")[10], middle.layer("conv2_1").values, atol=1e-4)
    predicted = np.argmax(result.probabilities, axis=1)
    assert result.flips() == [i for i in range(1, STEPS) if predicted[i] != predicted[i - 1]]
    assert test_set.labels[0] != test_set.labels[-1] and result.flips()  # two classes: it flips somewhere
    with pytest.raises(ValueError, match="Received"):
        blend(a, b, steps=1)


@pytest.mark.parametrize("layer", ["dense", "pool3"])
def test_pca_places_a_dataset_drawing_on_its_dot_and_matches_numpy_svd(engine, both_splits, layer):
    features = engine.forward(both_splits.images)[engine.layer_names.index(layer)]
    fitted = pca.fit(features)
    np.testing.assert_allclose(fitted.project(features[7]), fitted.points[7:8], atol=1e-9)
    flat = features.reshape(len(features), -1).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    expected = u[:, :2] * s[:2]
    np.testing.assert_allclose(np.abs(fitted.points), np.abs(expected), atol=1e-6)
    np.testing.assert_allclose(fitted.explained, s[:2] ** 2 / (s ** 2).sum(), atol=1e-12)
    if layer == "dense":
        assert 0.85 < fitted.explained.sum() < 0.97  # about 91% on data/


def test_heatmap_png_is_reproducible_and_coloured_as_plotly_draws_viridis():
    from plotly.colors import PLOTLY_SCALES, sample_colorscale  # PLOTLY_SCALES: plotly.js' own named scales

    values = np.linspace(-1, 3, 28 * 28, dtype=np.float32).reshape(28, 28)
    first, second = export.heatmap_png(values, 0.0, 2.0, scale=4), export.heatmap_png(values, 0.0, 2.0, scale=4)
    assert first == second
    image = np.asarray(Image.open(io.BytesIO(first)))
    assert image.shape == (112, 112, 3)
    np.testing.assert_array_equal(image[::4, ::4], image[3::4, 3::4])  # nearest-neighbour blocks
    for row, column in ((0, 0), (10, 3), (14, 0), (20, 27)):
        fraction = float(np.clip((np.round(values[row, column], 4) - 0.0) / 2.0, 0, 1))
        expected = sample_colorscale(PLOTLY_SCALES["Viridis"], [fraction], colortype="tuple")[0]
        np.testing.assert_allclose(image[row * 4, column * 4], np.array(expected) * 255, atol=1.0)


def test_grid_png_lays_tiles_out_like_the_layer_grid(engine, test_set):
    from shapes_viz.figures import grid_columns, layer_grid
    from tests.helpers.figures import decode_array, figure_spec

    values = engine.run(test_set.images[:1]).layer("conv2_1").values
    data = export.grid_png(values, grid_columns(64), per_channel=True, scale=1)
    assert data == export.grid_png(values, grid_columns(64), per_channel=True, scale=1)
    image = np.asarray(Image.open(io.BytesIO(data)))
    spec = figure_spec(layer_grid(values, per_channel=True))
    mosaic = decode_array(spec["data"][0]["z"])
    assert image.shape[:2] == mosaic.shape
    np.testing.assert_array_equal(np.isnan(mosaic), (image == 255).all(axis=-1) & np.isnan(mosaic))
    np.testing.assert_array_equal(image[np.isnan(mosaic)], 255)
    np.testing.assert_array_equal(image, export.colorize(mosaic, 0.0, 1.0))


def test_npz_round_trip_equals_engine_run(engine, test_set):
    x = test_set.images[3:4]
    run = engine.run(x)
    data = export.npz_bytes(x, run, model_sha256=file_digest(MODEL), app_version=__version__, class_names=CLASS_NAMES)
    with np.load(io.BytesIO(data)) as archive:
        np.testing.assert_array_equal(archive["input"], x)
        np.testing.assert_array_equal(archive["probabilities"], run.probabilities)
        assert list(archive["layer_names"]) == list(engine.layer_names)
        for layer in run.layers:
            np.testing.assert_array_equal(archive[f"layer/{layer.name}"], layer.values)
        assert str(archive["model_sha256"]) == file_digest(MODEL)
        assert str(archive["app_version"]) == __version__
        assert list(archive["class_names"]) == list(CLASS_NAMES)

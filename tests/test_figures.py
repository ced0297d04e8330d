"""shapes_viz.figures: numpy in, Plotly figure out. No TensorFlow needed."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.figures import decode_array, figure_spec
from shapes_viz import figures

CLASSES = ("circles", "squares", "triangles")


def test_figures_import_only_plotly_numpy_and_each_other():
    imported = set()
    modules = sorted(Path(figures.__file__).parent.glob("*.py"))
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    outside = {name for name in imported if not name.startswith("shapes_viz.figures")}
    assert len(modules) >= 4 and "plotly.graph_objects" in outside
    assert {name.split(".")[0] for name in outside} <= {"__future__", "math", "collections", "typing", "json", "numpy", "plotly"}, imported


def test_probability_bars_labels_values_and_winner():
    p = np.array([0.1, 0.2, 0.7], np.float32)
    fig = figures.probability_bars(p, CLASSES)
    spec = figure_spec(fig)
    bar = spec["data"][0]
    assert bar["x"] == ["circles (0)", "squares (1)", "triangles (2)"]
    np.testing.assert_allclose(decode_array(bar["y"]), p, atol=1e-4)
    assert bar["marker"]["color"][2] == figures.SELECTED_COLOR
    assert bar["marker"]["color"][0] != figures.SELECTED_COLOR


@pytest.mark.parametrize(
    "probabilities, error",
    [(np.ones((1, 3)), "1-D"), (np.ones(4), "one value per class")],
)
def test_probability_bars_rejects_bad_shapes(probabilities, error):
    with pytest.raises(ValueError, match=error):
        figures.probability_bars(probabilities, CLASSES)


def test_channel_heatmap_is_image_like_and_compact():
    values = np.random.default_rng(0).random((13, 11)).astype(np.float32)
    spec = figure_spec(figures.channel_heatmap(values, zmin=0.0, zmax=2.0, title="t"))
    trace = spec["data"][0]
    assert trace["type"] == "heatmap"
    assert trace["colorscale"][0][1].lower() == "#440154"  # viridis
    assert trace["z"]["dtype"] == "f4"  # base64 float32, not a list of Python floats
    z = decode_array(trace["z"])
    assert z.shape == (13, 11)
    np.testing.assert_allclose(z, values, atol=1e-4)
    assert (trace["zmin"], trace["zmax"]) == (0.0, 2.0)
    assert "row %{y}, column %{x}" in trace["hovertemplate"]
    assert "text" not in trace
    layout = spec["layout"]
    assert layout["yaxis"]["scaleanchor"] == "x"
    assert layout["yaxis"]["autorange"] == "reversed"


def test_channel_heatmap_auto_range_and_errors():
    spec = figure_spec(figures.channel_heatmap(np.zeros((4, 4))))
    assert spec["data"][0]["zauto"] is True
    with pytest.raises(ValueError, match="2-D"):
        figures.channel_heatmap(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="both"):
        figures.channel_heatmap(np.zeros((4, 4)), zmin=0.0)


def test_input_image_grey_shows_exact_values():
    x = np.zeros((1, 28, 28, 3), np.float32)
    x[0, 5:20, 5:20, :] = 0.25
    spec = figure_spec(figures.input_image(x))
    trace = spec["data"][0]
    assert trace["type"] == "heatmap"
    z = decode_array(trace["z"])
    assert z.shape == (28, 28)
    assert z[10, 10] == pytest.approx(0.25)
    assert (trace["zmin"], trace["zmax"]) == (0.0, 1.0)
    assert "zsmooth" not in trace or trace["zsmooth"] is False  # nearest-neighbour
    assert spec["layout"]["yaxis"]["scaleanchor"] == "x"


def test_input_image_colour_uses_rgb_image():
    x = np.zeros((28, 28, 3), np.float32)
    x[..., 0] = 1.0
    trace = figure_spec(figures.input_image(x))["data"][0]
    assert trace["type"] == "image"


def _grid_tiles(spec, shape, columns):
    """Cut the mosaic of a layer_grid spec back into (H, W, C) tiles."""
    h, w, c = shape
    mosaic = decode_array(spec["data"][0]["z"])
    tiles = np.stack(
        [mosaic[(i // columns) * (h + 1) : (i // columns) * (h + 1) + h, (i % columns) * (w + 1) :][:, :w] for i in range(c)],
        axis=-1,
    )
    return mosaic, tiles


def test_layer_grid_holds_every_channel_with_shared_range():
    rng = np.random.default_rng(1)
    values = rng.random((6, 5, 10)).astype(np.float32)
    dead = np.zeros(10, bool)
    dead[3] = True
    fig = figures.layer_grid(values, dead=dead, selected=7, zmin=0.0, zmax=3.0)
    spec = figure_spec(fig)
    columns = figures.grid_columns(10)
    mosaic, tiles = _grid_tiles(spec, values.shape, columns)
    np.testing.assert_allclose(tiles, values, atol=1e-4)
    assert np.isnan(mosaic).sum() > 0  # gaps between tiles
    heat = spec["data"][0]
    assert (heat["zmin"], heat["zmax"]) == (0.0, 3.0)
    scatter = spec["data"][1]
    channels = decode_array(scatter["customdata"])[:, 0]
    np.testing.assert_array_equal(channels, np.arange(10))
    colours = [s["line"]["color"] for s in spec["layout"]["shapes"]]
    assert colours.count(figures.DEAD_COLOR) == 1
    assert colours.count(figures.SELECTED_COLOR) == 1


def test_layer_grid_per_channel_scales_each_tile():
    values = np.stack([np.full((4, 4), 5.0), np.arange(16.0).reshape(4, 4)], axis=-1).astype(np.float32)
    spec = figure_spec(figures.layer_grid(values, per_channel=True))
    _, tiles = _grid_tiles(spec, values.shape, figures.grid_columns(2))
    assert np.all(tiles[..., 0] == 0)  # constant channel -> 0, no division by zero
    assert tiles[..., 1].min() == 0 and tiles[..., 1].max() == pytest.approx(1)


def test_layer_grid_default_range_is_layer_min_max():
    values = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3) - 4
    heat = figure_spec(figures.layer_grid(values))["data"][0]
    assert (heat["zmin"], heat["zmax"]) == (-4.0, 7.0)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(values=np.zeros((4, 4))), "3-D"),
        (dict(values=np.zeros((4, 4, 2)), dead=np.zeros(3, bool)), "dead"),
        (dict(values=np.zeros((4, 4, 2)), selected=2), "selected"),
    ],
)
def test_layer_grid_rejects_bad_arguments(kwargs, error):
    with pytest.raises(ValueError, match=error):
        figures.layer_grid(**kwargs)


@pytest.mark.parametrize(
    "selection, expected",
    [
        (None, None),
        ({"points": []}, None),
        ({"points": [{"customdata": [4.0, 0.1, 0.2, 0.1, 0.0]}]}, 4),
        ({"points": [{"x": 1}, {"customdata": [2, 0, 0, 0, 1]}]}, 2),
        ({"points": [{"customdata": 9}]}, 9),
        ({"points": [{"curve_number": 1, "point_index": 5, "customdata": {"0": 5, "1": 0.1}}]}, 5),  # Streamlit's form
        ({"points": [{"curve_number": 1, "point_index": 6}]}, 6),
        ({"points": [{"curve_number": 0, "point_index": 6}]}, None),  # the heatmap, not a marker
    ],
)
def test_selected_channel_from_click(selection, expected):
    assert figures.selected_channel(selection) == expected


def test_vector_bars_marks_dead_and_selected():
    values = np.array([0.0, 1.5, -0.5, 2.0], np.float32)
    dead = values <= 0
    spec = figure_spec(figures.vector_bars(values, dead=dead, selected=1, ymin=0, ymax=3))
    bars = spec["data"][0]
    np.testing.assert_allclose(decode_array(bars["y"]), values)
    assert spec["data"][1]["name"] == "dead"
    np.testing.assert_array_equal(decode_array(spec["data"][1]["x"]), [0, 2])
    assert spec["data"][2]["name"] == "selected"
    assert spec["layout"]["yaxis"]["range"] == [0, 3]


def test_training_curves_train_val_and_best_epoch():
    history = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.7], "accuracy": [0.4, 0.8, 0.9], "val_accuracy": [0.3, 0.7, 0.6]}
    spec = figure_spec(figures.training_curves(history, best_epoch=2))
    names = [(t["name"], t["xaxis"]) for t in spec["data"]]
    assert names == [("train", "x"), ("validation", "x"), ("train", "x2"), ("validation", "x2")]
    np.testing.assert_allclose(decode_array(spec["data"][1]["y"]), [1.1, 0.6, 0.7], atol=1e-4)
    vlines = [s for s in spec["layout"]["shapes"] if s["x0"] == 2 and s["x1"] == 2]
    assert len(vlines) == 2
    assert any("best epoch 2" in a["text"] for a in spec["layout"]["annotations"])


def test_training_curves_stacked_for_the_sidebar():
    spec = figure_spec(figures.training_curves({"loss": [1.0], "val_accuracy": [0.5]}, best_epoch=1, stacked=True))
    assert [t["yaxis"] for t in spec["data"]] == ["y", "y", "y2", "y2"]
    assert spec["layout"]["yaxis2"]["range"] == [0, 1.02]  # accuracy axis


def test_training_curves_live_partial_history():
    spec = figure_spec(figures.training_curves({"loss": [0.9]}, epochs_total=5))
    assert spec["layout"]["xaxis"]["range"] == [0.5, 5.5]
    assert decode_array(spec["data"][1]["y"]).size == 0


def test_confusion_matrix_counts():
    confusion = np.array([[5, 1, 0], [0, 6, 0], [2, 0, 4]])
    spec = figure_spec(figures.confusion_matrix(confusion, CLASSES))
    trace = spec["data"][0]
    np.testing.assert_array_equal(decode_array(trace["z"]), confusion)
    assert trace["texttemplate"] == "%{z}"
    assert trace["y"] == ["circles (0)", "squares (1)", "triangles (2)"]
    with pytest.raises(ValueError, match="shape"):
        figures.confusion_matrix(np.zeros((2, 2)), CLASSES)


def test_grid_payload_is_small_for_a_big_layer():
    values = np.random.default_rng(2).random((26, 26, 64)).astype(np.float32)
    spec = figure_spec(figures.layer_grid(values))
    spec["layout"].pop("template", None)  # Streamlit trims Plotly's template before sending
    heat = spec["data"][0]
    assert heat["z"]["dtype"] == "f4"
    mosaic_bytes = decode_array(heat["z"]).nbytes
    assert len(json.dumps(spec)) < mosaic_bytes * 4 / 3 + 20_000  # base64 float32 plus a little layout

"""shapes_viz.figures.cells and the clickable heatmap: what the cell panel draws, from numpy alone."""

from __future__ import annotations

import numpy as np
import pytest

from shapes_viz import figures
from shapes_viz.figures import cells
from tests.helpers.figures import decode_array, figure_spec


def test_a_clickable_heatmap_has_one_marker_per_cell_carrying_row_column_and_value():
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    spec = figure_spec(figures.channel_heatmap(values, clickable=True, selected_cell=(2, 1)))
    heat, markers = spec["data"]
    assert heat["hoverinfo"] == "skip"
    data = decode_array(markers["customdata"]).reshape(-1, 3)
    assert len(data) == 12
    for row, column, value in data:
        assert values[int(row), int(column)] == value
    np.testing.assert_array_equal(decode_array(markers["x"]), data[:, 1])
    np.testing.assert_array_equal(decode_array(markers["y"]), data[:, 0])
    rect = spec["layout"]["shapes"][0]
    assert (rect["x0"], rect["x1"], rect["y0"], rect["y1"]) == (0.5, 1.5, 1.5, 2.5)
    plain = figure_spec(figures.channel_heatmap(values))
    assert len(plain["data"]) == 1 and "hovertemplate" in plain["data"][0]


@pytest.mark.parametrize(
    "selection, expected",
    [
        ({"points": [{"customdata": [3, 7, 0.5]}]}, (3, 7)),
        ({"points": [{"customdata": {"0": 3.0, "1": 7.0, "2": 0.5}}]}, (3, 7)),
        ({"points": [{"x": 1}, {"customdata": [1, 2, 0]}]}, (1, 2)),
        ({"points": []}, None),
        (None, None),
    ],
)
def test_the_clicked_cell_is_read_from_streamlits_selection(selection, expected):
    assert figures.selected_cell_of(selection) == expected


def test_the_receptive_field_is_a_box_on_the_input():
    x = np.ones((1, 28, 28, 3), np.float32)
    x[0, 5:9, 5:9] = 0.0
    spec = figure_spec(cells.receptive_field(x, (4, 5, 13, 14)))
    np.testing.assert_allclose(decode_array(spec["data"][0]["z"]).reshape(28, 28), x[0, ..., 0])
    rect = spec["layout"]["shapes"][0]
    assert (rect["y0"], rect["x0"], rect["y1"], rect["x1"]) == (3.5, 4.5, 13.5, 14.5)
    with pytest.raises(ValueError, match=r"Received: box=\(0, 0, 28, 3\)"):
        cells.receptive_field(x, (0, 0, 28, 3))


def test_the_effective_field_and_the_contributions():
    erf = np.zeros((28, 28), np.float32)
    erf[3, 4] = 2.0
    spec = figure_spec(cells.effective_receptive_field(erf, (0, 0, 9, 9)))
    assert spec["data"][0]["zmax"] == 2.0
    bars = figure_spec(cells.contributions(np.array([0.5, -0.25], np.float32), 0.125))["data"][0]
    assert bars["x"] == ["0", "1", "bias"]
    np.testing.assert_allclose(decode_array(bars["y"]), [0.5, -0.25, 0.125])
    with pytest.raises(ValueError, match=r"Received: len\(labels\)=1"):
        cells.contributions(np.zeros(2), 0.0, labels=["a"])


def test_the_layer_grid_marks_channels_dead_on_the_data_set_and_switched_off():
    values = np.random.default_rng(0).random((4, 4, 6)).astype(np.float32)
    dead_on_data = np.array([False, True, False, False, False, True])
    spec = figure_spec(figures.layer_grid(values, dead_on_data=dead_on_data, switched_off=[2], columns=3))
    shapes = spec["layout"]["shapes"]
    dotted = [s for s in shapes if s.get("line", {}).get("dash") == "dot"]
    assert len(dotted) == 2 and {round(s["x0"] - 0.5) for s in dotted} == {5, 10}  # tiles 1 and 5: columns 1, 2, inset
    crosses = [s for s in shapes if s["type"] == "line"]
    assert len(crosses) == 2 and {s["x0"] for s in crosses} == {2 * 5 - 0.5}
    with pytest.raises(ValueError, match=r"Received: switched_off=\[6\]"):
        figures.layer_grid(values, switched_off=[6])
    with pytest.raises(ValueError, match=r"Received: dead_on_data.shape=\(5,\)"):
        figures.layer_grid(values, dead_on_data=np.zeros(5, bool))

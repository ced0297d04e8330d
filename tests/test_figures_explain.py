"""The explanation figures: a map over the input, two maps side by side, deletion and insertion curves (numpy in,
Plotly out; no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from shapes_viz.figures.explain import attribution_map, colour_range, map_pair, trust_curves
from tests.helpers.figures import decode_array, figure_spec


@pytest.fixture
def drawing() -> np.ndarray:
    x = np.ones((1, 28, 28, 3), np.float32)
    x[0, 5:20, 8, :] = 0.0  # a stroke of ink
    x[0, 12, 3:25, :] = 0.25
    return x


def test_the_map_is_drawn_over_the_exact_input(drawing):
    rng = np.random.default_rng(0)
    values = rng.random((28, 28)).astype(np.float32) * 1e-3  # small gradients keep their precision
    spec = figure_spec(attribution_map(drawing, values, signed=False, title="LayerCAM"))
    grey, overlay = spec["data"]
    np.testing.assert_allclose(decode_array(grey["z"]).reshape(28, 28), drawing[0, ..., 0], atol=1e-4)
    assert grey["hoverinfo"] == "skip" and grey["zmin"] == 0 and grey["zmax"] == 1
    np.testing.assert_array_equal(decode_array(overlay["z"]).reshape(28, 28), values)
    assert overlay["zmin"] == 0 and overlay["zmax"] == pytest.approx(float(values.max()))
    assert "row %{y}" in overlay["hovertemplate"] and "column %{x}" in overlay["hovertemplate"]
    assert "%{z" in overlay["hovertemplate"]
    assert spec["layout"]["yaxis"]["autorange"] == "reversed" and spec["layout"]["yaxis"]["scaleanchor"] == "x"
    assert spec["layout"]["title"]["text"] == "LayerCAM"
    assert overlay["colorscale"][0][1].endswith(",0)")  # transparent at 0: the drawing shows through


def test_signed_maps_get_a_diverging_scale_centred_on_zero(drawing):
    values = np.zeros((28, 28), np.float32)
    values[3, 4], values[10, 10] = -2.0, 0.5
    overlay = figure_spec(attribution_map(drawing[0], values, signed=True))["data"][1]
    assert (overlay["zmin"], overlay["zmax"]) == (-2.0, 2.0)
    stops = {round(stop, 3): colour for stop, colour in overlay["colorscale"]}
    assert stops[0.5].endswith(",0)")  # zero is the transparent middle
    assert stops[0.0] != stops[1.0]


@pytest.mark.parametrize("values, signed, expected", [
    (np.array([[0.0, 3.0], [1.0, 2.0]]), False, (0.0, 3.0)),
    (np.array([[-4.0, 3.0], [1.0, 2.0]]), True, (-4.0, 4.0)),
    (np.zeros((2, 2)), False, (0.0, 1e-6)),  # an all-zero map still draws
    (np.zeros((2, 2)), True, (-1e-6, 1e-6)),
    (np.array([[np.nan, 2.0], [1.0, 0.0]]), False, (0.0, 2.0)),
])
def test_colour_range(values, signed, expected):
    assert colour_range(values, signed) == pytest.approx(expected)


@pytest.mark.parametrize("x, values, message", [
    (np.ones((2, 28, 28, 3)), np.zeros((28, 28)), "x.shape=(2, 28, 28, 3)"),
    (np.ones((1, 28, 28, 3)), np.zeros((14, 14)), "values.shape=(14, 14)"),
    (np.ones((1, 28, 28, 3)), np.zeros((28, 28, 3)), "values.shape=(28, 28, 3)"),
])
def test_bad_shapes_are_refused(x, values, message):
    with pytest.raises(ValueError, match="Received: ") as error:
        attribution_map(x, values, signed=False)
    assert message in str(error.value)


def test_two_maps_side_by_side_each_over_the_input(drawing):
    left = np.full((28, 28), 0.5, np.float32)
    right = np.arange(784, dtype=np.float32).reshape(28, 28) - 100
    spec = figure_spec(map_pair(drawing, left, right, signed=True, titles=("trained", "random")))
    data = spec["data"]
    assert len(data) == 4
    np.testing.assert_array_equal(decode_array(data[1]["z"]).reshape(28, 28), left)
    np.testing.assert_array_equal(decode_array(data[3]["z"]).reshape(28, 28), right)
    assert (data[3]["zmin"], data[3]["zmax"]) == (-683.0, 683.0)  # each map its own range
    assert data[2]["xaxis"] == data[3]["xaxis"] == "x2" and data[3]["yaxis"] == "y2"
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["trained", "random"]
    assert spec["layout"]["yaxis2"]["autorange"] == "reversed"


def test_deletion_and_insertion_curves():
    fractions = np.linspace(0, 1, 5, dtype=np.float32)
    deletion = {"this map": np.array([0.9, 0.3, 0.1, 0.0, 0.0]), "random maps": np.array([0.9, 0.8, 0.6, 0.4, 0.1]),
                "ink": np.array([0.9, 0.5, 0.2, 0.1, 0.0])}
    insertion = {name: 1 - curve for name, curve in deletion.items()}
    spec = figure_spec(trust_curves(fractions, deletion, insertion, names=["map (0.2)", "random (0.6)", "ink (0.3)"]))
    data = spec["data"]
    assert len(data) == 6
    assert [d["name"] for d in data[:3]] == ["map (0.2)", "random (0.6)", "ink (0.3)"]
    assert all(d["showlegend"] for d in data[:3]) and not any(d["showlegend"] for d in data[3:])
    assert [d["xaxis"] for d in data] == ["x"] * 3 + ["x2"] * 3
    np.testing.assert_allclose(decode_array(data[0]["y"]), deletion["this map"], atol=1e-4)
    np.testing.assert_allclose(decode_array(data[4]["y"]), insertion["random maps"], atol=1e-4)
    np.testing.assert_allclose(decode_array(data[5]["x"]), fractions)
    assert "lower is better" in spec["layout"]["xaxis"]["title"]["text"]
    assert "higher is better" in spec["layout"]["xaxis2"]["title"]["text"]


def test_a_curve_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match=r"Received: ink.shape=\(3,\), fractions.shape=\(5,\)"):
        trust_curves(np.linspace(0, 1, 5), {"ink": np.zeros(3)}, {"ink": np.zeros(5)})

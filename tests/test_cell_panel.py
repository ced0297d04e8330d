"""The explorer's "How was this number computed?" panel, through AppTest, checked against the engine.

A click on a heatmap cell stores it in session state (the click itself is a browser event: the Chromium
test clicks a real cell); here the state is set as the click's callback would, and the page must show the
cell's receptive field and arithmetic adding up to the heatmap's value.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from shapes_viz.config import PROJECT_ROOT
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.explain.cells import explain_cell, receptive_box
from shapes_viz.preprocessing import preprocess
from tests.helpers.apptest import upload
from tests.helpers.drawings import shape_png
from tests.helpers.figures import decode_array, figure_spec
from tools.harness import copy_model

APP = str(PROJECT_ROOT / "app.py")


@pytest.fixture
def app_env(monkeypatch, tmp_path_factory, tiny_data) -> Path:
    """The app on a copy of the shipped model (whose channels are alive) and the tiny data set."""
    model = copy_model(PROJECT_ROOT / "models" / "shapes_cnn.h5", tmp_path_factory.mktemp("cell_models"))
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tiny_data))
    return model


def uploaded(data: bytes):
    from streamlit.testing.v1 import AppTest

    return upload(AppTest.from_file(APP, default_timeout=60), data)


def chart(at, key: str) -> dict | None:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return figure_spec(element)
    return None


def text(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown) + "\n".join(str(c.value) for c in at.caption)


def test_the_heatmap_cells_are_clickable_and_the_panel_waits_for_a_click(app_env):
    at = uploaded(shape_png("squares"))
    assert not at.exception
    heat = chart(at, "channel_heatmap")
    markers = heat["data"][1]
    assert markers["type"] == "scatter" and len(decode_array(markers["x"])) == 28 * 28
    assert "Click a cell of the heatmap" in text(at)
    assert chart(at, "cell_receptive_field") is None


@pytest.mark.parametrize("layer, row, column, channel", [("conv1_2", 12, 9, 5), ("conv2_1", 4, 7, 12), ("pool2", 2, 3, 1)])
def test_a_clicked_cell_shows_its_box_and_arithmetic(app_env, layer, row, column, channel):
    data = shape_png("triangles")
    at = uploaded(data)
    at.selectbox(key="explorer_layer").select(layer).run()
    at.session_state["explorer_channel"] = channel
    at.session_state["explorer_cell"] = {"layer": layer, "channel": channel, "row": row, "column": column}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    engine = NumpyEngine.from_file(app_env)
    x = preprocess(data)
    expected = explain_cell(engine, x, layer, (row, column, channel))
    box = receptive_box(engine, layer, row, column)
    shown = chart(at, "cell_receptive_field")
    rect = shown["layout"]["shapes"][0]
    assert (rect["y0"] + 0.5, rect["x0"] + 0.5, rect["y1"] - 0.5, rect["x1"] - 0.5) == (box.top, box.left, box.bottom, box.right)
    erf = decode_array(chart(at, "cell_effective_field")["data"][0]["z"]).reshape(28, 28)
    outside = np.ones((28, 28), bool)
    outside[box.top : box.bottom + 1, box.left : box.right + 1] = False
    assert erf[outside].max(initial=0) == 0
    heat = chart(at, "channel_heatmap")
    assert heat["layout"]["shapes"][0]["x0"] == column - 0.5  # the clicked cell is outlined
    value = float(engine.run(x).layer(layer).values[row, column, channel])
    assert f"How was {value:.4f} computed?" in text(at)
    if expected.kind == "Conv2D":
        bars = chart(at, "cell_contributions")["data"][0]
        terms = decode_array(bars["y"])
        assert terms[:-1].sum() + terms[-1] == pytest.approx(expected.pre_activation, abs=1e-3)
        assert f"= **{expected.pre_activation:.4f}** (pre-activation)" in text(at)
    else:
        assert re.search(rf"\*\*{value:.4f}\*\*, from the previous layer's row {expected.winner['input'][0]}", text(at))


def test_a_clicked_unit_of_a_dense_layer_lists_its_largest_terms(app_env):
    data = shape_png("circles")
    at = uploaded(data)
    at.selectbox(key="explorer_layer").select("dense").run()
    at.session_state["explorer_cell"] = {"layer": "dense", "unit": 3}
    at.run()
    assert not at.exception
    expected = explain_cell(NumpyEngine.from_file(app_env), preprocess(data), "dense", (3,))
    frame = next(f.value for f in at.dataframe if "input x weight" in f.value.columns)
    assert list(frame["input"]) == [t[0] for t in expected.contributions]
    assert f"= **{expected.pre_activation:.4f}** (pre-activation)" in text(at)


def test_a_cell_of_another_layer_or_outside_the_map_is_ignored(app_env):
    at = uploaded(shape_png("squares"))
    at.session_state["explorer_cell"] = {"layer": "conv1_1", "channel": 0, "row": 40, "column": 3}
    at.run()
    assert not at.exception and chart(at, "cell_receptive_field") is None
    at.session_state["explorer_cell"] = {"layer": "conv2_2", "channel": 0, "row": 1, "column": 1}
    at.run()
    assert not at.exception and chart(at, "cell_receptive_field") is None

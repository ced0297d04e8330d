"""The Compare, Where?, export and Lessons parts through AppTest, on a copy of the shipped model and data/, each
checked against the compare core recomputed directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shapes_viz.channels.scan import load_splits
from shapes_viz.compare import pca
from shapes_viz.compare.morph import morph
from shapes_viz.compare.similarity import layer_similarity
from shapes_viz.config import PROJECT_ROOT
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.preprocessing import preprocess
from tests.helpers.apptest import assert_clean, chart, new_app, upload
from tests.helpers.drawings import shape_png
from tests.helpers.figures import decode_array
from tools.harness import copy_model

MODEL = PROJECT_ROOT / "models" / "shapes_cnn.h5"
DATA = PROJECT_ROOT / "data"
pytestmark = pytest.mark.skipif(not MODEL.exists() or not (DATA / "test_set").is_dir(),
                                reason="needs the shipped model and data/")


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory) -> Path:
    return copy_model(MODEL, tmp_path_factory.mktemp("compare_models"))


@pytest.fixture(scope="module")
def engine(model_copy) -> NumpyEngine:
    return NumpyEngine.from_file(model_copy)


@pytest.fixture
def env(monkeypatch, model_copy) -> Path:
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model_copy))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(DATA))
    return model_copy


def pinned_pair(view: str = "Compare"):
    """An app with a circle pinned as A and a triangle uploaded as B, `view` open."""
    at = upload(new_app(), shape_png("circles"))
    at.session_state["view_tab"] = view
    at.session_state["explorer_picked_layer"] = "conv2_1"
    at.session_state["explorer_channel"] = 3
    at.run()
    at.button(key="compare_pin_a_compare").click().run()
    return upload(at, shape_png("triangles"), name="triangle.png")


def test_compare_shows_a_b_and_a_minus_b_similarity_and_both_predictions(env, engine):
    at = pinned_pair()
    assert_clean(at)
    a, b = preprocess(shape_png("circles")), preprocess(shape_png("triangles"))
    run_a, run_b = engine.run(a), engine.run(b)
    heatmaps = chart(at, "compare_heatmaps")["data"]
    np.testing.assert_allclose(decode_array(heatmaps[0]["z"]), run_a.layer("conv2_1").values[:, :, 3], atol=1e-4)
    np.testing.assert_allclose(decode_array(heatmaps[1]["z"]), run_b.layer("conv2_1").values[:, :, 3], atol=1e-4)
    np.testing.assert_allclose(decode_array(heatmaps[2]["z"]), (run_a.layer("conv2_1").values
                                                                - run_b.layer("conv2_1").values)[:, :, 3], atol=2e-4)
    assert heatmaps[0]["zmin"] == heatmaps[1]["zmin"] and heatmaps[0]["zmax"] == heatmaps[1]["zmax"]
    assert heatmaps[2]["zmin"] == -heatmaps[2]["zmax"]
    similarity = chart(at, "compare_similarity")["data"][0]
    assert list(similarity["x"]) == list(engine.layer_names)
    np.testing.assert_allclose(decode_array(similarity["y"]), layer_similarity(run_a, run_b), atol=1e-4)
    bars = chart(at, "compare_probabilities")["data"]
    np.testing.assert_allclose(decode_array(bars[0]["y"]), run_a.probabilities, atol=1e-4)
    np.testing.assert_allclose(decode_array(bars[1]["y"]), run_b.probabilities, atol=1e-4)


def test_morph_curve_and_slider_follow_the_core(env, engine):
    at = pinned_pair()
    a, b = preprocess(shape_png("circles")), preprocess(shape_png("triangles"))
    expected = morph(engine, a, b)
    curve = chart(at, "morph_curve")["data"]
    for c, trace in enumerate(curve):
        np.testing.assert_allclose(decode_array(trace["y"]), expected.probabilities[:, c], atol=1e-4)
    np.testing.assert_allclose(decode_array(curve[0]["y"])[[0, -1]], [engine.run(a).probabilities[0],
                                                                      engine.run(b).probabilities[0]], atol=1e-4)
    at.slider(key="morph_step").set_value(12).run()
    assert_clean(at)
    heatmap = chart(at, "morph_heatmap")["data"][0]
    np.testing.assert_allclose(decode_array(heatmap["z"]), expected.layer("conv2_1")[12][:, :, 3], atol=1e-4)
    flips = expected.flips()
    shapes = chart(at, "morph_curve")["layout"]["shapes"]
    assert len(shapes) == len(flips) + 1 and shapes[-1]["x0"] == pytest.approx(0.6)
    assert at.query_params["t"] in ("12", ["12"])


def test_where_places_the_data_set_and_the_current_input_with_one_pca(env, engine):
    at = upload(new_app(), shape_png("squares"))
    at.session_state["view_tab"] = "Where?"
    at.run()
    assert_clean(at)
    data = load_splits(DATA)
    outputs = engine.forward(data.images)
    fitted = pca.fit(outputs[engine.layer_names.index("dense")])
    spec = chart(at, "where_scatter")
    dots = {}
    for trace in spec["data"][:3]:
        for index, x, y in zip(decode_array(trace["customdata"]).ravel(), decode_array(trace["x"]), decode_array(trace["y"])):
            dots[int(index)] = (x, y)
    assert sorted(dots) == list(range(len(data.images)))
    np.testing.assert_allclose(np.array([dots[i] for i in range(len(dots))]), fitted.points, atol=1e-3)
    star = spec["data"][3]
    current = fitted.project(engine.run(preprocess(shape_png("squares"))).layer("dense").values)[0]
    np.testing.assert_allclose([star["x"][0], star["y"][0]], current, atol=1e-3)
    assert f"{fitted.explained.sum():.0%} of the variance" in spec["layout"]["title"]["text"]
    wrong = np.argmax(outputs[-1], axis=1) != data.labels
    outlined = sum(int((np.asarray(t["marker"]["line"]["width"]) > 1).sum()) for t in spec["data"][:3])
    assert outlined == int(wrong.sum())
    at.radio(key="where_layer").set_value("pool3").run()
    assert "pool3" in chart(at, "where_scatter")["layout"]["title"]["text"]


def test_a_dot_click_event_names_the_drawing_that_becomes_the_input(env):
    """The click's selection (AppTest cannot click a Plotly chart; the Chromium test does) carries the dot's index;
    its file then becomes the input through the Examples tab, like the Channels view's "Use"."""
    from shapes_viz.ui import where_view

    paths = load_splits(DATA).paths
    assert where_view.selected_channel({"points": [{"customdata": [5], "curve_number": 2}]}) == 5
    assert where_view.selected_channel({"points": [{"curve_number": 3, "point_index": 0}]}) is None  # the star
    at = upload(new_app(), shape_png("squares"))
    at.session_state["picked_file"] = str(paths[5])
    at.session_state["input_tab"] = "Examples"
    at.run()
    assert_clean(at)
    np.testing.assert_array_equal(at.session_state["input_choice"]["x"], preprocess(Path(paths[5])))


def test_explorer_offers_the_exports_and_svg_toolbars(env):
    at = upload(new_app(), shape_png("circles"))
    assert_clean(at)
    assert not at.get("download_button")  # built only while its expander is open
    at.session_state["explorer_export_open"] = True  # the expander opened (its state, as the browser sends it)
    at.run()
    keys = {button.proto.id.rsplit("-", 1)[-1] for button in at.get("download_button")}
    assert {"export_heatmap_png", "export_grid_png", "export_npz"} <= keys, keys
    heatmap = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-channel_heatmap")][0]
    assert '"format": "svg"' in heatmap.proto.config or '"format":"svg"' in heatmap.proto.config


def test_every_lesson_opens_its_view_and_input(env, engine):
    from shapes_viz.ui.lessons import LESSONS

    for lesson in LESSONS:
        at = upload(new_app(), shape_png("circles"))
        at.session_state["view_tab"] = "Lessons"
        at.run()
        assert_clean(at)
        at.button(key=f"lesson_open_{lesson.id}").click().run()
        assert_clean(at)
        assert at.session_state["lesson"] == lesson.id
        banner = [str(m.value) for m in at.markdown if str(m.value).startswith("**Lesson:")]
        assert banner, lesson.id
        shared = at.session_state["shared_input"]
        np.testing.assert_allclose(at.session_state["input_choice"]["x"], shared["x"])
        if lesson.id == "blank":
            p = engine.probabilities(np.ones((1, 28, 28, 3), np.float32))[0]
            assert f"{p.max():.0%}" in banner[0] and "triangle" in banner[0]


def test_layer_caption_uses_live_numbers(env, engine):
    from shapes_viz.explain.cells import receptive_box
    from shapes_viz.ui.lessons import layer_caption

    run = engine.run(preprocess(shape_png("circles")))
    for name in ("conv1_1", "pool2", "conv3_2", "dense"):
        text = layer_caption(engine, name, run.layer(name).values, None)
        size = receptive_box(engine, name).size
        assert f"{size[0]}x{size[1]} patch" in text
        assert f"{int(run.layer(name).stats.dead.sum())} of {run.layer(name).channels}" in text

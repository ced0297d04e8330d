"""The "Why?" view through AppTest: every map and number it shows, recomputed directly from the core.

The app serves a COPY of the session's 1-epoch model; the oracle is `shapes_viz.explain` called on a numpy engine
opened from the same file (the explain package's own tests check it against tf.GradientTape).
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shapes_viz.config import CLASS_NAMES
from tests.helpers.apptest import (  # noqa: F401 - app_env and shared_model are fixtures
    app_env, assert_clean, canvas_report, chart, messages, new_app, shared_model, upload,
)
from tests.helpers.drawings import shape_png
from tests.helpers.figures import decode_array
from tools import harness
from tools.harness import PROJECT_ROOT, copy_model

pytest.importorskip("tensorflow")  # the session's model is trained with Keras


@pytest.fixture(scope="module")
def engine(shared_model):
    from shapes_viz.engine.numpy_engine import NumpyEngine

    return NumpyEngine.from_file(shared_model)


def why_app():
    at = new_app()
    at.session_state["view_tab"] = "Why?"
    return at


def shown_map(at) -> tuple[np.ndarray, dict]:
    spec = chart(at, "why_map")
    assert spec is not None, messages(at)
    return decode_array(spec["data"][1]["z"]).reshape(28, 28), spec["data"][1]


def expected(engine, data: bytes, method: str, target: int | None = None, layer: str | None = None):
    from shapes_viz.explain.methods import attribute
    from shapes_viz.preprocessing import preprocess

    x = preprocess(data)
    if target is None:
        target = int(np.argmax(engine.probabilities(x)[0]))
    return attribute(engine, x, method, target, layer)


def test_the_view_opens_with_layercam_for_the_predicted_class(app_env, engine):
    data = shape_png("squares")
    at = upload(why_app(), data)
    assert_clean(at)
    assert at.selectbox(key="why_method").value == "layercam"
    assert at.radio(key="why_target").value == "predicted"
    assert at.selectbox(key="why_layer").value == "conv1_1"  # what the explorer shows before a layer is picked
    z, trace = shown_map(at)
    want = expected(engine, data, "layercam", layer="conv1_1")
    np.testing.assert_allclose(z, want.values, rtol=1e-5, atol=1e-6)
    assert trace["zmin"] == 0 and trace["zmax"] == pytest.approx(float(want.values.max()), rel=1e-5)
    assert any(f"Why **{CLASS_NAMES[want.target]}**?" in m.value for m in at.markdown)
    assert any("LayerCAM" in c.value for c in at.caption)


def test_method_class_and_layer_changes_give_those_maps(app_env, engine):
    data = shape_png("triangles")
    at = upload(why_app(), data)
    previous, _ = shown_map(at)
    predicted = int(np.argmax(engine.probabilities(expected_input(data))[0]))
    first, second = [c for c in range(len(CLASS_NAMES)) if c != predicted]  # "why not ...?" classes
    steps = [
        ("why_layer", "conv2_2", dict(method="layercam", layer="conv2_2")),
        ("why_target", CLASS_NAMES[first], dict(method="layercam", layer="conv2_2", target=first)),
        ("why_method", "gradcam", dict(method="gradcam", layer="conv2_2", target=first)),
        ("why_target", CLASS_NAMES[second], dict(method="gradcam", layer="conv2_2", target=second)),
        ("why_method", "saliency", dict(method="saliency", target=second)),
        ("why_method", "smoothgrad", dict(method="smoothgrad", target=second)),
    ]
    for key, value, args in steps:
        widget = at.radio(key=key) if key == "why_target" else at.selectbox(key=key)
        (widget.set_value(value) if key == "why_target" else widget.select(value)).run()
        assert_clean(at)
        z, trace = shown_map(at)
        want = expected(engine, data, args["method"], args.get("target"), args.get("layer"))
        np.testing.assert_allclose(z, want.values, rtol=1e-5, atol=1e-6, err_msg=str(args))
        assert not np.allclose(z, previous), f"the map did not change with {key}={value}"
        assert trace["zmin"] == 0  # unsigned methods: a sequential scale from 0
        previous = z
    assert at.session_state["explorer_picked_layer"] == "conv2_2"  # the layer picked here is the explorer's too
    assert not at.get("selectbox") or all(box.key != "why_layer" for box in at.selectbox)  # no layer for saliency
    assert any(f"Why not **{CLASS_NAMES[second]}**?" in m.value for m in at.markdown)


def expected_input(data: bytes) -> np.ndarray:
    from shapes_viz.preprocessing import preprocess

    return preprocess(data)


@pytest.mark.parametrize("method", ["ig", "occlusion"])
def test_signed_methods_get_a_diverging_scale_centred_on_zero(app_env, engine, method):
    data = shape_png("circles")
    at = upload(why_app(), data)
    at.selectbox(key="why_method").select(method).run()
    assert_clean(at)
    z, trace = shown_map(at)
    want = expected(engine, data, method)
    np.testing.assert_allclose(z, want.values, rtol=1e-5, atol=1e-6)
    assert trace["zmin"] == pytest.approx(-trace["zmax"])
    assert trace["zmax"] == pytest.approx(float(np.abs(want.values).max()), rel=1e-5)
    scale = dict((round(stop, 3), colour) for stop, colour in trace["colorscale"])
    assert scale[0.5].endswith(",0)")  # 0 is the transparent middle: blue below, red above
    assert scale[0.0].startswith("rgba(5,48,97") and scale[1.0].startswith("rgba(103,0,31")


def test_integrated_gradients_show_their_completeness(app_env, engine):
    from shapes_viz.explain.methods import integrated_gradients

    data = shape_png("squares")
    at = upload(why_app(), data)
    at.selectbox(key="why_method").select("ig").run()
    x = expected_input(data)
    target = int(np.argmax(engine.probabilities(x)[0]))
    details = integrated_gradients(engine, x, target).details
    # independent of the method's own bookkeeping: the logit difference straight from the engine's trace
    from shapes_viz.engine.gradients import trace

    logits = trace(engine, np.concatenate([x, np.ones_like(x)])).logits[:, target]
    assert details["logit_difference"] == pytest.approx(float(logits[0] - logits[1]), abs=1e-5)
    text = "\n".join(m.value for m in at.markdown if "Completeness" in m.value)
    assert f"sums to {details['sum']:.4f}" in text
    assert f"= {details['logit_difference']:.4f}" in text
    assert f"Error {abs(details['sum'] - details['logit_difference']):.4f}" in text
    assert f"({details['relative_error']:.1%} of the difference) with 64 steps" in text
    assert any("do not make the error fall steadily" in c.value for c in at.caption)


def test_the_trust_panel_shows_what_faithfulness_computes(app_env, engine):
    from shapes_viz.explain.faithfulness import faithfulness, randomised, rank_correlation
    from shapes_viz.explain.methods import attribute
    from shapes_viz.ui.why import reading

    data = shape_png("squares")
    at = upload(why_app(), data)
    assert chart(at, "why_trust_curves") is None  # on demand only
    at.toggle(key="why_trust").set_value(True).run()
    assert_clean(at)
    x = expected_input(data)
    want = expected(engine, data, "layercam", layer="conv1_1")
    scores = faithfulness(engine, x, want.values, want.target)
    (table,) = [frame.value for frame in at.dataframe if "deletion area" in frame.value.columns]
    assert list(table["reference"]) == ["this map", "random maps", "ink"]
    np.testing.assert_allclose(table["deletion area"], [scores.deletion.area, scores.random_deletion.area,
                                                        scores.ink_deletion.area], atol=1e-6)
    np.testing.assert_allclose(table["insertion area"], [scores.insertion.area, scores.random_insertion.area,
                                                         scores.ink_insertion.area], atol=1e-6)
    curves = chart(at, "why_trust_curves")["data"]
    np.testing.assert_allclose(decode_array(curves[0]["y"]), scores.deletion.probabilities, atol=1e-4)
    np.testing.assert_allclose(decode_array(curves[3]["y"]), scores.insertion.probabilities, atol=1e-4)
    assert any(m.value == reading(scores) for m in at.markdown)
    random_map = attribute(randomised(engine), x, "layercam", want.target, "conv1_1").values
    metric = [m for m in at.main.metric if m.label == "Rank correlation (Spearman)"][0]
    assert metric.value == f"{rank_correlation(want.values, random_map):.2f}"
    pair = chart(at, "why_randomised")["data"]
    np.testing.assert_allclose(decode_array(pair[3]["z"]).reshape(28, 28), random_map, rtol=1e-5, atol=1e-6)


def faith(deletion: float, insertion: float, random: tuple[float, float], ink: tuple[float, float]):
    from shapes_viz.explain.faithfulness import Curve, Faithfulness

    def c(area):
        return Curve(np.zeros(2, np.float32), np.zeros(2, np.float32), area)

    return Faithfulness(c(deletion), c(insertion), c(random[0]), c(random[1]), c(ink[0]), c(ink[1]))


@pytest.mark.parametrize("scores, line", [
    (faith(0.2, 0.9, (0.5, 0.6), (0.3, 0.8)), "**Deletion**: beats random and ink. **Insertion**: beats random and ink."),
    (faith(0.4, 0.7, (0.5, 0.6), (0.3, 0.8)),
     "**Deletion**: beats random, does not beat ink. **Insertion**: beats random, does not beat ink."),
    (faith(0.6, 0.5, (0.5, 0.6), (0.7, 0.4)),
     "**Deletion**: does not beat random (but beats ink). **Insertion**: does not beat random (but beats ink)."),
])
def test_the_one_line_reading(scores, line):
    from shapes_viz.ui.why import reading

    assert reading(scores) == line


@pytest.mark.parametrize("explorer_layer, why_layer, note", [
    ("conv2_1", "conv2_1", None),
    ("dense", "drop3", None),  # a vector layer: the last map layer
    ("conv9", "drop3", "conv9, is not in this model"),
])
def test_the_layer_follows_the_explorer_or_falls_back(app_env, engine, explorer_layer, why_layer, note):
    at = why_app()
    at.session_state["explorer_picked_layer"] = explorer_layer
    data = shape_png("circles")
    at = upload(at, data)
    assert_clean(at)
    assert at.selectbox(key="why_layer").value == why_layer
    np.testing.assert_allclose(shown_map(at)[0], expected(engine, data, "layercam", layer=why_layer).values,
                               rtol=1e-5, atol=1e-6)
    if note:
        assert note in messages(at)
    if why_layer == "drop3":
        assert "At drop3 the map is 1x1: each cell sees" in messages(at)


def test_small_maps_warn_that_each_cell_sees_the_whole_image(app_env):
    at = upload(why_app(), shape_png("squares"))
    at.selectbox(key="why_layer").select("conv3_2").run()
    assert_clean(at)
    assert "At conv3_2 the map is 3x3: each cell sees 32x32 input pixels" in messages(at)  # more than the image
    at.selectbox(key="why_layer").select("conv2_2").run()
    assert "each cell sees" not in messages(at)


def test_a_drawing_is_explained_while_the_pen_is_down(app_env, engine):
    report = canvas_report(seq=3, pen="down")
    at = why_app()
    at.session_state["canvas_0"] = {"drawing": report}
    at.run()
    assert_clean(at)
    data = base64.b64decode(report["png"])
    np.testing.assert_allclose(shown_map(at)[0], expected(engine, data, "layercam", layer="conv1_1").values,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("session, pen_down, keys", [
    ({"view_tab": "Why?", "why_ready": True, "why_follows_pen": True}, True,
     ("prediction_fragment", "why_map_fragment")),
    ({"view_tab": "Why?", "why_ready": True, "why_follows_pen": False}, True, ("prediction_fragment",)),
    ({"view_tab": "Why?", "why_ready": False, "why_follows_pen": True}, True,
     ("prediction_fragment", "model_view_fragment", "probabilities_fragment", "why_fragment")),
    ({"view_tab": "Why?", "why_ready": True, "why_follows_pen": True}, False,
     ("prediction_fragment", "model_view_fragment", "probabilities_fragment", "why_fragment")),
    ({"view_tab": "Explorer", "explorer_ready": True, "why_ready": True}, True,
     ("prediction_fragment", "selected_fragment")),
    ({"explorer_ready": True}, False,
     ("prediction_fragment", "model_view_fragment", "probabilities_fragment", "explorer_fragment")),
])
def test_what_a_canvas_report_reruns(session, pen_down, keys):
    from shapes_viz.ui.inputs import canvas_fragments

    assert canvas_fragments(session, pen_down) == keys


def test_the_cheap_methods_are_the_ones_that_follow_the_pen(app_env):
    at = upload(why_app(), shape_png("squares"))
    for method, follows in [("layercam", True), ("gradcam", True), ("saliency", True), ("smoothgrad", False),
                            ("occlusion", False)]:
        at.selectbox(key="why_method").select(method).run()
        assert at.session_state["why_follows_pen"] is follows, method
        assert at.session_state["why_ready"] is True


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("data", [None, "blank"])
def test_no_input_or_a_blank_one_is_a_message(app_env, data):
    at = why_app()
    at = upload(at, blank_png()) if data == "blank" else at.run()
    assert_clean(at)
    assert "Nothing to explain yet" in messages(at)
    assert chart(at, "why_map") is None and at.session_state["why_ready"] is False


def test_a_model_without_the_numpy_engine_is_a_message(tmp_path, monkeypatch, tiny_data, trained_model):
    path = tmp_path / "model.keras"
    trained_model.save(path)
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(path))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tiny_data))
    at = upload(why_app(), shape_png())
    assert_clean(at)
    assert len(at.main.metric) == 1  # the Keras engine still predicts
    assert "Explanations run on the numpy engine, which reads .h5 model files" in messages(at)
    assert "Received: model=" in messages(at) and "model.keras" in messages(at)
    assert chart(at, "why_map") is None


def test_a_model_published_while_the_view_is_open_is_followed(tmp_path, monkeypatch, tiny_data, trained, fresh_model):
    from shapes_viz.engine.numpy_engine import NumpyEngine

    model = copy_model(Path(trained[0]), tmp_path / "models")
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tiny_data))
    data = shape_png("squares")
    at = upload(why_app(), data)
    before, _ = shown_map(at)
    staged = model.with_name("staged.h5")
    fresh_model.save(staged)
    os.replace(staged, model)  # how the trainer publishes
    at.selectbox(key="why_method").select("saliency").run()
    assert_clean(at)
    want = expected(NumpyEngine.from_file(model), data, "saliency")
    np.testing.assert_allclose(shown_map(at)[0], want.values, rtol=1e-5, atol=1e-6)
    old = expected(NumpyEngine.from_file(Path(trained[0])), data, "saliency")
    assert not np.allclose(want.values, old.values)  # the two models really differ


def test_the_view_imports_no_tensorflow():
    script = "import sys, shapes_viz.ui.why, shapes_viz.ui.views; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["False", "False"]


# --- in Chromium: the map follows the pen (order and counts only; speed is the benchmark's) ---------------

MAP_SIGNATURE = """() => {
  const d = document.querySelector('.st-key-why_map:not([data-stale="true"]) .js-plotly-plot');
  if (!d || !d._fullData || d._fullData.length < 2) return null;
  let s = 0; for (const r of d._fullData[1].z) for (const v of r) s += v;
  return ((d.layout.title && d.layout.title.text) || '') + ' ' + s.toPrecision(6);
}"""


def maps_while_drawing(page, shape: str) -> tuple[list[str], str]:
    """The distinct map signatures seen while the pen is down through `shape`'s outline, and the map after lifting."""
    from tools.harness import canvas_box, shape_points

    box, points = canvas_box(page), shape_points(shape)
    at = [(box["x"] + px * box["width"], box["y"] + py * box["height"]) for px, py in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    seen: list[str] = []
    for point in at[1:]:
        page.mouse.move(*point, steps=8)
        for _ in range(8):
            page.wait_for_timeout(80)
            signature = page.evaluate(MAP_SIGNATURE)
            if signature and (not seen or seen[-1] != signature):
                seen.append(signature)
    page.mouse.up()
    return seen, page.evaluate(MAP_SIGNATURE)


@pytest.mark.browser
@pytest.mark.skipif(harness.chromium_missing() is not None, reason=harness.chromium_missing() or "")
def test_in_chromium_cheap_maps_follow_the_pen_and_expensive_ones_wait_for_it(open_page):
    from tests.helpers.browser import final_prediction
    from tests.helpers.waiting import eventually
    from tools.harness import choose_option

    page = open_page(height=1400)

    def why_tab_open() -> bool:  # a click before the page's first run has finished can be lost: click again
        if page.get_by_text("Nothing to explain yet").first.is_visible():
            return True
        page.get_by_role("tab", name="Why?").click()
        page.get_by_text("Nothing to explain yet").first.wait_for(state="visible", timeout=5_000)
        return True

    eventually(why_tab_open, 90, what="the Why? tab, without an input yet")
    seen, _ = maps_while_drawing(page, "triangles")
    assert len(seen) >= 2, seen  # LayerCAM redrawn while the pen was still down
    final_prediction(page)
    choose_option(page, "why_method", "SmoothGrad")
    before = eventually(lambda: page.evaluate(MAP_SIGNATURE) if "SmoothGrad" in (page.evaluate(MAP_SIGNATURE) or "")
                        else None, 30, what="the SmoothGrad map")
    seen, _ = maps_while_drawing(page, "squares")  # a second stroke over the triangle
    assert seen == [before], seen  # SmoothGrad waits for the pen to lift ...
    eventually(lambda: page.evaluate(MAP_SIGNATURE) not in (None, before), 30, what="the map after lifting")  # ... then follows it

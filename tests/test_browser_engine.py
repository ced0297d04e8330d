"""The network in the browser (issue 14), in the real app in Chromium: while the pen moves, the canvas runs
`preprocess` and the network itself (shapes_viz/ui/browser_engine.js) and sends nothing to the server.

Oracles: `preprocess` of the very PNG the server gets when the pen lifts (and of RGBA arrays handed to the
page's function), and the numpy engine on the model file the server serves. WebSocket messages are read in the
page (a wrapper around WebSocket.send) and decoded with Streamlit's own BackMsg protobuf.
"""

from __future__ import annotations

import base64
import os
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image, ImageDraw

from shapes_viz.artifacts import file_digest
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.preprocessing import preprocess
from shapes_viz.engine.export import export_model
from tests.helpers.browser import (
    browser_test_marks, canvas, choose_layer, clear, final_prediction, set_channel, shows_channel, wait_for_heatmap,
    wait_for_prediction,
)
from tests.helpers.waiting import eventually
from tools.harness import circle_points, stroke

pytestmark = browser_test_marks()

# Every WebSocket message the page sends, with whether the pen was down; the app's console lines.
RECORDER = """
(() => {
  const ws = window.__ws = {down: false, frames: []};
  window.addEventListener('pointerdown', () => { ws.down = true; }, true);
  window.addEventListener('pointerup', () => { ws.down = false; }, true);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    let text = '';
    if (bytes) for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    ws.frames.push({down: ws.down, data: btoa(text)});
    return send.call(this, data);
  };
  window.__lines = [];
  const info = console.info;
  console.info = function (...args) { window.__lines.push(args.join(' ')); return info.apply(this, args); };
})();
"""
NO_INDEXEDDB = "Object.defineProperty(window, 'indexedDB', {get() { return undefined; }});"
BROKEN_READ = ("CanvasRenderingContext2D.prototype.getImageData = function () {"
               " throw new Error('getImageData blocked by the test'); };")
STATE = """c => { const s = c.__shapesViz, r = s.result;
    return {updates: s.updates, png: s.out ? s.out.toDataURL('image/png').split(',')[1] : null,
            result: r && {digest: r.digest, input: Array.from(r.input), probabilities: Array.from(r.probabilities)}}; }"""


def _shifted(points, dx, dy, scale=1.0):
    return [(0.5 + (x - 0.5) * scale + dx, 0.5 + (y - 0.5) * scale + dy) for x, y in points]


# Drawn with the mouse: sizes, positions (one against the canvas' edges), one and two strokes.
STROKES = {
    "small circle, top left": [_shifted(circle_points(24), -0.25, -0.25, 0.35)],
    "large square to the edges": [[(0.01, 0.01), (0.99, 0.01), (0.99, 0.99), (0.01, 0.99), (0.01, 0.01)]],
    "triangle, bottom right": [_shifted([(0.5, 0.2), (0.8, 0.8), (0.2, 0.8), (0.5, 0.2)], 0.12, 0.12, 0.6)],
    "two strokes": [[(0.2, 0.3), (0.8, 0.3)], [(0.5, 0.1), (0.5, 0.9)]],
}


def _page(open_page, *scripts):
    """A fresh page (an empty browser cache) with the recorder and any `scripts` installed before the app."""
    return open_page(init_script="\n".join((RECORDER, *scripts)))


def _wait_for_weights(page, digest: str) -> None:
    page.wait_for_function("d => window.shapesViz && window.shapesViz.page.nets.has(d)", arg=digest, timeout=30_000)


def _state(page) -> dict:
    return canvas(page).evaluate(STATE)


def _interactions(page, down: bool) -> int:
    """The script reruns the page asked for (not the timers' auto reruns, not heartbeats) with the pen down/up."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    count = 0
    for frame in page.evaluate("() => window.__ws.frames"):
        msg = BackMsg.FromString(base64.b64decode(frame["data"]))
        if frame["down"] == down and msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.is_auto_rerun:
            count += 1
    return count


def _draw(page, strokes, pause_s=0.0) -> None:
    for points in strokes:
        stroke(page, points, steps=2, pause_s=pause_s)


def _server_input(png_b64: str) -> np.ndarray:
    return preprocess(base64.b64decode(png_b64))


def test_the_browsers_input_and_probabilities_equal_the_servers_for_drawn_strokes(open_page, app_server):
    page = _page(open_page)
    digest = file_digest(app_server.model)
    _wait_for_weights(page, digest)
    engine = NumpyEngine.from_file(app_server.model)
    for name, strokes in STROKES.items():
        _draw(page, strokes)
        state = _state(page)
        assert state["result"] is not None and state["result"]["digest"] == digest, name
        server_x = _server_input(state["png"])  # what the server computed from the pen-up report
        browser_x = np.asarray(state["result"]["input"], np.float32).reshape(server_x.shape)
        assert np.abs(browser_x - server_x).max() <= 2 / 255, name
        expected = engine.probabilities(server_x)[0]
        got = np.asarray(state["result"]["probabilities"])
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=name)
        winner = int(np.argmax(got))
        wait_for_prediction(page, f"{got[winner]:.1%} confidence (class {winner})")  # the server's page agrees
        clear(page)


def _image(kind: str, rng) -> np.ndarray:
    """An RGBA drawing: light (grey, 1-2 px) or heavy (black, thick) strokes, anywhere, any size; light on dark."""
    w, h = int(rng.integers(24, 113)), int(rng.integers(24, 113))
    image = Image.new("RGBA", (w, h), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    points = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(4)]
    grey, width = (int(rng.integers(120, 200)), int(rng.integers(1, 3))) if kind == "light" else (0, int(rng.integers(6, 14)))
    draw.line(points, fill=(grey, grey, grey, 255), width=width)
    if kind == "dark paper":
        image = Image.eval(image.convert("RGB"), lambda v: 255 - v).convert("RGBA")
    if kind == "framed":
        draw.rectangle([0, 0, w - 1, h - 1], outline=(0, 0, 0, 255), width=2)
    return np.asarray(image)


def test_the_browsers_preprocessing_equals_preprocess_on_light_heavy_and_inverted_drawings(open_page):
    page = _page(open_page)
    rng = np.random.default_rng(14)
    images = [_image(kind, rng) for kind in ("light", "heavy", "dark paper", "framed") for _ in range(6)]
    page.wait_for_function("() => !!window.shapesViz")  # the canvas' module has loaded
    got = page.evaluate(
        """images => images.map(im => {
            const bytes = Uint8ClampedArray.from(atob(im.data), c => c.charCodeAt(0));
            const x = window.shapesViz.preprocess(bytes, im.w, im.h);
            return x && Array.from(x);
        })""",
        [{"w": a.shape[1], "h": a.shape[0], "data": base64.b64encode(a.tobytes()).decode()} for a in images],
    )
    for index, (image, browser) in enumerate(zip(images, got)):
        expected = preprocess(image)
        assert browser is not None, index
        assert np.abs(np.asarray(browser, np.float32).reshape(expected.shape) - expected).max() <= 2 / 255, index


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_the_browsers_forward_pass_equals_the_numpy_engines_for_every_layer_kind(open_page, activation):
    """A small model with strided and "same" convolutions and pooling, tanh, sigmoid, a Dense without bias,
    and channels switched off."""
    from tests.test_export import _engine

    engine = _engine(seed=5, activation=activation)
    x = np.random.default_rng(2).random((1, 28, 28, 3), dtype=np.float32)
    off = {"c1": [1, 2], "hidden": [0]}
    page = _page(open_page)
    page.wait_for_function("() => !!window.shapesViz")
    outputs = page.evaluate(
        """([payload, x, off]) => {
            const {data, ...rest} = payload, sv = window.shapesViz;
            const run = sv.forward(sv.unpack(rest, sv.decode(data)), Float32Array.from(x), off);
            return run.outputs.map(o => Array.from(o));
        }""",
        [export_model(engine, "tiny"), x.reshape(-1).tolist(), off],
    )
    for got, want, name in zip(outputs, engine.forward(x, off), engine.layer_names):
        np.testing.assert_allclose(np.asarray(got).reshape(want.shape), want, atol=1e-5, err_msg=name)


def test_the_browser_runs_every_architecture_variant_as_the_numpy_engine_does(open_page, tmp_path):
    """Each variant of `shapes_viz.variants` (global average pooling, 5x5 and unpadded convolutions among them),
    saved as the trainer saves it: every layer's output in the browser equals the numpy engine's."""
    pytest.importorskip("keras")
    from shapes_viz.engine.numpy_engine import NumpyEngine
    from shapes_viz.variants import VARIANTS

    x = np.random.default_rng(4).random((1, 28, 28, 3), dtype=np.float32)
    page = _page(open_page)
    page.wait_for_function("() => !!window.shapesViz")
    for name, spec in VARIANTS.items():
        path = tmp_path / f"{name}.h5"
        spec.build(seed=0).save(path)
        engine = NumpyEngine.from_file(path)
        outputs = page.evaluate(
            """([payload, x]) => {
                const {data, ...rest} = payload, sv = window.shapesViz;
                return sv.forward(sv.unpack(rest, sv.decode(data)), Float32Array.from(x), {}).outputs.map(o => Array.from(o));
            }""",
            [export_model(engine, name), x.reshape(-1).tolist()],
        )
        for got, want, layer in zip(outputs, engine.forward(x), engine.layer_names):
            np.testing.assert_allclose(np.asarray(got).reshape(want.shape), want, atol=1e-5, err_msg=f"{name} {layer}")


def test_the_panel_shows_the_pages_layer_and_channel(open_page, app_server):
    """A layer and channel picked in the explorer reach the canvas before the next stroke (its "sync")."""
    page = _page(open_page)
    digest = file_digest(app_server.model)
    _wait_for_weights(page, digest)
    _draw(page, [circle_points(24)])
    final_prediction(page)
    choose_layer(page, "conv2_1 · Conv2D · 13x13x64 maps")
    set_channel(page, 5)
    wait_for_heatmap(page, shows_channel(5))
    box = canvas(page).bounding_box()
    page.mouse.move(box["x"] + 10, box["y"] + 10)  # the pen comes back over the canvas, not yet drawing
    eventually(lambda: canvas(page).evaluate("c => c.__shapesViz && c.__shapesViz.engine.layer") == "conv2_1",
               what="the canvas to get the page's layer")
    stroke(page, [(0.2, 0.2), (0.5, 0.5), (0.8, 0.8)], steps=2, pause_s=0.02, lift=False)
    caption = page.locator(".st-key-draw_canvas .shapes-viz-live .sv-caption").first
    assert caption.inner_text() == "conv2_1 · channel 5"  # while the pen is still down
    page.mouse.up()
    final_prediction(page)
    values = canvas(page).evaluate("""c => { const r = c.__shapesViz.result, net = window.shapesViz.page.nets.get(r.digest);
        const o = r.outputs[net.names.indexOf('conv2_1')]; return Array.from(o.filter((_, i) => i % 64 === 5)); }""")
    x = _server_input(_state(page)["png"])
    want = NumpyEngine.from_file(app_server.model).run(x).layer("conv2_1").values[:, :, 5]
    np.testing.assert_allclose(np.asarray(values).reshape(want.shape), want, atol=1e-4)


def test_updates_during_a_stroke_send_nothing_to_the_server(open_page, app_server):
    page = _page(open_page)
    _wait_for_weights(page, file_digest(app_server.model))
    page.wait_for_timeout(300)  # the page's own start-up messages are done
    before = _state(page)["updates"]
    stroke(page, circle_points(40), pause_s=0.016, lift=False)  # a real mouse's rate, the pen still down
    during = _state(page)["updates"] - before
    sent_down = _interactions(page, down=True)
    page.mouse.up()
    final_prediction(page)
    assert during >= 10, during  # the panel followed the pen ...
    assert sent_down == 0  # ... without a single message to the server
    assert _interactions(page, down=False) >= 1  # the pen-up report (the counter sees the canvas' messages)
    assert page.locator(".st-key-draw_canvas .shapes-viz-live .sv-class").first.inner_text()


@pytest.mark.parametrize("script, line", [(NO_INDEXEDDB, "this browser has no IndexedDB"),
                                          (BROKEN_READ, "the in-browser network failed")],
                         ids=["no IndexedDB", "a JavaScript error"])
def test_without_the_browser_engine_the_server_predicts_during_the_stroke(open_page, app_server, script, line):
    page = _page(open_page, script)
    if script == BROKEN_READ:
        _wait_for_weights(page, file_digest(app_server.model))
    else:
        page.wait_for_timeout(1000)  # time the weights would have needed to arrive
    stroke(page, circle_points(40), pause_s=0.016, lift=False)
    page.wait_for_timeout(300)
    sent_down = _interactions(page, down=True)
    page.mouse.up()
    assert "circles" in final_prediction(page)
    assert sent_down >= 1  # the canvas reported the drawing while the pen moved: the server path
    lines = [text for text in page.evaluate("() => window.__lines") if text.startswith("shapes_viz:")]
    assert len(lines) == 1 and line in lines[0], lines
    assert not page.locator(".st-key-draw_canvas .shapes-viz-live").first.is_visible()


def _changed_model(source, folder):
    """A copy of `source` whose output layer prefers squares: same layers, other weights (another digest)."""
    target = folder / "changed.h5"
    shutil.copy2(source, target)
    with h5py.File(target, "r+") as handle:
        group = handle["model_weights/predictions"]
        bias = next(group[name] for name in _datasets(group) if name.endswith("bias"))
        bias[...] = bias[...] + np.array([0.0, 3.0, 0.0], np.float32)
    return target


def _datasets(group):
    names = []
    group.visit(lambda name: names.append(name) if isinstance(group[name], h5py.Dataset) else None)
    return names


def test_a_published_model_is_used_from_the_next_stroke(open_page, app_server, tmp_path):
    """Last in the module: it publishes over the server's model (and puts the original back)."""
    page = _page(open_page)
    old = file_digest(app_server.model)
    _wait_for_weights(page, old)
    original = tmp_path / "original.h5"
    shutil.copy2(app_server.model, original)
    changed = _changed_model(app_server.model, tmp_path)
    staged = app_server.model.with_name(".staged.h5")
    try:
        shutil.copy2(changed, staged)
        os.replace(staged, app_server.model)  # published while the page is open
        new = file_digest(app_server.model)
        _draw(page, [circle_points(24)])  # this stroke's pen-up tells the canvas the new digest
        final_prediction(page)
        _wait_for_weights(page, new)
        clear(page)
        _draw(page, [circle_points(24)])
        final_prediction(page)
        state = _state(page)
        assert state["result"]["digest"] == new
        x = _server_input(state["png"])
        got = np.asarray(state["result"]["probabilities"])
        np.testing.assert_allclose(got, NumpyEngine.from_file(app_server.model).probabilities(x)[0], atol=1e-4)
        assert np.abs(got - NumpyEngine.from_file(original).probabilities(x)[0]).max() > 1e-2  # not the old weights
    finally:
        shutil.copy2(original, staged)
        os.replace(staged, app_server.model)

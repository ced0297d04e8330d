"""Live drawing in the real app (Debian Chromium through Playwright): the prediction and the selected
heatmap follow the pen during a stroke, not only after mouse-up.

One `streamlit run app.py` server for the module, on a COPY of the shipped model. A recorder installed in
the page notes, on every animation frame, the prediction's text and a signature of the selected channel's
heatmap whenever they change; the test reads what it saw before the mouse went up. No timing assertions:
how fast this is, is the benchmark's business (`python -m shapes_viz.bench --sections browser`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from browser_helpers import (
    PROJECT_ROOT,
    SHIPPED_MODEL,
    browser_test_marks,
    canvas,
    copy_model,
    predicted_class,
    screenshot,
    streamlit_server,
    wait_for_app,
)

pytestmark = browser_test_marks()

RECORDER = """
(() => {
  const seen = window.__seen = {texts: [], heatmaps: [], grids: [], pen: 'up'};
  window.addEventListener('pointerdown', () => { seen.pen = 'down'; }, true);
  window.addEventListener('pointerup', () => { seen.pen = 'up'; }, true);
  const live = (key) => document.querySelector('.st-key-' + key + ':not([data-stale="true"])');
  const signature = (key) => {
    const plot = live(key) && live(key).querySelector('.js-plotly-plot');
    if (!plot || !plot._fullData || !plot._fullData.length) return null;
    const z = plot._fullData[0].z;
    let sum = 0;
    for (const row of z) for (const v of row) if (Number.isFinite(v)) sum += v;
    const title = ((plot.layout.title && plot.layout.title.text) || '').replace(/<[^>]*>/g, '');
    return title + ' ' + sum.toFixed(4);
  };
  const note = (list, value) => {
    if (value !== null && (!list.length || list[list.length - 1].value !== value)) {
      list.push({value, pen: seen.pen, at: performance.now()});
    }
  };
  const tick = () => {
    const prediction = live('predicted_class');
    note(seen.texts, prediction ? prediction.textContent : null);
    note(seen.heatmaps, signature('channel_heatmap'));
    note(seen.grids, signature('explorer_grid'));
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not SHIPPED_MODEL.exists():
        pytest.skip(f"the trained model {SHIPPED_MODEL} is not in this checkout")
    folder = tmp_path_factory.mktemp("live_drawing")
    model = copy_model(SHIPPED_MODEL, folder / "models")
    env = {"SHAPES_VIZ_MODEL": str(model), "SHAPES_VIZ_DATA": str(PROJECT_ROOT / "data")}
    with streamlit_server(env, PROJECT_ROOT / "artifacts" / "live_drawing_server.log") as url:
        yield url


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1500, "height": 1800})  # the explorer on screen too
    context.add_init_script(RECORDER)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server)
    wait_for_app(page)
    yield page
    context.close()


def circle(n: int = 48) -> list[tuple[float, float]]:
    angles = np.linspace(0, 2 * np.pi, n)
    return [(0.5 + 0.3 * float(np.cos(a)), 0.5 + 0.3 * float(np.sin(a))) for a in angles]


def pen_down_along(page, points: list[tuple[float, float]], pause_s: float) -> None:
    """Mouse down at the first point and move slowly through the others; the mouse stays down."""
    target = canvas(page)
    target.wait_for(state="visible")
    box = target.bounding_box()
    absolute = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*absolute[0])
    page.mouse.down()
    for x, y in absolute[1:]:
        page.mouse.move(x, y)
        time.sleep(pause_s)


def wait_for(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


def final_prediction(page) -> str:
    def read():
        try:
            text = predicted_class(page)
        except Exception:  # noqa: BLE001 - the element is being redrawn
            return None
        return text if "confidence" in text and "(live)" not in text else None

    return wait_for(read, "the prediction of the finished stroke")


def test_prediction_and_heatmap_follow_the_pen_during_a_slow_stroke(page):
    pen_down_along(page, circle(), pause_s=0.06)
    seen = page.evaluate("() => window.__seen")  # everything shown so far, the pen still down
    page.mouse.up()

    texts = [s["value"] for s in seen["texts"] if s["pen"] == "down" and "confidence" in s["value"]]
    assert len(set(texts)) >= 3, f"prediction updates seen during the stroke: {texts}"
    assert all("Prediction for your drawing (live)" in text for text in texts), texts
    heatmaps = [s["value"] for s in seen["heatmaps"] if s["pen"] == "down"]
    assert len(set(heatmaps)) >= 3, f"heatmap updates seen during the stroke: {heatmaps}"
    assert all(h.startswith("conv1_1 · channel 0") for h in heatmaps), heatmaps

    text = final_prediction(page)  # mouse up: the whole stroke, no longer marked live
    assert "your drawing" in text and "circles" in text, text
    screenshot(page, "live_drawing_circle")


def test_the_layer_grid_follows_when_the_stroke_ends(page):
    def last_grid():
        return page.evaluate("() => { const g = window.__seen.grids; return g.length ? g[g.length - 1].value : null; }")

    pen_down_along(page, circle(24), pause_s=0.03)
    page.mouse.up()
    final_prediction(page)
    before = wait_for(last_grid, "the layer grid")
    # A second stroke on the same canvas: the grid shows the two-stroke drawing once the pen lifts.
    pen_down_along(page, [(0.2, 0.2), (0.3, 0.25), (0.4, 0.2)], pause_s=0.03)
    page.mouse.up()
    wait_for(lambda: last_grid() != before, "the layer grid of the two-stroke drawing")


def test_clear_empties_the_canvas_and_a_new_drawing_is_predicted_on_its_own(page):
    pen_down_along(page, [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.2)], pause_s=0.02)
    page.mouse.up()
    assert "your drawing" in final_prediction(page)
    page.locator(".st-key-clear_canvas button").click()
    wait_for(lambda: "draw or upload a shape first" in predicted_class(page).lower(), "the empty prediction")
    dark = canvas(page).evaluate(
        """(c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let dark = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) dark++;
            return dark;
        }"""
    )
    assert dark == 0  # a fresh, white canvas
    pen_down_along(page, [(0.5 + 0.3 * np.cos(a), 0.5 + 0.3 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 24)],
                   pause_s=0.02)
    page.mouse.up()
    assert "circles" in final_prediction(page)

"""Live drawing in the real app (Debian Chromium through Playwright): the prediction and the selected
heatmap follow the pen during a stroke, not only after mouse-up.

One `streamlit run app.py` server for the module (tests/conftest.py's `app_server`, on a COPY of the shipped
model). A recorder installed in the page notes, on every animation frame, the prediction's text and a
signature of the selected channel's heatmap whenever they change, and whether the pen was down; the tests
read what it saw before the mouse went up. Order and counts only: how fast this is, is the benchmark's
business (`python -m tools.bench --sections browser`).
"""

from __future__ import annotations

import pytest

from tests.helpers.browser import browser_test_marks, canvas, clear, draw, final_prediction, screenshot
from tests.helpers.waiting import eventually
from tools.harness import circle_points, move_pen, stroke

pytestmark = browser_test_marks()

RECORDER = """
// The server path (the canvas' own network needs IndexedDB; without it, the server predicts during the stroke).
Object.defineProperty(window, 'indexedDB', {get() { return undefined; }});
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


@pytest.fixture
def page(open_page):
    return open_page(height=1800, init_script=RECORDER)  # the explorer on screen too


def _while_pen_down(page, kind: str) -> list[str]:
    """The distinct values of `kind` ("texts" or "heatmaps") the page showed while the pen was down."""
    values = [s["value"] for s in page.evaluate("() => window.__seen")[kind] if s["pen"] == "down"]
    return list(dict.fromkeys(values))


def test_prediction_and_heatmap_follow_the_pen_during_a_stroke(page):
    circle = circle_points(48)
    stroke(page, circle[:24], pause_s=0.03, lift=False)  # half a circle, the pen stays down
    first = eventually(lambda: _while_pen_down(page, "heatmaps"), what="a heatmap update while the pen is down")
    move_pen(page, circle[24:], pause_s=0.03)  # the rest of the circle, the pen still down
    # The heatmap of the longer stroke comes before the pen lifts: the page follows the pen, whatever its speed.
    eventually(lambda: len(_while_pen_down(page, "heatmaps")) > len(first), what="the heatmap of the longer stroke")
    texts = _while_pen_down(page, "texts")
    heatmaps = _while_pen_down(page, "heatmaps")
    page.mouse.up()

    live = [text for text in texts if "confidence" in text]
    assert live, f"no prediction shown while the pen was down: {texts}"
    assert all("Prediction for your drawing (live)" in text for text in live), live
    assert all(h.startswith("conv1_1 · channel 0") for h in heatmaps), heatmaps

    text = final_prediction(page)  # mouse up: the whole stroke, no longer marked live
    assert "your drawing" in text and "circles" in text, text
    screenshot(page, "live_drawing_circle")


def test_the_layer_grid_follows_when_the_stroke_ends(page):
    def last_grid():
        return page.evaluate("() => { const g = window.__seen.grids; return g.length ? g[g.length - 1].value : null; }")

    stroke(page, circle_points(24), pause_s=0.03)
    final_prediction(page)
    before = eventually(last_grid, what="the layer grid")
    # A second stroke on the same canvas: the grid shows the two-stroke drawing once the pen lifts.
    stroke(page, [(0.2, 0.2), (0.3, 0.25), (0.4, 0.2)], pause_s=0.03)
    eventually(lambda: last_grid() != before, what="the layer grid of the two-stroke drawing")


def test_clear_empties_the_canvas_and_a_new_drawing_is_predicted_on_its_own(page):
    draw(page, [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.2)], steps=1, pause_s=0.02)
    assert "your drawing" in final_prediction(page)
    clear(page)
    dark = canvas(page).evaluate(
        """(c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let dark = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) dark++;
            return dark;
        }"""
    )
    assert dark == 0  # a fresh, white canvas
    draw(page, circle_points(24), steps=1, pause_s=0.02)
    assert "circles" in final_prediction(page)

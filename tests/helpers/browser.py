"""Verbs of the browser tests on the real app in Chromium (built on tools.harness): draw, clear, choose a
layer or channel, upload, and wait for the prediction or the heatmap. Playwright pages come from the
`open_page` fixture of tests/conftest.py; the server from its `app_server` fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.waiting import eventually
from tools import harness
from tools.harness import LIVE, PROJECT_ROOT

SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
HEATMAP_JS = """() => {
    const d = document.querySelector('.st-key-channel_heatmap%s .js-plotly-plot');
    if (!d || !d._fullData || !d._fullData.length) return null;
    const z = d._fullData[0].z;
    return {title: (d.layout.title && d.layout.title.text) || '', rows: z.length, cols: z[0].length,
            values: Array.from(z).map(row => Array.from(row))};
}""" % LIVE


def browser_test_marks() -> list:
    """The `pytestmark` of every Chromium test module: marked `browser`, skipped without Chromium/Playwright."""
    import pytest

    missing = harness.chromium_missing()
    return [pytest.mark.browser, pytest.mark.skipif(missing is not None, reason=missing or "")]


def wait_for_app(page: Any, timeout_ms: float = 90_000) -> None:
    """Wait until the app's own content (the prediction section) is on the page."""
    page.locator(f".st-key-prediction{LIVE}").first.wait_for(state="visible", timeout=timeout_ms)


def canvas(page: Any) -> Any:
    """The live drawing canvas."""
    return page.locator(harness.CANVAS).first


def draw(page: Any, shape_or_points: str | harness.Points, steps: int = 4, pause_s: float = 0.0) -> None:
    """One stroke with the mouse: a shape's outline ('triangles', ...) or points (canvas fractions)."""
    points = harness.shape_points(shape_or_points) if isinstance(shape_or_points, str) else shape_or_points
    harness.stroke(page, points, steps=steps, pause_s=pause_s)


def clear(page: Any) -> None:
    """Press Clear and wait for the empty prediction."""
    page.locator(".st-key-clear_canvas button").click()
    wait_for_prediction(page, "draw or upload a shape first")


def choose_layer(page: Any, name: str) -> None:
    """Pick a layer in the explorer."""
    harness.choose_option(page, "explorer_layer", name)


def set_channel(page: Any, channel: int) -> None:
    """Type a channel number into the explorer and press Enter."""
    harness.set_number(page, "explorer_channel_number", channel)


def upload(page: Any, name: str, data: bytes) -> None:
    """Open the Upload tab and hand the uploader a PNG named `name`."""
    page.get_by_role("tab", name="Upload").click()
    page.locator(".st-key-upload_file input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )


def predicted_class(page: Any) -> str:
    """The text of the app's predicted-class element (`.st-key-predicted_class`)."""
    return page.locator(f".st-key-predicted_class{LIVE}").first.inner_text()


def wait_for_prediction(page: Any, *needles: str, timeout: float = 30) -> str:
    """The prediction's text once it contains every needle (case-insensitive)."""
    def shown() -> str | None:
        text = predicted_class(page)
        return text if all(n.lower() in text.lower() for n in needles) else None

    return eventually(shown, timeout, what=f"the prediction to show {needles}")


def final_prediction(page: Any, timeout: float = 30) -> str:
    """The prediction of the finished drawing: with a confidence, no longer marked live."""
    def shown() -> str | None:
        text = predicted_class(page)
        return text if "confidence" in text and "(live)" not in text else None

    return eventually(shown, timeout, what="the prediction of the finished stroke")


def heatmap(page: Any) -> dict | None:
    """The channel heatmap on the page: {title, rows, cols, values}, or None."""
    return page.evaluate(HEATMAP_JS)


def wait_for_heatmap(page: Any, predicate, timeout: float = 20) -> dict:
    """The channel heatmap once `predicate(spec)` holds (scrolled into view if it is not rendered)."""
    def matching() -> dict | None:
        spec = heatmap(page)
        if spec is None:
            page.locator(f".st-key-channel_heatmap{LIVE}").first.scroll_into_view_if_needed(timeout=1000)
        return spec if spec is not None and predicate(spec) else None

    try:
        return eventually(matching, timeout, what="the heatmap", interval=0.02)
    except AssertionError as error:
        raise AssertionError(f"{error}; see {screenshot(page, 'failed_heatmap')}") from None


def shows_channel(channel: int):
    """A `wait_for_heatmap` predicate: the heatmap's title names `channel`."""
    return lambda spec: f"channel {channel}<" in spec["title"] or f"channel {channel} " in spec["title"]


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot in artifacts/screenshots/<name>.png (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

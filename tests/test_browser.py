"""The real app in Debian's Chromium through Playwright: what only a browser shows.

One `streamlit run app.py` server per module, on a COPY of the shipped model (retraining here never
touches models/). Screenshots go to artifacts/screenshots/ (gitignored); browser-side latencies to
artifacts/browser_latency.json.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator

import pytest

from browser_helpers import (
    LIVE,
    PROJECT_ROOT,
    SHIPPED_MODEL,
    browser_test_marks,
    copy_model,
    draw_polyline,
    predicted_class,
    screenshot,
    shape_points,
    streamlit_server,
    wait_for_app,
)

pytestmark = browser_test_marks()

LATENCY_FILE = PROJECT_ROOT / "artifacts" / "browser_latency.json"
HEATMAP_JS = """() => {
    const d = document.querySelector('.st-key-channel_heatmap:not([data-stale="true"]) .js-plotly-plot');
    if (!d || !d._fullData || !d._fullData.length) return null;
    const z = d._fullData[0].z;
    return {title: (d.layout.title && d.layout.title.text) || '', rows: z.length, cols: z[0].length,
            values: Array.from(z).map(row => Array.from(row))};
}"""
latencies: dict[str, list[float]] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not SHIPPED_MODEL.exists():
        pytest.skip(f"the trained model {SHIPPED_MODEL} is not in this checkout")
    folder = tmp_path_factory.mktemp("browser")
    model = copy_model(SHIPPED_MODEL, folder / "models")
    data = PROJECT_ROOT / "data"
    if not (data / "test_set").is_dir():
        from shapes_viz.generator import generate_dataset

        data = folder / "data"
        generate_dataset(data, per_class=10, seed=0)
    env = {"SHAPES_VIZ_MODEL": str(model), "SHAPES_VIZ_DATA": str(data)}
    try:
        with streamlit_server(env, PROJECT_ROOT / "artifacts" / "browser_server.log") as url:
            yield url
    finally:
        # Trainers outlive the server by design (their own session); stop any this module started.
        from shapes_viz.training_jobs import TrainingJobs

        jobs = TrainingJobs(model)
        if jobs.cancel():
            jobs.wait(timeout=60)
    if latencies:
        LATENCY_FILE.parent.mkdir(parents=True, exist_ok=True)
        summary = {k: {"median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3), "n": len(v)} for k, v in latencies.items()}
        LATENCY_FILE.write_text(json.dumps(summary, indent=1))


@pytest.fixture
def open_page(browser, server):
    """A fresh browser session on the app, waiting for the app's own content."""
    contexts = []

    def open_one():
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(server)
        wait_for_app(page)
        return page

    yield open_one
    for context in contexts:
        context.close()


def wait_for_prediction(page, *needles: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = predicted_class(page)
        except Exception:  # noqa: BLE001 - the element is being redrawn
            text = ""
        if all(n in text for n in needles):
            return text
        time.sleep(0.05)
    raise AssertionError(f"prediction never showed {needles}; last text: {text!r}")


def wait_until(condition, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.05)


def heatmap(page) -> dict | None:
    return page.evaluate(HEATMAP_JS)


def wait_for_heatmap(page, predicate, timeout: float = 20) -> tuple[dict, float]:
    """Poll the channel heatmap until `predicate(spec)`; return it and the seconds it took."""
    started = time.perf_counter()
    spec = None
    scrolled = False
    while time.perf_counter() - started < timeout:
        spec = heatmap(page)
        if spec is not None and predicate(spec):
            return spec, time.perf_counter() - started
        if spec is None and not scrolled and time.perf_counter() - started > 2:
            page.locator(f".st-key-channel_heatmap{LIVE}").first.scroll_into_view_if_needed()
            scrolled = True
        time.sleep(0.01)
    path = screenshot(page, "failed_heatmap")
    raise AssertionError(f"heatmap never matched; last: {spec and spec['title']}; see {path}")


def draw(page, shape: str) -> str:
    draw_polyline(page, shape_points(shape))
    try:
        return wait_for_prediction(page, "your drawing", shape)
    except AssertionError:
        screenshot(page, f"failed_draw_{shape}")
        raise


def choose(page, key: str, option: str) -> None:
    """Pick `option` in the selectbox with `key`."""
    page.locator(f".st-key-{key}").click()
    page.get_by_role("option", name=option).first.click()


def set_number(page, key: str, value: int, in_form: bool = False) -> None:
    """Type `value` into a number input; in a form, Tab away (Enter would submit the form)."""
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Tab" if in_form else "Enter")


# --- tests ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["triangles", "circles", "squares"])
def test_a_drawn_shape_is_recognised(open_page, shape):
    page = open_page()
    draw_polyline(page, shape_points(shape))
    started = time.perf_counter()
    text = wait_for_prediction(page, "your drawing", shape)
    latencies.setdefault("mouse_up_to_prediction", []).append(time.perf_counter() - started)
    assert shape in text and "confidence" in text
    page.locator(f".st-key-model_view{LIVE} .js-plotly-plot").last.wait_for()  # a rerun may briefly hold two
    screenshot(page, f"draw_{shape}")
    # Clear really clears: the prediction goes away, and a new drawing is predicted on its own
    page.locator(".st-key-clear_canvas button").click()
    wait_for_prediction(page, "draw or upload a shape first")


def test_upload_a_png(open_page):
    from PIL import Image, ImageDraw
    import io

    image = Image.new("RGB", (300, 300), "white")
    ImageDraw.Draw(image).polygon([(150, 30), (270, 260), (30, 260)], outline="black", width=14)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    page = open_page()
    page.get_by_role("tab", name="Upload").click()
    page.locator(".st-key-upload_file input[type=file]").set_input_files(
        files=[{"name": "triangle.png", "mimeType": "image/png", "buffer": buffer.getvalue()}]
    )
    text = wait_for_prediction(page, "triangle.png", "triangles")
    assert "confidence" in text
    screenshot(page, "upload_triangle")


def test_switching_layer_and_channel_changes_the_heatmap(open_page):
    page = open_page()
    draw(page, "triangles")
    first, _ = wait_for_heatmap(page, lambda s: "conv1_1" in s["title"])
    assert (first["rows"], first["cols"]) == (28, 28)

    for _ in range(3):  # warm, then measure a few layer switches
        choose(page, "explorer_layer", "conv2_1")
        spec, seconds = wait_for_heatmap(page, lambda s: "conv2_1" in s["title"])
        latencies.setdefault("layer_switch_after_click", []).append(seconds)
        choose(page, "explorer_layer", "conv1_2")
        wait_for_heatmap(page, lambda s: "conv1_2" in s["title"])
    choose(page, "explorer_layer", "conv2_1")
    spec, _ = wait_for_heatmap(page, lambda s: "conv2_1" in s["title"])
    assert (spec["rows"], spec["cols"]) == (13, 13)

    before = spec["values"]
    for channel in (5, 9, 17, 30):
        started = time.perf_counter()
        set_number(page, "explorer_channel_number", channel)
        spec, _ = wait_for_heatmap(page, lambda s, c=channel: f"channel {c}<" in s["title"] or f"channel {c} " in s["title"])
        latencies.setdefault("channel_change", []).append(time.perf_counter() - started)
    assert spec["values"] != before  # another channel, other values
    slider = page.locator(".st-key-explorer_channel_slider input[type=range]")
    wait_until(lambda: slider.get_attribute("value") == "30", "the slider follows the number input")

    # clicking a tile of the layer grid selects that channel
    page.locator(f".st-key-explorer_grid{LIVE}").scroll_into_view_if_needed()
    marker = page.locator(f".st-key-explorer_grid{LIVE} .scatterlayer .point").nth(12)
    box = marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    started = time.perf_counter()
    page.mouse.click(x, y)
    wait_for_heatmap(page, lambda s: "channel 12<" in s["title"] or "channel 12 " in s["title"])
    latencies.setdefault("grid_click", []).append(time.perf_counter() - started)
    number = page.locator(".st-key-explorer_channel_number input")
    wait_until(lambda: number.input_value() == "12", "the number input follows a click in the grid")

    # a vector layer is shown as bars
    choose(page, "explorer_layer", "dense")
    page.locator(f".st-key-vector_bars{LIVE} .js-plotly-plot").wait_for()
    screenshot(page, "explorer_dense")


def test_a_second_session_stays_responsive_while_the_first_retrains(open_page, server):
    trainer = open_page()
    sidebar = trainer.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("freshly generated").click()
    set_number(trainer, "train_per_class", 20, in_form=True)
    set_number(trainer, "train_epochs", 12, in_form=True)  # the stable recipe: >= 4096 samples an epoch
    trainer.locator(".st-key-train_start button").click()
    sidebar.get_by_text("Training started").wait_for()

    other = open_page()
    other_sidebar = other.locator("[data-testid=stSidebar]")
    other_sidebar.locator(".st-key-cancel_training").wait_for(timeout=20_000)  # it sees the running job
    other.locator(".st-key-train_start button").click()  # and cannot start a second one: it is told so
    other_sidebar.get_by_text("Another training is already running").wait_for(timeout=20_000)
    draw_polyline(other, shape_points("squares"))
    started = time.perf_counter()  # from mouse-up (moving the mouse itself is slow on a loaded machine)
    wait_for_prediction(other, "your drawing", "confidence")
    draw_seconds = time.perf_counter() - started
    wait_for_heatmap(other, lambda s: "conv1_1" in s["title"])
    started = time.perf_counter()
    set_number(other, "explorer_channel_number", 3)
    wait_for_heatmap(other, lambda s: "channel 3<" in s["title"] or "channel 3 " in s["title"])
    channel_seconds = time.perf_counter() - started
    latencies.setdefault("mouse_up_to_prediction_during_training", []).append(draw_seconds)
    latencies.setdefault("channel_change_during_training", []).append(channel_seconds)
    assert draw_seconds < 10 and channel_seconds < 10
    assert other_sidebar.locator(".st-key-cancel_training").is_visible()  # all of that while it trained

    # live progress: epoch k of 12 with the recipe, curves train vs validation after the first epoch
    trainer.bring_to_front()
    sidebar.get_by_text(re.compile(r"Epoch ([2-9]|1[0-2]) of 12")).wait_for(timeout=180_000)
    assert "stable recipe" in sidebar.inner_text()
    trainer.locator(f".st-key-live_curves{LIVE} .js-plotly-plot").wait_for()
    screenshot(trainer, "retrain_progress")
    screenshot(other, "second_session_during_training")

    # any session may cancel; the trainer stops within the epoch and the old model stays
    other_sidebar.locator(".st-key-cancel_training button").click()
    sidebar.get_by_text("Training cancelled").wait_for(timeout=60_000)
    other_sidebar.get_by_text("Training cancelled").wait_for(timeout=30_000)
    assert "3000 per class" in sidebar.inner_text()  # still the shipped model's history
    assert other.locator(".st-key-train_start button").is_enabled()
    screenshot(trainer, "retrain_cancelled")

"""The real app in Debian's Chromium through Playwright: what only a browser shows.

One `streamlit run app.py` server per module (tests/conftest.py's `app_server`, on a COPY of the shipped
model: retraining here never touches models/). Screenshots go to artifacts/screenshots/ (gitignored). No
speed is asserted: how fast the app answers is the benchmark's business (`python -m tools.bench`).
"""

from __future__ import annotations

import re

import pytest

from tests.helpers.browser import (
    browser_test_marks,
    choose_layer,
    clear,
    draw,
    screenshot,
    set_channel,
    shows_channel,
    upload,
    wait_for_heatmap,
    wait_for_prediction,
)
from tests.helpers.drawings import shape_png
from tests.helpers.waiting import eventually
from tools.harness import LIVE, set_number

pytestmark = browser_test_marks()


@pytest.mark.parametrize("shape", ["triangles", "circles", "squares"])
def test_a_drawn_shape_is_recognised(open_page, shape):
    page = open_page()
    draw(page, shape)
    text = wait_for_prediction(page, "your drawing", shape)
    assert shape in text and "confidence" in text
    page.locator(f".st-key-model_view{LIVE} .js-plotly-plot").last.wait_for()  # a rerun may briefly hold two
    screenshot(page, f"draw_{shape}")
    clear(page)  # Clear really clears: the prediction goes away


def test_upload_a_png(open_page):
    page = open_page()
    upload(page, "triangle.png", shape_png("triangles", size=300))
    text = wait_for_prediction(page, "triangle.png", "triangles")
    assert "confidence" in text
    screenshot(page, "upload_triangle")


def test_switching_layer_and_channel_changes_the_heatmap(open_page):
    page = open_page()
    draw(page, "triangles")
    wait_for_prediction(page, "your drawing", "triangles")
    first = wait_for_heatmap(page, lambda s: "conv1_1" in s["title"])
    assert (first["rows"], first["cols"]) == (28, 28)

    for _ in range(3):  # back and forth: every switch shows its own layer
        choose_layer(page, "conv2_1")
        wait_for_heatmap(page, lambda s: "conv2_1" in s["title"])
        choose_layer(page, "conv1_2")
        wait_for_heatmap(page, lambda s: "conv1_2" in s["title"])
    choose_layer(page, "conv2_1")
    spec = wait_for_heatmap(page, lambda s: "conv2_1" in s["title"])
    assert (spec["rows"], spec["cols"]) == (13, 13)

    before = spec["values"]
    for channel in (5, 9, 17, 30):
        set_channel(page, channel)
        spec = wait_for_heatmap(page, shows_channel(channel))
    assert spec["values"] != before  # another channel, other values
    slider = page.locator(".st-key-explorer_channel_slider input[type=range]")
    eventually(lambda: slider.get_attribute("value") == "30", 10, "the slider to follow the number input")

    # clicking a tile of the layer grid selects that channel
    page.locator(f".st-key-explorer_grid{LIVE}").scroll_into_view_if_needed()
    marker = page.locator(f".st-key-explorer_grid{LIVE} .scatterlayer .point").nth(12)
    box = marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    wait_for_heatmap(page, shows_channel(12))
    number = page.locator(".st-key-explorer_channel_number input")
    eventually(lambda: number.input_value() == "12", 10, "the number input to follow a click in the grid")

    # a vector layer is shown as bars
    choose_layer(page, "dense")
    page.locator(f".st-key-vector_bars{LIVE} .js-plotly-plot").wait_for()
    screenshot(page, "explorer_dense")


def test_a_second_session_stays_responsive_while_the_first_retrains(open_page):
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
    # Responsive: a drawing is predicted and a channel change is drawn while the job still runs (the order
    # is checked, not the speed: the benchmark measures how fast).
    draw(other, "squares")
    wait_for_prediction(other, "your drawing", "confidence")
    wait_for_heatmap(other, lambda s: "conv1_1" in s["title"])
    set_channel(other, 3)
    wait_for_heatmap(other, shows_channel(3))
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
    screenshot(trainer, "retrain_cancelled")


CELL_CENTRE_JS = """([row, column]) => {
    const d = document.querySelector('.st-key-channel_heatmap%s .js-plotly-plot');
    if (!d || !d._fullLayout || !d._fullLayout.xaxis) return null;
    const xa = d._fullLayout.xaxis, ya = d._fullLayout.yaxis, box = d.getBoundingClientRect();
    return {x: box.left + xa._offset + xa.l2p(column), y: box.top + ya._offset + ya.l2p(row)};
}""" % LIVE
BOX_JS = """() => {
    const d = document.querySelector('.st-key-cell_receptive_field%s .js-plotly-plot');
    const shapes = d && d.layout && d.layout.shapes;
    return shapes && shapes.length ? shapes[0] : null;
}""" % LIVE


def test_clicking_a_heatmap_cell_shows_its_receptive_field(open_page):
    """The click is a real mouse click on a cell of conv2_1's heatmap; the panel outlines that cell's box."""
    from shapes_viz.engine.numpy_engine import NumpyEngine
    from shapes_viz.explain.cells import receptive_box
    from tools.harness import PROJECT_ROOT

    page = open_page()
    upload(page, "square.png", shape_png("squares", size=200))
    wait_for_prediction(page, "square.png")
    choose_layer(page, "conv2_1")
    wait_for_heatmap(page, lambda s: "conv2_1" in s["title"] and s["rows"] == 13)
    row, column = 4, 7
    page.locator(f".st-key-channel_heatmap{LIVE}").first.scroll_into_view_if_needed()
    point = eventually(lambda: page.evaluate(CELL_CENTRE_JS, [row, column]), 10, what="the heatmap's axes")
    page.mouse.move(point["x"], point["y"])
    page.mouse.click(point["x"], point["y"])
    shape = eventually(lambda: page.evaluate(BOX_JS), 20, what="the receptive-field box")
    box = receptive_box(NumpyEngine.from_file(PROJECT_ROOT / "models" / "shapes_cnn.h5"), "conv2_1", row, column)
    assert (shape["y0"] + 0.5, shape["x0"] + 0.5, shape["y1"] - 0.5, shape["x1"] - 0.5) == (
        box.top, box.left, box.bottom, box.right)
    page.get_by_text(re.compile(r"How was -?[0-9.]+ computed\? \(conv2_1, row 4, column 7")).first.wait_for()
    screenshot(page, "cell_receptive_field")


def test_clicking_a_top_drawing_makes_it_the_input(open_page):
    """Channels view: a real click on the first of the channel's top drawings; the prediction names that file."""
    from shapes_viz.channels.scan import load_splits, scan_images
    from shapes_viz.engine.numpy_engine import NumpyEngine
    from tools.harness import PROJECT_ROOT

    page = open_page()
    upload(page, "circle.png", shape_png("circles", size=200))
    wait_for_prediction(page, "circle.png")
    page.get_by_role("tab", name="Channels").click()
    use = page.locator(f".st-key-channel_top_drawing_0{LIVE} button").first
    use.wait_for(timeout=60_000)
    scan = scan_images(NumpyEngine.from_file(PROJECT_ROOT / "models" / "shapes_cnn.h5"), load_splits(PROJECT_ROOT / "data"))
    best = scan.paths[int(scan.layer("conv1_1").top[0][0])]
    use.click()
    wait_for_prediction(page, best.rsplit("/", 1)[-1], timeout=60)
    screenshot(page, "channels_top_drawing_used")

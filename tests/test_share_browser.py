"""A shared link in real Chromium: a fresh page opened with a lesson's link shows the same prediction (within
1e-3) and the same view, and keeps the link in its address; a click on a dot of the Where? view loads that
drawing. Screenshots of the Compare (morph) and Where? views go to artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest

from shapes_viz.channels.scan import load_splits
from shapes_viz.compare import link, pca
from shapes_viz.config import CLASS_NAMES
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.preprocessing import preprocess
from tests.helpers.browser import browser_test_marks, screenshot, wait_for_app, wait_for_prediction
from tests.helpers.waiting import eventually
from tools.harness import LIVE, PROJECT_ROOT

pytestmark = browser_test_marks()

PROBABILITIES_JS = """() => {
    const d = document.querySelector('.st-key-probabilities%s .js-plotly-plot');
    return d && d._fullData && d._fullData.length ? Array.from(d._fullData[0].y) : null;
}""" % LIVE
DOT_JS = """(index) => {
    const d = document.querySelector('.st-key-where_scatter%s .js-plotly-plot');
    if (!d || !d._fullData) return null;
    for (const trace of d._fullData.slice(0, 3)) {
        const at = Array.from(trace.customdata || []).findIndex(c => Number(c[0] ?? c) === index);
        if (at < 0) continue;
        const xa = d._fullLayout.xaxis, ya = d._fullLayout.yaxis, box = d.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(trace.x[at]), box.top + ya._offset + ya.l2p(trace.y[at])];
    }
    return null;
}""" % LIVE


def test_a_lesson_link_opens_the_same_prediction_and_view_in_a_fresh_page(browser, app_server):
    files = sorted((PROJECT_ROOT / "data" / "test_set" / "circles").glob("*.png"))
    squares = sorted((PROJECT_ROOT / "data" / "test_set" / "squares").glob("*.png"))
    if not files or not squares:
        pytest.skip("needs data/test_set")
    a, x = preprocess(files[0]), preprocess(squares[0])
    params = link.encode(view="compare", layer="conv3_2", ch=0, a=a, x=x, t=10, lesson="morph")
    engine = NumpyEngine.from_file(app_server.model)
    expected = engine.run(link.decode_input(params["x"])).probabilities
    context = browser.new_context(viewport={"width": 1500, "height": 1300})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app_server.url + "?" + urlencode(params))
        wait_for_app(page)
        wait_for_prediction(page, "shared drawing", CLASS_NAMES[int(np.argmax(expected))])
        shown = eventually(lambda: page.evaluate(PROBABILITIES_JS), 30, what="the probability bars")
        np.testing.assert_allclose(np.array(shown, dtype=float), expected, atol=1e-3)
        tab = page.get_by_role("tab", name="Compare")
        eventually(lambda: tab.get_attribute("aria-selected") == "true" or None, 30, what="the Compare tab")
        page.locator(f".st-key-morph_curve{LIVE} .js-plotly-plot").first.wait_for(timeout=60_000)
        page.get_by_text("Lesson: A circle morphing into a square").first.wait_for()
        query = parse_qs(urlparse(page.url).query)
        assert query["view"] == ["compare"] and query["x"] == [params["x"]] and query["t"] == ["10"]
        screenshot(page, "compare_morph_lesson")

        page.get_by_role("tab", name="Where?").click()
        page.locator(f".st-key-where_scatter{LIVE} .js-plotly-plot").first.wait_for(timeout=60_000)
        eventually(lambda: "view=where" in page.url or None, 30, what="the URL to follow the tab")
        screenshot(page, "where_scatter")
        page.locator(f".st-key-where_scatter{LIVE}").first.scroll_into_view_if_needed()
        data = load_splits(PROJECT_ROOT / "data")
        points = pca.fit(engine.forward(data.images)[engine.layer_names.index("dense")]).points
        distances = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(len(points)) * 1e9
        index = int(np.argmax(distances.min(axis=1)))  # the most isolated dot: a click cannot hit another
        point = eventually(lambda: page.evaluate(DOT_JS, index), 30, what=f"dot {index}")
        page.mouse.click(point[0], point[1])
        wait_for_prediction(page, Path(data.paths[index]).name)
    finally:
        context.close()

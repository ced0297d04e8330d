"""Benchmark section "views": the explanation and channel views in Debian's Chromium through Playwright.

    Why?: method change and class change to the map redrawn (goal <= 300 ms, issue 10)
    Explorer: a click on a heatmap cell to the "How was this number computed?" panel (goal <= 200 ms)
    Channels: a knock-out switched on or off to the prediction updated (goal <= 150 ms, issue 11)
    Compare: the morph slider moved one step to the heatmap at that step drawn (goal <= 150 ms, issue 12), and a
    shared link (a circle pinned as A, a square as B, the Compare view) opened on a fresh page to its prediction

Each time runs from the input event (the page's own clock) to the first DOM change after which the view
shows the new state, like the browser section's explorer figures.
"""

from __future__ import annotations

import statistics
import time
import urllib.parse
from typing import Any

from tools import harness
from tools.bench.browser import _open_page, _scratch_model, _start_server
from tools.bench.report import Row

# Installed before the app loads: the time of the last input event, and a watcher for "the text of the
# element `selector` (not a stale one) contains `needle`" (or no longer does, with present=false).
VIEWS_PROBE = """
(() => {
  const sv = window.__svv = {lastInput: 0};
  const mark = () => { sv.lastInput = performance.now(); };
  for (const type of ['pointerdown', 'pointerup', 'keydown']) window.addEventListener(type, mark, true);
  sv.text = (selector) => {
    const el = document.querySelector(selector + ':not([data-stale="true"])');
    return el ? el.textContent : null;
  };
  sv.holds = (spec) => {
    const t = sv.text(spec.selector) || '';
    return spec.present ? t.includes(spec.needle) : !t.includes(spec.needle);
  };
  sv.arm = (spec, timeoutMs) => {
    sv.pending = new Promise((resolve) => {
      let timer = null;
      const observer = new MutationObserver(() => { if (sv.holds(spec)) finish(true); });
      const finish = (ok) => { observer.disconnect(); clearTimeout(timer);
                               resolve({ok, done: performance.now(), input: sv.lastInput}); };
      observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
      timer = setTimeout(() => finish(false), timeoutMs);
    });
    return sv.holds(spec);
  };
})();
"""
CELL_CENTRE = """([row, column]) => {
    const d = document.querySelector('.st-key-channel_heatmap:not([data-stale="true"]) .js-plotly-plot');
    if (!d || !d._fullLayout || !d._fullLayout.xaxis) return null;
    const xa = d._fullLayout.xaxis, ya = d._fullLayout.yaxis, box = d.getBoundingClientRect();
    return {x: box.left + xa._offset + xa.l2p(column), y: box.top + ya._offset + ya.l2p(row)};
}"""
METHOD_LABELS = ("Saliency (|gradient|)", "LayerCAM", "Grad-CAM")


def _timed(page: Any, selector: str, needle: str, action, present: bool = True, timeout_ms: int = 30_000) -> float:
    """Milliseconds from the input event of `action` to the DOM change after which the text condition holds."""
    spec = {"selector": selector, "needle": needle, "present": present}
    if page.evaluate("([spec, t]) => window.__svv.arm(spec, t)", [spec, timeout_ms]):
        raise RuntimeError(f"{spec} holds before the action")
    action()
    result = page.evaluate("() => window.__svv.pending")
    if not result["ok"]:
        raise TimeoutError(f"timed out waiting for {spec}")
    return float(result["done"] - result["input"])


def _tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).first.click()


def bench_views(quick: bool) -> list[Row]:
    """Why? method and class changes, a heatmap cell click, a knock-out: each to the view updated, medians."""
    reason = harness.chromium_missing()
    if reason:
        return [("views section skipped", reason, "", "", "")]
    repeats = 2 if quick else 8
    method_ms: list[float] = []
    class_ms: list[float] = []
    cell_ms: list[float] = []
    knockout_ms: list[float] = []
    morph_ms: list[float] = []
    link_s: list[float] = []
    with _scratch_model() as (model, folder), harness.chromium() as browser:
        server = _start_server(model, folder / "server.log")
        try:
            server.wait_healthy()
            context, page = _open_page(browser)
            context.add_init_script(VIEWS_PROBE)
            page.goto(server.url)
            box = harness.canvas_box(page)
            harness.stroke(page, harness.shape_points("squares"), steps=3, box=box)
            page.wait_for_function("() => { const t = window.__svv.text('.st-key-predicted_class');"
                                   " return !!t && t.includes('confidence') && !t.includes('(live)'); }",
                                   polling=20, timeout=60_000)
            _why(page, repeats, method_ms, class_ms)
            _cells(page, repeats, cell_ms)
            _knockouts(page, repeats, knockout_ms)
            context.close()
            _morph(browser, server.url, repeats, morph_ms, link_s)
        finally:
            server.stop()
    median = lambda values: f"{statistics.median(values):.0f}" if values else "none"  # noqa: E731
    return [
        ("Why?: method change to the map redrawn, median (ms)", median(method_ms), "", "", "<= 300 ms"),
        ("Why?: class change to the map redrawn, median (ms)", median(class_ms), "", "", "<= 300 ms"),
        ("heatmap cell click to its 'how was it computed' panel, median (ms)", median(cell_ms), "", "", "<= 200 ms"),
        ("knock-out switched to the prediction updated, median (ms)", median(knockout_ms), "", "", "<= 150 ms"),
        ("Compare: morph slider step to the heatmap at that step, median (ms)", median(morph_ms), "", "", "<= 150 ms"),
        ("shared link opened in a new page to its prediction visible (s)", f"{link_s[0]:.2f}" if link_s else "none",
         "", "a warm server", ""),
    ]


def _why(page: Any, repeats: int, method_ms: list[float], class_ms: list[float]) -> None:
    _tab(page, "Why?")
    title = ".st-key-why_map .gtitle"
    page.wait_for_function(f"() => !!window.__svv.text('{title}')", polling=20, timeout=60_000)
    for i in range(repeats + 1):
        label = METHOD_LABELS[i % len(METHOD_LABELS)]
        ms = _timed(page, title, f"{label} for", lambda label=label: harness.choose_option(page, "why_method", label))
        if i:  # the first change warms the page up
            method_ms.append(ms)
    for i in range(repeats + 1):
        name = ("circles", "triangles")[i % 2]
        ms = _timed(page, title, f"for {name}",
                    lambda name=name: page.locator(".st-key-why_target label").filter(has_text=name).first.click())
        if i:
            class_ms.append(ms)


def _cells(page: Any, repeats: int, cell_ms: list[float]) -> None:
    _tab(page, "Explorer")
    harness.choose_option(page, "explorer_layer", "conv2_1")
    page.wait_for_function("() => (window.__svv.text('.st-key-channel_heatmap .gtitle') || '').startsWith('conv2_1')",
                           polling=20, timeout=60_000)
    page.locator(".st-key-channel_heatmap").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    for i in range(repeats + 1):
        row, column = 2 + i % 9, 3 + (2 * i) % 9
        point = page.evaluate(CELL_CENTRE, [row, column])
        ms = _timed(page, "[data-testid='stMain']", f"row {row}, column {column}, channel",
                    lambda point=point: page.mouse.click(point["x"], point["y"]))
        if i:
            cell_ms.append(ms)


def _knockouts(page: Any, repeats: int, knockout_ms: list[float]) -> None:
    _tab(page, "Channels")
    button = page.locator(".st-key-knockout_toggle button").first
    button.wait_for(timeout=60_000)
    for i in range(repeats + 1):
        switching_off = i % 2 == 0
        ms = _timed(page, ".st-key-prediction", "switched off", lambda: button.click(), present=switching_off)
        if i > 1:  # the first switch off and on compute the two accuracies once
            knockout_ms.append(ms)


def _morph(browser: Any, url: str, repeats: int, morph_ms: list[float], link_s: list[float]) -> None:
    """A shared link of the Compare view (a circle as A, a square as B) in a new page, then the morph slider."""
    from shapes_viz.compare import link
    from shapes_viz.config import PROJECT_ROOT
    from shapes_viz.preprocessing import preprocess

    first = {name: sorted((PROJECT_ROOT / "data" / "test_set" / name).glob("*.png"))[0] for name in ("circles", "squares")}
    query = link.encode(view="compare", layer="conv2_1", ch=0, a=preprocess(first["circles"]),
                        x=preprocess(first["squares"]))
    context, page = _open_page(browser)
    context.add_init_script(VIEWS_PROBE)
    started = time.perf_counter()
    page.goto(f"{url}/?{urllib.parse.urlencode(query)}")
    page.wait_for_function("() => (window.__svv.text('.st-key-predicted_class') || '').includes('confidence')",
                           polling=20, timeout=60_000)
    link_s.append(time.perf_counter() - started)
    page.locator(".st-key-morph_heatmap .js-plotly-plot").first.wait_for(timeout=60_000)
    slider = page.locator('.st-key-morph_step:not([data-stale="true"]) input[type=range], '
                          '.st-key-morph_step:not([data-stale="true"]) [role="slider"]').first
    slider.focus()
    page.wait_for_timeout(500)
    for i in range(repeats + 1):
        step = i + 1
        ms = _timed(page, ".st-key-morph_heatmap .gtitle", f"at step {step}", lambda: page.keyboard.press("ArrowRight"))
        if i:  # the first move warms the page up
            morph_ms.append(ms)
    context.close()

"""Benchmark sections "browser" and "memory": the real app in Debian's Chromium through Playwright."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from shapes_viz.config import PROJECT_ROOT, settings
from tools import harness
from tools.bench.report import Row

VIEWPORT = {"width": 1500, "height": 1800}  # tall enough that the explorer is on screen without scrolling
STROKE_TIMEOUT_MS = 10_000

# Installed in every page before the app loads: the time of the last input event, and watchers that
# note (with the page's own clock) the first DOM change after which a condition holds.
PAGE_PROBE = """
(() => {
  const sv = window.__sv = {lastInput: 0, seen: []};
  const mark = () => { sv.lastInput = performance.now(); };
  for (const type of ['pointerdown', 'pointerup', 'keydown']) window.addEventListener(type, mark, true);
  sv.text = (selector) => {  // textContent: reading innerText would force a layout on every DOM change
    const el = document.querySelector(selector + ':not([data-stale="true"])');
    return el ? el.textContent : null;
  };
  sv.title = () => {
    const el = document.querySelector('.st-key-channel_heatmap:not([data-stale="true"]) .gtitle');
    return el ? el.textContent : null;
  };
  sv.holds = (spec) => {
    if (spec.kind === 'final') {
      const t = sv.text('.st-key-predicted_class');
      return !!t && t.includes('confidence') && !t.includes('(live)');
    }
    if (spec.kind === 'heatmap') {
      const t = sv.title();
      return t !== null && (t === spec.title || t.startsWith(spec.title + ' '));
    }
    throw new Error('unknown condition ' + spec.kind);
  };
  const options = {subtree: true, childList: true, characterData: true, attributes: true};
  sv.arm = (spec, timeoutMs) => {
    sv.pending = new Promise((resolve) => {
      let timer = null;
      const observer = new MutationObserver(() => { if (sv.holds(spec)) finish(true); });
      const finish = (ok) => {
        observer.disconnect(); clearTimeout(timer);
        resolve({ok, done: performance.now(), input: sv.lastInput});
      };
      observer.observe(document.body, options);
      timer = setTimeout(() => finish(false), timeoutMs);
    });
    return sv.holds(spec);
  };
  // One entry per update the page shows: the selected heatmap drawn afresh (Streamlit mounts a new Plotly
  // chart whenever the figure changes; it comes after the prediction's text in each update), with the
  // prediction's text at that moment. Counting texts alone would miss updates whose text stays the same.
  sv.moves = 0;  // pointer moves the page received (the pen's input rate)
  window.addEventListener('pointermove', () => { sv.moves += 1; }, true);
  sv.record = () => {
    sv.seen = []; sv.moves = 0; let lastPlot = null;
    sv.recorder = new MutationObserver(() => {
      const plot = document.querySelector('.st-key-channel_heatmap:not([data-stale="true"]) .js-plotly-plot');
      if (plot && plot !== lastPlot) {
        lastPlot = plot;
        sv.seen.push([performance.now(), sv.text('.st-key-predicted_class') || '']);
      }
    });
    sv.recorder.observe(document.body, options);
  };
  sv.stop = () => { if (sv.recorder) sv.recorder.disconnect(); return {seen: sv.seen, moves: sv.moves}; };
})();
"""



@contextlib.contextmanager
def _scratch_model() -> Iterator[tuple[Path, Path]]:
    """A temp folder with a copy of the shipped model (the app never writes to models/ here)."""
    source = settings().model_path
    if not source.exists():
        raise RuntimeError(f"the browser sections need a trained model at {source}")
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        folder = Path(scratch)
        yield harness.copy_model(source, folder), folder


def _start_server(model: Path, log: Path) -> harness.AppServer:
    """The app on a copy of the model and the project's data folder."""
    return harness.AppServer({"SHAPES_VIZ_MODEL": str(model), "SHAPES_VIZ_DATA": str(PROJECT_ROOT / "data")}, log)


def _server_rss_mb(server: harness.AppServer) -> float:
    """Resident memory of the server process (and any children), in MB."""
    total = 0
    pids = [server.process.pid]
    with contextlib.suppress(ImportError):
        import psutil

        pids += [child.pid for child in psutil.Process(server.process.pid).children(recursive=True)]
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total / 1e6


# The server path as before issue 14: without IndexedDB the canvas does not run the network itself and reports
# the drawing while the pen moves (the rows measured on it keep their meaning).
SERVER_PATH = "Object.defineProperty(window, 'indexedDB', {get() { return undefined; }});"


def _open_page(browser: Any, url: str | None = None, server_path: bool = False) -> tuple[Any, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    if server_path:
        context.add_init_script(SERVER_PATH)
    context.add_init_script(PAGE_PROBE)
    page = context.new_page()
    page.set_default_timeout(60_000)
    if url:
        page.goto(url)
    return context, page


QUICK_STROKE = [(0.3, 0.3), (0.5, 0.7), (0.7, 0.3)]
# The live-updates stroke: a circle drawn as a real mouse reports it, a move every ~16 ms (about 60 Hz). A
# coarser stroke measured Playwright's move rate instead: with fewer moves a second than the canvas may send
# reports (one every 50 ms), every move was one report and the updates could not outpace the moves.
LIVE_STROKE = harness.circle_points(121)
LIVE_STROKE_PAUSE_S = 0.012  # plus the time Playwright takes per move
# Playwright's mouse cannot move faster than about 30 times a second here (each move is a round trip to the
# browser). A 60 Hz mouse is then emulated in the page: the pen goes down with Playwright's mouse, and the
# moves of the same stroke are pointer events dispatched on the canvas every 16 ms by the page's own timer.
PEN_60HZ_MS = 16
PEN_60HZ_JS = """async (canvas, [points, interval]) => {
  const rect = canvas.getBoundingClientRect(), before = canvas.__shapesViz.updates, started = performance.now();
  for (const [fx, fy] of points) {
    canvas.dispatchEvent(new PointerEvent('pointermove', {pointerId: 1, pointerType: 'mouse', isPrimary: true,
      buttons: 1, clientX: rect.left + fx * rect.width, clientY: rect.top + fy * rect.height, bubbles: true,
      composed: true, cancelable: true}));
    await new Promise(resolve => setTimeout(resolve, interval));
  }
  return {updates: canvas.__shapesViz.updates - before, moves: points.length,
          seconds: (performance.now() - started) / 1000};
}"""


def _clear(page: Any) -> None:
    page.locator(".st-key-clear_canvas button").click()
    page.wait_for_function(
        "() => { const t = window.__sv.text('.st-key-predicted_class');"
        " return !!t && t.toLowerCase().includes('draw or upload'); }", polling=20,
    )
    page.wait_for_timeout(500)  # the fresh canvas mounts


def _measured(page: Any, spec: dict[str, str], action: Callable[[], None], timeout_ms: int = 30_000) -> float:
    """Milliseconds from the input event of `action` to the DOM change after which `spec` holds."""
    if page.evaluate("([spec, t]) => window.__sv.arm(spec, t)", [spec, timeout_ms]):
        raise RuntimeError(f"{spec} already holds before the action")
    action()
    result = page.evaluate("() => window.__sv.pending")
    if not result["ok"]:
        raise TimeoutError(f"timed out waiting for {spec}")
    return float(result["done"] - result["input"])


def _ensure_prediction(page: Any, box: dict[str, float], attempts: int = 3) -> None:
    """Wait for a prediction of a finished stroke; draw a triangle again if a stroke got lost."""
    for _ in range(attempts):
        try:
            page.wait_for_function("() => window.__sv.holds({kind: 'final'})", polling=20,
                                   timeout=STROKE_TIMEOUT_MS)
            return
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: the stroke never arrived
            harness.stroke(page, harness.shape_points("triangles"), steps=3, box=box)
    raise TimeoutError("no prediction after three strokes")


def bench_browser(quick: bool) -> list[Row]:
    """The app in Chromium: cold start to first prediction, stroke end, live updates, explorer changes."""
    reason = harness.chromium_missing()
    if reason:
        return [("browser section skipped", reason, "", "", "")]
    starts = 1 if quick else 3
    repeats = 2 if quick else 8
    cold: list[float] = []
    stroke_ms: list[float] = []
    missed: list[int] = []
    rates: list[float] = []
    move_rates: list[float] = []
    explorer_ms: dict[str, list[float]] = {"layer": [], "channel": []}
    weights_ms: list[float] = []
    engine: dict[str, list[float]] = {"compute": [], "latency": [], "rate": [], "moves": [], "rate60": [], "moves60": []}
    with _scratch_model() as (model, folder), harness.chromium() as browser:
        for attempt in range(starts):
            server = _start_server(model, folder / "server.log")
            try:
                context, page = _open_page(browser)
                server.wait_healthy()
                page.goto(server.url)
                box = harness.canvas_box(page)
                harness.stroke(page, QUICK_STROKE, box=box)  # as soon as the canvas shows: one short stroke
                page.wait_for_function(
                    "() => { const t = window.__sv.text('.st-key-predicted_class');"
                    " return !!t && t.includes('confidence'); }", polling="raf", timeout=120_000,
                )
                cold.append(time.perf_counter() - server.started)
                if attempt == starts - 1:
                    weights_ms.append(_weights_ready_ms(page))
                    page.goto(server.url)  # the same browser profile: the weights come from IndexedDB
                    weights_ms.append(_weights_ready_ms(page))
                    _browser_engine_measures(page, harness.canvas_box(page), repeats, engine)
                    context.close()
                    context, page = _open_page(browser, server.url, server_path=True)
                    box = harness.canvas_box(page)
                    _warm_measures(page, box, repeats, stroke_ms, missed, rates, move_rates, explorer_ms)
                context.close()
            finally:
                server.stop()
    both = explorer_ms["layer"] + explorer_ms["channel"]
    harley = "36 ms (Harley 2015, every layer, in the browser)"
    return [
        ("`streamlit run` to first prediction visible, cold (s)", f"{statistics.median(cold):.2f}",
         "", "", "<= 4 s"),
        ("end of a stroke to the prediction of the whole stroke, median (ms)",
         f"{statistics.median(stroke_ms):.0f}" if stroke_ms else "none",
         harley, f"{len(missed)} of {repeats} strokes had none within {STROKE_TIMEOUT_MS / 1000:.0f} s" if missed else "",
         "<= 150 ms"),
        ("prediction + selected heatmap updates per second while the pen moves", f"{statistics.median(rates):.1f}", "",
         f"pen moves received: {statistics.median(move_rates):.0f}/s",
         ">= 10"),
        ("layer or channel change to updated heatmap, median (ms)", f"{statistics.median(both):.0f}",
         harley, "", "<= 100 ms"),
        ("  layer change (ms)", f"{statistics.median(explorer_ms['layer']):.0f}", "", "", ""),
        ("  channel change (ms)", f"{statistics.median(explorer_ms['channel']):.0f}", "", "", ""),
        *_browser_engine_rows(engine, weights_ms, harley),
    ]


def _weights_ready_ms(page: Any) -> float:
    """Milliseconds from the page's navigation to the model's weights in the canvas' memory (page clock)."""
    page.wait_for_function("() => window.shapesViz && window.shapesViz.page.nets.size > 0", polling=20,
                           timeout=60_000)
    return float(page.evaluate("() => performance.now()"))


def _browser_engine_measures(page: Any, box: dict[str, float], repeats: int, engine: dict[str, list[float]]) -> None:
    """Strokes at a real mouse's rate with the network in the browser: the canvas' own timings (page clock)."""
    canvas = page.locator(harness.CANVAS).first
    page.wait_for_function("() => window.shapesViz && window.shapesViz.page.nets.size > 0", timeout=60_000)
    for _ in range(max(1, repeats // 2)):
        _clear(page)
        canvas = page.locator(harness.CANVAS).first
        down_at = page.evaluate("() => performance.now()")
        harness.stroke(page, LIVE_STROKE, pause_s=LIVE_STROKE_PAUSE_S, lift=False, box=box)
        up_at = page.evaluate("() => performance.now()")
        seen = canvas.evaluate("c => ({n: c.__shapesViz.updates, t: c.__shapesViz.timings})")
        moves = page.evaluate("() => window.__sv.moves")
        page.mouse.up()
        seconds = (up_at - down_at) / 1000.0
        engine["rate"].append(seen["n"] / seconds)
        engine["moves"].append(moves / seconds)
        engine["compute"] += [t["compute"] for t in seen["t"]]
        engine["latency"] += [t["latency"] for t in seen["t"] if t["latency"] is not None]
        page.evaluate("() => { window.__sv.moves = 0; }")
        # The same stroke at 60 moves a second (see PEN_60HZ_JS).
        _clear(page)
        canvas = page.locator(harness.CANVAS).first
        page.mouse.move(box["x"] + LIVE_STROKE[0][0] * box["width"], box["y"] + LIVE_STROKE[0][1] * box["height"])
        page.mouse.down()
        fast = canvas.evaluate(PEN_60HZ_JS, [[list(p) for p in LIVE_STROKE[1:]], PEN_60HZ_MS])
        page.mouse.up()
        engine["rate60"].append(fast["updates"] / fast["seconds"])
        engine["moves60"].append(fast["moves"] / fast["seconds"])


def _browser_engine_rows(engine: dict[str, list[float]], weights_ms: list[float], harley: str) -> list[Row]:
    def median(values: list[float], digits: int = 1) -> str:
        return f"{statistics.median(values):.{digits}f}" if values else "none"

    return [
        ("in the browser (issue 14): compute per update, median (ms)", median(engine["compute"]), "",
         "preprocess + 17 layers + panel, one core of Chromium", "<= 10 ms"),
        ("in the browser: pen move to prediction and heatmap on screen, median (ms)", median(engine["latency"]),
         harley, "waits for the next animation frame (<= 16.7 ms), then computes", "<= 25 ms"),
        ("in the browser: updates per second while the pen moves, Playwright's mouse", median(engine["rate"]), "",
         f"pen moves received: {median(engine['moves'], 0)}/s (the bound: one update per frame with a move)", ""),
        ("in the browser: updates per second, a 60 Hz mouse (moves dispatched in the page every 16 ms)",
         median(engine["rate60"]), "", f"pen moves received: {median(engine['moves60'], 0)}/s", ">= 40"),
        ("in the browser: model weights ready after navigation, first visit / cached (ms)",
         " / ".join(f"{v:.0f}" for v in weights_ms) or "none", "", "929 kB once per model version, IndexedDB after",
         "never blocks the page"),
    ]


def _warm_measures(page: Any, box: dict[str, float], repeats: int, stroke_ms: list[float], missed: list[int],
                   rates: list[float], move_rates: list[float], explorer_ms: dict[str, list[float]]) -> None:
    shapes = list(harness.SHAPE_OUTLINES)
    # Stroke end: a fresh canvas each time; the whole shape drawn in one stroke, then mouse up.
    for i in range(repeats):
        _clear(page)
        harness.stroke(page, harness.shape_points(shapes[i % 3]), steps=3, lift=False, box=box)
        try:
            stroke_ms.append(_measured(page, {"kind": "final"}, page.mouse.up, timeout_ms=STROKE_TIMEOUT_MS))
        except TimeoutError:
            missed.append(i)
    # Live updates: one stroke at a real mouse's rate (LIVE_STROKE), every prediction shown while the pen is down.
    for i in range(max(1, repeats // 4)):
        _clear(page)
        page.evaluate("() => window.__sv.record()")
        down_at = page.evaluate("() => performance.now()")
        harness.stroke(page, LIVE_STROKE, pause_s=LIVE_STROKE_PAUSE_S, lift=False, box=box)
        up_at = page.evaluate("() => performance.now()")
        page.mouse.up()
        recorded = page.evaluate("() => window.__sv.stop()")
        during = [t for at, t in recorded["seen"] if down_at <= at <= up_at and "confidence" in t]
        seconds = (up_at - down_at) / 1000.0
        rates.append(len(during) / seconds)
        move_rates.append(recorded["moves"] / seconds)
    # Explorer: the drawing stays; alternate two layers, then walk through channels.
    _ensure_prediction(page, box)
    page.wait_for_function("() => window.__sv.title() !== null", polling=20)
    page.wait_for_timeout(300)
    for i in range(repeats + 1):
        layer = ("conv2_1", "conv1_2")[i % 2]
        channel = int(page.locator(".st-key-explorer_channel_number input").input_value())
        ms = _measured(page, {"kind": "heatmap", "title": f"{layer} · channel {channel}"},
                       lambda layer=layer: harness.choose_option(page, "explorer_layer", layer))
        if i:  # the first switch warms the page up
            explorer_ms["layer"].append(ms)
    layer = ("conv2_1", "conv1_2")[repeats % 2]
    for i in range(repeats + 1):
        channel = 3 + 2 * i
        ms = _measured(page, {"kind": "heatmap", "title": f"{layer} · channel {channel}"},
                       lambda channel=channel: harness.set_number(page, "explorer_channel_number", channel))
        if i:
            explorer_ms["channel"].append(ms)


def bench_memory(quick: bool) -> list[Row]:
    """Server RSS with 1 session and with 10 (2 with --quick), each having drawn a shape."""
    reason = harness.chromium_missing()
    if reason:
        return [("memory section skipped", reason, "", "", "")]
    sessions = 2 if quick else 10
    with _scratch_model() as (model, folder), harness.chromium() as browser:
        server = _start_server(model, folder / "server.log")
        contexts = []
        try:
            server.wait_healthy()
            rss: dict[int, float] = {}
            for n in range(1, sessions + 1):
                context, page = _open_page(browser, server.url)
                contexts.append(context)
                box = harness.canvas_box(page)
                harness.stroke(page, harness.shape_points(list(harness.SHAPE_OUTLINES)[n % 3]), steps=3, box=box)
                _ensure_prediction(page, box)
                page.wait_for_function("() => window.__sv.title() !== null", polling=50, timeout=60_000)
                if n in (1, sessions):
                    time.sleep(1.0)
                    rss[n] = _server_rss_mb(server)
        finally:
            for context in contexts:
                context.close()
            server.stop()
    per_session = (rss[sessions] - rss[1]) / max(sessions - 1, 1)
    return [
        ("server memory, 1 session (MB)", f"{rss[1]:.0f}", "", "", "<= 800 MB"),
        (f"server memory, {sessions} sessions (MB)", f"{rss[sessions]:.0f}", "", "", ""),
        ("  per extra session (MB)", f"{per_session:.1f}", "", "", "<= 15 MB"),
    ]

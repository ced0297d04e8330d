"""Benchmarks: `python -m shapes_viz.bench [--quick] [--out FILE] [--sections ...]`.

Every figure is a median over repeats, and every comparison a ratio measured in the same run on the
same machine (no timed assertions anywhere: tests only check that this runs, with --quick).

Sections:
    engine    prediction + all activations for one input: ActivationEngine against the tutorial's
              way (model.predict plus the activation model's predict).
    training  a retrain on 210 images (70 a class) and test on 90: the default recipe and pipeline
              against the tutorial's (image_dataset_from_directory decoding files every epoch,
              RMSprop, batch 16), with the test accuracy each reached; and the default recipe cut to
              the tutorial's number of samples.
    browser   the real app (`streamlit run app.py`) in Debian's Chromium through Playwright:
              `streamlit run` to first prediction visible, end of a stroke to the prediction of the
              whole stroke, prediction updates per second while the pen moves, and a layer or channel
              change to the updated heatmap. Browser-side times come from the page's own clock
              (`performance.now()` of the input event and of the DOM change), so Playwright's
              round trips are not counted.
    memory    the server's resident memory with 1 browser session and with 10 (each drew a shape).

The full run writes the table into docs/benchmarks.md between the `bench:table` markers (the notes
around it, such as the before/after record, stay as they are).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from shapes_viz.config import CLASS_NAMES, PROJECT_ROOT, RECIPES, settings  # noqa: E402

Row = tuple[str, str, str, str, str]  # (measure, shapes_viz, reference, ratio, goal)
HEADER = ("measure", "shapes_viz", "reference (tutorial's way)", "ratio", "goal")
TABLE_START = "<!-- bench:table:start -->"
TABLE_END = "<!-- bench:table:end -->"


def median_ms(function: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of `function` in milliseconds over `repeats` calls, after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        versions = ", ".join(
            f"{name} {version(dist)}"
            for name, dist in (("TensorFlow", "tensorflow-cpu"), ("Streamlit", "streamlit"), ("Plotly", "plotly"))
        )
    except Exception:  # noqa: BLE001 - a missing distribution only shortens the description
        versions = ""
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {versions}, "
        f"{platform.system()} {platform.release()}"
    ).replace(", ,", ",")


# --- engine ----------------------------------------------------------------------------------------------


def bench_engine(quick: bool) -> list[Row]:
    """Latency of one input's probabilities + every layer's output."""
    import keras

    from shapes_viz.activations import ActivationEngine
    from shapes_viz.model import build_model, load_model
    from shapes_viz.preprocessing import preprocess

    path = settings().model_path
    model = load_model(path) if path.exists() else build_model(seed=0)
    rng = np.random.default_rng(0)
    drawing = (rng.random((280, 280)) > 0.995).astype(np.uint8) * 255
    drawing[60:220, 60:64] = 255
    x = preprocess(255 - drawing)
    repeats = 20 if quick else 200
    engine = ActivationEngine(model)
    ours = median_ms(lambda: engine.run(x), repeats)
    activation_model = keras.Model(inputs=model.inputs[0], outputs=[layer.output for layer in model.layers])

    def tutorial_way():
        model.predict(x, verbose=0)
        activation_model.predict(x, verbose=0)

    theirs = median_ms(tutorial_way, max(5, repeats // 10))
    plain = ActivationEngine(model, jit_compile=False)
    no_xla = median_ms(lambda: plain.run(x), repeats)
    rows = [
        ("prediction + all 16 layer outputs + channel stats, 1 input (ms)", f"{ours:.2f}", f"{theirs:.1f}",
         f"{theirs / ours:.0f}x faster", "<= 2 ms, >= 30x"),
        ("  same engine without XLA (ms)", f"{no_xla:.2f}", f"{theirs:.1f}", f"{theirs / no_xla:.0f}x faster", ""),
    ]
    if path.exists() and path.suffix == ".h5":
        from shapes_viz.numpy_engine import NumpyEngine

        start = time.perf_counter()
        numpy_engine = NumpyEngine.from_file(path)
        load_ms = (time.perf_counter() - start) * 1000
        dashboard = median_ms(lambda: numpy_engine.run(x), repeats)
        rows += [
            ("  numpy engine, the dashboard's (no TensorFlow) (ms)", f"{dashboard:.2f}", f"{theirs:.1f}",
             f"{theirs / dashboard:.0f}x faster", "<= 2 ms, >= 30x"),
            ("  numpy engine: read the model file, ready to run (ms)", f"{load_ms:.0f}", "", "", ""),
        ]
    return rows


# --- training --------------------------------------------------------------------------------------------


def bench_training(quick: bool, seed: int = 0) -> list[Row]:
    """Retrain on 210 generated drawings (test on 90): default recipe vs the tutorial's way."""
    import keras

    from shapes_viz.evaluation import evaluate
    from shapes_viz.generator import generate_dataset
    from shapes_viz.training import train

    epochs = 2 if quick else 30
    default = RECIPES["stable"]
    # The tutorial sees each of the 210 images once an epoch; the default recipe at least
    # `min_samples_per_epoch` augmented samples. Same number of samples: that many fewer epochs.
    equal_epochs = max(1, round(epochs * 210 / max(default.min_samples_per_epoch, 210)))
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        data = Path(scratch) / "data"
        generate_dataset(data, per_class=100, seed=1000 + seed)

        def ours(n_epochs: int, name: str) -> tuple[float, float]:
            start = time.perf_counter()
            result = train(data, Path(scratch) / f"{name}.h5", epochs=n_epochs, seed=seed)
            seconds = time.perf_counter() - start
            model = keras.saving.load_model(result.model_path, compile=False)
            return seconds, evaluate(model, data / "test_set").accuracy

        ours_s, ours_acc = ours(epochs, "ours")
        start = time.perf_counter()
        theirs_acc = _tutorial_training(data, epochs, seed)
        theirs_s = time.perf_counter() - start
        equal_s, equal_acc = ours(equal_epochs, "equal")
    samples = max(default.min_samples_per_epoch, 210)
    return [
        (f"retrain {epochs} epochs on 210 images, wall time (s)", f"{ours_s:.1f}", f"{theirs_s:.1f}",
         f"{theirs_s / ours_s:.2f}x", ">= 2x faster"),
        (f"  samples seen ({samples} vs 210 an epoch)", f"{epochs * samples:,}", f"{epochs * 210:,}",
         f"{samples / 210:.1f}x more", ""),
        ("  test accuracy reached (90 images)", f"{ours_acc:.3f}", f"{theirs_acc:.3f}", "", ">= tutorial's"),
        (f"default recipe, {equal_epochs} epochs = the tutorial's {epochs * 210:,} samples (s)",
         f"{equal_s:.1f}", f"{theirs_s:.1f}", f"{theirs_s / equal_s:.2f}x", ""),
        ("  its test accuracy (90 images)", f"{equal_acc:.3f}", f"{theirs_acc:.3f}", "", ""),
    ]


def _tutorial_training(data: Path, epochs: int, seed: int) -> float:
    """The tutorial's recipe as written: files decoded every epoch, RMSprop, batch 16, best val_accuracy."""
    import keras

    from shapes_viz.model import build_model

    keras.utils.set_random_seed(seed)

    def folder(name: str, shuffle: bool):
        ds = keras.utils.image_dataset_from_directory(
            data / name, labels="inferred", label_mode="categorical", class_names=list(CLASS_NAMES),
            image_size=(28, 28), batch_size=16, shuffle=shuffle, seed=seed, verbose=False,
        )
        return ds.map(lambda x, y: (x / 255.0, y))

    model = build_model()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(folder("training_set", True), validation_data=folder("test_set", False),
                        epochs=epochs, verbose=0, shuffle=False)  # the dataset shuffles itself
    return float(max(history.history["val_accuracy"]))


# --- the real app in a browser ---------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
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


def browser_available() -> str | None:
    """None when the browser sections can run, else why not."""
    if not CHROMIUM.exists():
        return f"needs {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright package (pip install playwright)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` on a free port, on a copy of the model; `started` is its perf_counter start."""

    def __init__(self, model: Path, log: Path, script: str = "app.py"):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SHAPES_VIZ_MODEL": str(model), "SHAPES_VIZ_DATA": str(PROJECT_ROOT / "data"),
               "PYTHONUNBUFFERED": "1"}
        self._log = open(log, "ab")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited early (code {self.process.returncode})")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {self.url}")
            time.sleep(0.02)

    def rss_mb(self) -> float:
        """Resident memory of the server process (and any children), in MB."""
        total = 0
        pids = [self.process.pid]
        with contextlib.suppress(ImportError):
            import psutil

            pids += [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]
        for pid in pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total / 1e6

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._log.close()


@contextlib.contextmanager
def _scratch_model() -> Iterator[tuple[Path, Path]]:
    """A temp folder with a copy of the shipped model (the app never writes to models/ here)."""
    source = settings().model_path
    if not source.exists():
        raise RuntimeError(f"the browser sections need a trained model at {source}")
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        folder = Path(scratch)
        shutil.copy2(source, folder / source.name)
        history = source.with_name(source.stem + ".history.json")
        if history.exists():
            shutil.copy2(history, folder / history.name)
        yield folder / source.name, folder


@contextlib.contextmanager
def _chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _open_page(browser: Any, url: str | None = None) -> tuple[Any, Any]:
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PAGE_PROBE)
    page = context.new_page()
    page.set_default_timeout(60_000)
    if url:
        page.goto(url)
    return context, page


def _canvas_box(page: Any) -> dict[str, float]:
    canvas = page.locator(".st-key-draw_canvas canvas").first
    canvas.wait_for(state="visible", timeout=60_000)
    box = canvas.bounding_box()
    if box is None:
        raise RuntimeError("the drawing canvas has no bounding box")
    return box


SHAPES = {
    "triangles": [(0.5, 0.18), (0.82, 0.8), (0.18, 0.8), (0.5, 0.18)],
    "squares": [(0.22, 0.22), (0.78, 0.22), (0.78, 0.78), (0.22, 0.78), (0.22, 0.22)],
    "circles": [(0.5 + 0.3 * float(np.cos(a)), 0.5 + 0.3 * float(np.sin(a))) for a in np.linspace(0, 2 * np.pi, 33)],
}


QUICK_STROKE = [(0.3, 0.3), (0.5, 0.7), (0.7, 0.3)]
# The live-updates stroke: a circle drawn as a real mouse reports it, a move every ~16 ms (about 60 Hz). A
# coarser stroke measured Playwright's move rate instead: with fewer moves a second than the canvas may send
# reports (one every 50 ms), every move was one report and the updates could not outpace the moves.
LIVE_STROKE = [(0.5 + 0.3 * float(np.cos(a)), 0.5 + 0.3 * float(np.sin(a))) for a in np.linspace(0, 2 * np.pi, 121)]
LIVE_STROKE_PAUSE_S = 0.012  # plus the time Playwright takes per move


def _stroke_to(page: Any, box: dict[str, float], points: list[tuple[float, float]], steps: int,
               pause_s: float = 0.0) -> None:
    """Mouse down at the first point, move through the others (`steps` moves per segment); no mouse up."""
    def absolute(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    page.mouse.move(*absolute(points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*absolute(p), steps=steps)
        if pause_s:
            time.sleep(pause_s)


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
            _stroke_to(page, box, SHAPES["triangles"], steps=3)
            page.mouse.up()
    raise TimeoutError("no prediction after three strokes")


def _choose_layer(page: Any, name: str) -> None:
    page.locator(".st-key-explorer_layer").click()
    page.get_by_role("option", name=name).first.click()


def _set_channel(page: Any, channel: int) -> None:
    field = page.locator(".st-key-explorer_channel_number input")
    field.fill(str(channel))
    field.press("Enter")


def bench_browser(quick: bool) -> list[Row]:
    """The app in Chromium: cold start to first prediction, stroke end, live updates, explorer changes."""
    reason = browser_available()
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
    with _scratch_model() as (model, folder), _chromium() as browser:
        for attempt in range(starts):
            server = AppServer(model, folder / "server.log")
            try:
                context, page = _open_page(browser)
                server.wait_healthy()
                page.goto(server.url)
                box = _canvas_box(page)
                _stroke_to(page, box, QUICK_STROKE, steps=1)  # as soon as the canvas shows: one short stroke
                page.mouse.up()
                page.wait_for_function(
                    "() => { const t = window.__sv.text('.st-key-predicted_class');"
                    " return !!t && t.includes('confidence'); }", polling="raf", timeout=120_000,
                )
                cold.append(time.perf_counter() - server.started)
                if attempt == starts - 1:
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
    ]


def _warm_measures(page: Any, box: dict[str, float], repeats: int, stroke_ms: list[float], missed: list[int],
                   rates: list[float], move_rates: list[float], explorer_ms: dict[str, list[float]]) -> None:
    shapes = list(SHAPES)
    # Stroke end: a fresh canvas each time; the whole shape drawn in one stroke, then mouse up.
    for i in range(repeats):
        _clear(page)
        _stroke_to(page, box, SHAPES[shapes[i % 3]], steps=3)
        try:
            stroke_ms.append(_measured(page, {"kind": "final"}, page.mouse.up, timeout_ms=STROKE_TIMEOUT_MS))
        except TimeoutError:
            missed.append(i)
    # Live updates: one stroke at a real mouse's rate (LIVE_STROKE), every prediction shown while the pen is down.
    for i in range(max(1, repeats // 4)):
        _clear(page)
        page.evaluate("() => window.__sv.record()")
        down_at = page.evaluate("() => performance.now()")
        _stroke_to(page, box, LIVE_STROKE, steps=1, pause_s=LIVE_STROKE_PAUSE_S)
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
                       lambda layer=layer: _choose_layer(page, layer))
        if i:  # the first switch warms the page up
            explorer_ms["layer"].append(ms)
    layer = ("conv2_1", "conv1_2")[repeats % 2]
    for i in range(repeats + 1):
        channel = 3 + 2 * i
        ms = _measured(page, {"kind": "heatmap", "title": f"{layer} · channel {channel}"},
                       lambda channel=channel: _set_channel(page, channel))
        if i:
            explorer_ms["channel"].append(ms)


def bench_memory(quick: bool) -> list[Row]:
    """Server RSS with 1 session and with 10 (2 with --quick), each having drawn a shape."""
    reason = browser_available()
    if reason:
        return [("memory section skipped", reason, "", "", "")]
    sessions = 2 if quick else 10
    with _scratch_model() as (model, folder), _chromium() as browser:
        server = AppServer(model, folder / "server.log")
        contexts = []
        try:
            server.wait_healthy()
            rss: dict[int, float] = {}
            for n in range(1, sessions + 1):
                context, page = _open_page(browser, server.url)
                contexts.append(context)
                box = _canvas_box(page)
                _stroke_to(page, box, SHAPES[list(SHAPES)[n % 3]], steps=3)
                page.mouse.up()
                _ensure_prediction(page, box)
                page.wait_for_function("() => window.__sv.title() !== null", polling=50, timeout=60_000)
                if n in (1, sessions):
                    time.sleep(1.0)
                    rss[n] = server.rss_mb()
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


# --- report ----------------------------------------------------------------------------------------------


def _load_average() -> str:
    """The machine's load average: other work on it slows every figure (2 cores are easily shared)."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def format_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[bool], list[Row]]] = {
    "engine": bench_engine,
    "training": bench_training,
    "browser": bench_browser,
    "memory": bench_memory,
}


def write_report(out: Path, table: str, sections: list[str], quick: bool, load: str = "") -> None:
    """Put the table between the markers of `out` (creating the file if needed); the rest stays."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m shapes_viz.bench" + (" --quick" if quick else "")
    if sorted(sections) != sorted(SECTIONS):
        command += " --sections " + " ".join(sections)
    block = (
        f"{TABLE_START}\n`{command}` on {stamp}\n\nMachine: {machine_description()}\n\n"
        + (f"Load average (1, 5, 15 min) before / after the run: {load}\n\n" if load else "")
        + f"Medians over repeats; ratios measured in the same run.\n\n{table}\n{TABLE_END}"
    )
    text = out.read_text() if out.exists() else "# Benchmarks\n\n"
    if TABLE_START in text and TABLE_END in text:
        head, rest = text.split(TABLE_START, 1)
        text = head + block + rest.split(TABLE_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shapes_viz.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats and epochs: checks that it runs")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown file to write the table into (default docs/benchmarks.md; none with --quick)")
    args = parser.parse_args(argv)
    out = args.out or (None if args.quick else PROJECT_ROOT / "docs" / "benchmarks.md")
    load_before = _load_average()
    rows: list[Row] = []
    for name in args.sections:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += SECTIONS[name](args.quick)
    table = format_table(rows)
    print(table)
    if out is not None:
        write_report(out, table, args.sections, args.quick, f"{load_before} / {_load_average()}")
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

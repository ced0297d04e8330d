"""What the benchmark, the load tests and the browser tests share to drive the real app.

A `streamlit run app.py` server on a free port of 127.0.0.1 (start, health check, stop), a copy of a model
to run it on, Debian's Chromium and its arguments, and the shapes drawn on the canvas with the mouse.
Nothing here imports TensorFlow; Playwright is imported only by `chromium()`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = PROJECT_ROOT / "models" / "shapes_cnn.h5"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # several sessions side by side: keep timers of the page not in front running (Streamlit's polling)
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
LIVE = ':not([data-stale="true"])'  # Streamlit keeps stale copies of elements around during a rerun
CANVAS = ".st-key-draw_canvas canvas"  # in the component's open shadow root, which CSS selectors pierce


# --- the server --------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`streamlit run app.py` headless on a free port of 127.0.0.1 (the project's .streamlit/config.toml applies).

    `env` is added to this process's environment (SHAPES_VIZ_MODEL, SHAPES_VIZ_DATA, ...); the server's output
    goes to `log`. `started` is the time.perf_counter() of the start, `url` its address.
    """

    def __init__(self, env: Mapping[str, str], log: Path, script: str = "app.py"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()
        with open(log, "wb") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                 "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                cwd=PROJECT_ROOT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until /_stcore/health answers 200. The script itself runs only when a browser connects."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited early (code {self.process.returncode}); see {self.log}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {self.url}; see {self.log}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to the server's process group, then wait (Streamlit takes over a second); SIGKILL after 15 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


@contextlib.contextmanager
def streamlit_server(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """A healthy `AppServer` for the `with` block; yields its URL and stops it afterwards."""
    server = AppServer(env, log)
    try:
        server.wait_healthy()
        yield server.url
    finally:
        server.stop()


def copy_model(source: Path, folder: Path) -> Path:
    """Copy a model file (and its history JSON, if any) into `folder`; return the copy's path.

    The app and its trainer may write beside the model they serve: servers run on copies, never on models/.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy2(source, target)
    history = source.with_name(source.stem + ".history.json")
    if history.exists():
        shutil.copy2(history, folder / history.name)
    return target


# --- the browser -------------------------------------------------------------------------------------


def chromium_missing() -> str | None:
    """None when Chromium and Playwright are there, else what is missing (for a skip or a report row)."""
    if not CHROMIUM.exists():
        return f"needs {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright package (pip install playwright)"
    return None


def launch_options() -> dict[str, Any]:
    """Keyword arguments of Playwright's `chromium.launch` (sync or async) for Debian's Chromium."""
    return {"executable_path": str(CHROMIUM), "args": list(CHROMIUM_ARGS)}


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright's sync API, closed after the `with` block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        try:
            yield browser
        finally:
            browser.close()


# --- drawing on the canvas ---------------------------------------------------------------------------

Points = list[tuple[float, float]]  # fractions 0..1 of the canvas box, x to the right, y down


def circle_points(n: int = 33, radius: float = 0.3) -> Points:
    """A closed circle of `n` points (the first repeated last) around the canvas centre."""
    angles = np.linspace(0, 2 * np.pi, n)
    return [(0.5 + radius * float(np.cos(a)), 0.5 + radius * float(np.sin(a))) for a in angles]


SHAPE_OUTLINES: dict[str, Points] = {
    "triangles": [(0.5, 0.18), (0.82, 0.8), (0.18, 0.8), (0.5, 0.18)],
    "squares": [(0.22, 0.22), (0.78, 0.22), (0.78, 0.78), (0.22, 0.78), (0.22, 0.22)],
    "circles": circle_points(33),
}


def shape_points(shape: str) -> Points:
    """The closed outline of 'triangles', 'squares' or 'circles' in canvas fractions."""
    if shape not in SHAPE_OUTLINES:
        raise ValueError(f"shape must be one of {', '.join(SHAPE_OUTLINES)}. Received: shape={shape!r}")
    return SHAPE_OUTLINES[shape]


def canvas_box(page: Any, timeout_ms: float = 60_000) -> dict[str, float]:
    """The bounding box (x, y, width, height in page pixels) of the drawing canvas, once it is visible."""
    canvas = page.locator(CANVAS).first
    canvas.wait_for(state="visible", timeout=timeout_ms)
    box = canvas.bounding_box()
    if box is None:
        raise RuntimeError("the drawing canvas has no bounding box")
    return box


def stroke(page: Any, points: Points, steps: int = 1, pause_s: float = 0.0, lift: bool = True,
           box: dict[str, float] | None = None) -> None:
    """One mouse stroke through `points`: down at the first, then `move_pen` through the others; the pen lifts
    at the end unless `lift` is False. `box`: the canvas box, if already known."""
    box = box or canvas_box(page)
    page.mouse.move(*_on(box, points[0]))
    page.mouse.down()
    move_pen(page, points[1:], steps=steps, pause_s=pause_s, box=box)
    if lift:
        page.mouse.up()


def move_pen(page: Any, points: Points, steps: int = 1, pause_s: float = 0.0,
             box: dict[str, float] | None = None) -> None:
    """Move the mouse through `points` (`steps` moves per segment, `pause_s` after each), pen as it is."""
    box = box or canvas_box(page)
    for p in points:
        page.mouse.move(*_on(box, p), steps=steps)
        if pause_s:
            time.sleep(pause_s)


def _on(box: dict[str, float], point: tuple[float, float]) -> tuple[float, float]:
    """Page coordinates of a point given in fractions of the canvas box."""
    return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]


def choose_option(page: Any, key: str, option: str) -> None:
    """Pick `option` in the selectbox with widget key `key` (the layer picker is "explorer_layer")."""
    page.locator(f".st-key-{key}{LIVE}").first.click()
    page.keyboard.type(option)  # the list is virtual: an option far down may not be rendered until filtered for
    page.get_by_role("option", name=option).first.click()


def set_number(page: Any, key: str, value: int, in_form: bool = False) -> None:
    """Type `value` into the number input with widget key `key`; in a form, Tab away (Enter would submit it)."""
    field = page.locator(f".st-key-{key}{LIVE} input").first
    field.fill(str(value))
    field.press("Tab" if in_form else "Enter")

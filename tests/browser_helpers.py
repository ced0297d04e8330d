"""Helpers shared by the app tests (AppTest and Playwright): figure-spec decoding, a real server, browser verbs.

Nothing here imports TensorFlow; Playwright is imported lazily so AppTest-only runs do not need it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
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
from PIL import Image, ImageDraw

PROJECT_ROOT = Path(__file__).resolve().parent.parent
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
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
SHIPPED_MODEL = PROJECT_ROOT / "models" / "shapes_cnn.h5"
LIVE = ':not([data-stale="true"])'  # Streamlit keeps stale copies of elements around during a rerun

_DTYPES = {
    "f4": np.float32, "f8": np.float64, "i1": np.int8, "u1": np.uint8, "i2": np.int16, "u2": np.uint16,
    "i4": np.int32, "u4": np.uint32, "i8": np.int64, "u8": np.uint64,
}


# --- Plotly figure specs -----------------------------------------------------------------------------


def shape_image(shape: str = "triangles", size: int = 200) -> Image.Image:
    """A clean drawing of `shape` ("circles", "squares" or "triangles"): black 10-px outline on white."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    if shape == "triangles":
        draw.polygon([(size / 2, 20), (size - 20, size - 20), (20, size - 20)], outline="black", width=10)
    elif shape == "squares":
        draw.rectangle([30, 30, size - 30, size - 30], outline="black", width=10)
    else:
        draw.ellipse([30, 30, size - 30, size - 30], outline="black", width=10)
    return image


def shape_png(shape: str = "triangles", size: int = 200) -> bytes:
    """`shape_image` as PNG bytes, as an upload sends them."""
    buffer = io.BytesIO()
    shape_image(shape, size).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_array(value: Any) -> np.ndarray:
    """A Plotly JSON array (a plain list or a base64 typed array `{dtype, bdata, shape}`) as numpy."""
    if isinstance(value, Mapping) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=_DTYPES[value["dtype"]])
        shape = value.get("shape")
        if shape:
            dims = [int(s) for s in str(shape).split(",")] if isinstance(shape, str) else list(shape)
            array = array.reshape(dims)
        return array
    return np.asarray(value, dtype=float)


def figure_spec(chart: Any) -> dict[str, Any]:
    """The figure JSON of an AppTest plotly_chart element, or of a Plotly figure."""
    if hasattr(chart, "proto"):
        return json.loads(chart.proto.spec)
    return json.loads(chart.to_json())


# --- a real server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """Run `streamlit run app.py` headless on a free port; yield its URL; stop it (SIGTERM, then wait)."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.headless", "true", "--server.port", str(port),
                "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none",
            ],
            cwd=PROJECT_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {log_path}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {url}; see {log_path}")
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def browser_test_marks() -> list:
    """The `pytestmark` of every Chromium test module: marked `browser`, skipped without Chromium/Playwright."""
    import pytest

    return [
        pytest.mark.browser,
        pytest.mark.skipif(not chromium_available(), reason=f"needs {CHROMIUM} and the playwright package"),
    ]


def chromium_available() -> bool:
    if not CHROMIUM.exists():
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def copy_model(source: Path, folder: Path) -> Path:
    """Copy a model file (and its history JSON, if any) into `folder`; return the copy's path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy2(source, target)
    history = source.with_name(source.stem + ".history.json")
    if history.exists():
        shutil.copy2(history, folder / history.name)
    return target


# --- browser verbs -----------------------------------------------------------------------------------


def wait_for_app(page: Any, timeout_ms: int = 90_000) -> None:
    """Wait until the app's own content (the prediction section) is on the page."""
    page.locator('.st-key-prediction:not([data-stale="true"])').first.wait_for(state="visible", timeout=timeout_ms)


def canvas(page: Any) -> Any:
    """The live drawing canvas (in the component's open shadow root, which CSS selectors pierce)."""
    return page.locator(".st-key-draw_canvas canvas").first


def draw_polyline(page: Any, points: list[tuple[float, float]], steps: int = 4) -> None:
    """Draw one stroke through `points` (fractions 0..1 of the canvas box) with the mouse."""
    target = canvas(page)
    target.wait_for(state="visible", timeout=60_000)
    box = target.bounding_box()
    assert box is not None, "canvas has no bounding box"

    def absolute(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    x, y = absolute(points[0])
    page.mouse.move(x, y)
    page.mouse.down()
    for p in points[1:]:
        x, y = absolute(p)
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def shape_points(shape: str) -> list[tuple[float, float]]:
    """A closed outline (fractions of the canvas) for 'triangles', 'squares' or 'circles'."""
    if shape == "triangles":
        return [(0.5, 0.18), (0.82, 0.8), (0.18, 0.8), (0.5, 0.18)]
    if shape == "squares":
        return [(0.22, 0.22), (0.78, 0.22), (0.78, 0.78), (0.22, 0.78), (0.22, 0.22)]
    if shape == "circles":
        angles = np.linspace(0, 2 * np.pi, 33)
        return [(0.5 + 0.3 * float(np.cos(a)), 0.5 + 0.3 * float(np.sin(a))) for a in angles]
    raise ValueError(f"unknown shape {shape!r}")


def predicted_class(page: Any) -> str:
    """The text of the app's predicted-class element (`.st-key-predicted_class`)."""
    return page.locator('.st-key-predicted_class:not([data-stale="true"])').first.inner_text()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""A drawing canvas that runs the network itself while the pen moves, and reports the drawing to the server.

This component (Streamlit components v2 with inline HTML/CSS/JS, no npm build) draws black round strokes on a
white 280x280 canvas. The ink's bounding region, downscaled so that its longer side is at most `SEND_SIDE`
pixels, is what the server gets as a PNG when the pen lifts; Python turns it into the model's input with
`preprocess`, like any upload.

While the pen is down, the browser runs `preprocess` and the network on those same pixels itself
(browser_engine.js, a port of preprocessing.py and the numpy engine), every animation frame in which the pen
moved, and shows the prediction and the explorer's layer and channel beside the canvas: no server message
during a stroke. The weights reach the browser once per model file version (`browser_model`: keyed by the
file's SHA-256, kept in the browser's IndexedDB): the component first runs with the digest only; lacking those
weights, it asks (trigger "need") and the next run of the draw fragment sends them, once. Until then, and
whenever the browser cannot (no IndexedDB, a JavaScript error, a model it cannot run), the canvas reports the
drawing while the pen moves, at most every `INTERVAL_MS`, and the server predicts, as before; one console line
says why.

    drawing = parse_drawing(live_canvas(key, on_change=callback, engine=engine_data(...)))   # Drawing | None
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from shapes_viz.artifacts import file_digest, file_identity
from shapes_viz.config import CLASS_NAMES
from shapes_viz.engine import Unsupported
from shapes_viz.engine.export import export_model
from shapes_viz.errors import ImageError, ShapesVizError
from shapes_viz.ui import resources

log = logging.getLogger("shapes_viz.ui")

CANVAS_SIZE = 280
STROKE_WIDTH = 18  # ~1.8 model pixels after the 10x downscale: thin enough for shapes, thick enough to survive
INTERVAL_MS = 50  # at most 20 reports a second while the pen moves; the server coalesces what it cannot keep up with
SEND_SIDE = 112  # px, longer side of a report: 4x the model's 28 px, so preprocess still box-averages
MAX_PNG_BYTES = 256 * 1024  # a report is a few kB; anything far larger did not come from this canvas

MAP_SIDE = 84  # px, the live heatmap (3 screen pixels per model pixel)

# The panel wraps under the canvas in a narrow column (beside it in a wide one). It keeps its place (hidden)
# until the browser's first prediction, and goes (display: none) when this page stays on the server path.
_HTML = (
    '<div class="shapes-viz-row">'
    f'<canvas class="shapes-viz-canvas" width="{CANVAS_SIZE}" height="{CANVAS_SIZE}" role="img" '
    'aria-label="Drawing canvas: draw a circle, a square or a triangle"></canvas>'
    '<div class="shapes-viz-live sv-waiting" aria-live="off">'
    f'<canvas class="sv-map" width="28" height="28"></canvas><div class="sv-text">'
    '<div class="sv-head">Live, in your browser</div><div class="sv-class"></div><div class="sv-bars"></div>'
    '<div class="sv-caption"></div></div></div></div>'
)
_CSS = f"""
.shapes-viz-row {{ display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }}
.shapes-viz-live {{ display: flex; gap: 8px; width: {CANVAS_SIZE + 2}px; font-size: 12px; line-height: 1.3;
  color: var(--st-text-color, #31333f); }}
.shapes-viz-live[hidden] {{ display: none; }}
.shapes-viz-live.sv-waiting {{ visibility: hidden; }}
.shapes-viz-live .sv-map {{ flex: none; width: {MAP_SIDE}px; height: {MAP_SIDE}px; image-rendering: pixelated;
  border: 1px solid var(--st-border-color, #d0d4dc); }}
.shapes-viz-live .sv-text {{ flex: 1; min-width: 0; }}
.shapes-viz-live .sv-head, .shapes-viz-live .sv-caption {{ opacity: 0.7; }}
.shapes-viz-live .sv-class {{ font-size: 15px; font-weight: 600; }}
.shapes-viz-live .sv-bar {{ display: flex; align-items: center; gap: 4px; }}
.shapes-viz-live .sv-bar span:first-child {{ width: 58px; }}
.shapes-viz-live .sv-bar i {{ display: block; height: 8px; background: #1f77b4; }}
.shapes-viz-canvas {{
  display: block;
  flex: none;
  width: {CANVAS_SIZE}px;
  height: {CANVAS_SIZE}px;
  border: 1px solid var(--st-border-color, #d0d4dc);
  border-radius: 6px;
  background: #ffffff;
  cursor: crosshair;
  touch-action: none;
}}
"""
# One ES module: the engine's functions, the weights cache and panel, then the component that uses them.
JS_FILES = ("browser_engine.js", "live_support.js", "live_canvas.js")
_JS = "\n".join(Path(__file__).with_name(name).read_text() for name in JS_FILES)
_COMPONENT = st.components.v2.component(
    "shapes_viz_live_canvas",
    html=_HTML,
    css=_CSS,
    js=_JS,
)


@dataclass(frozen=True)
class Drawing:
    """One report of the canvas.

    Attributes:
        seq: increases with every report of this canvas (a new canvas starts again at 1).
        pen_down: True while the stroke goes on, False for the report sent when the pen lifts.
        png: PNG bytes of the ink's bounding region, black strokes on white.
        strokes: how many strokes the drawing has.
    """

    seq: int
    pen_down: bool
    png: bytes
    strokes: int


def live_canvas(key: str, on_change: Callable[[], None] | None = None, engine: Mapping[str, Any] | None = None) -> Any:
    """Draw the canvas; return its latest raw report (None until the first stroke; see `parse_drawing`).

    Args:
        key: the widget key; a new key is a new, empty canvas.
        on_change: called (as a widget callback, before the rerun) whenever a report arrives.
        engine: what the browser's network needs (`engine_data`), or None: the server predicts every report.
    """
    result = _COMPONENT(
        key=key,
        data={"size": CANVAS_SIZE, "stroke": STROKE_WIDTH, "interval": INTERVAL_MS, "side": SEND_SIDE,
              "engine": dict(engine) if engine else None},
        default={"drawing": None},
        on_drawing_change=on_change or (lambda: None),
        on_need_change=lambda: None,  # the browser lacks the model's weights: this run of the fragment sends them
        on_sync_change=lambda: None,  # the page changed elsewhere (layer, channel, knock-out): send fresh settings
        width="content",
        height="content",
    )
    return result.get("drawing")


@dataclass(frozen=True)
class BrowserModel:
    """The published model as the browser gets it: its file digest and either the payload or why not."""

    digest: str
    payload: dict[str, Any] | None
    unsupported: str | None


@st.cache_resource(max_entries=2, show_spinner=False)
def browser_model(identity: resources.Identity) -> BrowserModel:
    """The model file of `identity` packed for the browser (`engine.export`), once per file version.

    Raises:
        ShapesVizError: the model cannot be loaded. OSError: the file changed while it was read (not cached).
    """
    digest = file_digest(identity[0])
    if file_identity(identity[0]) != identity:  # replaced meanwhile: the digest may be the new file's
        raise OSError(f"{identity[0]} changed while its digest was computed")
    engine = resources.load_engine(identity).engine
    try:
        return BrowserModel(digest, export_model(engine, digest), None)
    except Unsupported as exc:
        return BrowserModel(digest, None, str(exc))


def engine_data(identity: resources.Identity | None, settings: Mapping[str, Any], requested: Any) -> dict[str, Any] | None:
    """The component's "engine" data: the model's digest, the view settings, and the weights when `requested`.

    Args:
        identity: the published model file's identity, or None without one.
        settings: {"layer": name or None, "channel": int, "range": the explorer's colour range, "off": knock-out}.
        requested: the digest the browser asked the weights of in this run (its "need" trigger), or None.
    Returns:
        None without a usable model (the server path alone), else {"digest", "unsupported", "weights" (the
        payload, only when requested and of this digest), "classes", **settings}.
    """
    if identity is None:
        return None
    try:
        model = browser_model(identity)
    except (ShapesVizError, OSError) as exc:
        log.debug("no model for the browser: %s", exc)
        return None
    sent = model.payload if model.payload is not None and requested == model.digest else None
    return {"digest": model.digest, "unsupported": model.unsupported, "weights": sent,
            "classes": list(CLASS_NAMES), **settings}


def current_report(key: str) -> Any:
    """The latest raw report of the canvas with `key`, read from session state (for widget callbacks)."""
    value = st.session_state.get(key)
    return value.get("drawing") if isinstance(value, Mapping) else None


def requested_digest(key: str) -> Any:
    """The digest whose weights the canvas with `key` asked for in this run (its "need" trigger), or None."""
    value = st.session_state.get(key)
    return value.get("need") if isinstance(value, Mapping) else None


def parse_drawing(value: Any) -> Drawing | None:
    """A `Drawing` from the component's "drawing" state value; None when nothing was drawn.

    Raises:
        ImageError: the value is not what the canvas sends.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ImageError(f"The drawing could not be read. Received: {type(value).__name__}",
                         code="drawing_unreadable_type", kind=type(value).__name__)
    seq, pen, png, strokes = value.get("seq"), value.get("pen"), value.get("png"), value.get("strokes", 1)
    if not isinstance(seq, int) or pen not in ("down", "up") or not isinstance(png, str) or not isinstance(strokes, int):
        raise ImageError(f"The drawing could not be read. Received keys: {sorted(value)}",
                         code="drawing_unreadable_keys", keys=sorted(value))
    if len(png) > MAX_PNG_BYTES * 4 // 3 + 4:
        raise ImageError(f"The drawing is too large: {len(png):,} base64 characters.", code="drawing_too_large",
                         size=len(png))
    try:
        data = base64.b64decode(png, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("The drawing could not be read: its PNG is not valid base64.",
                         code="drawing_bad_base64") from None
    return Drawing(seq=seq, pen_down=pen == "down", png=data, strokes=strokes)

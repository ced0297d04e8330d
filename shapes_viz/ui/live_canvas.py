"""A drawing canvas that reports the drawing while the pen moves, not only on mouse-up.

streamlit-drawable-canvas sends a drawing once, 200 ms after mouse-up. This component (Streamlit
components v2 with inline HTML/CSS/JS, no npm build) draws black round strokes on a white 280x280
canvas and reports, at most every `INTERVAL_MS` while the pen is down and once when it lifts, the ink's
bounding region as a small PNG (longer side at most `SEND_SIDE` pixels). Python turns that PNG into the
model's input with `preprocess`, like any upload.

    drawing = parse_drawing(live_canvas(key, on_change=callback))   # Drawing | None
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from shapes_viz.errors import ImageError

CANVAS_SIZE = 280
STROKE_WIDTH = 18  # ~1.8 model pixels after the 10x downscale: thin enough for shapes, thick enough to survive
INTERVAL_MS = 50  # at most 20 reports a second while the pen moves; the server coalesces what it cannot keep up with
SEND_SIDE = 112  # px, longer side of a report: 4x the model's 28 px, so preprocess still box-averages
MAX_PNG_BYTES = 256 * 1024  # a report is a few kB; anything far larger did not come from this canvas

_HTML = f'<canvas class="shapes-viz-canvas" width="{CANVAS_SIZE}" height="{CANVAS_SIZE}" role="img" ' \
        'aria-label="Drawing canvas: draw a circle, a square or a triangle"></canvas>'
_CSS = f"""
.shapes-viz-canvas {{
  display: block;
  width: {CANVAS_SIZE}px;
  height: {CANVAS_SIZE}px;
  border: 1px solid var(--st-border-color, #d0d4dc);
  border-radius: 6px;
  background: #ffffff;
  cursor: crosshair;
  touch-action: none;
}}
"""
_COMPONENT = st.components.v2.component(
    "shapes_viz_live_canvas",
    html=_HTML,
    css=_CSS,
    js=Path(__file__).with_name("live_canvas.js").read_text(),
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


def live_canvas(key: str, on_change: Callable[[], None] | None = None) -> Any:
    """Draw the canvas; return its latest raw report (None until the first stroke; see `parse_drawing`).

    Args:
        key: the widget key; a new key is a new, empty canvas.
        on_change: called (as a widget callback, before the rerun) whenever a report arrives.
    """
    result = _COMPONENT(
        key=key,
        data={"size": CANVAS_SIZE, "stroke": STROKE_WIDTH, "interval": INTERVAL_MS, "side": SEND_SIDE},
        default={"drawing": None},
        on_drawing_change=on_change or (lambda: None),
        width="content",
        height=CANVAS_SIZE + 4,
    )
    return result.get("drawing")


def current_report(key: str) -> Any:
    """The latest raw report of the canvas with `key`, read from session state (for widget callbacks)."""
    value = st.session_state.get(key)
    return value.get("drawing") if isinstance(value, Mapping) else None


def parse_drawing(value: Any) -> Drawing | None:
    """A `Drawing` from the component's "drawing" state value; None when nothing was drawn.

    Raises:
        ImageError: the value is not what the canvas sends.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ImageError(f"The drawing could not be read. Received: {type(value).__name__}")
    seq, pen, png, strokes = value.get("seq"), value.get("pen"), value.get("png"), value.get("strokes", 1)
    if not isinstance(seq, int) or pen not in ("down", "up") or not isinstance(png, str) or not isinstance(strokes, int):
        raise ImageError(f"The drawing could not be read. Received keys: {sorted(value)}")
    if len(png) > MAX_PNG_BYTES * 4 // 3 + 4:
        raise ImageError(f"The drawing is too large: {len(png):,} base64 characters.")
    try:
        data = base64.b64decode(png, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("The drawing could not be read: its PNG is not valid base64.") from None
    return Drawing(seq=seq, pen_down=pen == "down", png=data, strokes=strokes)

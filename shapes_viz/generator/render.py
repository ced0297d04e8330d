"""Placing a drawing's strokes on a canvas and drawing them: width and ink darkness vary along a stroke.

`shape_mask` turns a class name, a random generator and a `Look` into the ink coverage of one drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from shapes_viz.generator.outlines import CLASS_PATHS
from shapes_viz.generator.strokes import TAU, mouse_sampling, warp, wobble


@dataclass(frozen=True)
class Look:
    """How one drawing is rendered. Lengths in render-canvas pixels."""

    canvas: int  # side of the (supersampled) render canvas
    extent: float  # longest side of the path's bounding box
    centred: bool  # near the middle, else anywhere it fits
    may_cut: bool  # allowed to run slightly off the frame
    width: float  # mean stroke width
    width_var: float  # relative variation of the width along a stroke
    pressure_var: float  # relative variation of ink darkness along a stroke (0: uniform)
    wobble: float  # low-frequency wobble amplitude, unit coordinates
    tremor: float  # tremor amplitude, unit coordinates
    warp: float  # whole-drawing warp amplitude, unit coordinates
    mouse_spacing: float  # 0, or the distance between sampled mouse positions
    speck: bool  # a stray dot or short speck somewhere


def shape_mask(kind: str, rng: np.random.Generator, look: Look) -> Image.Image:
    """The drawing's ink coverage as a Pillow "L" image of side look.canvas (255 = full ink)."""
    strokes = CLASS_PATHS[kind](rng)
    strokes = [wobble(s, rng, look.wobble, look.tremor) for s in strokes]
    strokes = warp(strokes, rng, look.warp)
    strokes = _place(strokes, rng, look)
    if look.mouse_spacing > 0:
        strokes = [mouse_sampling(s, rng, look.mouse_spacing) for s in strokes]
    image = Image.new("L", (look.canvas, look.canvas), 0)
    draw = ImageDraw.Draw(image)
    for s in strokes:
        _draw_stroke(draw, s, _width_profile(s, rng, look), _pressure_profile(s, rng, look.pressure_var))
    if look.speck:
        _draw_speck(draw, rng, look)
    return image


def _place(strokes: list[np.ndarray], rng: np.random.Generator, look: Look) -> list[np.ndarray]:
    """Scale the drawing so its longest side is look.extent px and put it on the canvas."""
    pts = np.concatenate(strokes)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    scale = look.extent / max(float((hi - lo).max()), 1e-9)
    half = (hi - lo) * scale / 2.0
    room = look.canvas / 2.0 - half - look.width / 2.0 - 1.0  # how far the centre may move and stay inside
    room = np.maximum(room, 0.0)
    if look.centred:
        offset = np.clip(rng.normal(0.0, 0.05 * look.canvas, 2), -room, room)
    else:
        offset = rng.uniform(-room, room)
    if look.may_cut:  # push it past an edge by up to 12% of its size
        axis = int(rng.integers(2))
        offset[axis] = np.sign(rng.normal()) * (room[axis] + half[axis] * rng.uniform(0.05, 0.25))
    centre = look.canvas / 2.0 + offset
    return [(s - (lo + hi) / 2.0) * scale + centre for s in strokes]


def _smooth_profile(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) smooth random profile around 0 with amplitude about 1 (one or two slow sine waves)."""
    t = np.linspace(0.0, 1.0, n)
    return sum(np.sin(TAU * rng.uniform(0.3, 2.0) * t + rng.uniform(0, TAU)) for _ in range(2)) / 1.5


def _width_profile(stroke: np.ndarray, rng: np.random.Generator, look: Look) -> np.ndarray:
    """(n,) stroke width per point in px: mean look.width, varying by about look.width_var."""
    w = look.width * (1.0 + look.width_var * _smooth_profile(len(stroke), rng))
    return np.maximum(w, 1.0)


def _pressure_profile(stroke: np.ndarray, rng: np.random.Generator, variation: float) -> np.ndarray:
    """(n,) ink darkness per point in 0..1 (1 = full ink)."""
    if variation <= 0:
        return np.ones(len(stroke))
    return np.clip(1.0 - variation * (0.5 + 0.5 * _smooth_profile(len(stroke), rng)), 0.35, 1.0)


def _draw_stroke(draw: ImageDraw.ImageDraw, stroke: np.ndarray, widths: np.ndarray, ink: np.ndarray) -> None:
    """Draw a polyline of round-capped, round-joined segments whose width and darkness vary along it.

    The stroke is cut into chunks of a few points, each drawn as one Pillow polyline of its mean width and
    darkness. Pillow joins wide segments without filling the outside of a turn, so a disc of the same width
    covers every point of wide strokes (and the ends, chunk joints and sharp turns of thin ones).
    """
    n = len(stroke)
    if n < 2:
        return
    d = np.diff(stroke, axis=0)
    heading = np.arctan2(d[:, 1], d[:, 0])
    turn = np.abs((np.diff(heading) + np.pi) % TAU - np.pi)  # turn at points 1..n-2
    sharp = set((np.nonzero(turn > 0.35)[0] + 1).tolist())
    points = stroke.tolist()
    chunk = 6
    for start in range(0, n - 1, chunk):
        stop = min(start + chunk, n - 1)
        width = max(1, int(round(float(widths[start : stop + 1].mean()))))
        fill = int(round(255 * float(ink[start : stop + 1].mean())))
        draw.line([tuple(p) for p in points[start : stop + 1]], fill=fill, width=width)
        if width < 2:
            continue
        joints = range(start, stop + 1) if width >= 3 else {start, stop} | {j for j in sharp if start < j < stop}
        r = width / 2.0 - 0.5  # Pillow's ellipse box includes both ends: this disc is `width` px across
        for j in joints:
            x, y = points[j]
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def _draw_speck(draw: ImageDraw.ImageDraw, rng: np.random.Generator, look: Look) -> None:
    """A stray dot or a short speck somewhere on the canvas."""
    x, y = rng.uniform(0.05, 0.95, 2) * look.canvas
    r = look.width * rng.uniform(0.3, 0.8)
    if rng.random() < 0.5:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=int(rng.uniform(120, 255)))
    else:
        dx, dy = rng.normal(0.0, look.canvas * 0.03, 2)
        draw.line([(x, y), (x + dx, y + dy)], fill=int(rng.uniform(120, 255)), width=max(1, int(r)))


"""The two looks of a drawing, and the public drawing functions.

"pen": small, off-centre, thin grey ink on off-white paper, scanned (noise, blur, JPEG). "browser": a mouse
on a 280x280 canvas (centred, 12-28 px strokes, black on white or white on black, downscaled with
LANCZOS). `draw_shape` mixes them (and everything between), about 22% in inverted polarity.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from shapes_viz.config import CLASS_NAMES, IMAGE_SIZE
from shapes_viz.generator.render import Look, shape_mask
from shapes_viz.generator.strokes import TAU

BROWSER_CANVAS: int = 280  # side of the browser drawing canvas the "browser" look imitates
BROWSER_WIDTH_RANGE: tuple[float, float] = (12.0, 28.0)  # stroke width in px on a 280 canvas

_PEN_RENDER_SIDE = 224  # the pen look is rendered at >= 8x supersampling for 28x28 output


def draw_shape(kind: str, rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """One random hand-drawn-looking shape.

    Args:
        kind: one of CLASS_NAMES ("circles", "squares", "triangles").
        rng: the only source of randomness (same generator state -> same image).
        size: side of the returned image in pixels (>= 8).

    Returns:
        (size, size, 3) uint8 RGB. About 45% "pen" look (small, off-centre, thin grey ink on
        off-white, scanner noise), 45% "browser" look (centred thick mouse strokes, downscaled with
        LANCZOS), 10% in between; about 22% in inverted polarity (light ink on a dark background).
    """
    check_kind(kind)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    size = int(size)
    look = rng.random()
    if look < 0.45:
        return _draw_browser_look(kind, rng, size)
    return _draw_pen_look(kind, rng, size, between=look > 0.9)


def draw_browser_style(
    kind: str, rng: np.random.Generator, canvas: int = BROWSER_CANVAS, inverted: bool = False
) -> np.ndarray:
    """A shape as drawn with a mouse on a browser canvas.

    Centred-ish, 35-90% of the canvas, constant stroke width 12-28 px (scaled by canvas/280), round caps
    and joins, coarse mouse sampling at times.

    Args:
        kind: one of CLASS_NAMES.
        rng: the only source of randomness.
        canvas: side of the canvas in pixels (>= 28).
        inverted: white ink on black instead of black ink on white.

    Returns:
        (canvas, canvas, 3) uint8 RGB at full canvas size; pixels are exactly 0 or 255 (no antialiasing).
    """
    check_kind(kind)
    if isinstance(canvas, bool) or not isinstance(canvas, (int, np.integer)) or canvas < 28:
        raise ValueError(f"canvas must be an integer >= 28, got {canvas!r}")
    mask = np.asarray(_browser_mask(kind, rng, int(canvas)), dtype=np.uint8)
    gray = mask if inverted else 255 - mask
    return np.repeat(gray[:, :, None], 3, axis=2)


def check_kind(kind: str) -> None:
    if kind not in CLASS_NAMES:
        raise ValueError(f"kind must be one of {', '.join(CLASS_NAMES)}; got {kind!r}")


def _browser_look(rng: np.random.Generator, canvas: int) -> Look:
    """Parameters of a mouse drawing on a browser canvas of side `canvas`."""
    unit = canvas / BROWSER_CANVAS
    return Look(
        canvas=canvas,
        extent=rng.uniform(0.35, 0.88) * canvas,
        centred=True,
        may_cut=False,
        width=rng.uniform(*BROWSER_WIDTH_RANGE) * unit,
        width_var=0.0,
        pressure_var=0.0,
        wobble=rng.uniform(0.0, 0.05),
        tremor=rng.uniform(0.0, 0.015),
        warp=rng.uniform(0.0, 0.09),
        mouse_spacing=rng.uniform(4.0, 14.0) * unit if rng.random() < 0.5 else 0.0,
        speck=False,
    )


def _browser_mask(kind: str, rng: np.random.Generator, canvas: int) -> Image.Image:
    """Ink coverage "L" image of side `canvas` of a mouse drawing (0/255, no antialiasing)."""
    mask = shape_mask(kind, rng, _browser_look(rng, canvas))
    return mask.point(lambda v: 255 if v >= 128 else 0)


def _draw_browser_look(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A browser-canvas drawing downscaled to (size, size, 3) uint8 with LANCZOS; 35% inverted."""
    canvas = max(BROWSER_CANVAS, 2 * size)
    small = _browser_mask(kind, rng, canvas).resize((size, size), Image.LANCZOS)
    coverage = np.asarray(small, dtype=np.float32) / 255.0
    inverted = rng.random() < 0.35
    ink, paper = (255.0, 0.0) if inverted else (0.0, 255.0)
    if rng.random() < 0.2:  # a slightly grey canvas or pen colour
        ink = ink + (rng.uniform(-60, 0) if inverted else rng.uniform(0, 60))
        paper = paper + (rng.uniform(0, 25) if inverted else rng.uniform(-25, 0))
    image = paper + (ink - paper) * coverage
    image = np.repeat(image[:, :, None], 3, axis=2)
    if rng.random() < 0.1:
        image = image + rng.normal(0.0, rng.uniform(1.0, 4.0), image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _pen_look(rng: np.random.Generator, size: int, between: bool) -> Look:
    """Parameters of a pen drawing on paper (small, off-centre, thin), or a look between pen and browser."""
    canvas = max(_PEN_RENDER_SIDE, 4 * size)
    px = canvas / size  # render pixels per output pixel
    r = rng.random()
    extent_frac = rng.uniform(0.2, 0.4) if r < 0.15 else rng.uniform(0.4, 0.8) if r < 0.75 else rng.uniform(0.8, 0.95)
    if between:
        extent_frac = rng.uniform(0.3, 0.95)
        width = rng.uniform(1.0, 2.8)
    else:
        width = rng.uniform(0.55, 1.1) if rng.random() < 0.4 else rng.uniform(1.1, 2.0)
    width = min(width, 0.15 * extent_frac * size + 0.4)  # a tiny shape is not drawn with a fat line
    return Look(
        canvas=canvas,
        extent=extent_frac * canvas,
        centred=between and rng.random() < 0.5,
        may_cut=rng.random() < 0.03,
        width=width * px,
        width_var=rng.uniform(0.0, 0.3),
        pressure_var=rng.uniform(0.0, 0.5) if rng.random() < 0.5 else 0.0,
        wobble=rng.uniform(0.0, 0.06),
        tremor=rng.uniform(0.0, 0.012),
        warp=rng.uniform(0.0, 0.09),
        mouse_spacing=0.0,
        speck=rng.random() < 0.05,
    )


def _draw_pen_look(kind: str, rng: np.random.Generator, size: int, between: bool) -> np.ndarray:
    """A scanned pen-on-paper drawing, (size, size, 3) uint8 RGB; 10% inverted (light ink on dark)."""
    look = _pen_look(rng, size, between)
    resample = [Image.LANCZOS, Image.BOX, Image.BILINEAR, Image.HAMMING][int(rng.integers(4))]
    small = shape_mask(kind, rng, look).resize((size, size), resample)
    coverage = np.asarray(small, dtype=np.float32) / 255.0
    paper, ink = _paper_and_ink(rng, inverted=rng.random() < 0.1, thin=look.width < 1.1 * look.canvas / size)
    background = paper + _shading(rng, size)
    image = background + (ink - background) * coverage[:, :, None]
    if rng.random() < 0.6:
        image = image + rng.normal(0.0, rng.uniform(0.5, 6.0), (size, size, 1))
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return _scan_artifacts(image, rng)


def _paper_and_ink(rng: np.random.Generator, inverted: bool, thin: bool) -> tuple[np.ndarray, np.ndarray]:
    """(3,) paper and (3,) ink RGB levels: off-white with grey to black ink, or the inverse.

    A thin stroke (under about 1.1 output px) gets ink no lighter than 100 so it stays visible.
    """
    paper = rng.uniform(230, 255) if rng.random() < 0.8 else rng.uniform(200, 230)
    ink = rng.uniform(0, 60) if rng.random() < 0.6 else rng.uniform(60, 100 if thin else 150)
    paper_rgb = paper + rng.normal(0.0, 3.0, 3)
    ink_rgb = ink + rng.normal(0.0, 6.0, 3)
    if rng.random() < 0.1:  # a blue or brown pen
        ink_rgb = ink_rgb + rng.choice([np.array([-10.0, 0.0, 60.0]), np.array([40.0, 15.0, -10.0])])
    if inverted:
        paper_rgb, ink_rgb = 255.0 - paper_rgb, 255.0 - ink_rgb
    return np.clip(paper_rgb, 0, 255), np.clip(ink_rgb, 0, 255)


def _shading(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 1) gentle linear brightness gradient of a scan (zero most of the time)."""
    if rng.random() < 0.7:
        return np.zeros((size, size, 1))
    yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
    angle = rng.uniform(0, TAU)
    return (rng.uniform(-15, 15) * (xx * np.cos(angle) + yy * np.sin(angle)))[:, :, None]


def _scan_artifacts(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Occasional light blur and/or JPEG compression of an (h, w, 3) uint8 image."""
    if rng.random() >= 0.25:
        return image
    pil = Image.fromarray(image)
    if rng.random() < 0.5:
        pil = pil.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.7))))
    if rng.random() < 0.6:
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=int(rng.integers(40, 90)))
        pil = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return np.asarray(pil, dtype=np.uint8)


"""Synthetic hand-drawn-looking circles, squares and triangles (pure numpy + Pillow).

This is the only training data of the shipped model, which is judged on real human drawings, so every
image is as irregular as people are while staying unambiguous for a human:

* a path per class in "unit" coordinates (shape about 2 units across, y pointing down):
  lopsided / egg-shaped / flattened ellipses; near-rectangular quadrilaterals with bowed sides and
  rounded or sharp corners; triangles of every kind with a bulging side or rounded corners;
* closure effects: overshoot past the start, a gap, a spiral second loop, crossing ticks at corners,
  hooks at the start or end, shapes drawn as one stroke or as several;
* stroke effects: smooth low-frequency wobble, high-frequency tremor, a smooth warp of the whole
  drawing, coarse mouse sampling, width and pressure that vary along the stroke;
* two looks (and everything between): "pen" (small, off-centre, thin grey ink on off-white paper,
  scanned: noise, blur, JPEG) and "browser" (a mouse on a 280x280 canvas: centred, 12-28 px strokes,
  black on white or white on black, downscaled with LANCZOS), about 22% in inverted polarity.

Public API: `draw_shape`, `draw_browser_style`, `generate_dataset`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from shapes_viz.config import CLASS_NAMES, IMAGE_SIZE

BROWSER_CANVAS: int = 280  # side of the browser drawing canvas the "browser" look imitates
BROWSER_WIDTH_RANGE: tuple[float, float] = (12.0, 28.0)  # stroke width in px on a 280 canvas
STYLES: tuple[str, ...] = ("mixed", "browser")
SPLITS: tuple[str, ...] = ("training_set", "test_set")

_PEN_RENDER_SIDE = 224  # the pen look is rendered at >= 8x supersampling for 28x28 output
_TAU = 2.0 * np.pi


# ============================================================================ public API


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
    _check_kind(kind)
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
    _check_kind(kind)
    if isinstance(canvas, bool) or not isinstance(canvas, (int, np.integer)) or canvas < 28:
        raise ValueError(f"canvas must be an integer >= 28, got {canvas!r}")
    mask = np.asarray(_browser_mask(kind, rng, int(canvas)), dtype=np.uint8)
    gray = mask if inverted else 255 - mask
    return np.repeat(gray[:, :, None], 3, axis=2)


def generate_dataset(
    out_dir: str | Path,
    per_class: int,
    seed: int,
    test_fraction: float = 0.3,
    style: str = "mixed",
) -> dict[str, dict[str, int]]:
    """Write a folder data set of 28x28 RGB PNG drawings.

    Layout: out_dir/training_set/<class>/<class>_<i:05d>.png and out_dir/test_set/<class>/<class>_<i:05d>.png.
    round(per_class * test_fraction) images per class go to test_set (at least 1 and at most per_class - 1),
    the rest to training_set. Existing files of the same naming pattern in those folders are replaced (stale
    ones from a larger earlier run are deleted); other files are left alone.

    Args:
        out_dir: root folder (created if missing).
        per_class: images per class, >= 2.
        seed: non-negative integer; the same seed gives byte-identical files.
        test_fraction: share of each class put in test_set, strictly between 0 and 1.
        style: "mixed" (`draw_shape`) or "browser" (`draw_browser_style` downscaled to 28x28 with LANCZOS,
            every second image inverted).

    Returns:
        Counts written: {"training_set": {"circles": n, ...}, "test_set": {"circles": m, ...}}.

    Raises:
        ValueError: per_class < 2, test_fraction outside (0, 1), unknown style, negative or non-integer seed.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 2:
        raise ValueError(f"per_class must be an integer >= 2, got {per_class!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.floating)) or not (
        0.0 < float(test_fraction) < 1.0
    ):
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}; got {style!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    n_test = min(max(int(round(per_class * float(test_fraction))), 1), int(per_class) - 1)
    counts = {"training_set": int(per_class) - n_test, "test_set": n_test}
    out_dir = Path(out_dir)
    result: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
    for split_index, split in enumerate(SPLITS):
        for class_index, kind in enumerate(CLASS_NAMES):
            folder = out_dir / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            _remove_own_files(folder, kind)
            for i in range(counts[split]):
                rng = np.random.default_rng([int(seed), split_index, class_index, i])
                image = _dataset_image(kind, rng, style, inverted=i % 2 == 1)
                Image.fromarray(image).save(folder / f"{kind}_{i:05d}.png", format="PNG")
            result[split][kind] = counts[split]
    return result


# ============================================================================ data set helpers


def _dataset_image(kind: str, rng: np.random.Generator, style: str, inverted: bool) -> np.ndarray:
    """One (IMAGE_SIZE, IMAGE_SIZE, 3) uint8 image of the requested data-set style."""
    if style == "mixed":
        return draw_shape(kind, rng, IMAGE_SIZE)
    big = draw_browser_style(kind, rng, BROWSER_CANVAS, inverted=inverted)
    # The three channels are equal: resizing one is byte-identical to resizing the RGB image, 3x faster.
    small = Image.fromarray(np.ascontiguousarray(big[:, :, 0])).resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS)
    return np.repeat(np.asarray(small, dtype=np.uint8)[:, :, None], 3, axis=2)


def _remove_own_files(folder: Path, kind: str) -> None:
    """Delete files named like this generator's output (<kind>_<digits>.png) in `folder`."""
    pattern = re.compile(rf"{re.escape(kind)}_\d{{5,}}\.png")
    for path in folder.iterdir():
        if path.is_file() and pattern.fullmatch(path.name):
            path.unlink()


def _check_kind(kind: str) -> None:
    if kind not in CLASS_NAMES:
        raise ValueError(f"kind must be one of {', '.join(CLASS_NAMES)}; got {kind!r}")


# ============================================================================ paths per class
# Each returns a list of strokes; a stroke is an (n, 2) float64 array of points in unit coordinates.


def _circle_strokes(rng: np.random.Generator) -> list[np.ndarray]:
    """Lopsided, egg-shaped or flattened ellipse, drawn in either direction from any angle."""
    egg = rng.uniform(0.0, 0.35) if rng.random() < 0.35 else 0.0
    harmonics = [(k, rng.uniform(0.0, amp), rng.uniform(0, _TAU)) for k, amp in ((2, 0.07), (3, 0.03), (4, 0.015))]
    flats = []  # flattened sides: one, or two roughly opposite (never adjacent: that would make a corner)
    if rng.random() < 0.2:
        flats.append((rng.uniform(0, _TAU), rng.uniform(0.84, 0.95)))
        if rng.random() < 0.25:
            flats.append((flats[0][0] + np.pi + rng.normal(0.0, 0.3), rng.uniform(0.86, 0.95)))
    drift = rng.normal(0.0, 0.05)  # the radius creeps in or out: the end misses the start

    def outline(t: np.ndarray, t0: float) -> np.ndarray:
        r = 1.0 + sum(a * np.cos(k * t + p) for k, a, p in harmonics)
        r = r * (1.0 + drift * np.abs(t - t0) / _TAU)
        pts = np.stack([r * np.cos(t), r * np.sin(t) * (1.0 + egg * np.cos(t))], axis=1)
        for angle, dist in flats:  # a flattened side: push the points beyond a chord back onto it
            u = np.array([np.cos(angle), np.sin(angle)])
            pts -= np.maximum(pts @ u - dist, 0.0)[:, None] * u
        return pts

    t0 = rng.uniform(0, _TAU)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if rng.random() < 0.08:  # two arcs, left and right, meeting (roughly) top and bottom
        strokes = []
        for side in (1.0, -1.0):
            span = np.pi + rng.normal(0.0, 0.12)
            t = t0 + side * np.linspace(0.0, span, 50)
            strokes.append(outline(t, t0))
    else:
        closure = rng.random()
        if closure < 0.25:
            turns = 1.0 + rng.normal(0.0, 0.015)  # closes about right
        elif closure < 0.45:
            turns = 1.0 - rng.uniform(0.02, 0.1)  # gap
        elif closure < 0.75:
            turns = 1.0 + rng.uniform(0.03, 0.25)  # overshoot past the start
        elif closure < 0.92:
            turns = 1.0 + rng.uniform(0.3, 0.9)  # spiral: a second partial loop
        else:
            turns = rng.uniform(1.8, 2.1)  # two overlapping loops
            drift = rng.choice([-1.0, 1.0]) * rng.uniform(0.04, 0.12)
        t = t0 + sign * np.linspace(0.0, _TAU * turns, int(90 * turns) + 2)
        strokes = [outline(t, t0)]
    aspect = 1.0 + (rng.uniform(0.0, 0.25) if rng.random() < 0.6 else rng.uniform(0.25, 1.5))
    strokes = [_add_tails(s * np.array([1.0, 1.0 / aspect]), rng, p_hook=0.12) for s in strokes]
    return _rotate(strokes, rng.uniform(0, _TAU))


def _square_strokes(rng: np.random.Generator) -> list[np.ndarray]:
    """Near-rectangular quadrilateral: any aspect and rotation, skewed, bowed sides, some rounded corners."""
    aspect = 1.0 + (rng.uniform(0.0, 0.25) if rng.random() < 0.6 else rng.uniform(0.25, 1.5))
    w, h = (1.0, 1.0 / aspect) if rng.random() < 0.5 else (1.0 / aspect, 1.0)
    verts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], dtype=float)  # TL, TR, BR, BL
    verts[:2, 0] *= 1.0 + rng.normal(0.0, 0.06)  # mild trapezoid
    verts[:, 0] += rng.normal(0.0, 0.06) * verts[:, 1]  # mild parallelogram shear
    verts += rng.normal(0.0, 0.05, size=verts.shape) * max(w, h)  # uneven sides, not quite parallel
    rounded = rng.random() < 0.35
    radius = rng.uniform(0.04, 0.2) * 2.0 * min(w, h) if rounded else 0.0
    bow_scale = 0.02 if rounded else 0.035
    bows = np.clip(rng.normal(0.0, bow_scale, 4), -0.07, 0.07)
    bows *= min(w, h) / np.array([w, h, w, h])  # a long side bows no more than a short one
    groups = _pick_groups(rng, 4, [(0.55, [[0, 1, 2, 3]]), (0.15, [[0, 1], [2, 3]]), (0.12, [[0], [1], [2], [3]]),
                                   (0.1, [[0, 1, 2], [3]]), (0.08, [[0], [1, 2, 3]])])
    strokes = _polygon_strokes(verts, groups, radius, bows, rng)
    angle = _pick_angle(rng, [(0.55, 0.0, 0.1), (0.15, np.pi / 4, 0.1), (0.3, 0.0, np.pi)])
    return _rotate(strokes, angle)


def _triangle_strokes(rng: np.random.Generator) -> list[np.ndarray]:
    """Any kind of triangle, any rotation, sometimes a bulging side, rounded corners or an open corner."""
    verts = _triangle_vertices(rng)
    side_lengths = np.linalg.norm(verts - np.roll(verts, -1, axis=0), axis=1)
    radius = rng.uniform(0.04, 0.15) * side_lengths.min() if rng.random() < 0.3 else 0.0
    bows = np.clip(rng.normal(0.0, 0.025, 3), -0.05, 0.05)
    if rng.random() < 0.2:  # one clearly curved side, bulging outwards (or, on a fat triangle, inwards)
        fat = _flatness(verts) > 0.5
        outward = rng.uniform(0.07, 0.14 if fat else 0.1)
        bows[rng.integers(3)] = outward if rng.random() < 0.75 or not fat else -rng.uniform(0.05, 0.09)
    groups = _pick_groups(rng, 3, [(0.72, [[0, 1, 2]]), (0.2, [[0, 1], [2]]), (0.08, [[0], [1], [2]])])
    strokes = _polygon_strokes(verts, groups, radius, bows, rng)
    angle = _pick_angle(rng, [(0.5, 0.0, 0.15), (0.1, np.pi, 0.15), (0.4, 0.0, np.pi)])
    return _rotate(strokes, angle)


_CLASS_PATHS = {"circles": _circle_strokes, "squares": _square_strokes, "triangles": _triangle_strokes}


def _triangle_vertices(rng: np.random.Generator) -> np.ndarray:
    """(3, 2) vertices of a random kind of triangle, base at the bottom, about 2 units across, centred.

    Kinds: equilateral, isosceles, right-angled, scalene, obtuse, thin/tall. Slivers are rejected: the
    smallest altitude is at least 0.33 of the longest side, so every triangle reads as a triangle.
    """
    kinds = ["equilateral", "isosceles", "right", "scalene", "obtuse", "thin"]
    kind = kinds[int(rng.choice(len(kinds), p=[0.2, 0.25, 0.17, 0.18, 0.1, 0.1]))]
    for _ in range(50):
        a, b = _triangle_base_angles(kind, rng)
        if rng.random() < 0.5:
            a, b = b, a
        angles = np.radians([a, b, 180.0 - a - b])
        sides = np.sin(angles)  # law of sines: side opposite each angle
        flatness = sides[0] * sides[1] * np.sin(angles[2]) / sides.max() ** 2
        if angles.min() >= np.radians(18.0) and flatness >= 0.33:
            break
    apex_dist = np.sin(angles[1]) / np.sin(angles[0] + angles[1])  # base of length 1 along y = 0
    apex = np.array([apex_dist * np.cos(angles[0]), -apex_dist * np.sin(angles[0])])
    verts = np.array([apex, [1.0, 0.0], [0.0, 0.0]])
    return (verts - verts.mean(axis=0)) * (2.0 / np.ptp(verts, axis=0).max())


def _flatness(verts: np.ndarray) -> float:
    """2 * area / longest side ** 2 of a triangle: its smallest altitude over its longest side."""
    (x1, y1), (x2, y2) = verts[1] - verts[0], verts[2] - verts[0]
    longest = np.linalg.norm(verts - np.roll(verts, -1, axis=0), axis=1).max()
    return float(abs(x1 * y2 - x2 * y1) / longest**2)


def _triangle_base_angles(kind: str, rng: np.random.Generator) -> tuple[float, float]:
    """The two base angles in degrees of a triangle of the given kind."""
    if kind == "equilateral":
        return tuple(60.0 + rng.normal(0.0, 3.0, 2))
    if kind == "isosceles":
        a = rng.uniform(35.0, 78.0)
        return a, a + rng.normal(0.0, 2.0)
    if kind == "right":
        return 90.0 + rng.normal(0.0, 3.0), rng.uniform(28.0, 62.0)
    if kind == "scalene":
        a = rng.uniform(28.0, 95.0)
        return a, rng.uniform(25.0, 155.0 - a)
    if kind == "obtuse":
        a = rng.uniform(98.0, 122.0)
        return a, rng.uniform(20.0, 160.0 - a)
    a = rng.uniform(70.0, 80.0)  # thin / tall isosceles
    return a, a + rng.normal(0.0, 1.5)


# ============================================================================ polygon helpers


def _pick_groups(
    rng: np.random.Generator, n_sides: int, options: list[tuple[float, list[list[int]]]]
) -> list[list[int]]:
    """Choose how the sides are split into pen strokes (lists of consecutive side indices)."""
    probs = np.array([p for p, _ in options])
    groups = options[int(rng.choice(len(options), p=probs / probs.sum()))][1]
    shift = int(rng.integers(n_sides))  # where the drawing starts
    return [[(i + shift) % n_sides for i in g] for g in groups]


def _pick_angle(rng: np.random.Generator, options: list[tuple[float, float, float]]) -> float:
    """Rotation from a mixture of (probability, centre, half-width) uniform bands."""
    probs = np.array([p for p, _, _ in options])
    _, centre, half = options[int(rng.choice(len(options), p=probs / probs.sum()))]
    return centre + rng.uniform(-half, half)


def _polygon_strokes(
    verts: np.ndarray, groups: list[list[int]], radius: float, bows: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    """Strokes along groups of consecutive polygon sides, with closure / overshoot / gap effects.

    verts: (k, 2) polygon corners; side i runs verts[i] -> verts[(i+1) % k]. A single group holding every side
    is one closed stroke (its end overshoots into a tick, retraces, or stops short); several groups are
    separate strokes whose ends overshoot (crossing ticks) or stop short (corner gaps).
    """
    k = len(verts)
    centroid = verts.mean(axis=0)
    mean_side = float(np.mean(np.linalg.norm(verts - np.roll(verts, -1, axis=0), axis=1)))
    strokes = []
    for group in groups:
        idx = group + [(group[-1] + 1) % k]
        path = _polyline(verts[idx], radius, bows[group], centroid)
        if rng.random() < 0.4:  # drawn the other way round
            path = path[::-1]
        if len(group) == k:  # one closed stroke
            closure = rng.random()
            if closure < 0.3:
                path = _extend(path, end=rng.uniform(-0.02, 0.03) * mean_side)
            elif closure < 0.5:
                path = _extend(path, end=-rng.uniform(0.03, 0.12) * mean_side)  # corner left open
            elif closure < 0.8:
                path = _extend(path, end=rng.uniform(0.04, 0.2) * mean_side, curl=rng.normal(0, 0.4))  # tick
            else:
                path = _retrace(path, rng.uniform(0.08, 0.35) * mean_side)  # goes on along the first side
            path = _add_tails(path, rng, p_hook=0.1)
        else:
            ends = [rng.uniform(-0.06, 0.16) * mean_side if rng.random() < 0.7 else 0.0 for _ in range(2)]
            path = _extend(path, start=ends[0], end=ends[1], curl=rng.normal(0, 0.3))
        strokes.append(path)
    return strokes


def _polyline(points: np.ndarray, radius: float, bows: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Dense points along points[0] -> points[1] -> ... with bowed sides and rounded inner corners.

    points: (m, 2) corners; bows: (m-1,) side bulge as a fraction of the side length (positive: away from
    `centroid`); radius: fillet distance cut from each side at inner corners (0: sharp corners).
    """
    m = len(points)
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cut = np.zeros(m)
    if radius > 0:
        for j in range(1, m - 1):
            cut[j] = min(radius, 0.45 * lengths[j - 1], 0.45 * lengths[j])
    pieces = []
    for i in range(m - 1):
        p, q = points[i], points[i + 1]
        d = (q - p) / max(lengths[i], 1e-9)
        a, b = p + d * cut[i], q - d * cut[i + 1]
        normal = np.array([-d[1], d[0]])
        mid = (a + b) / 2.0
        if np.dot(normal, mid - centroid) < 0:
            normal = -normal
        control = mid + normal * 2.0 * bows[i] * np.linalg.norm(b - a)
        pieces.append(_bezier(a, control, b, max(4, int(np.linalg.norm(b - a) * 16))))
        if i + 1 < m - 1 and cut[i + 1] > 0:
            q2 = points[i + 2]
            d2 = (q2 - q) / max(lengths[i + 1], 1e-9)
            pieces.append(_bezier(b, q, q + d2 * cut[i + 1], 8)[1:-1])
    path = np.concatenate(pieces)
    return path[np.r_[True, np.any(np.diff(path, axis=0) != 0, axis=1)]]  # no repeated corner points


def _bezier(a: np.ndarray, c: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) points on the quadratic Bezier curve a -> (control c) -> b, endpoints included."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * c + t**2 * b


# ============================================================================ stroke effects


def _arc_length(path: np.ndarray) -> np.ndarray:
    """(n,) cumulative arc length along an (n, 2) path, starting at 0."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])


def _direction(path: np.ndarray, at_end: bool) -> np.ndarray:
    """Unit tangent leaving the path at its end (or, reversed, at its start)."""
    p = path if at_end else path[::-1]
    s = _arc_length(p[::-1])
    j = int(min(np.searchsorted(s, 0.06), len(p) - 1))
    j = max(j, 1)
    d = p[-1] - p[-1 - j]
    return d / max(np.linalg.norm(d), 1e-9)


def _tail(start: np.ndarray, direction: np.ndarray, length: float, curl: float) -> np.ndarray:
    """Points of a tail leaving `start` along `direction`, turning by `curl` radians over `length`."""
    n = max(3, int(length * 30))
    heading = np.arctan2(direction[1], direction[0]) + np.linspace(0.0, curl, n)
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * (length / n)
    return start + np.cumsum(steps, axis=0)


def _trim(path: np.ndarray, amount: float) -> np.ndarray:
    """The path shortened by `amount` arc length at its end (at least two points kept)."""
    s = _arc_length(path)
    keep = s <= s[-1] - amount
    if keep.sum() < 2:
        return path[:2]
    return path[keep]


def _extend(path: np.ndarray, start: float = 0.0, end: float = 0.0, curl: float = 0.0) -> np.ndarray:
    """Lengthen (positive: a straight-ish tail, slightly curled) or shorten (negative) each end."""
    if end > 0:
        path = np.concatenate([path, _tail(path[-1], _direction(path, True), end, curl)])
    elif end < 0:
        path = _trim(path, -end)
    if start > 0:
        path = np.concatenate([_tail(path[0], _direction(path, False), start, -curl)[::-1], path])
    elif start < 0:
        path = _trim(path[::-1], -start)[::-1]
    return path


def _retrace(path: np.ndarray, amount: float) -> np.ndarray:
    """A closed path that carries on over its own beginning for `amount` arc length."""
    s = _arc_length(path)
    return np.concatenate([path, path[1 : max(2, int(np.searchsorted(s, amount)))]])


def _add_tails(path: np.ndarray, rng: np.random.Generator, p_hook: float) -> np.ndarray:
    """Sometimes a small hook (a curled tail) at the start and/or the end of a stroke."""
    for at_end in (False, True):
        if rng.random() < p_hook:
            length = rng.uniform(0.06, 0.18)
            curl = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 2.5)
            tail = _tail(path[-1] if at_end else path[0], _direction(path, at_end), length, curl)
            path = np.concatenate([path, tail]) if at_end else np.concatenate([tail[::-1], path])
    return path


def _wobble(path: np.ndarray, rng: np.random.Generator, amount: float, tremor: float) -> np.ndarray:
    """Smooth low-frequency displacement along the path plus smoothed high-frequency tremor."""
    s = _arc_length(path)
    total = max(s[-1], 1e-9)
    shift = np.zeros_like(path)
    for _ in range(3):  # the three waves together rarely exceed `amount`; faster waves are weaker
        cycles = rng.uniform(0.5, 4.0)
        freq = cycles / total
        amp = rng.uniform(0.0, amount, 2) / (1.0 + cycles)
        shift += amp * np.sin(_TAU * freq * s[:, None] + rng.uniform(0, _TAU, 2))
    noise = rng.normal(0.0, tremor, path.shape)
    for _ in range(2):
        noise[1:-1] = 0.25 * noise[:-2] + 0.5 * noise[1:-1] + 0.25 * noise[2:]
    return path + shift + noise


def _warp(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
    """One smooth sinusoidal warp of the plane applied to every stroke: a lopsided drawing."""
    kx, ky = rng.uniform(0.6, 1.6, 2)
    px, py = rng.uniform(0, _TAU, 2)
    ax, ay = rng.uniform(0.0, amount, 2)
    out = []
    for s in strokes:
        x, y = s[:, 0], s[:, 1]
        out.append(np.stack([x + ax * np.sin(ky * y + px), y + ay * np.sin(kx * x + py)], axis=1))
    return out


def _rotate(strokes: list[np.ndarray], angle: float) -> list[np.ndarray]:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    return [p @ rot for p in strokes]


def _mouse_sampling(path: np.ndarray, rng: np.random.Generator, spacing: float) -> np.ndarray:
    """Keep points about `spacing` apart (irregularly), like mousemove events joined by straight lines."""
    s = _arc_length(path)
    if s[-1] <= 2 * spacing:
        return path
    steps = spacing * rng.uniform(0.5, 1.5, int(s[-1] / spacing * 2) + 2)
    targets = np.cumsum(np.concatenate([[0.0], steps]))
    targets = np.append(targets[targets < s[-1]], s[-1])
    return np.stack([np.interp(targets, s, path[:, 0]), np.interp(targets, s, path[:, 1])], axis=1)


# ============================================================================ placement and rendering


@dataclass(frozen=True)
class _Look:
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


def _shape_mask(kind: str, rng: np.random.Generator, look: _Look) -> Image.Image:
    """The drawing's ink coverage as a Pillow "L" image of side look.canvas (255 = full ink)."""
    strokes = _CLASS_PATHS[kind](rng)
    strokes = [_wobble(s, rng, look.wobble, look.tremor) for s in strokes]
    strokes = _warp(strokes, rng, look.warp)
    strokes = _place(strokes, rng, look)
    if look.mouse_spacing > 0:
        strokes = [_mouse_sampling(s, rng, look.mouse_spacing) for s in strokes]
    image = Image.new("L", (look.canvas, look.canvas), 0)
    draw = ImageDraw.Draw(image)
    for s in strokes:
        _draw_stroke(draw, s, _width_profile(s, rng, look), _pressure_profile(s, rng, look.pressure_var))
    if look.speck:
        _draw_speck(draw, rng, look)
    return image


def _place(strokes: list[np.ndarray], rng: np.random.Generator, look: _Look) -> list[np.ndarray]:
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
    return sum(np.sin(_TAU * rng.uniform(0.3, 2.0) * t + rng.uniform(0, _TAU)) for _ in range(2)) / 1.5


def _width_profile(stroke: np.ndarray, rng: np.random.Generator, look: _Look) -> np.ndarray:
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
    turn = np.abs((np.diff(heading) + np.pi) % _TAU - np.pi)  # turn at points 1..n-2
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


def _draw_speck(draw: ImageDraw.ImageDraw, rng: np.random.Generator, look: _Look) -> None:
    """A stray dot or a short speck somewhere on the canvas."""
    x, y = rng.uniform(0.05, 0.95, 2) * look.canvas
    r = look.width * rng.uniform(0.3, 0.8)
    if rng.random() < 0.5:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=int(rng.uniform(120, 255)))
    else:
        dx, dy = rng.normal(0.0, look.canvas * 0.03, 2)
        draw.line([(x, y), (x + dx, y + dy)], fill=int(rng.uniform(120, 255)), width=max(1, int(r)))


# ============================================================================ the two looks


def _browser_look(rng: np.random.Generator, canvas: int) -> _Look:
    """Parameters of a mouse drawing on a browser canvas of side `canvas`."""
    unit = canvas / BROWSER_CANVAS
    return _Look(
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
    mask = _shape_mask(kind, rng, _browser_look(rng, canvas))
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


def _pen_look(rng: np.random.Generator, size: int, between: bool) -> _Look:
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
    return _Look(
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
    small = _shape_mask(kind, rng, look).resize((size, size), resample)
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
    angle = rng.uniform(0, _TAU)
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

"""A path per class, as strokes in "unit" coordinates (shape about 2 units across, y pointing down).

Lopsided / egg-shaped / flattened ellipses; near-rectangular quadrilaterals with bowed sides and rounded or
sharp corners; triangles of every kind with a bulging side or rounded corners. Closure effects: overshoot
past the start, a gap, a spiral second loop, crossing ticks at corners, hooks at the start or end, shapes
drawn as one stroke or as several. Each path function returns a list of strokes; a stroke is an (n, 2)
float64 array of points.
"""

from __future__ import annotations

import numpy as np

from shapes_viz.generator.strokes import TAU, add_tails, extend, retrace, rotate


def _circle_strokes(rng: np.random.Generator) -> list[np.ndarray]:
    """Lopsided, egg-shaped or flattened ellipse, drawn in either direction from any angle."""
    egg = rng.uniform(0.0, 0.35) if rng.random() < 0.35 else 0.0
    harmonics = [(k, rng.uniform(0.0, amp), rng.uniform(0, TAU)) for k, amp in ((2, 0.07), (3, 0.03), (4, 0.015))]
    flats = []  # flattened sides: one, or two roughly opposite (never adjacent: that would make a corner)
    if rng.random() < 0.2:
        flats.append((rng.uniform(0, TAU), rng.uniform(0.84, 0.95)))
        if rng.random() < 0.25:
            flats.append((flats[0][0] + np.pi + rng.normal(0.0, 0.3), rng.uniform(0.86, 0.95)))
    drift = rng.normal(0.0, 0.05)  # the radius creeps in or out: the end misses the start

    def outline(t: np.ndarray, t0: float) -> np.ndarray:
        r = 1.0 + sum(a * np.cos(k * t + p) for k, a, p in harmonics)
        r = r * (1.0 + drift * np.abs(t - t0) / TAU)
        pts = np.stack([r * np.cos(t), r * np.sin(t) * (1.0 + egg * np.cos(t))], axis=1)
        for angle, dist in flats:  # a flattened side: push the points beyond a chord back onto it
            u = np.array([np.cos(angle), np.sin(angle)])
            pts -= np.maximum(pts @ u - dist, 0.0)[:, None] * u
        return pts

    t0 = rng.uniform(0, TAU)
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
        t = t0 + sign * np.linspace(0.0, TAU * turns, int(90 * turns) + 2)
        strokes = [outline(t, t0)]
    aspect = 1.0 + (rng.uniform(0.0, 0.25) if rng.random() < 0.6 else rng.uniform(0.25, 1.5))
    strokes = [add_tails(s * np.array([1.0, 1.0 / aspect]), rng, p_hook=0.12) for s in strokes]
    return rotate(strokes, rng.uniform(0, TAU))


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
    return rotate(strokes, angle)


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
    return rotate(strokes, angle)


CLASS_PATHS = {"circles": _circle_strokes, "squares": _square_strokes, "triangles": _triangle_strokes}


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
                path = extend(path, end=rng.uniform(-0.02, 0.03) * mean_side)
            elif closure < 0.5:
                path = extend(path, end=-rng.uniform(0.03, 0.12) * mean_side)  # corner left open
            elif closure < 0.8:
                path = extend(path, end=rng.uniform(0.04, 0.2) * mean_side, curl=rng.normal(0, 0.4))  # tick
            else:
                path = retrace(path, rng.uniform(0.08, 0.35) * mean_side)  # goes on along the first side
            path = add_tails(path, rng, p_hook=0.1)
        else:
            ends = [rng.uniform(-0.06, 0.16) * mean_side if rng.random() < 0.7 else 0.0 for _ in range(2)]
            path = extend(path, start=ends[0], end=ends[1], curl=rng.normal(0, 0.3))
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


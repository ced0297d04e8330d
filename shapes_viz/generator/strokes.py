"""What a hand does to a path: tails, overshoot and trim, wobble, tremor, a warp, coarse mouse sampling.

A path (stroke) is an (n, 2) float64 array of points; the functions return new arrays.
"""

from __future__ import annotations

import numpy as np

TAU = 2.0 * np.pi


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


def extend(path: np.ndarray, start: float = 0.0, end: float = 0.0, curl: float = 0.0) -> np.ndarray:
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


def retrace(path: np.ndarray, amount: float) -> np.ndarray:
    """A closed path that carries on over its own beginning for `amount` arc length."""
    s = _arc_length(path)
    return np.concatenate([path, path[1 : max(2, int(np.searchsorted(s, amount)))]])


def add_tails(path: np.ndarray, rng: np.random.Generator, p_hook: float) -> np.ndarray:
    """Sometimes a small hook (a curled tail) at the start and/or the end of a stroke."""
    for at_end in (False, True):
        if rng.random() < p_hook:
            length = rng.uniform(0.06, 0.18)
            curl = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 2.5)
            tail = _tail(path[-1] if at_end else path[0], _direction(path, at_end), length, curl)
            path = np.concatenate([path, tail]) if at_end else np.concatenate([tail[::-1], path])
    return path


def wobble(path: np.ndarray, rng: np.random.Generator, amount: float, tremor: float) -> np.ndarray:
    """Smooth low-frequency displacement along the path plus smoothed high-frequency tremor."""
    s = _arc_length(path)
    total = max(s[-1], 1e-9)
    shift = np.zeros_like(path)
    for _ in range(3):  # the three waves together rarely exceed `amount`; faster waves are weaker
        cycles = rng.uniform(0.5, 4.0)
        freq = cycles / total
        amp = rng.uniform(0.0, amount, 2) / (1.0 + cycles)
        shift += amp * np.sin(TAU * freq * s[:, None] + rng.uniform(0, TAU, 2))
    noise = rng.normal(0.0, tremor, path.shape)
    for _ in range(2):
        noise[1:-1] = 0.25 * noise[:-2] + 0.5 * noise[1:-1] + 0.25 * noise[2:]
    return path + shift + noise


def warp(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
    """One smooth sinusoidal warp of the plane applied to every stroke: a lopsided drawing."""
    kx, ky = rng.uniform(0.6, 1.6, 2)
    px, py = rng.uniform(0, TAU, 2)
    ax, ay = rng.uniform(0.0, amount, 2)
    out = []
    for s in strokes:
        x, y = s[:, 0], s[:, 1]
        out.append(np.stack([x + ax * np.sin(ky * y + px), y + ay * np.sin(kx * x + py)], axis=1))
    return out


def rotate(strokes: list[np.ndarray], angle: float) -> list[np.ndarray]:
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    return [p @ rot for p in strokes]


def mouse_sampling(path: np.ndarray, rng: np.random.Generator, spacing: float) -> np.ndarray:
    """Keep points about `spacing` apart (irregularly), like mousemove events joined by straight lines."""
    s = _arc_length(path)
    if s[-1] <= 2 * spacing:
        return path
    steps = spacing * rng.uniform(0.5, 1.5, int(s[-1] / spacing * 2) + 2)
    targets = np.cumsum(np.concatenate([[0.0], steps]))
    targets = np.append(targets[targets < s[-1]], s[-1])
    return np.stack([np.interp(targets, s, path[:, 0]), np.interp(targets, s, path[:, 1])], axis=1)


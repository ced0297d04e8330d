"""Can you trust an attribution map? Deletion and insertion curves against references, and the same method on
a randomised network.

Deletion: the target's probability as the map's most important pixels are turned to paper, most important
first (a faithful map makes it fall fast: a low area under the curve). Insertion: the probability as those
pixels are revealed on blank paper (a faithful map makes it rise fast: a high area). References: random maps,
and the drawing's own ink taken as the map ("ink first": on line drawings a strong reference; a method that
cannot beat it says nothing beyond where the ink is).

Sanity check (Adebayo et al. 2018): the same method on the same network with every weight re-drawn at
random. A map that stays alike (high rank correlation) shows the drawing, not what the network learnt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shapes_viz.config import EXPLAIN, PAPER, ExplainSettings
from shapes_viz.engine.gradients import trace
from shapes_viz.engine.layers import layer_from_spec
from shapes_viz.engine.numpy_engine import NumpyEngine


@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve: the target's probability at each fraction of the pixels changed.

    Attributes:
        fractions: (K,) float32 from 0 to 1.
        probabilities: (K,) float32.
        area: the area under the curve (trapezoid rule over the fractions), in [0, 1].
    """

    fractions: np.ndarray
    probabilities: np.ndarray
    area: float


@dataclass(frozen=True)
class Faithfulness:
    """Deletion and insertion of a map, of random maps (mean) and of the ink taken as the map.

    Lower deletion area and higher insertion area are better.
    """

    deletion: Curve
    insertion: Curve
    random_deletion: Curve
    random_insertion: Curve
    ink_deletion: Curve
    ink_insertion: Curve


def pixel_order(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """(784,) int: the pixels of a (28, 28) map from most to least important, ties in a seeded random order."""
    values = np.asarray(values, dtype=np.float64).ravel()
    tie_breaker = np.random.default_rng(seed).random(values.size)
    return np.lexsort((tie_breaker, -values))


def curves(engine: NumpyEngine, x: np.ndarray, values: np.ndarray, target: int,
           settings: ExplainSettings = EXPLAIN) -> tuple[Curve, Curve]:
    """The deletion and insertion curves of one (28, 28) map for (1, 28, 28, 3) input `x`."""
    order = pixel_order(values, settings.seed)
    steps = settings.curve_steps
    fractions = np.linspace(0.0, 1.0, steps, dtype=np.float32)
    counts = np.round(fractions * order.size).astype(int)
    height, width = x.shape[1:3]
    ranks = np.empty(order.size, int)
    ranks[order] = np.arange(order.size)
    ranks = ranks.reshape(height, width)
    changed = ranks[None, :, :] < counts[:, None, None]  # (steps, 28, 28): the pixels changed at each step
    paper = np.full_like(x, PAPER)
    deleted = np.where(changed[..., None], paper, x)
    inserted = np.where(changed[..., None], x, paper)
    probabilities = trace(engine, np.concatenate([deleted, inserted]).astype(np.float32)).probabilities[:, target]
    return _curve(fractions, probabilities[:steps]), _curve(fractions, probabilities[steps:])


def faithfulness(engine: NumpyEngine, x: np.ndarray, values: np.ndarray, target: int,
                 settings: ExplainSettings = EXPLAIN) -> Faithfulness:
    """The map's curves beside those of random maps (their mean) and of the ink."""
    deletion, insertion = curves(engine, x, values, target, settings)
    rng = np.random.default_rng(settings.seed)
    random = [curves(engine, x, rng.random(values.shape), target, settings) for _ in range(settings.random_maps)]
    ink = 1.0 - x[0, ..., 0]
    ink_deletion, ink_insertion = curves(engine, x, ink, target, settings)
    return Faithfulness(deletion, insertion, _mean([r[0] for r in random]), _mean([r[1] for r in random]),
                        ink_deletion, ink_insertion)


def _curve(fractions: np.ndarray, probabilities: np.ndarray) -> Curve:
    probabilities = probabilities.astype(np.float32)
    area = float(np.sum((probabilities[1:] + probabilities[:-1]) / 2 * np.diff(fractions)))
    return Curve(fractions, probabilities, area)


def _mean(items: list[Curve]) -> Curve:
    return _curve(items[0].fractions, np.mean([c.probabilities for c in items], axis=0))


def randomised(engine: NumpyEngine, seed: int = EXPLAIN.seed) -> NumpyEngine:
    """The same layers with every weight re-drawn as Keras initialises them (Glorot uniform kernels, zero
    biases): the network before any training, for the sanity check."""
    rng = np.random.default_rng(seed)
    layers = []
    for layer in engine.layers:
        weights = []
        for array in layer.weights:
            if array.ndim == 1:
                weights.append(np.zeros_like(array))
                continue
            receptive = int(np.prod(array.shape[:-2])) if array.ndim > 2 else 1
            fan_in, fan_out = array.shape[-2] * receptive, array.shape[-1] * receptive
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            weights.append(rng.uniform(-limit, limit, array.shape).astype(np.float32))
        layers.append(layer_from_spec(layer.spec, tuple(weights)))
    return NumpyEngine(layers)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape (ties get their mean rank), in [-1, 1]."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"Expected two maps of the same size. Received: a.size={a.size}, b.size={b.size}")
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (0-based) of a 1-D array, ties sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, np.float64)
    ranks[order] = np.arange(values.size)
    unique, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    return (sums / counts)[inverse]

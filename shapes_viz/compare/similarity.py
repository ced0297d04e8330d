"""How alike two inputs look to each layer: the cosine similarity of their activations, layer by layer.

Early layers see strokes and edges, so two drawings of different classes look alike there; deep layers see
classes, so the similarity of same-class pairs pulls away from that of different-class pairs with depth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shapes_viz.engine.results import Activations


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays of the same shape, flattened (float64 sums).

    Two all-zero arrays are identical (1.0); one all-zero array against another is 0.0.

    Raises:
        ValueError: the shapes differ (the message says what was received).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"Arrays to compare must have the same size. Received: a.size={a.size}, b.size={b.size}")
    norm_a, norm_b = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if norm_a == 0.0 and norm_b == 0.0:
        return 1.0
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return float(np.dot(a, b) / (norm_a * norm_b))


def layer_similarity(a: Activations, b: Activations) -> np.ndarray:
    """(L,) float64: the cosine similarity of A's and B's outputs at each layer, in layer order.

    Raises:
        ValueError: the two results do not come from the same layers.
    """
    names_a = [layer.name for layer in a.layers]
    names_b = [layer.name for layer in b.layers]
    if names_a != names_b:
        raise ValueError(f"A and B must come from the same model. Received: layers {names_a} and {names_b}")
    return np.array([cosine(la.values, lb.values) for la, lb in zip(a.layers, b.layers)], dtype=np.float64)


def similarity_matrices(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """(L, N, N) float64: for each layer, the cosine similarity of every two samples of a batch.

    Args:
        outputs: one (N, ...) array per layer, e.g. `NumpyEngine.forward(images)`.
    """
    result = []
    for out in outputs:
        flat = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
        norms = np.linalg.norm(flat, axis=1)
        unit = flat / np.where(norms == 0.0, 1.0, norms)[:, None]
        gram = unit @ unit.T
        zero = norms == 0.0
        gram[np.ix_(zero, zero)] = 1.0  # two all-zero outputs are identical, as in `cosine`
        result.append(gram)
    return np.stack(result)


def class_gap(outputs: Sequence[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """(L,) float64: mean similarity of same-class pairs minus that of different-class pairs, per layer.

    Every unordered pair (i < j) of the batch counts once.

    Args:
        outputs: one (N, ...) array per layer.
        labels: (N,) int class of each sample.

    Raises:
        ValueError: the batch has no same-class pair or no different-class pair.
    """
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    if not same.any() or same.all():
        raise ValueError(f"Need pairs of the same and of different classes. Received: labels={labels.tolist()}")
    sims = similarity_matrices(outputs)[:, i, j]
    return sims[:, same].mean(axis=1) - sims[:, ~same].mean(axis=1)

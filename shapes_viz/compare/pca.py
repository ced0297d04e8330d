"""A 2-D PCA of one layer's outputs over the data set: fitted once, then any new input is placed instantly.

Unlike t-SNE, a PCA is a fixed linear map: a new drawing lands exactly where a data-set drawing with the same
activations would, in a few microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pca:
    """A fitted PCA.

    Attributes:
        mean: (D,) float64 mean of the fitted features.
        components: (k, D) float64 principal directions (rows, unit length), largest variance first; the sign
            of each is fixed so that its largest-magnitude coordinate is positive (reproducible).
        explained: (k,) float64 fraction of the total variance along each component.
        points: (N, k) float64 the fitted samples' coordinates.
    """

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    points: np.ndarray

    def project(self, features: np.ndarray) -> np.ndarray:
        """(M, k) float64 coordinates of (M, D) (or (D,) -> (1, k)) features.

        Raises:
            ValueError: the features have another dimension than the fitted ones.
        """
        features = np.asarray(features, dtype=np.float64)
        features = features.reshape(1, -1) if features.ndim == 1 else features.reshape(len(features), -1)
        if features.shape[1] != self.mean.shape[0]:
            raise ValueError(f"Features must have {self.mean.shape[0]} values each. "
                             f"Received: features.shape={features.shape}")
        return (features - self.mean) @ self.components.T


def fit(features: np.ndarray, k: int = 2) -> Pca:
    """Fit a k-component PCA to (N, ...) features (flattened to (N, D)) with numpy's SVD.

    Raises:
        ValueError: fewer than 2 samples or fewer features than components.
    """
    features = np.asarray(features, dtype=np.float64)
    features = features.reshape(len(features), -1)
    if features.shape[0] < 2 or features.shape[1] < k:
        raise ValueError(f"A PCA needs at least 2 samples of at least {k} values. Received: "
                         f"features.shape={features.shape}")
    mean = features.mean(axis=0)
    centred = features - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:k]
    signs = np.sign(components[np.arange(k), np.argmax(np.abs(components), axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    total = float((singular ** 2).sum())
    explained = (singular[:k] ** 2) / total if total > 0 else np.zeros(k)
    return Pca(mean=mean, components=components, explained=explained, points=centred @ components.T)

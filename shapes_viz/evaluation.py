"""Accuracy, per-class accuracy, confusion matrix and misclassified files of a model on a data folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shapes_viz.config import CLASS_NAMES, NUM_CLASSES
from shapes_viz.dataset import LabeledImages, load_folder
from shapes_viz.engine import Engine


@dataclass(frozen=True)
class Misclassified:
    """One wrongly predicted image: its file, true and predicted class indices, (3,) float32 probabilities."""

    path: str
    true_index: int
    predicted_index: int
    probabilities: np.ndarray


@dataclass(frozen=True)
class EvaluationResult:
    """Attributes:
        confusion: (3, 3) int64, rows = true class, columns = predicted class.
        per_class_accuracy: {class name: accuracy} for classes with images.
        accuracy, correct, total: overall figures.
        misclassified: every wrong prediction, in file order.
        skipped: (path, reason) of files that could not be used.
    """

    confusion: np.ndarray
    per_class_accuracy: dict[str, float]
    accuracy: float
    correct: int
    total: int
    misclassified: list[Misclassified]
    skipped: list[tuple[str, str]]

    def summary_line(self) -> str:
        """E.g. "accuracy: 0.9733 (292/300)"."""
        return f"accuracy: {self.accuracy:.4f} ({self.correct}/{self.total})"


def evaluate_arrays(engine: Engine, data: LabeledImages) -> EvaluationResult:
    """Evaluate `engine` (see `shapes_viz.engine`) on already loaded images."""
    probabilities = engine.probabilities(data.images)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(confusion, (data.labels, predicted), 1)
    per_class = {
        name: float(confusion[i, i] / confusion[i].sum())
        for i, name in enumerate(CLASS_NAMES)
        if confusion[i].sum() > 0
    }
    correct = int(np.trace(confusion))
    total = int(confusion.sum())
    wrong = [
        Misclassified(data.paths[i], int(data.labels[i]), int(predicted[i]), probabilities[i])
        for i in np.flatnonzero(predicted != data.labels)
    ]
    return EvaluationResult(confusion, per_class, correct / total, correct, total, wrong, list(data.skipped))


def evaluate(engine: Engine, folder: str | Path) -> EvaluationResult:
    """Evaluate on a folder of class subfolders (images found recursively; any subset of classes).

    Raises:
        DatasetError: the folder is missing, has unknown class folders or no usable image.
    """
    return evaluate_arrays(engine, load_folder(folder))

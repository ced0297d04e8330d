"""Accuracy, per-class accuracy, confusion matrix and misclassified files of a model on a data folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shapes_viz.config import CLASS_NAMES, NUM_CLASSES
from shapes_viz.dataset import LabeledImages, load_folder


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


def predict_batch(model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """(N, 3) float32 probabilities for (N, 28, 28, 3) float32 images (a direct call, no `predict`)."""
    outputs = [
        np.asarray(model(images[i : i + batch_size], training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES), np.float32)


def evaluate_arrays(model, data: LabeledImages) -> EvaluationResult:
    """Evaluate `model` (a Keras model, or an ActivationEngine) on already loaded images."""
    model = getattr(model, "model", model)
    probabilities = predict_batch(model, data.images)
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


def evaluate(model, folder: str | Path) -> EvaluationResult:
    """Evaluate on a folder of class subfolders (images found recursively; any subset of classes).

    Raises:
        DatasetError: the folder is missing, has unknown class folders or no usable image.
    """
    return evaluate_arrays(model, load_folder(folder))

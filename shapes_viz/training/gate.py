"""The publish gate: a new model is published only if it is not worse than the current one on the same
validation images (by more than `config.PUBLISH_MARGIN`), unless the caller asks to publish anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shapes_viz.config import PUBLISH_MARGIN
from shapes_viz.dataset import LabeledImages
from shapes_viz.errors import ModelFileError, ModelNotPublished
from shapes_viz.model import load_model


def validation_accuracy(model, validation: LabeledImages) -> float:
    """Share of `validation` images (preprocessed, as trained on) whose argmax prediction is the label."""
    from shapes_viz.engine.keras_engine import KerasEngine

    predicted = KerasEngine(model, warm_up=False).probabilities(validation.images).argmax(axis=1)
    return float(np.mean(predicted == validation.labels))


def publish_gate(model, out_path: Path, validation: LabeledImages, publish_if_worse: bool = False) -> dict[str, Any]:
    """Compare `model` with the model published at `out_path` on the same validation images.

    Returns:
        {"new_accuracy": float, "current_accuracy": float | None, "val_count": int, "margin": float,
         "decision": str}; "decision" says why publishing goes ahead ("not worse than the current model",
        "publish_if_worse", "no current model", "current model unusable: ...", "no validation images").

    Raises:
        ModelNotPublished: the new accuracy is below the current one by more than PUBLISH_MARGIN and
            `publish_if_worse` is False.
    """
    count = len(validation)
    record: dict[str, Any] = {"new_accuracy": None, "current_accuracy": None, "val_count": count,
                              "margin": PUBLISH_MARGIN, "decision": ""}
    if count == 0:
        record["decision"] = "no validation images: published without comparing"
        return record
    record["new_accuracy"] = validation_accuracy(model, validation)
    if not out_path.exists():
        record["decision"] = "no current model: published"
        return record
    try:
        current = load_model(out_path)
    except (ModelFileError, OSError) as exc:  # anything beats no usable model
        record["decision"] = f"the current model cannot be used ({exc}): published without comparing"
        return record
    record["current_accuracy"] = validation_accuracy(current, validation)
    worse = record["current_accuracy"] - record["new_accuracy"] > PUBLISH_MARGIN + 1e-9
    if not worse:
        record["decision"] = "not worse than the current model: published"
    elif publish_if_worse:
        record["decision"] = "worse than the current model, published as asked (publish_if_worse)"
    else:
        raise ModelNotPublished(
            record["new_accuracy"], record["current_accuracy"], count,
            hint="Pass publish_if_worse=True (CLI: --publish-if-worse) to replace it anyway.",
        )
    return record

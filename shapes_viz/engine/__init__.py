"""Engines: run the published model on one input (every layer's output) or on a batch (probabilities).

    engine = open_engine("models/shapes_cnn.h5")   # numpy when it reads the file, Keras otherwise
    engine.run(x).layer("conv1_1").values           # (28, 28, 32) float32
    engine.probabilities(images)                    # (N, 3) float32

The app process only ever gets the numpy engine for the files it trains (no TensorFlow import); this
package imports TensorFlow only when a Keras engine is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from shapes_viz.engine.layers import Unsupported
from shapes_viz.engine.results import Activations, ChannelStats, LayerActivation, LayerInfo


class Engine(Protocol):
    """What every engine offers; results are plain numpy, whichever backend computed them."""

    input_shape: tuple[int, ...]  # (28, 28, 3)
    layer_names: tuple[str, ...]

    def run(self, x: np.ndarray) -> Activations:
        """Every layer's output for one (1, 28, 28, 3) float32 input."""

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, num_classes) float32 probabilities for (N, 28, 28, 3) float32 images."""

    def summary(self) -> list[LayerInfo]:
        """One row per layer: name, type, output shape, parameter count."""


def open_engine(path: str | Path) -> Engine:
    """The engine for a model file: the numpy engine, or the Keras engine where numpy cannot read the file.

    Both check the file first (`model_files.check_model_file`).

    Raises:
        ModelFileError: missing, corrupt, unsafe, or not fitting (28, 28, 3) -> 3 classes.
    """
    from shapes_viz.engine.numpy_engine import NumpyEngine

    try:
        return NumpyEngine.from_file(path)
    except Unsupported:
        from shapes_viz.engine.keras_engine import KerasEngine

        return KerasEngine.from_file(path)


def open_numpy_engine(path: str | Path, purpose: str, error: type[Exception]):
    """The numpy engine of an .h5 model file, for a feature that needs it (its gradients, its knock-outs).

    Args:
        purpose: what needs it, as the start of a sentence ("Explanations", "Channel scans").
        error: the exception type raised when the file is not one the numpy engine reads.

    Raises:
        error: a .keras file (only the Keras engine reads it) or layers the numpy engine does not know.
        ModelFileError: missing, corrupt or unsafe model file.
    """
    from shapes_viz.engine.numpy_engine import NumpyEngine

    path = Path(path)
    if path.suffix != ".h5":
        raise error(f"{purpose} need an .h5 model (they run on the numpy engine, without TensorFlow); "
                    f"save or train the model as .h5. Received: model={str(path)!r}")
    try:
        return NumpyEngine.from_file(path)
    except Unsupported as exc:
        raise error(f"{purpose} need a model the numpy engine reads ({exc}). Received: model={str(path)!r}") from None


__all__ = ["Activations", "ChannelStats", "Engine", "LayerActivation", "LayerInfo", "Unsupported", "open_engine",
           "open_numpy_engine"]

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


__all__ = ["Activations", "ChannelStats", "Engine", "LayerActivation", "LayerInfo", "Unsupported", "open_engine"]

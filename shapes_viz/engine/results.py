"""What an engine returns for one input: every layer's output with per-channel statistics.

Plain frozen dataclasses of numpy arrays, the same whichever engine computed them (numpy or Keras).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of one layer's output for one input; each array has shape (C,).

    For vector layers (Flatten, Dense) every unit counts as a channel.

    Attributes:
        minimum, maximum, mean: float32 (C,).
        zero_fraction: float32 (C,), fraction of the channel's values that are exactly 0.
        dead: bool (C,), True where the channel is never positive for this input.
    """

    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray
    zero_fraction: np.ndarray
    dead: np.ndarray


@dataclass(frozen=True)
class LayerActivation:
    """One layer's output for one input.

    Attributes:
        name: the layer's name, e.g. "conv1_2".
        kind: the layer's class name, e.g. "Conv2D".
        values: float32, (H, W, C) for Conv2D / MaxPooling2D / Dropout on maps, (N,) for vectors.
        stats: per-channel statistics of `values`.
    """

    name: str
    kind: str
    values: np.ndarray
    stats: ChannelStats

    @property
    def is_map(self) -> bool:
        """True for (H, W, C) feature maps, False for (N,) vectors."""
        return self.values.ndim == 3

    @property
    def channels(self) -> int:
        return int(self.values.shape[-1])


@dataclass(frozen=True)
class Activations:
    """Everything the model computed for one input.

    Attributes:
        probabilities: (num_classes,) float32 softmax output.
        layers: one LayerActivation per model layer, in order.
    """

    probabilities: np.ndarray
    layers: tuple[LayerActivation, ...]

    def layer(self, name: str) -> LayerActivation:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"No layer named {name!r}. Received: name={name!r}; layers: {[l.name for l in self.layers]}")


@dataclass(frozen=True)
class LayerInfo:
    """One row of a model summary: name, class name, output shape (without batch), parameter count."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


def channel_stats(values: np.ndarray) -> ChannelStats:
    """Statistics per channel (last axis) of an (H, W, C) or (N,) float32 array."""
    flat = values.reshape(-1, values.shape[-1]) if values.ndim == 3 else values.reshape(1, -1)
    return ChannelStats(
        minimum=flat.min(axis=0).astype(np.float32),
        maximum=flat.max(axis=0).astype(np.float32),
        mean=flat.mean(axis=0).astype(np.float32),
        zero_fraction=(flat == 0).mean(axis=0).astype(np.float32),
        dead=~(flat > 0).any(axis=0),
    )


def checked_input(x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """`x` as an array if it is one (1, *input_shape) float32 input, as `preprocess` returns it.

    Raises:
        ValueError: another shape or dtype (the message says what was received).
    """
    x = np.asarray(x)
    if x.shape != (1, *input_shape) or x.dtype != np.float32:
        raise ValueError(
            f"Expected x of shape {(1, *input_shape)} and dtype float32. "
            f"Received: x.shape={x.shape}, x.dtype={x.dtype}"
        )
    return x

"""The activation engine: probabilities and every layer's output for one input in one compiled call.

The tutorial builds `keras.Model(inputs, [layer.output for layer in model.layers])` and calls
`predict` (about 40 ms a call on 2 cores). Here the same multi-output model is traced once into a
`tf.function` with a fixed input signature; a call then takes about 1 ms, and every output comes
back as numpy with its layer's name, type and per-channel statistics.
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
        raise KeyError(f"No layer named {name!r}. Layers: {[l.name for l in self.layers]}")


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


class ActivationEngine:
    """Compiled forward pass returning every layer's output.

    Thread-safe for concurrent `run` calls (tf.function calls are); the first call traces and
    compiles (~0.5 s), so the constructor warms it up.

    Args:
        model: a built Keras model taking (batch, 28, 28, 3) float32.
        warm_up: trace and compile now rather than on the first `run`.
        jit_compile: compile with XLA (faster per call); False keeps a plain graph.
    """

    def __init__(self, model, warm_up: bool = True, jit_compile: bool = True):
        import keras
        import tensorflow as tf

        self.model = model
        self.layer_names: tuple[str, ...] = tuple(layer.name for layer in model.layers)
        self.layer_kinds: tuple[str, ...] = tuple(type(layer).__name__ for layer in model.layers)
        self.output_shapes: tuple[tuple[int, ...], ...] = tuple(
            tuple(int(d) for d in layer.output.shape[1:]) for layer in model.layers
        )
        everything = keras.Model(
            inputs=model.inputs[0], outputs=[layer.output for layer in model.layers]
        )
        input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self.input_shape = input_shape

        def layer_stats(output):
            axes = list(range(len(output.shape) - 1))  # all but the channel axis (batch included)
            is_zero = tf.cast(tf.equal(output, 0.0), tf.float32)
            return tf.stack(
                [
                    tf.reduce_min(output, axes),
                    tf.reduce_max(output, axes),
                    tf.reduce_mean(output, axes),
                    tf.reduce_mean(is_zero, axes),
                ]
            )

        # XLA fuses the whole network and the statistics into one kernel launch (~1.2 ms vs ~2.2 ms).
        @tf.function(input_signature=[tf.TensorSpec((1, *input_shape), tf.float32)], jit_compile=jit_compile)
        def forward(x):
            outputs = everything(x, training=False)
            return outputs, [layer_stats(output) for output in outputs]

        self._forward = forward
        if warm_up:
            self.run(np.zeros((1, *input_shape), dtype=np.float32))

    def run(self, x: np.ndarray) -> Activations:
        """Probabilities and all layer outputs for one preprocessed input.

        Args:
            x: (1, 28, 28, 3) float32 in [0, 1], as returned by `preprocess`.

        Raises:
            ValueError: x has another shape or dtype (the message says what was received).
        """
        x = checked_input(x, self.input_shape)
        outputs, stats = self._forward(x)
        layers = []
        for name, kind, output, stat in zip(self.layer_names, self.layer_kinds, outputs, stats):
            values = output.numpy()[0]
            minimum, maximum, mean, zero_fraction = stat.numpy()
            channel = ChannelStats(minimum, maximum, mean, zero_fraction, dead=maximum <= 0.0)
            layers.append(LayerActivation(name, kind, values, channel))
        return Activations(probabilities=layers[-1].values.copy(), layers=tuple(layers))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(1, num_classes) float32 probabilities for one input (same compiled call as `run`)."""
        return self.run(x).probabilities[None, :]

"""The Keras engine: every layer's output for one input in one compiled TensorFlow call.

For the files the numpy engine does not read (the `.keras` format, dilated or grouped convolutions) and
for the training side's checks. The tutorial builds `keras.Model(inputs, [layer.output ...])` and calls
`predict` for every input; here the same multi-output model is traced once into a `tf.function` with a
fixed input signature. TensorFlow is imported when an engine is built, never when this module is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shapes_viz.config import NUM_CLASSES
from shapes_viz.engine.results import Activations, ChannelStats, LayerActivation, LayerInfo, checked_input


class KerasEngine:
    """Compiled forward pass of a Keras model returning every layer's output.

    Thread-safe for concurrent `run` calls (tf.function calls are); the first call traces and
    compiles, so the constructor warms it up unless told not to.

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
        everything = keras.Model(inputs=model.inputs[0], outputs=[layer.output for layer in model.layers])
        self.input_shape: tuple[int, ...] = tuple(int(d) for d in model.inputs[0].shape[1:])

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

        # XLA fuses the whole network and the statistics into one kernel launch.
        @tf.function(input_signature=[tf.TensorSpec((1, *self.input_shape), tf.float32)], jit_compile=jit_compile)
        def forward(x):
            outputs = everything(x, training=False)
            return outputs, [layer_stats(output) for output in outputs]

        self._forward = forward
        if warm_up:
            self.run(np.zeros((1, *self.input_shape), dtype=np.float32))

    @classmethod
    def from_file(cls, path: str | Path, jit_compile: bool = True) -> KerasEngine:
        """Load a checked model file with Keras (see `model.load_model`) and compile its engine.

        Raises:
            ModelFileError: missing, corrupt, unsafe, or not fitting (28, 28, 3) -> 3 classes.
        """
        from shapes_viz.model import load_model

        return cls(load_model(path), jit_compile=jit_compile)

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

    def probabilities(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """(N, num_classes) float32 probabilities for (N, 28, 28, 3) float32 images (direct calls, no `predict`)."""
        images = np.asarray(images, dtype=np.float32)
        outputs = [
            np.asarray(self.model(images[i : i + batch_size], training=False))
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES), np.float32)

    def summary(self) -> list[LayerInfo]:
        """The layers as data (name, type, output shape, parameter count)."""
        from shapes_viz.model import model_summary

        return model_summary(self.model)

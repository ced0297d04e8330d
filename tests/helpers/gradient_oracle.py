"""The independent oracle for gradients: tf.GradientTape on the Keras model, layer by layer.

Each Conv2D and Dense layer is split into its linear part (the pre-activation) and its activation, so that
the gradient of a class logit (the last layer before its softmax) can be read with respect to the input and
to every conv or dense layer's pre-activation and output.
"""

from __future__ import annotations

import numpy as np


def keras_gradients(model, images: np.ndarray, target: int) -> dict[str, np.ndarray]:
    """{"input": ..., "<layer>/pre": ..., "<layer>/out": ...}: d logit_target / d tensor, (N, ...) float32.

    Args:
        model: a Keras Sequential model whose last layer is a Dense layer.
        images: (N, 28, 28, 3) float32; images are independent, so each gets its own gradient.
    """
    import keras
    import tensorflow as tf

    tensors: dict[str, tf.Tensor] = {}
    with tf.GradientTape(persistent=True) as tape:
        h = tf.constant(images)
        tape.watch(h)
        tensors["input"] = h
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
                z = layer.convolution_op(h, layer.kernel) if isinstance(layer, keras.layers.Conv2D) else h @ layer.kernel
                if layer.use_bias:
                    z = z + layer.bias
                tensors[f"{layer.name}/pre"] = z
                if layer is model.layers[-1]:
                    logit = z[:, target]
                    break
                h = layer.activation(z)
                tensors[f"{layer.name}/out"] = h
            else:
                h = layer(h, training=False)
                tensors[f"{layer.name}/out"] = h
        total = tf.reduce_sum(logit)
    return {name: np.asarray(tape.gradient(total, tensor)) for name, tensor in tensors.items()}

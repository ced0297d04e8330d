"""Gradients in numpy: the network's backward pass, from the numpy engine's layer objects.

The target of an explanation is a class **logit** (the last layer's pre-activation value), never the softmax
probability: a saturated softmax has all-zero gradients. Any layer's pre-activation or output unit can be a
target too (the effective receptive field of a cell).

    run = trace(engine, images)                          # one forward pass of (N, 28, 28, 3), kept
    grads = logit_gradients(engine, run, target=1)       # d logit_1 / d (input, every layer's output)
    grads.input                                          # (N, 28, 28, 3) float32
    grads.output("conv1_2"), grads.pre_activation("conv1_2")   # (N, 26, 26, 32) float32

Checked against tf.GradientTape on the Keras model (tests/test_gradients.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from shapes_viz.engine.layers import activation_backward
from shapes_viz.engine.numpy_engine import Knockout, NumpyEngine


@dataclass(frozen=True)
class Trace:
    """One forward pass of a batch with everything a backward pass needs; arrays are float32.

    Attributes:
        names: the layers' names, in order.
        inputs: each layer's input, (N, *input_shape); inputs[0] is the batch itself.
        pre_activations: each layer's transform before its activation, (N, *output_shape).
        outputs: each layer's output, (N, *output_shape).
        off: the channels switched off, {layer name: channels}: their output is 0 whatever the input.
    """

    names: tuple[str, ...]
    inputs: tuple[np.ndarray, ...]
    pre_activations: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    off: Mapping[str, list[int]] = field(default_factory=dict)

    @property
    def logits(self) -> np.ndarray:
        """(N, classes) float32: the last layer's pre-activation (before softmax)."""
        return self.pre_activations[-1]

    @property
    def probabilities(self) -> np.ndarray:
        """(N, classes) float32."""
        return self.outputs[-1]

    def index(self, layer: str) -> int:
        """The position of the layer named `layer`. Raises KeyError naming the layers there are."""
        if layer not in self.names:
            raise KeyError(f"No layer named {layer!r}. Received: layer={layer!r}; layers: {list(self.names)}")
        return self.names.index(layer)


@dataclass(frozen=True)
class Gradients:
    """d target / d (input, each layer's pre-activation and output), for the layers up to the target's.

    Attributes:
        names: the layers' names, in order.
        input: (N, 28, 28, 3) float32.
        pre_activations, outputs: one (N, *shape) float32 per layer; None above the target's layer.
    """

    names: tuple[str, ...]
    input: np.ndarray
    pre_activations: tuple[np.ndarray | None, ...]
    outputs: tuple[np.ndarray | None, ...]

    def output(self, layer: str) -> np.ndarray:
        return self._pick(self.outputs, layer)

    def pre_activation(self, layer: str) -> np.ndarray:
        return self._pick(self.pre_activations, layer)

    def _pick(self, arrays: tuple[np.ndarray | None, ...], layer: str) -> np.ndarray:
        if layer not in self.names:
            raise KeyError(f"No layer named {layer!r}. Received: layer={layer!r}; layers: {list(self.names)}")
        array = arrays[self.names.index(layer)]
        if array is None:
            raise ValueError(f"Layer {layer!r} comes after the target: it has no gradient. Received: layer={layer!r}")
        return array


def trace(engine: NumpyEngine, images: np.ndarray, off: Knockout | None = None) -> Trace:
    """Forward pass of (N, 28, 28, 3) float32 images keeping each layer's input, pre-activation and output.

    `off` switches channels off as `NumpyEngine.forward` does (their output, and so their gradient, is 0).

    Raises:
        ValueError: images of another shape (the message says what was received).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1:] != tuple(engine.input_shape):
        raise ValueError(f"Expected images of shape (N, {', '.join(map(str, engine.input_shape))}). "
                         f"Received: images.shape={images.shape}")
    off = engine.checked_knockout(off)
    inputs, pre, outputs = [], [], []
    x = images
    for layer in engine.layers:
        inputs.append(x)
        z = layer.transform(x).astype(np.float32, copy=False)
        x = layer.forward_from(z)
        if layer.name in off:
            x = x.copy()
            x[..., off[layer.name]] = 0.0
        pre.append(z)
        outputs.append(x)
    return Trace(engine.layer_names, tuple(inputs), tuple(pre), tuple(outputs), off)


def backward(engine: NumpyEngine, run: Trace, layer: int, seed: np.ndarray, pre_activation: bool = True) -> Gradients:
    """Propagate `seed` = d target / d (pre-activation or output of layer `layer`) down to the input.

    Args:
        layer: index of the target's layer (negative counts from the end).
        seed: (N, *that layer's output shape) float32.
        pre_activation: whether `seed` is the gradient with respect to the pre-activation (else the output).
    """
    count = len(engine.layers)
    layer = layer % count
    seed = np.asarray(seed, dtype=np.float32)
    if seed.shape != run.outputs[layer].shape:
        raise ValueError(f"Expected a seed of shape {run.outputs[layer].shape}. Received: seed.shape={seed.shape}")
    d_pre: list[np.ndarray | None] = [None] * count
    d_out: list[np.ndarray | None] = [None] * count
    act = [layer.spec.activation for layer in engine.layers]
    def through_activation(k: int, d_output: np.ndarray) -> np.ndarray:
        """d target / d pre-activation of layer k; a channel switched off passes nothing back."""
        if run.names[k] in run.off:
            d_output = d_output.copy()
            d_output[..., run.off[run.names[k]]] = 0.0
        return activation_backward(run.pre_activations[k], run.outputs[k], d_output, act[k])

    if pre_activation:
        dz = seed
    else:
        d_out[layer] = seed
        dz = through_activation(layer, seed)
    for k in range(layer, -1, -1):
        d_pre[k] = dz
        d_in = engine.layers[k].backward(run.inputs[k], dz).astype(np.float32, copy=False)
        if k > 0:
            d_out[k - 1] = d_in
            dz = through_activation(k - 1, d_in)
    return Gradients(run.names, d_in, tuple(d_pre), tuple(d_out))


def logit_gradients(engine: NumpyEngine, run: Trace, target: int) -> Gradients:
    """d (logit of class `target`) / d (input and every layer), for each image of the trace.

    Raises:
        ValueError: `target` is not a class index (the message says what was received).
    """
    classes = run.logits.shape[-1]
    if not 0 <= int(target) < classes:
        raise ValueError(f"Expected a class index in 0..{classes - 1}. Received: target={target!r}")
    seed = np.zeros_like(run.logits)
    seed[:, int(target)] = 1.0
    return backward(engine, run, -1, seed, pre_activation=True)


def unit_gradients(engine: NumpyEngine, run: Trace, layer: str, unit: tuple[int, ...], pre_activation: bool = False) -> Gradients:
    """d (one unit of a layer, e.g. (row, column, channel) of a map) / d (input and earlier layers).

    Raises:
        KeyError: no such layer. ValueError: the unit is not inside the layer's output.
    """
    index = run.index(layer)
    shape = run.outputs[index].shape[1:]
    unit = tuple(int(u) for u in unit)
    if len(unit) != len(shape) or not all(0 <= u < s for u, s in zip(unit, shape)):
        raise ValueError(f"Expected a unit inside {layer}'s output of shape {shape}. Received: unit={unit}")
    seed = np.zeros_like(run.outputs[index])
    seed[(slice(None), *unit)] = 1.0
    return backward(engine, run, index, seed, pre_activation=pre_activation)

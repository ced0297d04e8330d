"""The numpy engine's layers: one small class per layer kind, built from a checked `LayerSpec`.

Each layer computes its pre-activation output (`transform`) and applies its activation (`forward`); the
shapes, paddings and settings come from the spec that `model_files` produced, never from the config again.

    layer = layer_from_spec(spec, weights)      # weights in Keras' order, shapes as spec.weight_shapes
    y = layer.forward(x)                        # (N, *spec.input_shape) -> (N, *spec.output_shape) float32
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from shapes_viz.model_files import LayerSpec


class Unsupported(Exception):
    """The numpy engine does not run this file (not an error of the file): use the Keras engine."""


class Layer:
    """Base: a layer without weights whose transform is the identity (Dropout at inference)."""

    kind: ClassVar[str] = "Dropout"

    def __init__(self, spec: LayerSpec, weights: tuple[np.ndarray, ...] = ()):
        self.spec = spec
        self.weights = weights

    @classmethod
    def from_spec(cls, spec: LayerSpec, weights: tuple[np.ndarray, ...]) -> Layer:
        """Raises Unsupported for settings this engine does not compute."""
        return cls(spec, weights)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.spec.output_shape

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The pre-activation output: (N, *input_shape) float32 -> (N, *output_shape) float32."""
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The layer's output: its activation applied to `transform(x)`, float32."""
        return activate(self.transform(x), self.spec.activation).astype(np.float32, copy=False)


class Dropout(Layer):
    kind = "Dropout"


class Flatten(Layer):
    kind = "Flatten"

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], -1)


class Dense(Layer):
    kind = "Dense"

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.weights[0]
        return z + self.weights[1] if self.spec.use_bias else z


class Conv2D(Layer):
    """A convolution as one small matrix product per kernel offset (9 for 3x3), summed.

    Copying every 3x3 patch into a matrix (im2col) costs several times more for one 28x28x32 map than
    shifting the whole map once per offset.
    """

    kind = "Conv2D"

    @classmethod
    def from_spec(cls, spec: LayerSpec, weights: tuple[np.ndarray, ...]) -> Layer:
        if spec.dilation != (1, 1) or spec.groups != 1:
            raise Unsupported(f"{spec.name}: dilated or grouped convolution")
        return cls(spec, weights)

    def transform(self, x: np.ndarray) -> np.ndarray:
        kernel = self.weights[0]
        cin, cout = kernel.shape[2:]
        x = pad_same(x, self.spec, 0.0)
        out = None
        for i, j, view in windows(x, self.spec.window, self.spec.strides):
            n, oh, ow, _ = view.shape
            term = np.ascontiguousarray(view).reshape(-1, cin) @ kernel[i, j]
            if out is None:
                out = term
            else:
                out += term
        out = out.reshape(n, oh, ow, cout)
        return out + self.weights[1] if self.spec.use_bias else out


class MaxPooling2D(Layer):
    kind = "MaxPooling2D"

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = pad_same(x, self.spec, -np.inf)
        out = None
        for _, _, view in windows(x, self.spec.window, self.spec.strides):
            out = view.copy() if out is None else np.maximum(out, view, out=out)
        return out


LAYER_TYPES: dict[str, type[Layer]] = {cls.kind: cls for cls in (Conv2D, MaxPooling2D, Dropout, Flatten, Dense)}


def layer_from_spec(spec: LayerSpec, weights: tuple[np.ndarray, ...]) -> Layer:
    """The numpy layer for `spec`. Raises Unsupported for a kind or setting this engine does not compute."""
    if spec.kind not in LAYER_TYPES:
        raise Unsupported(f"layer type {spec.kind!r}")
    return LAYER_TYPES[spec.kind].from_spec(spec, weights)


# --- shared arithmetic ----------------------------------------------------------------------------------


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding: the output has ceil(size / stride) positions, extra padding after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: np.ndarray, spec: LayerSpec, value: float) -> np.ndarray:
    """(N, H, W, C) padded with `value` as TensorFlow pads for "same"; `x` itself for "valid"."""
    if spec.padding != "same":
        return x
    rows = same_padding(x.shape[1], spec.window[0], spec.strides[0])
    cols = same_padding(x.shape[2], spec.window[1], spec.strides[1])
    if rows == (0, 0) and cols == (0, 0):
        return x
    return np.pad(x, ((0, 0), rows, cols, (0, 0)), constant_values=value)


def windows(x: np.ndarray, window: tuple[int, int], strides: tuple[int, int]):
    """(i, j, view) for each window offset: the input positions that offset sees, (N, oh, ow, C)."""
    _, h, w, _ = x.shape
    (kh, kw), (sh, sw) = window, strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]


def activate(z: np.ndarray, activation: str) -> np.ndarray:
    """An activation by name ("relu", "softmax" over the last axis, "sigmoid", "tanh", "linear")."""
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if activation == "tanh":
        return np.tanh(z)
    return z

"""The numpy engine's layers: one small class per layer kind, built from a checked `LayerSpec`.

Each layer computes its pre-activation output (`transform`) and applies its activation (`forward`); the
shapes, paddings and settings come from the spec that `model_files` produced, never from the config again.
`backward` is the other direction: the gradient with respect to the layer's input, from the gradient with
respect to its pre-activation output (`activation_backward` goes from output to pre-activation).

    layer = layer_from_spec(spec, weights)      # weights in Keras' order, shapes as spec.weight_shapes
    y = layer.forward(x)                        # (N, *spec.input_shape) -> (N, *spec.output_shape) float32
    dx = layer.backward(x, dz)                  # dz: d target / d transform(x), same shape as transform(x)
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
        return self.forward_from(self.transform(x))

    def forward_from(self, z: np.ndarray) -> np.ndarray:
        """The layer's output from its pre-activation `z = transform(x)`, float32."""
        return activate(z, self.spec.activation).astype(np.float32, copy=False)

    def backward(self, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
        """d target / d x, (N, *input_shape) float32, from dz = d target / d transform(x)."""
        return dz


class Dropout(Layer):
    kind = "Dropout"


class Flatten(Layer):
    kind = "Flatten"

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], -1)

    def backward(self, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
        return dz.reshape(x.shape)


class Dense(Layer):
    kind = "Dense"

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.weights[0]
        return z + self.weights[1] if self.spec.use_bias else z

    def backward(self, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
        return (dz @ self.weights[0].T).astype(np.float32, copy=False)


class Conv2D(Layer):
    """A convolution as one small matrix product per kernel offset (9 for 3x3), summed.

    Copying every 3x3 patch into a matrix (im2col) costs several times more for one 28x28x32 map than
    shifting the whole map once per offset.
    """

    kind = "Conv2D"

    def __init__(self, spec: LayerSpec, weights: tuple[np.ndarray, ...] = ()):
        super().__init__(spec, weights)
        self._kernel_t = np.ascontiguousarray(weights[0].transpose(0, 1, 3, 2)) if weights else None

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

    def backward(self, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
        """Each kernel offset sends dz back through its (cout, cin) matrix to the positions it saw."""
        kernel = self._transposed_kernel()
        cout, cin = kernel.shape[2:]
        padded = pad_same(x, self.spec, 0.0)
        dpadded = np.zeros(padded.shape, np.float32)
        n, oh, ow, _ = dz.shape
        flat = np.ascontiguousarray(dz, dtype=np.float32).reshape(-1, cout)
        for i, j, view in windows(dpadded, self.spec.window, self.spec.strides):
            view += (flat @ kernel[i, j]).reshape(n, oh, ow, cin)
        return unpad_same(dpadded, x.shape, self.spec)

    def _transposed_kernel(self) -> np.ndarray:
        """(kh, kw, cout, cin) float32, contiguous: numpy's matmul with a transposed slice is not BLAS-fast."""
        return self._kernel_t


class MaxPooling2D(Layer):
    kind = "MaxPooling2D"

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = pad_same(x, self.spec, -np.inf)
        out = None
        for _, _, view in windows(x, self.spec.window, self.spec.strides):
            out = view.copy() if out is None else np.maximum(out, view, out=out)
        return out

    def backward(self, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
        """dz goes to each window's maximum; on ties, to the first in row-major order (as TensorFlow does)."""
        padded = pad_same(x, self.spec, -np.inf)
        out = self.transform(x)
        dpadded = np.zeros(padded.shape, np.float32)
        taken = np.zeros(out.shape, bool)
        gradient_views = windows(dpadded, self.spec.window, self.spec.strides)
        for (_, _, view), (_, _, gradient) in zip(windows(padded, self.spec.window, self.spec.strides), gradient_views):
            winner = (view == out) & ~taken
            gradient += np.where(winner, dz, 0.0)
            taken |= winner
        return unpad_same(dpadded, x.shape, self.spec)


class GlobalAveragePooling2D(Layer):
    """Each channel's mean over the whole map: (N, H, W, C) -> (N, C) (or (N, 1, 1, C) with keepdims)."""

    kind = "GlobalAveragePooling2D"

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x.mean(axis=(1, 2), keepdims=len(self.spec.output_shape) == 3, dtype=np.float32)

    def backward(self, x: np.ndarray, dz: np.ndarray) -> np.ndarray:
        dz = dz.reshape(dz.shape[0], 1, 1, dz.shape[-1])
        return np.broadcast_to(dz / (x.shape[1] * x.shape[2]), x.shape).astype(np.float32)


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Conv2D, MaxPooling2D, GlobalAveragePooling2D, Dropout, Flatten, Dense)
}


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


def unpad_same(padded: np.ndarray, shape: tuple[int, ...], spec: LayerSpec) -> np.ndarray:
    """The inverse of `pad_same` for gradients: the (N, H, W, C) part of `padded` that was the input."""
    if padded.shape == tuple(shape):
        return padded
    top = same_padding(shape[1], spec.window[0], spec.strides[0])[0]
    left = same_padding(shape[2], spec.window[1], spec.strides[1])[0]
    return padded[:, top : top + shape[1], left : left + shape[2], :]


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


def activation_backward(z: np.ndarray, y: np.ndarray, dy: np.ndarray, activation: str) -> np.ndarray:
    """d target / d z from dy = d target / d y, where y = activate(z, activation)."""
    if activation == "relu":
        return np.where(z > 0, dy, 0.0).astype(np.float32)
    if activation == "softmax":
        return (y * (dy - (dy * y).sum(axis=-1, keepdims=True))).astype(np.float32)
    if activation == "sigmoid":
        return (dy * y * (1.0 - y)).astype(np.float32)
    if activation == "tanh":
        return (dy * (1.0 - y * y)).astype(np.float32)
    return dy

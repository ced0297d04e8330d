"""How was this number computed? One cell of one layer, traced back to the input.

    box = receptive_box(engine, "conv2_1", row=4, column=7)      # the input pixels that can influence it
    erf = effective_receptive_field(engine, x, "conv2_1", (4, 7, 12))   # |d cell / d pixel|, (28, 28)
    cell = explain_cell(engine, x, "conv2_1", (4, 7, 12))        # the arithmetic, by layer kind

The theoretical box follows each layer's window, stride and padding down to the input, clipped to the image
(3, 5, 6, 10, 14, 16, 24, 32, 36 pixels wide from conv1_1 to pool3 on the tutorial's network); the effective
receptive field is the part of it that really matters for this input, and it is exactly zero outside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shapes_viz.engine.gradients import trace, unit_gradients
from shapes_viz.engine.layers import activate, pad_same, same_padding
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.model_files import LayerSpec


@dataclass(frozen=True)
class Box:
    """Input rows top..bottom and columns left..right (inclusive), clipped to the image; `size` before clipping."""

    top: int
    left: int
    bottom: int
    right: int
    size: tuple[int, int]

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1


@dataclass(frozen=True)
class CellExplanation:
    """The arithmetic of one cell (a map position and channel, or a vector unit).

    Attributes:
        layer, kind: the layer's name and kind.
        unit: (row, column, channel) for a map, (unit,) for a vector.
        value: the cell's value in the layer's output (what the heatmap shows).
        pre_activation: the value before the layer's activation (equal to `value` without one).
        activation: the layer's activation's name.
        bias: the bias added (0.0 without one).
        patch: Conv2D: the (kh, kw, cin) input patch the kernel sees (padding included, as zeros);
            MaxPooling2D: the (ph, pw) window of the pooled channel (padding as -inf).
        kernel: Conv2D: the (kh, kw, cin) kernel of this output channel.
        contributions: Conv2D: (cin,) sum over the window of patch * kernel, per input channel;
            Dense: the largest terms input * weight by size, as (input index, input value, weight, term).
        winner: MaxPooling2D: the (row, column) in the window of the winning input, and its position
            in the layer's input.
        rest: Dense: the sum of the terms not listed in `contributions`.
        box: the cell's receptive field on the input.
    """

    layer: str
    kind: str
    unit: tuple[int, ...]
    value: float
    pre_activation: float
    activation: str
    box: Box
    bias: float = 0.0
    patch: np.ndarray | None = None
    kernel: np.ndarray | None = None
    contributions: np.ndarray | list[tuple[int, float, float, float]] | None = None
    winner: dict[str, tuple[int, int]] = field(default_factory=dict)
    rest: float = 0.0


def receptive_box(engine: NumpyEngine, layer: str, row: int = 0, column: int = 0) -> Box:
    """The input pixels that a cell of `layer` at (row, column) can depend on (the whole image for vectors).

    Raises:
        KeyError: no such layer. ValueError: the cell is outside the layer's map.
    """
    index = _index(engine, layer)
    height, width = engine.input_shape[:2]
    if any(len(layer.spec.output_shape) != 3 for layer in engine.layers[: index + 1]):
        return Box(0, 0, height - 1, width - 1, (height, width))
    shape = engine.output_shapes[index]
    if not (0 <= row < shape[0] and 0 <= column < shape[1]):
        raise ValueError(f"Expected a cell inside {layer}'s {shape[0]}x{shape[1]} map. Received: row={row}, column={column}")
    rows, cols = (row, row), (column, column)
    for k in range(index, -1, -1):
        spec = engine.layers[k].spec
        rows = _through(rows, spec, 0)
        cols = _through(cols, spec, 1)
    size = (rows[1] - rows[0] + 1, cols[1] - cols[0] + 1)
    return Box(max(rows[0], 0), max(cols[0], 0), min(rows[1], height - 1), min(cols[1], width - 1), size)


def _through(span: tuple[int, int], spec: LayerSpec, axis: int) -> tuple[int, int]:
    """The input index range of a layer that an output index range reads (padding gives negative indices)."""
    if spec.kind == "GlobalAveragePooling2D":
        return 0, spec.input_shape[axis] - 1
    if spec.kind not in ("Conv2D", "MaxPooling2D"):
        return span
    window, stride = spec.window[axis], spec.strides[axis]
    before = same_padding(spec.input_shape[axis], window, stride)[0] if spec.padding == "same" else 0
    return span[0] * stride - before, span[1] * stride - before + window - 1


def effective_receptive_field(engine: NumpyEngine, x: np.ndarray, layer: str, unit: tuple[int, ...]) -> np.ndarray:
    """|d cell / d pixel| for input `x` (1, 28, 28, 3), summed over the colour channels: (28, 28) float32."""
    grads = unit_gradients(engine, trace(engine, x), layer, unit)
    return np.abs(grads.input[0]).sum(axis=-1).astype(np.float32)


def explain_cell(engine: NumpyEngine, x: np.ndarray, layer: str, unit: tuple[int, ...], top: int = 8) -> CellExplanation:
    """The arithmetic that produced one cell's value for input `x` (1, 28, 28, 3).

    Raises:
        KeyError: no such layer. ValueError: the unit is outside the layer's output.
    """
    index = _index(engine, layer)
    run = trace(engine, x)
    shape = run.outputs[index].shape[1:]
    unit = tuple(int(u) for u in unit)
    if len(unit) != len(shape) or not all(0 <= u < s for u, s in zip(unit, shape)):
        raise ValueError(f"Expected a cell inside {layer}'s output of shape {shape}. Received: unit={unit}")
    spec = engine.layers[index].spec
    box = receptive_box(engine, layer, *unit[:2]) if len(shape) == 3 else receptive_box(engine, layer)
    value = float(run.outputs[index][(0, *unit)])
    pre = float(run.pre_activations[index][(0, *unit)])
    base = dict(layer=layer, kind=spec.kind, unit=unit, value=value, pre_activation=pre,
                activation=spec.activation, box=box)
    layer_input = run.inputs[index]
    if spec.kind == "Conv2D":
        return _conv_cell(engine.layers[index], layer_input, unit, base)
    if spec.kind == "MaxPooling2D":
        return _pool_cell(spec, layer_input, unit, base)
    if spec.kind == "Dense":
        return _dense_cell(engine.layers[index], layer_input, unit[0], base, top)
    return CellExplanation(**base)


def _conv_cell(conv, layer_input: np.ndarray, unit: tuple[int, ...], base: dict) -> CellExplanation:
    spec = conv.spec
    row, column, channel = unit
    padded = pad_same(layer_input, spec, 0.0)[0]
    (kh, kw), (sh, sw) = spec.window, spec.strides
    patch = padded[row * sh : row * sh + kh, column * sw : column * sw + kw, :]
    kernel = conv.weights[0][:, :, :, channel]
    contributions = (patch.astype(np.float64) * kernel).sum(axis=(0, 1))
    bias = float(conv.weights[1][channel]) if spec.use_bias else 0.0
    return CellExplanation(**base, bias=bias, patch=patch.copy(), kernel=kernel.copy(),
                           contributions=contributions.astype(np.float32))


def _pool_cell(spec: LayerSpec, layer_input: np.ndarray, unit: tuple[int, ...], base: dict) -> CellExplanation:
    row, column, channel = unit
    padded = pad_same(layer_input, spec, -np.inf)[0]
    (ph, pw), (sh, sw) = spec.window, spec.strides
    window = padded[row * sh : row * sh + ph, column * sw : column * sw + pw, channel]
    r, c = np.unravel_index(int(np.argmax(window)), window.shape)  # the first maximum, as the gradient routes
    before = (same_padding(spec.input_shape[0], ph, sh)[0], same_padding(spec.input_shape[1], pw, sw)[0]) \
        if spec.padding == "same" else (0, 0)
    at = (row * sh + int(r) - before[0], column * sw + int(c) - before[1])
    return CellExplanation(**base, patch=window.copy(), winner={"window": (int(r), int(c)), "input": at})


def _dense_cell(dense, layer_input: np.ndarray, unit: int, base: dict, top: int) -> CellExplanation:
    inputs = layer_input[0].astype(np.float64)
    weights = dense.weights[0][:, unit].astype(np.float64)
    terms = inputs * weights
    order = np.argsort(-np.abs(terms), kind="stable")[:top]
    listed = [(int(i), float(inputs[i]), float(weights[i]), float(terms[i])) for i in order]
    bias = float(dense.weights[1][unit]) if dense.spec.use_bias else 0.0
    rest = float(terms.sum() - terms[order].sum())
    return CellExplanation(**base, bias=bias, contributions=listed, rest=rest)


def _index(engine: NumpyEngine, layer: str) -> int:
    if layer not in engine.layer_names:
        raise KeyError(f"No layer named {layer!r}. Received: layer={layer!r}; layers: {list(engine.layer_names)}")
    return engine.layer_names.index(layer)


def activation_of(pre_activation: float, activation: str) -> float:
    """The activation applied to one pre-activation value (for showing the last step of the arithmetic)."""
    return float(activate(np.array([pre_activation], np.float32), activation)[0])

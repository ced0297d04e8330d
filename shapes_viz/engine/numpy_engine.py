"""The activation engine without TensorFlow: the network's forward pass in numpy, weights read from the file.

`ActivationEngine` traces the Keras model into one XLA call (~1.4 ms), but a server that uses it first
imports TensorFlow (~2.5 s and ~490 MB resident on 2 cores) and compiles (~1.2 s, ~120 MB more) before it
can show a single prediction. The dashboard only needs the forward pass of a plain stack of Conv2D,
MaxPooling2D, Dropout, Flatten and Dense layers (what `model_files` allows), about 16 million
multiply-adds: numpy does it in about a millisecond, from the weights in the `.h5` file, with results
equal to Keras' to float32 rounding.

    engine = NumpyEngine.from_file("models/shapes_cnn.h5")   # checks the file first, like load_model
    engine.run(x)          # Activations: probabilities + every layer's output and channel statistics
    engine(images)         # (N, classes) probabilities, for evaluation

A file this engine does not read (the `.keras` format, an unknown weight layout, dilated or grouped
convolutions) raises `Unsupported`: not an error of the file, the caller uses ActivationEngine instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shapes_viz.activations import Activations, LayerActivation, channel_stats, checked_input
from shapes_viz.config import INPUT_SHAPE
from shapes_viz.errors import ModelFileError
from shapes_viz.model import LayerInfo

ACTIVATIONS = ("relu", "softmax", "linear", "sigmoid", "tanh")


class Unsupported(Exception):
    """This engine does not read the file (not an error of the file): use ActivationEngine."""


@dataclass(frozen=True)
class _Layer:
    name: str
    kind: str
    weights: tuple[np.ndarray, ...]  # Conv2D: (kernel (kh, kw, cin, cout), bias?); Dense: (kernel (in, out), bias?)
    activation: str = "linear"
    strides: tuple[int, int] = (1, 1)
    pool: tuple[int, int] = (2, 2)
    padding: str = "valid"


class NumpyEngine:
    """Forward pass of a Sequential stack of the tutorial's layer types, all outputs at once.

    Thread-safe (no state changes after construction). Same contract as `ActivationEngine`: `run` for
    one input, `predict` for its probabilities, and a call on a batch for evaluation.
    """

    def __init__(self, layers: list[_Layer], input_shape: tuple[int, int, int]):
        self._layers = tuple(layers)
        self.input_shape = tuple(input_shape)
        self.layer_names: tuple[str, ...] = tuple(layer.name for layer in layers)
        self.layer_kinds: tuple[str, ...] = tuple(layer.kind for layer in layers)
        outputs = self._forward(np.zeros((1, *self.input_shape), np.float32))
        self.output_shapes: tuple[tuple[int, ...], ...] = tuple(tuple(o.shape[1:]) for o in outputs)

    # --- loading ------------------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> NumpyEngine:
        """Check the file like `model.load_model` does, then read its layers and weights.

        Raises:
            ModelFileError: missing, unsafe, not fitting, or weights missing or of the wrong shape.
            Unsupported: a file this engine does not read (use ActivationEngine).
        """
        from shapes_viz.model_files import check_model_file

        path = Path(path)
        config = check_model_file(path)  # safety first: allowed layer types, budget, (28, 28, 3) -> 3
        if path.suffix != ".h5":
            raise Unsupported(f"{path.name}: only .h5 files are read without TensorFlow")
        import h5py

        try:
            with h5py.File(path, "r") as handle:
                if "model_weights" not in handle:
                    raise ModelFileError(f"Not a valid model file: {path.name} has no weights.")
                layers = cls._layers_from(config, handle["model_weights"], path.name)
        except (ModelFileError, Unsupported):
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"Not a valid model file: {path.name} ({type(exc).__name__}: {exc})") from None
        return cls(layers, INPUT_SHAPE)

    @staticmethod
    def _layers_from(config: dict[str, Any], weights: Any, source: str) -> list[_Layer]:
        layers = []
        shape: tuple[int, ...] = INPUT_SHAPE  # check_model_file refused any other input
        for entry in config["config"]["layers"]:
            kind, c = entry["class_name"], entry.get("config") or {}
            if kind == "InputLayer":
                continue
            name = str(c.get("name"))
            activation = c.get("activation") or "linear"
            if activation not in ACTIVATIONS:
                raise Unsupported(f"activation {activation!r}")
            if kind == "Conv2D":
                if tuple(_pair(c.get("dilation_rate", 1))) != (1, 1) or int(c.get("groups", 1) or 1) != 1:
                    raise Unsupported(f"{name}: dilated or grouped convolution")
                kh, kw = _pair(c.get("kernel_size", 3))
                filters = int(c["filters"])
                expected = [(kh, kw, shape[-1], filters)] + ([(filters,)] if c.get("use_bias", True) else [])
                layer = _Layer(name, kind, _weights(weights, name, expected, source), activation,
                               strides=_pair(c.get("strides", 1)), padding=_padding(c))
            elif kind == "Dense":
                units = int(c["units"])
                expected = [(shape[0], units)] + ([(units,)] if c.get("use_bias", True) else [])
                layer = _Layer(name, kind, _weights(weights, name, expected, source), activation)
            elif kind == "MaxPooling2D":
                pool = _pair(c.get("pool_size", 2))
                layer = _Layer(name, kind, (), strides=_pair(c.get("strides") or pool), pool=pool, padding=_padding(c))
            elif kind in ("Dropout", "Flatten"):
                layer = _Layer(name, kind, ())
            else:
                raise Unsupported(f"layer type {kind!r}")
            shape = _output_shape(layer, shape)
            layers.append(layer)
        return layers

    # --- running ------------------------------------------------------------------------------------------

    def run(self, x: np.ndarray) -> Activations:
        """Probabilities and all layer outputs (with per-channel statistics) for one preprocessed input.

        Args:
            x: (1, 28, 28, 3) float32 in [0, 1], as returned by `preprocess`.

        Raises:
            ValueError: x has another shape or dtype (the message says what was received).
        """
        x = checked_input(x, self.input_shape)
        layers = tuple(
            LayerActivation(name, kind, output[0], channel_stats(output[0]))
            for name, kind, output in zip(self.layer_names, self.layer_kinds, self._forward(x))
        )
        return Activations(probabilities=layers[-1].values.copy(), layers=layers)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(1, num_classes) float32 probabilities for one input."""
        return self.run(x).probabilities[None, :]

    def __call__(self, images: np.ndarray, training: bool = False) -> np.ndarray:
        """(N, num_classes) float32 probabilities for (N, 28, 28, 3) float32 images (inference only)."""
        return self._forward(np.asarray(images, dtype=np.float32))[-1]

    def summary(self) -> list[LayerInfo]:
        """The layers as data (name, type, output shape, parameter count), like `model.model_summary`."""
        return [
            LayerInfo(layer.name, layer.kind, shape, int(sum(w.size for w in layer.weights)))
            for layer, shape in zip(self._layers, self.output_shapes)
        ]

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        outputs = []
        for layer in self._layers:
            if layer.kind == "Conv2D":
                x = _conv2d(x, layer.weights, layer.strides, layer.padding)
            elif layer.kind == "MaxPooling2D":
                x = _max_pool(x, layer.pool, layer.strides, layer.padding)
            elif layer.kind == "Flatten":
                x = x.reshape(x.shape[0], -1)
            elif layer.kind == "Dense":
                x = x @ layer.weights[0]
                if len(layer.weights) > 1:
                    x = x + layer.weights[1]
            x = _activate(x, layer.activation).astype(np.float32, copy=False)
            outputs.append(x)
        return outputs


# --- the layers ---------------------------------------------------------------------------------------------


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding: the output has ceil(size / stride) positions, extra padding after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], value: float) -> np.ndarray:
    rows = _same_padding(x.shape[1], kernel[0], strides[0])
    cols = _same_padding(x.shape[2], kernel[1], strides[1])
    if rows == (0, 0) and cols == (0, 0):
        return x
    return np.pad(x, ((0, 0), rows, cols, (0, 0)), constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]):
    """(i, j, view) for each kernel offset: the input positions that offset sees, (N, oh, ow, C)."""
    n, h, w, _ = x.shape
    (kh, kw), (sh, sw) = kernel, strides
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]


def _conv2d(x: np.ndarray, weights: tuple[np.ndarray, ...], strides: tuple[int, int], padding: str) -> np.ndarray:
    """A convolution as one small matrix product per kernel offset (9 for 3x3), summed.

    Copying every 3x3 patch into a matrix (im2col) costs ~3 ms for one 28x28x32 map; shifting the
    whole map once per offset costs ~0.2 ms.
    """
    kernel = weights[0]
    kh, kw, cin, cout = kernel.shape
    if padding == "same":
        x = _pad(x, (kh, kw), strides, 0.0)
    out = None
    for i, j, view in _windows(x, (kh, kw), strides):
        n, oh, ow, _ = view.shape
        term = np.ascontiguousarray(view).reshape(-1, cin) @ kernel[i, j]
        if out is None:
            out = term
        else:
            out += term
    out = out.reshape(n, oh, ow, cout)
    return out + weights[1] if len(weights) > 1 else out


def _max_pool(x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int], padding: str) -> np.ndarray:
    if padding == "same":
        x = _pad(x, pool, strides, -np.inf)
    out = None
    for _, _, view in _windows(x, pool, strides):
        out = view.copy() if out is None else np.maximum(out, view, out=out)
    return out


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if activation == "tanh":
        return np.tanh(x)
    return x


# --- reading the file ---------------------------------------------------------------------------------------


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _padding(config: dict[str, Any]) -> str:
    padding = config.get("padding", "valid")
    if padding not in ("valid", "same"):
        raise Unsupported(f"padding {padding!r}")
    return padding


def _output_shape(layer: _Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    if layer.kind == "Flatten":
        return (int(np.prod(shape)),)
    if layer.kind == "Dense":
        return (layer.weights[0].shape[1],)
    if layer.kind == "Dropout":
        return shape
    kernel = layer.weights[0].shape[:2] if layer.kind == "Conv2D" else layer.pool
    depth = layer.weights[0].shape[3] if layer.kind == "Conv2D" else shape[2]
    if layer.padding == "same":
        return (-(-shape[0] // layer.strides[0]), -(-shape[1] // layer.strides[1]), depth)
    return ((shape[0] - kernel[0]) // layer.strides[0] + 1, (shape[1] - kernel[1]) // layer.strides[1] + 1, depth)


def _weights(group: Any, name: str, expected: list[tuple[int, ...]], source: str) -> tuple[np.ndarray, ...]:
    """The layer's weights in Keras' order (kernel, bias), checked against the shapes its config implies."""
    if name not in group:
        raise ModelFileError(f"Not a valid model file: {source} has no weights for layer {name!r}.")
    layer_group = group[name]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in layer_group.attrs.get("weight_names", [])]
    if len(names) != len(expected):
        raise ModelFileError(
            f"Not a valid model file: {source} layer {name!r} has {len(names)} weights, expected {len(expected)}."
        )
    arrays = []
    for weight_name, shape in zip(names, expected):
        kind = weight_name.rsplit("/", 1)[-1].split(":")[0]
        if kind not in ("kernel", "bias"):
            raise Unsupported(f"{name}: weight {weight_name!r}")
        array = np.asarray(layer_group[weight_name], dtype=np.float32)
        if array.shape != shape:
            raise ModelFileError(
                f"Not a valid model file: {source} layer {name!r} weight {kind} has shape {array.shape}, "
                f"expected {shape}."
            )
        arrays.append(np.ascontiguousarray(array))
    return tuple(arrays)

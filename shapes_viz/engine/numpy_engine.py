"""The app's engine: the network's forward pass in numpy, weights read from the `.h5` file, no TensorFlow.

A server that used Keras would first import TensorFlow (seconds and hundreds of MB) and compile before it
could show a single prediction. The dashboard only needs the forward pass of a plain stack of Conv2D,
MaxPooling2D, Dropout, Flatten and Dense layers (what `model_files` allows), about 16 million
multiply-adds: numpy does it in about a millisecond, with results equal to Keras' to float32 rounding.

    engine = NumpyEngine.from_file("models/shapes_cnn.h5")   # checks the file first, like load_model
    engine.run(x)                # Activations: probabilities + every layer's output and channel statistics
    engine.probabilities(images) # (N, classes) probabilities, for evaluation

A file this engine does not read (the `.keras` format, an unknown weight layout, dilated or grouped
convolutions) raises `Unsupported`: not an error of the file; `open_engine` then uses the Keras engine.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shapes_viz.engine.layers import Layer, Unsupported, layer_from_spec
from shapes_viz.engine.results import Activations, LayerActivation, LayerInfo, channel_stats, checked_input
from shapes_viz.errors import ModelFileError
from shapes_viz.model_files import LayerSpec, check_model_file

Knockout = Mapping[str, Collection[int]]  # {layer name: channels (or units) whose output is set to 0}


class NumpyEngine:
    """Forward pass of a Sequential stack of the tutorial's layer types, all outputs at once.

    Thread-safe (no state changes after construction).
    """

    def __init__(self, layers: list[Layer]):
        self.layers: tuple[Layer, ...] = tuple(layers)
        self.input_shape: tuple[int, ...] = layers[0].spec.input_shape
        self.layer_names: tuple[str, ...] = tuple(layer.name for layer in layers)
        self.layer_kinds: tuple[str, ...] = tuple(layer.spec.kind for layer in layers)
        self.output_shapes: tuple[tuple[int, ...], ...] = tuple(layer.output_shape for layer in layers)

    @classmethod
    def from_file(cls, path: str | Path) -> NumpyEngine:
        """Check the file like `model.load_model` does, then build one layer object per layer spec.

        Raises:
            ModelFileError: missing, unsafe, not fitting, or weights missing or of the wrong shape.
            Unsupported: a file this engine does not read (use the Keras engine).
        """
        path = Path(path)
        spec = check_model_file(path)  # safety first: allowed layer types, budget, (28, 28, 3) -> 3
        if path.suffix != ".h5":
            raise Unsupported(f"{path.name}: only .h5 files are read without TensorFlow")
        import h5py

        try:
            with h5py.File(path, "r") as handle:
                if "model_weights" not in handle:
                    raise ModelFileError(f"Not a valid model file: {path.name} has no weights.",
                                         code="model_file_no_weights", name=path.name)
                group = handle["model_weights"]
                layers = [layer_from_spec(layer, _weights(group, layer, path.name)) for layer in spec.layers]
        except (ModelFileError, Unsupported):
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"Not a valid model file: {path.name} ({type(exc).__name__}: {exc})",
                                 code="model_file_invalid", name=path.name, detail=f"{type(exc).__name__}: {exc}") from None
        return cls(layers)

    def run(self, x: np.ndarray, off: Knockout | None = None) -> Activations:
        """Probabilities and all layer outputs (with per-channel statistics) for one preprocessed input.

        Args:
            x: (1, 28, 28, 3) float32 in [0, 1], as returned by `preprocess`.
            off: channels switched off (see `forward`).

        Raises:
            ValueError: x has another shape or dtype (the message says what was received).
        """
        x = checked_input(x, self.input_shape)
        layers = tuple(
            LayerActivation(name, kind, output[0], channel_stats(output[0]))
            for name, kind, output in zip(self.layer_names, self.layer_kinds, self.forward(x, off))
        )
        return Activations(probabilities=layers[-1].values.copy(), layers=layers)

    def probabilities(self, images: np.ndarray, off: Knockout | None = None) -> np.ndarray:
        """(N, num_classes) float32 probabilities for (N, 28, 28, 3) float32 images (inference only)."""
        return self.forward(np.asarray(images, dtype=np.float32), off)[-1]

    def summary(self) -> list[LayerInfo]:
        """The layers as data (name, type, output shape, parameter count), like `model.model_summary`."""
        return [LayerInfo(l.name, l.spec.kind, l.output_shape, l.spec.params) for l in self.layers]

    def forward(self, x: np.ndarray, off: Knockout | None = None) -> list[np.ndarray]:
        """Every layer's output for a batch: (N, *input_shape) float32 -> one (N, *shape) float32 per layer.

        Args:
            off: {layer name: channels (or units)} whose output is set to 0 ("knocked out"), which every
                later layer then sees.

        Raises:
            ValueError: `off` names a layer or channel that does not exist (the message says which).
        """
        off = self.checked_knockout(off)
        outputs = []
        for layer in self.layers:
            x = layer.forward(x)
            if layer.name in off:
                x = x.copy()
                x[..., off[layer.name]] = 0.0
            outputs.append(x)
        return outputs

    def checked_knockout(self, off: Knockout | None) -> dict[str, list[int]]:
        """`off` as {layer: sorted channel list}, checked against the layers' shapes ({} for None or empty)."""
        checked: dict[str, list[int]] = {}
        for name, channels in (off or {}).items():
            if name not in self.layer_names:
                raise ValueError(f"No layer named {name!r} to switch channels off. Received: off={dict(off)}")
            count = self.output_shapes[self.layer_names.index(name)][-1]
            chosen = sorted({int(c) for c in channels})
            if chosen and not 0 <= chosen[0] <= chosen[-1] < count:
                raise ValueError(f"{name} has channels 0..{count - 1}. Received: off={{{name!r}: {chosen}}}")
            if chosen:
                checked[name] = chosen
        return checked


def _weights(group: Any, spec: LayerSpec, source: str) -> tuple[np.ndarray, ...]:
    """The layer's weights in Keras' order (kernel, bias), checked against the shapes its spec implies."""
    expected = spec.weight_shapes
    if not expected:
        return ()
    if spec.name not in group:
        raise ModelFileError(f"Not a valid model file: {source} has no weights for layer {spec.name!r}.")
    layer_group = group[spec.name]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in layer_group.attrs.get("weight_names", [])]
    if len(names) != len(expected):
        raise ModelFileError(
            f"Not a valid model file: {source} layer {spec.name!r} has {len(names)} weights, expected {len(expected)}."
        )
    arrays = []
    for weight_name, shape in zip(names, expected):
        kind = weight_name.rsplit("/", 1)[-1].split(":")[0]
        if kind not in ("kernel", "bias"):
            raise Unsupported(f"{spec.name}: weight {weight_name!r}")
        array = np.asarray(layer_group[weight_name], dtype=np.float32)
        if array.shape != shape:
            raise ModelFileError(
                f"Not a valid model file: {source} layer {spec.name!r} weight {kind} has shape {array.shape}, "
                f"expected {shape}."
            )
        arrays.append(np.ascontiguousarray(array))
    return tuple(arrays)

"""The published model packed for the browser: the layer list and every weight in one JSON-able dict.

The canvas runs the network in JavaScript while the pen moves (ui/live_canvas.js). It gets the model once per
file version (keyed by `artifacts.file_digest`), as this dict:

    payload = export_model(engine, digest)    # NumpyEngine -> {"format", "digest", "layers", "data", ...}
    engine_from_export(payload)               # the inverse, for tests: a NumpyEngine from the payload alone

Weights are float32, little-endian, concatenated in layer order (kernel then bias, each in Keras' layout:
Conv2D (kh, kw, cin, cout), Dense (inputs, units)) and base64-encoded: 174,243 parameters are 697 kB, 929 kB
as base64. float16 would halve that but moves the probabilities by up to ~1e-3, more than the 1e-4 the
browser must match the server to. Only what the browser computes is exported: anything else raises
`Unsupported` (the page then keeps the server path).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from shapes_viz.engine.layers import Unsupported, layer_from_spec
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.model_files import PADDINGS, LayerSpec

FORMAT = 1  # bumped whenever the payload's layout changes; the browser refuses formats it does not know
BROWSER_KINDS: frozenset[str] = frozenset({"Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense",
                                           "GlobalAveragePooling2D"})
BROWSER_ACTIVATIONS: frozenset[str] = frozenset({"relu", "softmax", "linear", "sigmoid", "tanh"})
DTYPE = "<f4"  # float32, little-endian: what a JavaScript Float32Array reads on every browser's CPU


def export_model(engine: Any, digest: str) -> dict[str, Any]:
    """The model as the browser's engine reads it.

    Args:
        engine: the published model's engine; only a `NumpyEngine` (an .h5 file) can be exported.
        digest: the model file's SHA-256 (`artifacts.file_digest`), the browser's cache key.

    Returns:
        {"format": 1, "digest": str, "dtype": "float32", "input_shape": [28, 28, 3], "params": int,
         "layers": [{"name", "kind", "input_shape", "output_shape", "activation", "window", "strides",
                     "padding", "use_bias", "weights": [{"shape": [...], "offset": int, "size": int}]}],
         "data": base64 of the float32 weights (offsets and sizes count float32 values)}.

    Raises:
        Unsupported: not a numpy engine, or a layer kind, activation or setting the browser does not compute.
    """
    if not isinstance(engine, NumpyEngine):
        raise Unsupported(f"the browser runs .h5 models only. Received: engine={type(engine).__name__}")
    layers, chunks, offset = [], [], 0
    for layer in engine.layers:
        spec = layer.spec
        _check_browser_layer(spec)
        entries = []
        for weight, shape in zip(layer.weights, spec.weight_shapes):
            array = np.ascontiguousarray(weight, dtype=DTYPE)
            if array.shape != shape:
                raise ValueError(f"{spec.name}: weight of shape {array.shape}, expected {shape}. "
                                 f"Received: shape={array.shape}")
            entries.append({"shape": list(shape), "offset": offset, "size": int(array.size)})
            chunks.append(array.reshape(-1))
            offset += int(array.size)
        layers.append({
            "name": spec.name, "kind": spec.kind, "input_shape": list(spec.input_shape),
            "output_shape": list(spec.output_shape), "activation": spec.activation, "size": spec.size,
            "window": list(spec.window), "strides": list(spec.strides), "padding": spec.padding,
            "use_bias": spec.use_bias, "params": spec.params, "weights": entries,
        })
    data = np.concatenate(chunks) if chunks else np.zeros(0, DTYPE)
    return {
        "format": FORMAT, "digest": str(digest), "dtype": "float32", "input_shape": list(engine.input_shape),
        "params": int(offset), "layers": layers, "data": base64.b64encode(data.tobytes()).decode("ascii"),
    }


def _check_browser_layer(spec: LayerSpec) -> None:
    if spec.kind not in BROWSER_KINDS:
        raise Unsupported(f"the browser does not compute {spec.kind} layers. Received: kind={spec.kind!r}")
    if spec.activation not in BROWSER_ACTIVATIONS:
        raise Unsupported(f"{spec.name}: activation {spec.activation!r}. Received: activation={spec.activation!r}")
    if spec.dilation != (1, 1) or spec.groups != 1 or spec.padding not in PADDINGS:
        raise Unsupported(f"{spec.name}: dilated, grouped or unknown padding. "
                          f"Received: dilation={spec.dilation}, groups={spec.groups}, padding={spec.padding!r}")


def unpack_weights(payload: dict[str, Any]) -> list[tuple[np.ndarray, ...]]:
    """Each layer's weights from the payload, (kernel, bias) float32 arrays in Keras' layout.

    Raises:
        ValueError: an unknown format, or weights that do not fit the data (the message says which).
    """
    if payload.get("format") != FORMAT or payload.get("dtype") != "float32":
        raise ValueError(f"Unknown model payload. Received: format={payload.get('format')!r}, "
                         f"dtype={payload.get('dtype')!r}")
    data = np.frombuffer(base64.b64decode(payload["data"]), dtype=DTYPE)
    unpacked = []
    for layer in payload["layers"]:
        arrays = []
        for entry in layer["weights"]:
            start, size = int(entry["offset"]), int(entry["size"])
            if start < 0 or start + size > data.size or size != int(np.prod(entry["shape"])):
                raise ValueError(f"{layer['name']}: weight outside the data. Received: offset={start}, size={size}")
            arrays.append(data[start:start + size].reshape(entry["shape"]).astype(np.float32))
        unpacked.append(tuple(arrays))
    return unpacked


def engine_from_export(payload: dict[str, Any]) -> NumpyEngine:
    """A NumpyEngine built from the payload alone (layer settings and weights): the round trip's other end."""
    layers = []
    for layer, weights in zip(payload["layers"], unpack_weights(payload)):
        spec = LayerSpec(
            name=layer["name"], kind=layer["kind"], input_shape=tuple(layer["input_shape"]),
            output_shape=tuple(layer["output_shape"]), params=int(layer["params"]),
            activation=layer["activation"], size=int(layer["size"]), window=tuple(layer["window"]),
            strides=tuple(layer["strides"]), padding=layer["padding"], use_bias=bool(layer["use_bias"]),
        )
        layers.append(layer_from_spec(spec, weights))
    return NumpyEngine(layers)

"""Check a model file before Keras builds anything from it.

Keras model files are code: a config can name Lambda layers, arbitrary functions or modules, or a
layer so large that building it exhausts memory. `check_model_file` reads only the JSON config
(from the `.keras` zip or the `.h5` attributes) and refuses anything that is not a plain stack of
the layer types this project uses, within a parameter budget, taking (28, 28, 3) to 3 classes.

The check is also the one place that interprets the config: it returns a `ModelSpec`, one `LayerSpec` per
layer (kind, settings, input and output shapes, parameters), which the engines build from.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapes_viz.config import INPUT_SHAPE, MAX_MODEL_BYTES, MAX_MODEL_PARAMS, NUM_CLASSES
from shapes_viz.errors import ModelFileError

ALLOWED_LAYERS: frozenset[str] = frozenset(
    {"InputLayer", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D", "Dropout", "Flatten", "Dense"}
)
ALLOWED_ACTIVATIONS: frozenset[str] = frozenset({"relu", "softmax", "linear", "sigmoid", "tanh"})
KERAS_ZIP_MEMBERS: frozenset[str] = frozenset({"config.json", "metadata.json", "model.weights.h5"})
MAX_CONFIG_BYTES: int = 1024 * 1024
PADDINGS: tuple[str, ...] = ("valid", "same")


@dataclass(frozen=True)
class LayerSpec:
    """One layer as its config describes it, checked, with the shapes it takes and gives (no batch axis).

    Attributes:
        name, kind: the layer's name and class name ("Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense").
        input_shape, output_shape: e.g. (28, 28, 3) -> (28, 28, 32); (64,) -> (512,).
        params: number of weights.
        activation: "relu", "softmax", "linear", "sigmoid" or "tanh" ("linear" for layers without one).
        size: Conv2D filters or Dense units (0 otherwise).
        window: Conv2D kernel size or MaxPooling2D pool size, (rows, columns); (1, 1) otherwise.
        strides, dilation: (rows, columns).
        padding: "valid" or "same".
        groups: Conv2D groups.
        use_bias: whether the layer has a bias vector.
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    activation: str = "linear"
    size: int = 0
    window: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "valid"
    groups: int = 1
    use_bias: bool = False

    @property
    def weight_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shapes of the layer's weights in Keras' order: (kernel, bias) or (kernel,) or ()."""
        if self.kind == "Conv2D":
            kernel = (*self.window, self.input_shape[-1] // self.groups, self.size)
        elif self.kind == "Dense":
            kernel = (self.input_shape[0], self.size)
        else:
            return ()
        return (kernel, (self.size,)) if self.use_bias else (kernel,)


@dataclass(frozen=True)
class ModelSpec:
    """A checked model file: its parsed config and its layers (InputLayer left out), input to output."""

    config: dict[str, Any]
    layers: tuple[LayerSpec, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.layers[0].input_shape


def check_model_file(path: str | Path) -> ModelSpec:
    """Refuse a model file that is not a safe, fitting shapes_viz model; return its config and layer specs.

    Raises:
        ModelFileError: missing, too large, not a .h5/.keras file, or a config that names disallowed
            layers, functions or modules, exceeds MAX_MODEL_PARAMS, or does not fit (28, 28, 3) -> 3.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}", code="model_file_missing", path=path)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"Model file too large: {size:,} bytes (limit {MAX_MODEL_BYTES:,}).",
                             code="model_file_too_large", size=size, limit=MAX_MODEL_BYTES)
    if path.suffix == ".keras":
        config = _read_keras_config(path)
    elif path.suffix == ".h5":
        config = _read_h5_config(path)
    else:
        raise ModelFileError(f"Model files must end in .h5 or .keras. Received: {path.name}", code="model_file_suffix",
                             name=path.name)
    return check_model_config(config, source=path.name)


def _read_keras_config(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            unexpected = sorted(set(members) - KERAS_ZIP_MEMBERS)
            if unexpected or "config.json" not in members:
                raise ModelFileError(
                    f"Not a valid model file: {path.name} holds unexpected entries {unexpected[:5]}"
                )
            total = sum(info.file_size for info in members.values())
            if members["config.json"].file_size > MAX_CONFIG_BYTES or total > MAX_MODEL_BYTES:
                raise ModelFileError(f"Model file too large once unpacked: {path.name}")
            raw = archive.read("config.json")
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ModelFileError(f"Not a valid model file: {path.name} ({exc})", code="model_file_invalid",
                             name=path.name, detail=exc) from None
    return _parse_json(raw, path.name)


def _read_h5_config(path: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"Not a valid model file: {path.name} ({exc})", code="model_file_invalid",
                             name=path.name, detail=exc) from None
    if raw is None:
        raise ModelFileError(f"Not a valid model file: {path.name} has no model config (weights only?)",
                             code="model_file_no_config", name=path.name)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelFileError(f"Model file too large: {path.name} has a {len(raw):,}-byte config")
    return _parse_json(raw, path.name)


def _parse_json(raw: bytes | str, name: str) -> dict[str, Any]:
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFileError(f"Not a valid model file: {name} (config is not JSON: {exc})", code="model_file_invalid",
                             name=name, detail=f"config is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"Not a valid model file: {name} (config is not an object)", code="model_file_invalid",
                             name=name, detail="config is not an object")
    return config


def check_model_config(config: dict[str, Any], source: str = "model") -> ModelSpec:
    """Validate a Keras model config (Keras 3 or Keras 2 format); return it with its layer specs.

    Raises:
        ModelFileError: naming the first problem found.
    """
    try:
        return ModelSpec(config, _check_structure(config, source))
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        # A value of an unexpected type somewhere (a list where a name belongs, a number for a config...).
        raise ModelFileError(f"Refused {source}: its config is malformed ({type(exc).__name__}: {exc}).") from None


def _check_structure(config: dict[str, Any], source: str) -> tuple[LayerSpec, ...]:
    _check_modules(config, source)
    if config.get("class_name") != "Sequential":  # branching models would escape the chain-based budget
        raise ModelFileError(
            f"Refused {source}: expected a Sequential model. Received: {config.get('class_name')!r}"
        )
    body = config.get("config")
    layers = body.get("layers") if isinstance(body, dict) else None
    if not isinstance(layers, list) or not layers:
        raise ModelFileError(f"Refused {source}: its config lists no layers.")
    build_shape = body.get("build_input_shape")
    declared = _input_shape_of(layers[0]) or (
        _int_tuple(build_shape[1:]) if isinstance(build_shape, list) else None
    )
    shape = declared
    params = 0
    specs: list[LayerSpec] = []
    for layer in layers:
        kind = layer.get("class_name") if isinstance(layer, dict) else None
        if kind not in ALLOWED_LAYERS:
            raise ModelFileError(
                f"Refused {source}: layer type {kind!r} is not allowed "
                f"(allowed: {', '.join(sorted(ALLOWED_LAYERS))})."
            )
        layer_config = layer.get("config") or {}
        if not isinstance(layer_config, dict):
            raise ModelFileError(f"Refused {source}: a {kind} layer has a malformed config.")
        if kind == "InputLayer":
            continue
        if shape is None:
            raise ModelFileError(f"Refused {source}: its input shape is not declared.")
        spec = _layer_spec(kind, layer_config, shape, source)
        specs.append(spec)
        shape = spec.output_shape
        params += spec.params
        if params > MAX_MODEL_PARAMS:
            raise ModelFileError(
                f"Refused {source}: more than {MAX_MODEL_PARAMS:,} parameters (layer {layer_config.get('name')!r})."
            )
    if declared != INPUT_SHAPE or shape != (NUM_CLASSES,):
        raise ModelFileError(
            f"Model {source} does not fit: expected input {INPUT_SHAPE} and {NUM_CLASSES} classes. "
            f"Received: input {declared}, output {shape}",
            code="model_file_misfit", name=source, expected=INPUT_SHAPE, classes=NUM_CLASSES, input=declared,
            output=shape,
        )
    return tuple(specs)


def _check_modules(node: Any, source: str) -> None:
    """Every serialized object must come from Keras itself: no custom modules, functions or lambdas."""
    if isinstance(node, dict):
        module = node.get("module")
        if module is not None and not (module == "keras" or str(module).startswith("keras.")):
            raise ModelFileError(f"Refused {source}: it refers to module {module!r}.")
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            raise ModelFileError(f"Refused {source}: it refers to custom object {registered!r}.")
        kind = node.get("class_name")
        if kind in ("function", "__lambda__", "Lambda", "__function__"):
            name = node.get("config")
            if kind != "function" or not isinstance(name, str) or name not in ALLOWED_ACTIVATIONS:
                shown = name if isinstance(name, str) else "a Lambda layer" if kind == "Lambda" else kind
                raise ModelFileError(f"Refused {source}: it refers to a function ({shown!r}).")
        activation = node.get("activation")
        if isinstance(activation, str) and activation not in ALLOWED_ACTIVATIONS:
            raise ModelFileError(f"Refused {source}: activation {activation!r} is not allowed.")
        for value in node.values():
            _check_modules(value, source)
    elif isinstance(node, list):
        for value in node:
            _check_modules(value, source)


def _input_shape_of(layer: Any) -> tuple[int, ...] | None:
    if not isinstance(layer, dict):
        return None
    config = layer.get("config") or {}
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    return _int_tuple(shape[1:]) if isinstance(shape, list) and shape else None


def _int_tuple(values: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(d) for d in values)
    except (TypeError, ValueError):
        return None


def _pair(value: Any, default: int) -> tuple[int, int]:
    """A kernel, stride or pool size as two positive ints (zero or negative sizes are malformed)."""
    if value is None:
        pair = (default, default)
    elif isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"expected two sizes, received {value!r}")
    if min(pair) < 1:
        raise ValueError(f"sizes must be positive, received {value!r}")
    return pair


def _layer_spec(kind: str, config: dict[str, Any], shape: tuple[int, ...], source: str) -> LayerSpec:
    """The layer's spec (settings, output shape, parameter count) from its config and input shape alone."""
    try:
        name = str(config.get("name"))
        common = {"name": name, "kind": kind, "input_shape": shape}
        if kind == "Dropout":
            return LayerSpec(**common, output_shape=shape, params=0)
        if kind == "Flatten":
            return LayerSpec(**common, output_shape=(math.prod(shape),), params=0)
        activation = _activation(config.get("activation"))
        use_bias = bool(config.get("use_bias", True))
        if kind == "Dense":
            units = int(config["units"])
            if units <= 0 or len(shape) != 1:
                raise ValueError(f"Dense on shape {shape}")
            params = shape[0] * units + (units if use_bias else 0)
            return LayerSpec(**common, output_shape=(units,), params=params, activation=activation, size=units,
                             use_bias=use_bias)
        if len(shape) != 3:
            raise ValueError(f"{kind} on shape {shape}")
        if config.get("data_format") not in (None, "channels_last"):  # the shapes below assume it
            raise ValueError(f"data_format {config.get('data_format')!r}")
        padding = config.get("padding", "valid")
        if padding not in PADDINGS:
            raise ValueError(f"padding {padding!r}")
        height, width, channels = shape
        if kind == "GlobalAveragePooling2D":
            out = (1, 1, channels) if config.get("keepdims") else (channels,)
            return LayerSpec(**common, output_shape=out, params=0, window=(height, width))
        if kind == "Conv2D":
            filters = int(config["filters"])
            window = _pair(config.get("kernel_size"), 3)
            strides = _pair(config.get("strides"), 1)
            dilation = _pair(config.get("dilation_rate"), 1)
            groups = int(config.get("groups", 1) or 1)
            if filters <= 0 or groups <= 0 or channels % groups or filters % groups:
                raise ValueError(f"{filters} filters in {groups} groups on {channels} channels")
            reach = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
            out = _spatial((height, width), reach, strides, padding)
            params = window[0] * window[1] * (channels // groups) * filters + (filters if use_bias else 0)
            if min(out) <= 0:
                raise ValueError("empty output")
            return LayerSpec(**common, output_shape=(*out, filters), params=params, activation=activation,
                             size=filters, window=window, strides=strides, dilation=dilation, padding=padding,
                             groups=groups, use_bias=use_bias)
        if kind == "MaxPooling2D":
            window = _pair(config.get("pool_size"), 2)
            strides = _pair(config.get("strides"), window[0]) if config.get("strides") else window
            out = _spatial((height, width), window, strides, padding)
            if min(out) <= 0:
                raise ValueError("empty output")
            return LayerSpec(**common, output_shape=(*out, channels), params=0, window=window, strides=strides,
                             padding=padding)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"Refused {source}: layer {config.get('name')!r} is malformed ({exc}).") from None
    raise ModelFileError(f"Refused {source}: layer type {kind!r} is not allowed.")


def _activation(value: Any) -> str:
    """The activation's name: a string, or Keras' serialized {"class_name": "function", "config": name}."""
    if value is None:
        return "linear"
    if isinstance(value, dict):
        value = value.get("config")
    if not isinstance(value, str) or value not in ALLOWED_ACTIVATIONS:
        raise ValueError(f"activation {value!r}")
    return value


def _spatial(size, kernel, strides, padding) -> tuple[int, int]:
    if padding == "same":
        return tuple(math.ceil(s / st) for s, st in zip(size, strides))
    return tuple((s - k) // st + 1 for s, k, st in zip(size, kernel, strides))

"""Check a model file before Keras builds anything from it.

Keras model files are code: a config can name Lambda layers, arbitrary functions or modules, or a
layer so large that building it exhausts memory. `check_model_file` reads only the JSON config
(from the `.keras` zip or the `.h5` attributes) and refuses anything that is not a plain stack of
the layer types this project uses, within a parameter budget, taking (28, 28, 3) to 3 classes.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

from shapes_viz.config import INPUT_SHAPE, MAX_MODEL_BYTES, MAX_MODEL_PARAMS, NUM_CLASSES
from shapes_viz.errors import ModelFileError

ALLOWED_LAYERS: frozenset[str] = frozenset(
    {"InputLayer", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense"}
)
ALLOWED_ACTIVATIONS: frozenset[str] = frozenset({"relu", "softmax", "linear", "sigmoid", "tanh"})
KERAS_ZIP_MEMBERS: frozenset[str] = frozenset({"config.json", "metadata.json", "model.weights.h5"})
MAX_CONFIG_BYTES: int = 1024 * 1024


def check_model_file(path: str | Path) -> dict[str, Any]:
    """Refuse a model file that is not a safe, fitting shapes_viz model; return its parsed config.

    Raises:
        ModelFileError: missing, too large, not a .h5/.keras file, or a config that names disallowed
            layers, functions or modules, exceeds MAX_MODEL_PARAMS, or does not fit (28, 28, 3) -> 3.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"Model file too large: {size:,} bytes (limit {MAX_MODEL_BYTES:,}).")
    if path.suffix == ".keras":
        config = _read_keras_config(path)
    elif path.suffix == ".h5":
        config = _read_h5_config(path)
    else:
        raise ModelFileError(f"Model files must end in .h5 or .keras. Received: {path.name}")
    check_model_config(config, source=path.name)
    return config


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
        raise ModelFileError(f"Not a valid model file: {path.name} ({exc})") from None
    return _parse_json(raw, path.name)


def _read_h5_config(path: Path) -> dict[str, Any]:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"Not a valid model file: {path.name} ({exc})") from None
    if raw is None:
        raise ModelFileError(f"Not a valid model file: {path.name} has no model config (weights only?)")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelFileError(f"Model file too large: {path.name} has a {len(raw):,}-byte config")
    return _parse_json(raw, path.name)


def _parse_json(raw: bytes | str, name: str) -> dict[str, Any]:
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFileError(f"Not a valid model file: {name} (config is not JSON: {exc})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"Not a valid model file: {name} (config is not an object)")
    return config


def check_model_config(config: dict[str, Any], source: str = "model") -> int:
    """Validate a Keras model config (Keras 3 or Keras 2 format); return its parameter count.

    Raises:
        ModelFileError: naming the first problem found.
    """
    try:
        return _check_structure(config, source)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        # A value of an unexpected type somewhere (a list where a name belongs, a number for a config...).
        raise ModelFileError(f"Refused {source}: its config is malformed ({type(exc).__name__}: {exc}).") from None


def _check_structure(config: dict[str, Any], source: str) -> int:
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
        shape, layer_params = _propagate(kind, layer_config, shape, source)
        params += layer_params
        if params > MAX_MODEL_PARAMS:
            raise ModelFileError(
                f"Refused {source}: more than {MAX_MODEL_PARAMS:,} parameters (layer {layer_config.get('name')!r})."
            )
    if declared != INPUT_SHAPE or shape != (NUM_CLASSES,):
        raise ModelFileError(
            f"Model {source} does not fit: expected input {INPUT_SHAPE} and {NUM_CLASSES} classes. "
            f"Received: input {declared}, output {shape}"
        )
    return params


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


def _propagate(kind: str, config: dict[str, Any], shape: tuple[int, ...], source: str):
    """Output shape and parameter count of one layer, from its config alone."""
    try:
        if kind == "Dropout":
            return shape, 0
        if kind == "Flatten":
            return (math.prod(shape),), 0
        if kind == "Dense":
            units = int(config["units"])
            if units <= 0 or len(shape) != 1:
                raise ValueError(f"Dense on shape {shape}")
            return (units,), shape[0] * units + (units if config.get("use_bias", True) else 0)
        if len(shape) != 3:
            raise ValueError(f"{kind} on shape {shape}")
        if config.get("data_format") not in (None, "channels_last"):  # the shapes below assume it
            raise ValueError(f"data_format {config.get('data_format')!r}")
        height, width, channels = shape
        if kind == "Conv2D":
            filters = int(config["filters"])
            kh, kw = _pair(config.get("kernel_size"), 3)
            sh, sw = _pair(config.get("strides"), 1)
            out = _spatial((height, width), (kh, kw), (sh, sw), config.get("padding", "valid"))
            params = kh * kw * channels * filters + (filters if config.get("use_bias", True) else 0)
            if filters <= 0 or min(out) <= 0:
                raise ValueError("empty output")
            return (*out, filters), params
        if kind == "MaxPooling2D":
            pool = _pair(config.get("pool_size"), 2)
            strides = _pair(config.get("strides"), pool[0]) if config.get("strides") else pool
            out = _spatial((height, width), pool, strides, config.get("padding", "valid"))
            if min(out) <= 0:
                raise ValueError("empty output")
            return (*out, channels), 0
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"Refused {source}: layer {config.get('name')!r} is malformed ({exc}).") from None
    raise ModelFileError(f"Refused {source}: layer type {kind!r} is not allowed.")


def _spatial(size, kernel, strides, padding) -> tuple[int, int]:
    if padding == "same":
        return tuple(math.ceil(s / st) for s, st in zip(size, strides))
    return tuple((s - k) // st + 1 for s, k, st in zip(size, kernel, strides))

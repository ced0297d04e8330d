"""The tutorial's network: build it, load and save it (atomically), describe it as data.

Layers (all convolutions 3x3 with ReLU), with the names the dashboard shows:

    conv1_1 Conv2D 32 same  -> (28, 28, 32)      conv2_1 Conv2D 64 same  -> (13, 13, 64)
    conv1_2 Conv2D 32 valid -> (26, 26, 32)      conv2_2 Conv2D 64 valid -> (11, 11, 64)
    pool1   MaxPooling2D    -> (13, 13, 32)      pool2   MaxPooling2D    -> (5, 5, 64)
    drop1   Dropout 0.5                          drop2   Dropout 0.5
    conv3_1 Conv2D 64 same  -> (5, 5, 64)        flatten Flatten         -> (64,)
    conv3_2 Conv2D 64 valid -> (3, 3, 64)        dense   Dense 512 relu  -> (512,)
    pool3   MaxPooling2D    -> (1, 1, 64)        drop4   Dropout 0.5
    drop3   Dropout 0.5                          predictions Dense 3 softmax -> (3,)

174,243 parameters in all, as in the tutorial's summary.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from shapes_viz.config import INPUT_SHAPE, NUM_CLASSES
from shapes_viz.engine.results import LayerInfo
from shapes_viz.errors import ModelFileError, ShapesVizError

MODEL_SUFFIXES: tuple[str, ...] = (".h5", ".keras")


def build_model(seed: int | None = None):
    """The tutorial's CNN, uncompiled. Returns a keras.Sequential named "shapes_cnn".

    Args:
        seed: seeds the weight initialisers (None: Keras' global seed state).
    """
    import keras
    from keras import layers

    if seed is not None:
        keras.utils.set_random_seed(seed)

    def conv(filters: int, padding: str, name: str):
        return layers.Conv2D(filters, (3, 3), padding=padding, activation="relu", name=name)

    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
            conv(32, "same", "conv1_1"),
            conv(32, "valid", "conv1_2"),
            layers.MaxPooling2D(pool_size=(2, 2), name="pool1"),
            layers.Dropout(0.5, name="drop1"),
            conv(64, "same", "conv2_1"),
            conv(64, "valid", "conv2_2"),
            layers.MaxPooling2D(pool_size=(2, 2), name="pool2"),
            layers.Dropout(0.5, name="drop2"),
            conv(64, "same", "conv3_1"),
            conv(64, "valid", "conv3_2"),
            layers.MaxPooling2D(pool_size=(2, 2), name="pool3"),
            layers.Dropout(0.5, name="drop3"),
            layers.Flatten(name="flatten"),
            layers.Dense(512, activation="relu", name="dense"),
            layers.Dropout(0.5, name="drop4"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="predictions"),
        ],
        name="shapes_cnn",
    )


def model_summary(model) -> list[LayerInfo]:
    """The model's layers as data: name, type, output shape (no batch axis), parameter count."""
    rows = []
    for layer in model.layers:
        shape = tuple(int(d) for d in layer.output.shape[1:])
        rows.append(LayerInfo(layer.name, type(layer).__name__, shape, int(layer.count_params())))
    return rows


def load_model(path: str | Path):
    """Load a model file (.h5 or .keras) with safe mode on, after checking it is one of ours.

    The file is inspected before Keras builds anything (see `shapes_viz.model_files`): allowed layer
    types, parameter budget, input shape and class count. Returned uncompiled.

    Raises:
        ModelFileError: missing, corrupt, unsafe, or not fitting (28, 28, 3) -> 3 classes.
    """
    import keras

    from shapes_viz.model_files import check_model_file

    path = Path(path)
    check_model_file(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files; all mean the same to a user
        raise ModelFileError(f"Not a valid model file: {path.name} ({type(exc).__name__}: {exc})") from None
    _check_io(model, path)
    return model


def _check_io(model, path: Path) -> None:
    input_shape = tuple(model.inputs[0].shape[1:])
    output_shape = tuple(model.outputs[0].shape[1:])
    if input_shape != INPUT_SHAPE or output_shape != (NUM_CLASSES,):
        raise ModelFileError(
            f"Model {path.name} does not fit: expected input {INPUT_SHAPE} and {NUM_CLASSES} classes. "
            f"Received: input {input_shape}, output {output_shape}"
        )


def save_model_atomic(model, path: str | Path, before_replace: Callable[[Path], None] | None = None) -> Path:
    """Publish `model` at `path` so that readers only ever see the old or the new complete file.

    Writes a temporary file in the same folder, fsyncs it, reloads it and checks its predictions equal
    the model's, then `os.replace`s it over `path` (atomic on POSIX) and fsyncs the folder.

    Args:
        before_replace: called with the checked temp file just before it replaces `path` (the training
            stages the model's history there, with the file's digest); if it raises, nothing is replaced.

    Raises:
        ModelFileError: unsupported suffix, or the save or reload check failed (the old file is untouched).
        ShapesVizError: whatever `before_replace` raised (the old file is untouched).
    """
    path = Path(path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"Model path must end in .h5 or .keras. Received: {path}")
    try:  # a read-only or full models folder fails here, before anything is written
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise ModelFileError(f"Could not save the model to {path}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with _quiet_absl():  # .h5 is the tutorial's format on purpose: skip Keras' "legacy format" notice
            model.save(tmp)
        os.chmod(tmp, public_file_mode())  # mkstemp makes 0600; a published model is readable like any file
        _fsync(tmp)
        probe = np.random.default_rng(0).random((2, *INPUT_SHAPE), dtype=np.float32)
        reloaded = load_model(tmp)
        expected = np.asarray(model(probe, training=False))
        received = np.asarray(reloaded(probe, training=False))
        if not np.allclose(expected, received, atol=1e-5):
            raise ModelFileError(f"Reload check failed for {path.name}: predictions differ after saving.")
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except ShapesVizError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"Could not save the model to {path}: {type(exc).__name__}: {exc}") from exc
    except BaseException:  # KeyboardInterrupt, SystemExit: no half-written temp file either
        tmp.unlink(missing_ok=True)
        raise
    return path


STALE_TEMP_SECONDS: float = 3600.0


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex (a 2 MB model: ~3 ms). Raises OSError if it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_absl():
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _remove_stale_temp_files(path: Path) -> None:
    """Delete temp files of `path` that a killed save left behind (older than an hour, so never a live one)."""
    now = time.time()
    for leftover in path.parent.glob(f".{path.stem}.*.tmp{path.suffix}"):
        try:
            if now - leftover.stat().st_mtime > STALE_TEMP_SECONDS:
                leftover.unlink()
        except OSError:
            pass


def public_file_mode() -> int:
    """0o666 less the process umask: the mode a plain `open(path, "w")` would have given."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_identity(path: str | Path) -> tuple[str, int, int]:
    """(resolved path, mtime_ns, size) of a file: a cache key that changes when a new model is published."""
    path = Path(path).resolve()
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)

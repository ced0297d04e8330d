"""The only contract between training and viewing: the files in the models folder and how they change.

    models/shapes_cnn.h5             the published model (replaced only by `os.replace` of a checked file)
    models/shapes_cnn.history.json   its training history, naming the model by SHA-256 (`model_sha256`)
    models/shapes_cnn.h5.lock        held (flock) by the one process training this model

Writers publish through `save_model_atomic` / `publish_model_and_history` / `write_json_atomic`, so a reader
only ever sees the old or the new complete file; readers key their caches on `file_identity` and read the
history with `read_history`, which ignores a history that describes another version of the model file.
The trainer holds `training_lock`; anyone may ask `is_training`.

No TensorFlow at import time (the app imports this module); Keras is imported by the model save only.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from shapes_viz.config import INPUT_SHAPE
from shapes_viz.errors import ModelFileError, ShapesVizError, TrainingBusyError, TrainingError
from shapes_viz.model import load_model

MODEL_SUFFIXES: tuple[str, ...] = (".h5", ".keras")
STALE_TEMP_SECONDS: float = 3600.0  # a save's temp file older than this was left by a killed process


# --------------------------------------------------------------------------- names and identities


def history_path(model_path: Path | str) -> Path:
    """Where the training history JSON of a model file lives: `shapes_cnn.h5` -> `shapes_cnn.history.json`."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".history.json")


def file_identity(path: str | Path) -> tuple[str, int, int]:
    """(resolved path, mtime_ns, size) of a file: a cache key that changes when a new model is published."""
    path = Path(path).resolve()
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex (a 2 MB model: ~3 ms). Raises OSError if it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- writing


def public_file_mode() -> int:
    """0o666 less the process umask: the mode a plain `open(path, "w")` would have given."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def stage_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write `data` as JSON to a fsynced temp file beside `path` (mode as for a plain file); return it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, public_file_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_json_atomic(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write JSON through a temp file in the same folder and `os.replace` (never half written)."""
    tmp = stage_json(Path(path), data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        raise ModelFileError(f"Could not save the model to {path}: {exc.strerror or exc}", code="model_save_failed",
                             path=path, reason=exc.strerror or exc) from None
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
        raise ModelFileError(f"Could not save the model to {path}: {type(exc).__name__}: {exc}", code="model_save_failed",
                             path=path, reason=f"{type(exc).__name__}: {exc}") from exc
    except BaseException:  # KeyboardInterrupt, SystemExit: no half-written temp file either
        tmp.unlink(missing_ok=True)
        raise
    return path


def publish_model_and_history(model, out_path: Path, history: dict[str, Any]) -> None:
    """Publish the model and its history as a pair.

    The model is written and checked in a temp file (`save_model_atomic`); before it replaces the current
    model, the history is staged beside it with the new file's digest (`model_sha256`), so a full disk
    fails before anything is replaced; after it, the history is renamed into place (a rename needs no
    space). A kill between the two renames leaves the new model beside the old history, whose digest then
    does not match: `read_history` ignores it rather than describe another model.

    Raises:
        TrainingError: the history could not be written (the old model and history stay).
        ModelFileError: the model could not be published (the old model and history stay).
    """
    target = history_path(out_path)
    staged: list[Path] = []

    def stage_history(checked_model: Path) -> None:
        try:
            history["model_sha256"] = file_digest(checked_model)
            staged.append(stage_json(target, history))
        except OSError as exc:
            raise TrainingError(
                f"Could not write the training history beside {out_path} ({exc.strerror or exc}); "
                "nothing was published."
            ) from None

    try:
        save_model_atomic(model, out_path, before_replace=stage_history)
        os.replace(staged[0], target)
    finally:
        for leftover in staged:
            leftover.unlink(missing_ok=True)  # already renamed on success


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


# --------------------------------------------------------------------------- reading


def read_history(model_path: str | Path) -> dict[str, Any] | None:
    """The history JSON written beside `model_path`, or None if there is none, it is unreadable, or it
    belongs to another model: its `model_sha256` (written by `publish_model_and_history`) differs from the
    file's digest."""
    try:
        with open(history_path(model_path)) as handle:
            history = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(history, dict):
        return None
    recorded = history.get("model_sha256")
    if recorded is not None:
        try:
            stat = os.stat(model_path)
            if recorded != _cached_digest(str(model_path), stat.st_mtime_ns, stat.st_size):
                return None
        except OSError:
            return None
    return history


@functools.lru_cache(maxsize=16)
def _cached_digest(path: str, mtime_ns: int, size: int) -> str:
    """`file_digest` of a model file version (path, mtime_ns, size): hashed once per version."""
    return file_digest(path)


# --------------------------------------------------------------------------- the trainer lock


@contextlib.contextmanager
def training_lock(model_path: str | Path) -> Iterator[Path]:
    """Hold the exclusive training lock of `model_path` (`<model>.lock`, flock, non-blocking).

    Raises:
        TrainingBusyError: another process (or this one) is training the same model.
    """
    lock_path = Path(str(model_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainingBusyError("Another training is running; wait for it to finish.", code="training_locked") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield lock_path
    finally:
        handle.close()  # closing the descriptor releases the flock


def is_training(model_path: str | Path) -> bool:
    """True if some process holds the training lock of `model_path`."""
    try:
        with training_lock(model_path):
            return False
    except TrainingBusyError:
        return True


VARIANT_RESULTS = "results.json"  # the file `python -m shapes_viz variants` writes beside its variants' folders


def read_results(path: str | Path) -> dict[str, Any]:
    """A variants run's results.json as a dict ({} when missing or unreadable): written atomically by the run,
    read by the Model tab."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}

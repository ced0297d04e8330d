"""Cached objects shared by every session, chained like a graph:

    model file identity -> loaded model + activation engine (st.cache_resource, read-only)
                        -> activations of one input (st.cache_data, keyed by the input's digest)
                        -> test-set evaluation (st.cache_data)

A model file is identified by (path, mtime_ns, size): when the trainer publishes a new file (os.replace),
the identity changes and the next interaction of any session loads the new model. Nothing here trains:
the training-job manager only spawns the CLI trainer.
"""

from __future__ import annotations

import gc
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from shapes_viz.artifacts import file_identity, read_history
from shapes_viz.config import BLAS_THREADS, INTERPRETER_SWITCH_INTERVAL_S, PROJECT_ROOT, settings
from shapes_viz.dataset import IMAGE_SUFFIXES, TEST_FOLDER, TRAIN_FOLDER, list_class_files
from shapes_viz.engine import Activations, Engine, LayerInfo, open_engine
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.engine.threads import limit_blas_threads
from shapes_viz.ui.i18n import error_text, t
from shapes_viz.errors import DatasetError, ShapesVizError
from shapes_viz.evaluation import EvaluationResult, evaluate
from shapes_viz.preprocessing import preprocess, to_uint8_image
from shapes_viz.training import TrainingJobs

Identity = tuple[str, int, int]
_LOADED: set[Identity] = set()  # model file versions loaded so far (no spinner for those)

THUMBNAIL_SIDE = 112  # px: 4 screen pixels per model pixel for 28x28 images

# How often the model really ran (cache misses of `activations`), for tests and diagnostics.
ENGINE_RUNS: Counter[str] = Counter()


@dataclass(frozen=True)
class LoadedModel:
    """A model file loaded once for the whole server; treat as read-only."""

    identity: Identity
    engine: Engine
    summary: tuple[LayerInfo, ...]

    @property
    def path(self) -> Path:
        return Path(self.identity[0])


def published_path() -> Path:
    """The server's published model file (what the trainer replaces)."""
    return settings().model_path


def variants_folder() -> Path:
    """Where the architecture variants' models and their results.json are (beside the published model)."""
    return settings().models_dir / "variants"


def variant_file(name: str) -> Path | None:
    """A variant's model in the variants folder: <name>.h5, else the first seed of a run written there
    (<name>/seed0/model.h5); None when neither exists."""
    for path in (variants_folder() / f"{name}.h5", variants_folder() / name / "seed0" / "model.h5"):
        if path.is_file():
            return path
    return None


def model_path() -> Path:
    """The model file this session looks at: a variant it opened (Model tab), else the published model."""
    from shapes_viz.ui import state

    name = st.session_state.get(state.VARIANT) if st.runtime.exists() else None
    path = variant_file(name) if name else None
    return path or published_path()


def model_identity(path: Path | None = None) -> Identity | None:
    """(path, mtime_ns, size) of this session's model (see `model_path`), or None if there is no file."""
    try:
        return file_identity(path or model_path())
    except OSError:
        return None


def tune_interpreter() -> None:
    """The server process' thread switch interval (`config.INTERPRETER_SWITCH_INTERVAL_S`); cheap, so every
    page run sets it rather than once (nothing else in the process may change it back)."""
    sys.setswitchinterval(INTERPRETER_SWITCH_INTERVAL_S)


@st.cache_resource(max_entries=2, show_spinner=False)  # current_model shows a spinner in the session's language
def load_engine(identity: Identity) -> LoadedModel:
    """The model of `identity` with its engine (one per file version, shared; see `engine.open_engine`).

    The numpy engine when it reads the file (no TensorFlow in the server); the Keras engine otherwise.
    Both check the file first.
    """
    limit_blas_threads(BLAS_THREADS)  # the numpy engine's small products: one BLAS thread is faster here
    engine = open_engine(identity[0])
    summary = engine.summary()
    loaded = LoadedModel(identity=identity, engine=engine, summary=tuple(summary))
    _LOADED.add(identity)
    freeze_long_lived_objects()
    return loaded


def freeze_long_lived_objects() -> None:
    """Hide everything alive now (Streamlit, Plotly, the model; TensorFlow if loaded) from full GC passes.

    Streamlit runs `gc.collect(2)` after every script run, fragment reruns included (runner.postScriptGC).
    That walks every tracked object: with TensorFlow loaded ~400,000 (~200 ms of CPU after every rerun),
    without it still tens of ms, more than everything else a canvas report costs. Frozen objects are
    never walked (nor freed), so unfreeze and collect first: what an earlier model left behind can still
    be freed. Costs one full pass per model load.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def input_digest(x: np.ndarray) -> str:
    """A short hash of a preprocessed input: the cache key of its activations."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return hashlib.sha256(x.tobytes() + str(x.shape).encode()).hexdigest()[:24]


Off = tuple[tuple[str, tuple[int, ...]], ...]  # channels switched off, hashable: (("conv2_1", (3, 17)), ...)


@st.cache_data(max_entries=64, show_spinner=False)  # ~330 kB each; a stroke adds one per report
def activations(identity: Identity, digest: str, _x: np.ndarray, off: Off = ()) -> Activations:
    """Probabilities and every layer's output for one input, computed once per (model, input, knock-out).

    Raises:
        ShapesVizError: channels are switched off but the model's engine cannot (not the numpy engine).
    """
    ENGINE_RUNS["activations"] += 1
    engine = load_engine(identity).engine
    if not off:
        return engine.run(_x)
    if not isinstance(engine, NumpyEngine):
        raise ShapesVizError(t("resources.knockout_needs_h5"))
    return engine.run(_x, off=dict(off))


@st.cache_data(max_entries=4, show_spinner=False)  # the Training tab shows a spinner in the session's language
def test_set_evaluation(identity: Identity, folder: str) -> EvaluationResult:
    """Accuracy, confusion matrix and misclassified files on `folder`, once per model file version."""
    return evaluate(load_engine(identity).engine, folder)


@st.cache_resource
def training_jobs(path: str) -> TrainingJobs:
    """The server's one training-job manager for the model at `path`."""
    return TrainingJobs(path)


def history(identity: Identity) -> dict | None:
    """The training history JSON beside the model (small; read on each call so it follows the file)."""
    return read_history(identity[0])


# --- data folder ---------------------------------------------------------------------------------------


def data_splits(data_dir: Path) -> dict[str, Path]:
    """The data folder's parts that hold class subfolders: {"training_set": ..., "test_set": ...}, or
    {"data": data_dir} when the folder itself holds the class subfolders; {} when there is nothing."""
    found = {name: data_dir / name for name in (TRAIN_FOLDER, TEST_FOLDER) if (data_dir / name).is_dir()}
    if found:
        return found
    try:
        list_class_files(data_dir)
    except (DatasetError, OSError):
        return {}
    return {"data": data_dir}


def test_folder(data_dir: Path) -> Path | None:
    """Where the examples and the test-set evaluation come from: `test_set/` if present."""
    splits = data_splits(data_dir)
    return splits.get(TEST_FOLDER) or splits.get("data")


@st.cache_data(ttl=30, show_spinner=False)
def class_images(folder: str) -> dict[str, list[str]]:
    """PNG/JPEG files per class in `folder` (refreshed every 30 s); {} if the folder cannot be used."""
    try:
        files = list_class_files(folder)
    except (DatasetError, OSError):
        return {}
    return {
        name: [str(p) for p in paths if p.suffix.lower() in IMAGE_SUFFIXES] for name, paths in files.items()
    }


@st.cache_data(max_entries=2048, show_spinner=False)
def model_view_of_file(path: str, mtime_ns: int) -> np.ndarray | None:
    """The (1, 28, 28, 3) model input of an image file, or None if the file is not usable."""
    try:
        return preprocess(Path(path))
    except ShapesVizError:
        return None


def model_view_image(path: str) -> np.ndarray | None:
    """What the model sees of `path` as a thumbnail, (112, 112) uint8 enlarged nearest-neighbour, or None."""
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError:
        return None
    x = model_view_of_file(path, mtime)
    return None if x is None else enlarged(to_uint8_image(x))


# --- the page's model and input --------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentModel:
    """The published model as this run sees it: its identity, the loaded model, or why there is none."""

    identity: Identity | None
    loaded: LoadedModel | None
    error: str | None


def current_model() -> CurrentModel:
    """Load (or reuse) the published model; an unusable file gives an error message, not an exception."""
    identity = model_identity()
    if identity is None:
        return CurrentModel(None, None, t("resources.no_model_file", path=shown_path(model_path())))
    try:
        if identity in _LOADED:
            return CurrentModel(identity, load_engine(identity), None)
        with st.spinner(t("spinner.loading_model")):
            return CurrentModel(identity, load_engine(identity), None)
    except ShapesVizError as exc:
        return CurrentModel(identity, None, t("resources.unusable", error=error_text(exc)))


def run_model(model: CurrentModel, x: np.ndarray | None, digest: str, off: Off = ()) -> Activations | None:
    """Activations of the input `x` (cached per model file, input digest and knock-out), or None without model
    or input."""
    if x is None or model.loaded is None or model.identity is None:
        return None
    return activations(model.identity, digest, x, off)


# --- what the page shows of files ----------------------------------------------------------------------------


def shown_path(path: str | Path) -> str:
    """A path as the page shows it: relative to the project ("data/test_set") or to the data folder's parent,
    else the file or folder name alone. The server's absolute paths are never shown."""
    path = Path(path)
    for base in (PROJECT_ROOT, settings().data_dir.parent, settings().model_path.parent.parent):
        try:
            return path.resolve().relative_to(base.resolve()).as_posix() or "."
        except ValueError:
            continue
    return path.name


def enlarged(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """A small (H, W) or (H, W, C) uint8 image enlarged nearest-neighbour by the largest whole factor that
    keeps its longer side <= `side` (at least 1), so that the browser shows its pixels, not a blur."""
    factor = max(1, side // max(image.shape[:2]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def pixel_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8, enlarged nearest-neighbour when small (see `enlarged`).

    Raises:
        OSError: the file cannot be read as an image.
    """
    from PIL import Image

    with Image.open(path) as image:
        return enlarged(np.asarray(image.convert("RGB")))

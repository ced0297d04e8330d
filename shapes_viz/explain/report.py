"""Attribution maps of image files, for the command line (`python -m shapes_viz explain`).

    engine = open_numpy_engine(Path("models/shapes_cnn.h5"))
    result = explain_file(engine, Path("drawing.png"), "layercam", target=None, layer=None)
    result.map.values                   # (28, 28) float32, larger = more evidence for result.map.target
    save_map(result.map.values, map_path(Path("maps"), Path("drawing.png"), "layercam"))

Everything here runs on the numpy engine (an .h5 model): no TensorFlow.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shapes_viz.config import CLASS_NAMES
from shapes_viz import engine as engines
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.errors import ShapesVizError
from shapes_viz.explain.methods import CAM_METHODS, AttributionMap, attribute, map_layers

# The CAM methods' layer when none is asked for: the most faithful LayerCAM measured. Mean deletion area
# (lower is better) and insertion area of LayerCAM on the 90 drawings of data/test_set, each explained for its
# predicted class (random maps 0.742 / 0.728, the ink 0.449 / 0.937): conv1_1 0.554 / 0.878, conv1_2 0.493 /
# 0.912, pool1 0.446 / 0.898, conv2_1 0.467 / 0.865, conv2_2 0.513 / 0.843, pool2 0.567 / 0.819, conv3_1 0.536
# / 0.827, conv3_2 0.567 / 0.779, pool3 (1x1) 0.730 / 0.744. pool1 below conv1_2 on 67 of the 90 drawings
# (mean difference -0.046, standard error 0.011). Grad-CAM was near random at every layer.
DEFAULT_CAM_LAYER = "pool1"


class ExplainError(ShapesVizError):
    """An explanation cannot be made: the model is not one the numpy engine reads, or a bad layer."""


@dataclass(frozen=True)
class FileExplanation:
    """One file's prediction and attribution map.

    Attributes:
        path: the image file.
        probabilities: (3,) float32 softmax probabilities of CLASS_NAMES.
        map: the attribution map (values (28, 28) float32 on the model's input grid).
    """

    path: Path
    probabilities: np.ndarray
    map: AttributionMap

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())


def parse_target(text: str) -> int:
    """A class given by name (circles, squares, triangles) or index (0, 1, 2) -> its index.

    Raises:
        ValueError: neither a class name nor an index of one.
    """
    name = text.strip().lower()
    if name in CLASS_NAMES:
        return CLASS_NAMES.index(name)
    if name.isdigit() and int(name) < len(CLASS_NAMES):
        return int(name)
    choices = ", ".join(f"{n} ({i})" for i, n in enumerate(CLASS_NAMES))
    raise ValueError(f"Unknown class. Expected one of {choices}. Received: target={text!r}")


def open_numpy_engine(path: Path) -> NumpyEngine:
    """The numpy engine of an .h5 model file (no TensorFlow).

    Raises:
        ExplainError: a file that only the Keras engine reads (.keras): explanations need an .h5 model.
        ModelFileError: missing, corrupt or unsafe model file.
    """
    return engines.open_numpy_engine(path, "Explanations", ExplainError)


def choose_layer(engine: NumpyEngine, method: str, layer: str | None) -> str | None:
    """The layer a method will use: DEFAULT_CAM_LAYER (or the deepest map layer) for CAM methods, None otherwise.

    Raises:
        ExplainError: a layer given to a method that takes none, a layer that does not exist, or one whose
            output is not a (h, w, c) map.
    """
    if method not in CAM_METHODS:
        if layer is not None:
            raise ExplainError(f"--layer applies only to the CAM methods ({', '.join(CAM_METHODS)}). "
                               f"Received: method={method!r}, layer={layer!r}")
        return None
    maps = map_layers(engine)
    if layer is None:
        return DEFAULT_CAM_LAYER if DEFAULT_CAM_LAYER in maps else maps[-1]
    if layer not in engine.layer_names:
        raise ExplainError(f"No such layer. Layers with maps: {', '.join(maps)}. Received: layer={layer!r}")
    if layer not in maps:
        raise ExplainError(f"{method} needs a layer whose output is a (height, width, channels) map: "
                           f"{', '.join(maps)}. Received: layer={layer!r}")
    return layer


def explain_file(engine: NumpyEngine, path: Path, method: str, target: int | None,
                 layer: str | None) -> FileExplanation:
    """Preprocess `path` as every image is, predict, and attribute `target` (default: the predicted class).

    Raises:
        ImageError: unreadable, not PNG/JPEG, or blank image (EmptyImageError).
    """
    from shapes_viz.preprocessing import preprocess

    x = preprocess(path)
    probabilities = engine.probabilities(x)[0]
    chosen = int(probabilities.argmax()) if target is None else int(target)
    return FileExplanation(Path(path), probabilities, attribute(engine, x, method, chosen, layer))


def describe(result: FileExplanation) -> str:
    """One line: predicted class and probability, method, target (and its probability), layer, IG's completeness."""
    best, chosen = result.predicted, result.map.target
    line = (f"{result.path}: {CLASS_NAMES[best]} ({result.probabilities[best]:.1%})  "
            f"{result.map.method} for {CLASS_NAMES[chosen]}")
    if chosen != best:
        line += f" ({result.probabilities[chosen]:.1%})"
    if result.map.layer:
        line += f" at {result.map.layer}"
    if result.map.method == "ig":
        d = result.map.details
        line += (f"  [sum {d['sum']:.4f}, logit difference {d['logit_difference']:.4f}, "
                 f"completeness error {d['completeness_error']:.4f} ({d['relative_error']:.1%})]")
    return line


def map_path(out: Path, path: Path, method: str) -> Path:
    """Where a file's map goes: out/<name of the file's folder>/<file stem>.<method>.npy (drawings of different
    classes often share a file name; their folders tell them apart)."""
    path = Path(path).absolute()
    return Path(out) / path.parent.name / f"{path.stem}.{method}.npy"


def save_map(values: np.ndarray, target: Path) -> None:
    """Write a (28, 28) map as float32 .npy atomically (a temporary file in the folder, then a rename).

    Raises:
        OSError: the folder cannot be created or written.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, np.asarray(values, dtype=np.float32))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

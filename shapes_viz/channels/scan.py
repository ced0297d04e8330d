"""The dataset scan: for every channel of every layer, which drawings of the data folder excite it most and
least, where in its map, and whether it is ever positive on any of them ("dead on the dataset").

    scan = scan_images(engine, data)            # one chunked forward pass over (N, 28, 28, 3) images
    layer = scan.layer("conv2_1")
    layer.top[c]      # indices of the top-k drawings for channel c (by maximum pre-activation), best first
    layer.dead        # (C,) bool: never positive on any drawing

Maxima are taken over the map's positions of the pre-activation (before ReLU), so that channels that never
fire still rank their drawings; "positive" is about the layer's output (after its activation).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shapes_viz.dataset import IMAGE_SUFFIXES, LabeledImages, list_class_files, load_folder
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.errors import DatasetError

TOP_K = 9
CHUNK = 64  # images per forward pass: bounds the memory of the largest maps (64 x 28 x 28 x 32 floats)


@dataclass(frozen=True)
class LayerScan:
    """One layer's channels over the scanned drawings.

    Attributes:
        layer: the layer's name.
        maxima: (N, C) float32, each drawing's maximum pre-activation per channel (a vector's unit value).
        positions: (N, C, 2) int16, (row, column) of that maximum in the map ((0, 0) for vectors).
        top, bottom: (C, k) int32 drawing indices by maximum, highest first / lowest first.
        positive: (C,) bool, True where the channel's output is positive on at least one drawing.
    """

    layer: str
    maxima: np.ndarray
    positions: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    positive: np.ndarray

    @property
    def dead(self) -> np.ndarray:
        """(C,) bool: never positive on any scanned drawing."""
        return ~self.positive


@dataclass(frozen=True)
class DatasetScan:
    """Every layer's scan over the same drawings.

    Attributes:
        images: (N, 28, 28, 3) float32 model inputs, labels (N,) int32, paths N source files.
        layers: {layer name: LayerScan}, in the model's order.
        skipped: (path, reason) of files that could not be used.
    """

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]
    layers: dict[str, LayerScan]
    skipped: list[tuple[str, str]]

    def layer(self, name: str) -> LayerScan:
        if name not in self.layers:
            raise KeyError(f"No layer named {name!r} in the scan. Received: name={name!r}; layers: {list(self.layers)}")
        return self.layers[name]

    def dead_counts(self) -> dict[str, tuple[int, int]]:
        """{layer: (channels dead on the dataset, channels)}."""
        return {name: (int(s.dead.sum()), int(s.dead.size)) for name, s in self.layers.items()}


def scan_images(engine: NumpyEngine, data: LabeledImages, k: int = TOP_K) -> DatasetScan:
    """Scan `data` (at least one image) through every layer of `engine`.

    Raises:
        DatasetError: no image to scan.
    """
    count = len(data.labels)
    if count == 0:
        raise DatasetError("No usable image to scan: the data folder has no PNG or JPEG drawing.",
                           code="data_nothing_to_scan")
    maxima: dict[str, list[np.ndarray]] = {name: [] for name in engine.layer_names}
    positions: dict[str, list[np.ndarray]] = {name: [] for name in engine.layer_names}
    positive = {name: np.zeros(shape[-1], bool) for name, shape in zip(engine.layer_names, engine.output_shapes)}
    for start in range(0, count, CHUNK):
        x = np.asarray(data.images[start : start + CHUNK], dtype=np.float32)
        for layer in engine.layers:
            z = layer.transform(x).astype(np.float32, copy=False)
            x = layer.forward_from(z)
            best, where = _maxima(z)
            maxima[layer.name].append(best)
            positions[layer.name].append(where)
            positive[layer.name] |= (x.reshape(x.shape[0], -1, x.shape[-1]) > 0).any(axis=(0, 1))
    layers = {}
    k = min(k, count)
    for name in engine.layer_names:
        values = np.concatenate(maxima[name])
        order = np.argsort(-values, axis=0, kind="stable")  # (N, C): highest first, ties by file order
        layers[name] = LayerScan(
            name, values, np.concatenate(positions[name]), order[:k].T.astype(np.int32),
            np.argsort(values, axis=0, kind="stable")[:k].T.astype(np.int32), positive[name],
        )
    return DatasetScan(np.asarray(data.images), np.asarray(data.labels), list(data.paths), layers, list(data.skipped))


def _maxima(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) maxima over positions and (N, C, 2) int16 (row, column) of the first maximum."""
    if z.ndim == 2:
        return z.copy(), np.zeros((*z.shape, 2), np.int16)
    n, h, w, c = z.shape
    flat = z.reshape(n, h * w, c)
    index = flat.argmax(axis=1)
    best = np.take_along_axis(flat, index[:, None, :], axis=1)[:, 0, :]
    return best, np.stack([index // w, index % w], axis=-1).astype(np.int16)


def load_splits(data_dir: str | Path) -> LabeledImages:
    """Every drawing of the data folder: training_set/ and test_set/ when present, else the folder itself.

    Raises:
        DatasetError: the folder is missing or holds no usable image.
    """
    data_dir = Path(data_dir)
    splits = [data_dir / name for name in ("training_set", "test_set") if (data_dir / name).is_dir()] or [data_dir]
    parts = [load_folder(split) for split in splits]
    return LabeledImages(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        paths=[path for p in parts for path in p.paths],
        skipped=[item for p in parts for item in p.skipped],
    )


def folder_fingerprint(data_dir: str | Path) -> str:
    """A short hash of the data folder's image files (relative path, size, mtime): changes when a file does."""
    data_dir = Path(data_dir)
    digest = hashlib.sha256()
    try:
        files = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    except OSError as exc:
        raise DatasetError(f"Data folder not readable: {data_dir.name} ({exc.strerror or exc})",
                           code="data_folder_unreadable", name=data_dir.name, reason=exc.strerror or exc) from None
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished while listing: the scan will skip it too
        digest.update(f"{path.relative_to(data_dir)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


__all__ = ["DatasetScan", "LayerScan", "TOP_K", "folder_fingerprint", "list_class_files", "load_splits", "scan_images"]

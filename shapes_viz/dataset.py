"""Loading folders of class subfolders, with the semantics of Keras' `image_dataset_from_directory`.

A data folder is either a folder of class subfolders (`circles/`, `squares/`, `triangles/`, images
found recursively inside each), or the tutorial's layout: a folder holding `training_set/` and
`test_set/`, each a folder of class subfolders, which means training + validation. Classes are
indexed in sorted order (circles 0, squares 1, triangles 2). Every image goes through the one
`preprocess` function. Unreadable files are skipped and reported by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shapes_viz.config import CLASS_NAMES, INPUT_SHAPE
from shapes_viz.errors import DatasetError, ImageError
from shapes_viz.preprocessing import preprocess

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg"})
TRAIN_FOLDER = "training_set"
TEST_FOLDER = "test_set"


@dataclass
class LabeledImages:
    """Preprocessed images with their labels.

    Attributes:
        images: (N, 28, 28, 3) float32 in [0, 1], exactly what the model gets.
        labels: (N,) int32 class indices into CLASS_NAMES.
        paths: N source file paths, in the same order.
        skipped: (path, reason) for every file that could not be used.
    """

    images: np.ndarray
    labels: np.ndarray
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        """Images per class name."""
        return {name: int((self.labels == i).sum()) for i, name in enumerate(CLASS_NAMES)}


@dataclass
class DatasetSplits:
    """Training and validation data from one data folder."""

    train: LabeledImages
    validation: LabeledImages
    source: str
    layout: str  # "train+test folders" or "split 70/30"

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return self.train.skipped + self.validation.skipped


def has_split_layout(root: str | Path) -> bool:
    """True if `root` holds the tutorial's `training_set/` and `test_set/` folders."""
    root = Path(root)
    return (root / TRAIN_FOLDER).is_dir() and (root / TEST_FOLDER).is_dir()


def list_class_files(folder: str | Path, require_all: bool = False) -> dict[str, list[Path]]:
    """Files per class subfolder of `folder`, found recursively and sorted; hidden files ignored.

    Args:
        folder: a folder whose subfolders are named after classes (a subset of CLASS_NAMES).
        require_all: every class of CLASS_NAMES must be present and non-empty (training).

    Returns:
        {class name: sorted file paths} for the classes present, in CLASS_NAMES order.

    Raises:
        DatasetError: missing folder, unknown class folders, no class folders, or (require_all)
            a missing or empty class.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"Data folder not found: {folder}", code="data_folder_missing", folder=folder)
    subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [name for name in subfolders if name not in CLASS_NAMES]
    if unknown:
        raise DatasetError(
            f"Unknown class folders in {folder}: {unknown}. Expected subfolders named {list(CLASS_NAMES)}.",
            code="data_unknown_class_folders", folder=folder, unknown=unknown, expected=list(CLASS_NAMES),
        )
    if not subfolders:
        raise DatasetError(
            f"No class folders in {folder}: expected subfolders named {list(CLASS_NAMES)}.",
            code="data_no_class_folders", folder=folder, expected=list(CLASS_NAMES),
        )
    files = {
        name: sorted(
            p
            for p in (folder / name).rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        for name in CLASS_NAMES
        if name in subfolders
    }
    if require_all:
        empty = [name for name in CLASS_NAMES if not files.get(name)]
        if len(CLASS_NAMES) - len(empty) <= 1:
            raise DatasetError(
                f"{folder} holds images of a single class or none; training needs all of {list(CLASS_NAMES)}.",
                code="data_single_class", folder=folder, expected=list(CLASS_NAMES),
            )
        if empty:
            raise DatasetError(f"Class folder missing or empty in {folder}: {empty}.", code="data_class_folder_empty",
                               folder=folder, empty=empty)
    return files


def load_folder(folder: str | Path, require_all: bool = False) -> LabeledImages:
    """Load and preprocess every image of a folder of class subfolders.

    Files that are not PNG/JPEG by suffix, or that fail to decode, are skipped and listed in
    `skipped` with the reason. Raises DatasetError if no usable image remains (or, with
    `require_all`, if a class has no usable image).
    """
    files = list_class_files(folder, require_all=require_all)
    images, labels, paths, skipped = [], [], [], []
    for name, class_files in files.items():
        label = CLASS_NAMES.index(name)
        for path in class_files:
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((str(path), "not a PNG or JPEG file"))
                continue
            try:
                images.append(preprocess(path)[0])
            except ImageError as exc:
                skipped.append((str(path), str(exc)))
                continue
            labels.append(label)
            paths.append(str(path))
    loaded = LabeledImages(
        images=np.stack(images) if images else np.zeros((0, *INPUT_SHAPE), np.float32),
        labels=np.asarray(labels, dtype=np.int32),
        paths=paths,
        skipped=skipped,
    )
    if len(loaded) == 0:
        raise DatasetError(f"No usable images in {folder} ({len(skipped)} files skipped).",
                           code="data_no_usable_images", folder=folder, skipped=len(skipped))
    if require_all:
        empty = [name for name, count in loaded.counts().items() if count == 0]
        if empty:
            raise DatasetError(f"No usable images for class {empty} in {folder}.", code="data_class_no_usable_images",
                               empty=empty, folder=folder)
    return loaded


def load_dataset(root: str | Path, validation_split: float = 0.3, seed: int = 0) -> DatasetSplits:
    """Training and validation data from a data folder.

    `root/training_set` + `root/test_set` (the tutorial's layout) are used as they are; a plain folder
    of class subfolders is split per class, `validation_split` of each class (seeded) for validation.

    Raises:
        DatasetError: see `list_class_files` and `load_folder`; also when a split is too small.
    """
    root = Path(root)
    if has_split_layout(root):
        train = load_folder(root / TRAIN_FOLDER, require_all=True)
        validation = load_folder(root / TEST_FOLDER, require_all=True)
        return DatasetSplits(train, validation, str(root), "train+test folders")
    everything = load_folder(root, require_all=True)
    rng = np.random.default_rng(seed)
    val_index = []
    for label in range(len(CLASS_NAMES)):
        members = np.flatnonzero(everything.labels == label)
        if len(members) < 2:
            raise DatasetError(f"Class {CLASS_NAMES[label]!r} needs at least 2 images to split; found {len(members)}.",
                               code="data_class_too_small", name=CLASS_NAMES[label], count=len(members))
        count = max(1, int(round(len(members) * validation_split)))
        val_index.extend(rng.permutation(members)[:count].tolist())
    is_val = np.zeros(len(everything), dtype=bool)
    is_val[val_index] = True
    return DatasetSplits(
        train=_subset(everything, ~is_val, everything.skipped),
        validation=_subset(everything, is_val, []),
        source=str(root),
        layout=f"split {round((1 - validation_split) * 100)}/{round(validation_split * 100)}",
    )


def _subset(data: LabeledImages, mask: np.ndarray, skipped: list[tuple[str, str]]) -> LabeledImages:
    return LabeledImages(
        images=data.images[mask],
        labels=data.labels[mask],
        paths=[p for p, keep in zip(data.paths, mask) if keep],
        skipped=list(skipped),
    )

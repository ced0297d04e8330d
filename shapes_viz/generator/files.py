"""Writing a folder data set of generated drawings in the tutorial's layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from shapes_viz.config import CLASS_NAMES, IMAGE_SIZE
from shapes_viz.generator.looks import BROWSER_CANVAS, draw_browser_style, draw_shape

STYLES: tuple[str, ...] = ("mixed", "browser")
SPLITS: tuple[str, ...] = ("training_set", "test_set")


def generate_dataset(
    out_dir: str | Path,
    per_class: int,
    seed: int,
    test_fraction: float = 0.3,
    style: str = "mixed",
) -> dict[str, dict[str, int]]:
    """Write a folder data set of 28x28 RGB PNG drawings.

    Layout: out_dir/training_set/<class>/<class>_<i:05d>.png and out_dir/test_set/<class>/<class>_<i:05d>.png.
    round(per_class * test_fraction) images per class go to test_set (at least 1 and at most per_class - 1),
    the rest to training_set. Existing files of the same naming pattern in those folders are replaced (stale
    ones from a larger earlier run are deleted); other files are left alone.

    Args:
        out_dir: root folder (created if missing).
        per_class: images per class, >= 2.
        seed: non-negative integer; the same seed gives byte-identical files.
        test_fraction: share of each class put in test_set, strictly between 0 and 1.
        style: "mixed" (`draw_shape`) or "browser" (`draw_browser_style` downscaled to 28x28 with LANCZOS,
            every second image inverted).

    Returns:
        Counts written: {"training_set": {"circles": n, ...}, "test_set": {"circles": m, ...}}.

    Raises:
        ValueError: per_class < 2, test_fraction outside (0, 1), unknown style, negative or non-integer seed.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 2:
        raise ValueError(f"per_class must be an integer >= 2, got {per_class!r}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.floating)) or not (
        0.0 < float(test_fraction) < 1.0
    ):
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}; got {style!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    n_test = min(max(int(round(per_class * float(test_fraction))), 1), int(per_class) - 1)
    counts = {"training_set": int(per_class) - n_test, "test_set": n_test}
    out_dir = Path(out_dir)
    result: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
    for split_index, split in enumerate(SPLITS):
        for class_index, kind in enumerate(CLASS_NAMES):
            folder = out_dir / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            _remove_own_files(folder, kind)
            for i in range(counts[split]):
                rng = np.random.default_rng([int(seed), split_index, class_index, i])
                image = _dataset_image(kind, rng, style, inverted=i % 2 == 1)
                Image.fromarray(image).save(folder / f"{kind}_{i:05d}.png", format="PNG")
            result[split][kind] = counts[split]
    return result


def _dataset_image(kind: str, rng: np.random.Generator, style: str, inverted: bool) -> np.ndarray:
    """One (IMAGE_SIZE, IMAGE_SIZE, 3) uint8 image of the requested data-set style."""
    if style == "mixed":
        return draw_shape(kind, rng, IMAGE_SIZE)
    big = draw_browser_style(kind, rng, BROWSER_CANVAS, inverted=inverted)
    # The three channels are equal: resizing one is byte-identical to resizing the RGB image, 3x faster.
    small = Image.fromarray(np.ascontiguousarray(big[:, :, 0])).resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS)
    return np.repeat(np.asarray(small, dtype=np.uint8)[:, :, None], 3, axis=2)


def _remove_own_files(folder: Path, kind: str) -> None:
    """Delete files named like this generator's output (<kind>_<digits>.png) in `folder`."""
    pattern = re.compile(rf"{re.escape(kind)}_\d{{5,}}\.png")
    for path in folder.iterdir():
        if path.is_file() and pattern.fullmatch(path.name):
            path.unlink()


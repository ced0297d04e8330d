"""Tests of shapes_viz.generator: shapes, determinism, data-set layout, argument errors and variety."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shapes_viz.config import CLASS_NAMES, IMAGE_SIZE
from shapes_viz.generator import files, looks
from shapes_viz.generator import draw_browser_style, draw_shape, generate_dataset


# ---------------------------------------------------------------------------- helpers


def _ink(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """(ink strength per pixel, 0..255, as float) and whether the image is light-on-dark (border median)."""
    gray = image.astype(float).mean(axis=2)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    return np.abs(gray - background), background < 128


def _ink_box(image: np.ndarray) -> tuple[int, float, float]:
    """(longest side of the ink bounding box, box centre x, box centre y) in pixels."""
    strength, _ = _ink(image)
    ys, xs = np.nonzero(strength > max(25.0, 0.35 * strength.max()))
    assert len(xs), "no ink"
    side = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
    return int(side), (xs.min() + xs.max()) / 2.0, (ys.min() + ys.max()) / 2.0


def _sample(kind: str, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [draw_shape(kind, rng) for _ in range(n)]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


# ---------------------------------------------------------------------------- shapes, dtypes, determinism


@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_draw_shape_returns_rgb_uint8(kind):
    rng = np.random.default_rng(0)
    for size in (IMAGE_SIZE, 40):
        image = draw_shape(kind, rng, size)
        assert image.shape == (size, size, 3)
        assert image.dtype == np.uint8
    assert draw_shape(kind, rng).shape == (IMAGE_SIZE, IMAGE_SIZE, 3)


@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_draw_browser_style_full_canvas_black_and_white(kind):
    rng = np.random.default_rng(1)
    for inverted in (False, True):
        image = draw_browser_style(kind, rng, inverted=inverted)
        assert image.shape == (280, 280, 3) and image.dtype == np.uint8
        assert set(np.unique(image).tolist()) == {0, 255}
        assert (image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all()
        corners = image[[0, 0, -1, -1], [0, -1, 0, -1], 0]
        assert (corners == (0 if inverted else 255)).all()
    assert draw_browser_style(kind, rng, canvas=100).shape == (100, 100, 3)


def test_same_seed_same_image_and_different_seeds_differ():
    for kind in CLASS_NAMES:
        a = draw_shape(kind, np.random.default_rng(42))
        b = draw_shape(kind, np.random.default_rng(42))
        assert np.array_equal(a, b)
        c = draw_browser_style(kind, np.random.default_rng(42))
        d = draw_browser_style(kind, np.random.default_rng(42))
        assert np.array_equal(c, d)
    first = [draw_shape("circles", np.random.default_rng(s)) for s in range(5)]
    assert all(not np.array_equal(first[0], other) for other in first[1:])
    assert not np.array_equal(
        draw_browser_style("squares", np.random.default_rng(1)), draw_browser_style("squares", np.random.default_rng(2))
    )


# ---------------------------------------------------------------------------- argument errors


def test_unknown_kind_names_valid_kinds_and_received_value():
    with pytest.raises(ValueError) as info:
        draw_shape("hexagons", np.random.default_rng(0))
    message = str(info.value)
    assert "hexagons" in message and all(name in message for name in CLASS_NAMES)
    with pytest.raises(ValueError, match="hexagons"):
        draw_browser_style("hexagons", np.random.default_rng(0))


def test_bad_size_and_canvas():
    with pytest.raises(ValueError, match="size"):
        draw_shape("circles", np.random.default_rng(0), size=3)
    with pytest.raises(ValueError, match="canvas"):
        draw_browser_style("circles", np.random.default_rng(0), canvas=10)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"per_class": 1}, r"per_class.*1"),
        ({"per_class": 0}, r"per_class.*0"),
        ({"test_fraction": 0.0}, r"test_fraction.*0\.0"),
        ({"test_fraction": 1.0}, r"test_fraction.*1\.0"),
        ({"test_fraction": -0.2}, r"test_fraction.*-0\.2"),
        ({"style": "photo"}, r"style.*photo"),
        ({"seed": -1}, r"seed.*-1"),
    ],
)
def test_generate_dataset_rejects_bad_arguments(tmp_path, kwargs, pattern):
    args = {"out_dir": tmp_path / "d", "per_class": 4, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=pattern):
        generate_dataset(**args)
    assert not list(tmp_path.rglob("*.png"))


# ---------------------------------------------------------------------------- generate_dataset


def test_generate_dataset_layout_counts_and_files(tmp_path):
    counts = generate_dataset(tmp_path, per_class=5, seed=3, test_fraction=0.4)
    assert counts == {
        "training_set": {name: 3 for name in CLASS_NAMES},
        "test_set": {name: 2 for name in CLASS_NAMES},
    }
    for split, per_split in counts.items():
        for kind, n in per_split.items():
            files = sorted(p.name for p in (tmp_path / split / kind).iterdir())
            assert files == [f"{kind}_{i:05d}.png" for i in range(n)]
            with Image.open(tmp_path / split / kind / files[0]) as image:
                assert image.format == "PNG" and image.mode == "RGB" and image.size == (IMAGE_SIZE, IMAGE_SIZE)
    assert len(list(tmp_path.rglob("*.png"))) == 15


def test_generate_dataset_test_split_is_rounded_share(tmp_path):
    counts = generate_dataset(tmp_path, per_class=10, seed=0)  # default test_fraction 0.3
    assert counts["test_set"] == {name: 3 for name in CLASS_NAMES}
    assert counts["training_set"] == {name: 7 for name in CLASS_NAMES}


def test_generate_dataset_is_byte_identical_for_a_seed(tmp_path):
    generate_dataset(tmp_path / "a", per_class=4, seed=11)
    generate_dataset(tmp_path / "b", per_class=4, seed=11)
    generate_dataset(tmp_path / "c", per_class=4, seed=12)
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and all(a[name] != c[name] for name in a)


def test_generate_dataset_replaces_stale_files_and_keeps_others(tmp_path):
    generate_dataset(tmp_path, per_class=8, seed=0)
    keep = tmp_path / "training_set" / "circles" / "my_notes.txt"
    keep.write_text("mine")
    generate_dataset(tmp_path, per_class=4, seed=0)
    pngs = list((tmp_path / "training_set" / "circles").glob("*.png"))
    assert len(pngs) == 3 and keep.exists()


def test_generate_dataset_browser_style_half_inverted(tmp_path):
    generate_dataset(tmp_path, per_class=6, seed=5, test_fraction=0.5, style="browser")
    for kind in CLASS_NAMES:
        paths = sorted((tmp_path / "training_set" / kind).glob("*.png"))
        polarities = []
        for path in paths:
            image = np.asarray(Image.open(path).convert("RGB"))
            strength, inverted = _ink(image)
            assert (strength > 128).sum() >= 10
            polarities.append(inverted)
        assert polarities == [False, True, False]
        assert re.fullmatch(rf"{kind}_00000\.png", paths[0].name)


# ---------------------------------------------------------------------------- ink and variety


@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_every_image_has_visible_ink_in_both_polarities(kind):
    images = _sample(kind, 150, seed=7)
    polarity = []
    for image in images:
        strength, inverted = _ink(image)
        polarity.append(inverted)
        assert (strength > 40).sum() >= 6, "a drawing with no visible ink"
    assert any(polarity) and not all(polarity)
    for inverted in (False, True):
        big = draw_browser_style(kind, np.random.default_rng(3), inverted=inverted)
        ink_value = 255 if inverted else 0
        assert 1000 < (big[:, :, 0] == ink_value).sum() < 0.6 * 280 * 280


@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_variety_of_size_position_and_polarity(kind):
    images = _sample(kind, 200, seed=100 + CLASS_NAMES.index(kind))
    boxes = [_ink_box(image) for image in images]
    sides = np.array([b[0] for b in boxes])
    assert sides.min() <= 10, "no small drawings"
    assert sides.max() >= 26, "no frame-filling drawings"
    assert np.percentile(sides, 75) - np.percentile(sides, 25) >= 4
    centres = np.array([b[1:] for b in boxes])
    assert centres.std(axis=0).min() >= 1.5, "drawings are all in the same place"
    assert np.abs(centres - (IMAGE_SIZE - 1) / 2).max() >= 6, "nothing is off-centre"
    inverted = np.mean([_ink(image)[1] for image in images])
    assert 0.12 <= inverted <= 0.35
    backgrounds = {int(np.median(image[0])) for image in images}
    assert len(backgrounds) >= 20, "backgrounds are not varied"


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a boolean ink mask: 2 * area / boundary length."""
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    boundary = mask[1:-1, 1:-1].sum() - inner.sum()
    return 2.0 * mask.sum() / max(boundary, 1)


@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_browser_stroke_width_and_size_vary(kind):
    rng = np.random.default_rng(21)
    widths, sides = [], []
    for _ in range(40):
        mask = draw_browser_style(kind, rng)[:, :, 0] == 0
        widths.append(_stroke_width(mask))
        ys, xs = np.nonzero(mask)
        sides.append(max(np.ptp(xs), np.ptp(ys)))
    assert min(widths) < 17 and max(widths) > 24
    assert min(sides) < 140 and max(sides) > 220


def test_stroke_thickness_relative_to_drawing_size_varies():
    ratios = []
    for kind in CLASS_NAMES:
        for image in _sample(kind, 80, seed=9):
            strength, _ = _ink(image)
            side, _, _ = _ink_box(image)
            ratios.append(_stroke_width(strength > 0.5 * strength.max()) / side)
    low, high = np.percentile(ratios, [10, 90])
    assert high / low >= 1.8, f"stroke thickness hardly varies: {low:.3f}..{high:.3f} of the drawing size"


def _fill_ratio(mask: np.ndarray) -> float | None:
    """(ink + enclosed area) / bounding-box area, or None when the outline does not enclose anything."""
    paper = np.pad(~mask, 1, constant_values=True)
    outside = np.zeros_like(paper)
    outside[0, :] = outside[-1, :] = outside[:, 0] = outside[:, -1] = True
    while True:  # grow the outside through paper pixels until it stops changing
        grown = outside.copy()
        grown[1:] |= outside[:-1]
        grown[:-1] |= outside[1:]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= paper
        if (grown == outside).all():
            break
        outside = grown
    hole = int((paper & ~outside).sum())
    if hole == 0:
        return None
    ys, xs = np.nonzero(mask)
    return (mask.sum() + hole) / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))


def test_classes_stay_distinct_triangles_fill_less_of_their_box():
    means = {}
    for kind in CLASS_NAMES:
        rng = np.random.default_rng(8)
        ratios = [_fill_ratio(draw_browser_style(kind, rng, canvas=140)[:, :, 0] == 0) for _ in range(50)]
        ratios = [r for r in ratios if r is not None]
        assert len(ratios) >= 30, f"most {kind} should be closed outlines"
        means[kind] = float(np.mean(ratios))
    assert means["triangles"] < means["circles"] - 0.12
    assert means["triangles"] < means["squares"] - 0.12


def test_public_constants_come_from_config():
    assert looks.CLASS_NAMES is CLASS_NAMES and files.CLASS_NAMES is CLASS_NAMES
    assert looks.IMAGE_SIZE == IMAGE_SIZE and files.IMAGE_SIZE == IMAGE_SIZE


# ---------------------------------------------------------------------------- the same bytes for a seed, for good

# sha256 of the generator's output for fixed seeds, recorded from the single-module generator before it was
# split into a package: a change of any of these is a change of the training data (and of the shipped
# model's reproducibility). Pixels are hashed as raw uint8 bytes; data-set files as name + PNG bytes.
RECORDED = {
    "draw_shape/circles": "e8795679b121c5ec10faeaae4da62b6d0d2ac3c9fb2cb75e150dcb528f04a5ff",
    "draw_shape/squares": "dcb4442f0c8916f4b17fc2c699d11a83edfd34c7fdeaae1e7c2ab9db2a2c669a",
    "draw_shape/triangles": "9ed868a8c2944ad6314b2e302cff50dba2d92d53b061599fc73e8d677312ff7e",
    "draw_browser_style/circles": "943dd87603687801275f9524594628d40993a5632cc9e36ed00b151e250953cf",
    "draw_browser_style/squares": "7600eb5ab85637288ab51aa47361a48573da78a700806fbf1442814448f04f5c",
    "draw_browser_style/triangles": "1bc37002cf29290ee068970bd4977eb6fad8ab86f92f2925e80f843a577077f8",
    "generate_dataset/mixed": "be79d3e0987bdacdcb8cb69e45d0acc83e441cc0a33032dbbc084c3e0c6c2e8b",
    "generate_dataset/browser": "9d9b0fa177fc1725da6045d52283e2cf130abae43bb10f7d58c6170438824095",
}


def _pixels_digest(images: list[np.ndarray]) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.stack(images)).tobytes()).hexdigest()


def _folder_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.png")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("kind", CLASS_NAMES)
def test_drawings_keep_their_recorded_bytes(kind):
    # 12 seeds cover the pen, browser and in-between looks of draw_shape
    shapes = [draw_shape(kind, np.random.default_rng(seed)) for seed in range(12)]
    assert _pixels_digest(shapes) == RECORDED[f"draw_shape/{kind}"]
    browser = [draw_browser_style(kind, np.random.default_rng(s), canvas=140, inverted=s % 2 == 1) for s in range(4)]
    assert _pixels_digest(browser) == RECORDED[f"draw_browser_style/{kind}"]


@pytest.mark.parametrize("style", files.STYLES)
def test_data_set_files_keep_their_recorded_bytes(tmp_path, style):
    generate_dataset(tmp_path, per_class=3, seed=5, style=style)
    assert _folder_digest(tmp_path) == RECORDED[f"generate_dataset/{style}"]

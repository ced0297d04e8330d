"""shapes_viz.dataset: class folders, the tutorial's training_set/ + test_set/ layout, bad files and folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from shapes_viz.config import CLASS_NAMES
from shapes_viz.dataset import has_split_layout, list_class_files, load_dataset, load_folder
from shapes_viz.errors import DatasetError
from shapes_viz.preprocessing import preprocess


@pytest.fixture
def plain(tmp_path, tiny_data) -> Path:
    """A plain folder of class subfolders: the tiny set's 7 training images per class (a writable copy)."""
    return Path(shutil.copytree(tiny_data / "training_set", tmp_path / "plain"))


def some_png(tiny_data: Path) -> bytes:
    return next((tiny_data / "training_set" / "circles").glob("*.png")).read_bytes()


def test_tutorial_layout_is_training_plus_validation(tiny_data):
    assert has_split_layout(tiny_data)
    splits = load_dataset(tiny_data)
    assert splits.layout == "train+test folders"
    assert splits.source == str(tiny_data)
    assert splits.train.counts() == {"circles": 7, "squares": 7, "triangles": 7}
    assert splits.validation.counts() == {"circles": 3, "squares": 3, "triangles": 3}
    assert splits.skipped == []
    for part in (splits.train, splits.validation):
        assert part.images.shape == (len(part), 28, 28, 3) and part.images.dtype == np.float32
        assert part.labels.dtype == np.int32 and len(part.paths) == len(part)
        assert 0.0 <= part.images.min() and part.images.max() <= 1.0
        for image, label, path in zip(part.images, part.labels, part.paths):
            assert Path(path).parent.name == CLASS_NAMES[label]  # circles 0, squares 1, triangles 2
    assert all("/training_set/" in p for p in splits.train.paths)
    assert all("/test_set/" in p for p in splits.validation.paths)
    # every image went through the one preprocessing function
    index = len(splits.train) // 2
    np.testing.assert_array_equal(splits.train.images[index], preprocess(splits.train.paths[index])[0])


def test_plain_folder_is_split_per_class_with_a_seed(plain):
    assert not has_split_layout(plain)
    splits = load_dataset(plain, validation_split=0.3, seed=0)
    assert splits.layout == "split 70/30"
    assert splits.validation.counts() == {name: 2 for name in CLASS_NAMES}  # round(7 * 0.3)
    assert splits.train.counts() == {name: 5 for name in CLASS_NAMES}
    assert not set(splits.train.paths) & set(splits.validation.paths)
    assert len(set(splits.train.paths) | set(splits.validation.paths)) == 21
    again = load_dataset(plain, validation_split=0.3, seed=0)
    assert again.validation.paths == splits.validation.paths
    others = {tuple(load_dataset(plain, seed=s).validation.paths) for s in range(1, 6)}
    assert others - {tuple(splits.validation.paths)}, "the seed chooses the validation images"


def test_corrupt_and_stray_files_are_skipped_and_reported_by_name(plain, tiny_data):
    (plain / "circles" / "broken.png").write_bytes(some_png(tiny_data)[:60])
    (plain / "squares" / "empty.jpg").write_bytes(b"")
    (plain / "squares" / "renamed_exe.png").write_bytes(b"MZ\x90\x00" + bytes(300))
    (plain / "triangles" / "notes.txt").write_text("drawn on Tuesday")
    (plain / "triangles" / "Thumbs.db").write_bytes(b"\x00" * 64)
    (plain / "circles" / ".DS_Store").write_bytes(b"\x00" * 64)  # hidden: ignored, not even reported
    (plain / "circles" / ".hidden").mkdir()
    (plain / ".git").mkdir()
    nested = plain / "squares" / "batch2"
    nested.mkdir()
    (nested / "UPPER.PNG").write_bytes(some_png(tiny_data))  # found recursively, any case of suffix

    data = load_folder(plain, require_all=True)
    skipped = {Path(path).name: reason for path, reason in data.skipped}
    assert set(skipped) == {"broken.png", "empty.jpg", "renamed_exe.png", "notes.txt", "Thumbs.db"}
    assert skipped["broken.png"].startswith("Corrupt image")
    assert skipped["empty.jpg"].startswith("Corrupt image")
    assert skipped["renamed_exe.png"].startswith("Only PNG or JPEG")
    assert skipped["notes.txt"] == skipped["Thumbs.db"] == "not a PNG or JPEG file"
    assert data.counts() == {"circles": 7, "squares": 8, "triangles": 7}
    assert str(nested / "UPPER.PNG") in data.paths

    splits = load_dataset(plain)
    assert {Path(p).name for p, _ in splits.skipped} == set(skipped)  # reported once, with the training part


def test_tutorial_layout_reports_skipped_files_of_both_parts(tmp_path, tiny_data):
    root = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    (root / "training_set" / "circles" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "test_set" / "squares" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 nothing else")
    splits = load_dataset(root)
    assert sorted(Path(p).name for p, _ in splits.skipped) == ["bad.jpg", "bad.png"]
    assert len(splits.train) == 21 and len(splits.validation) == 9


@pytest.mark.parametrize(
    "arrange, message",
    [
        (lambda root: shutil.rmtree(root), r"^Data folder not found: "),
        (lambda root: [shutil.rmtree(root / n) for n in CLASS_NAMES], r"^No class folders in "),
        (lambda root: (root / "hexagons").mkdir(), r"^Unknown class folders in .*\['hexagons'\]"),
        (lambda root: [p.unlink() for p in (root / "squares").iterdir()], r"Class folder missing or empty .*\['squares'\]"),
        (lambda root: shutil.rmtree(root / "triangles"), r"Class folder missing or empty .*\['triangles'\]"),
        (lambda root: [shutil.rmtree(root / n) for n in ("squares", "triangles")], r"single class or none"),
        (lambda root: [[p.unlink() for p in (root / n).iterdir()] for n in ("circles", "squares")], r"single class or none"),
        (lambda root: [p.write_bytes(b"junk") for p in (root / "circles").iterdir()], r"No usable images for class \['circles'\]"),
        (lambda root: [p.unlink() for p in sorted((root / "circles").iterdir())[1:]], r"'circles' needs at least 2 images"),
    ],
    ids=["missing", "no class folders", "unknown class", "empty class", "missing class", "single class",
         "single non-empty class", "only corrupt files in a class", "one image in a class"],
)
def test_unusable_folders_are_clear_dataset_errors(plain, arrange, message):
    arrange(plain)
    with pytest.raises(DatasetError, match=message):
        load_dataset(plain)


def test_a_file_instead_of_a_folder(tmp_path):
    path = tmp_path / "data.zip"
    path.write_bytes(b"PK")
    with pytest.raises(DatasetError, match="Data folder not found"):
        load_dataset(path)


def test_tutorial_layout_with_an_incomplete_test_set_is_refused(tmp_path, tiny_data):
    root = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    shutil.rmtree(root / "test_set" / "squares")
    with pytest.raises(DatasetError, match=r"test_set.*\['squares'\]"):
        load_dataset(root)


def test_only_training_set_is_not_mistaken_for_class_folders(tmp_path, tiny_data):
    root = tmp_path / "data"
    shutil.copytree(tiny_data / "training_set", root / "training_set")
    with pytest.raises(DatasetError, match=r"Unknown class folders .*\['training_set'\]"):
        load_dataset(root)


def test_evaluation_folders_may_hold_a_subset_of_classes(plain):
    shutil.rmtree(plain / "squares")
    data = load_folder(plain)
    assert data.counts() == {"circles": 7, "squares": 0, "triangles": 7}
    assert list(list_class_files(plain)) == ["circles", "triangles"]


def test_no_usable_image_at_all(plain):
    for path in plain.rglob("*.png"):
        path.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"No usable images in .* \(21 files skipped\)"):
        load_folder(plain)

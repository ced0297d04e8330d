"""Benchmark section "training": a retrain on 210 generated drawings, against the tutorial's recipe and the
previous default ("thorough": every one of 30 epochs), measured on drawings unlike the training set."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from shapes_viz.config import CLASS_NAMES, DEFAULT_RECIPE, RECIPES
from tools.bench.report import Row

# Held-out drawings the training never sees, in the two generated looks (seeds apart from the training set's).
HELD_OUT = {"browser-style": ("browser", 7001), "mixed": ("mixed", 7002)}
HELD_OUT_PER_CLASS = 100


def bench_training(quick: bool, seed: int = 0) -> list[Row]:
    """Retrain on 210 generated drawings (test on 90): the default recipe against the tutorial's way and the
    previous default, with the accuracy on 300 held-out drawings of each look.

    Each side is measured in its own fresh (spawned) process, like the app's trainer, so that what earlier
    sections left in this one (thread pools, compiled graphs, caches) neither slows nor warms any recipe, and
    each runs with its own threading: ours as `train` sets it (`training.threads`), the tutorial's with
    TensorFlow's defaults, as written. In each, one untimed epoch warms up what every later training reuses.
    """
    import multiprocessing

    epochs = 2 if quick else 30
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        root = Path(scratch)
        data, held_out = _generate(root, seed)
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1) as pool:
            ours = pool.apply(_ours_side, (data, root / "ours", epochs, seed, held_out))
        with spawn.Pool(1) as pool:
            theirs = pool.apply(_tutorial_side, (data, root / "tutorial", epochs, seed, held_out))
    return _rows(epochs, ours, theirs)


def _generate(root: Path, seed: int) -> tuple[Path, dict[str, Path]]:
    """The 300 drawings trained on (210 train, 90 test) and the held-out sets, under `root`."""
    from shapes_viz.generator import generate_dataset

    data = root / "data"
    generate_dataset(data, per_class=100, seed=1000 + seed)
    held_out = {}
    for name, (style, held_seed) in HELD_OUT.items():
        generate_dataset(root / name, per_class=HELD_OUT_PER_CLASS, seed=held_seed + seed, style=style)
        held_out[name] = root / name
    return data, held_out


def _ours_side(data: Path, root: Path, epochs: int, seed: int, held_out: dict[str, Path]) -> dict:
    """In a fresh process: the default recipe, the previous default and the default at the tutorial's number of
    samples, after one untimed epoch (the first training in a process sets up kernels, pools, allocator)."""
    _ours(data, root / "warm", DEFAULT_RECIPE, 1, seed, {})
    equal_epochs = _equal_epochs(epochs)
    return {
        "default": _ours(data, root, DEFAULT_RECIPE, epochs, seed, held_out),
        "thorough": _ours(data, root, "thorough", epochs, seed, held_out),
        "equal": _ours(data, root, DEFAULT_RECIPE, equal_epochs, seed, {}),
    }


def _tutorial_side(data: Path, root: Path, epochs: int, seed: int, held_out: dict[str, Path]) -> dict:
    """In a fresh process with TensorFlow's defaults: the tutorial's recipe, after one untimed epoch."""
    root.mkdir(parents=True, exist_ok=True)
    _tutorial_training(data, 1, seed, root / "warm.keras")
    model = root / "tutorial.keras"
    started = time.perf_counter()
    test = _tutorial_training(data, epochs, seed, model)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "test": test, **{name: _accuracy(model, folder) for name, folder in held_out.items()}}


def _equal_epochs(epochs: int) -> int:
    """Epochs of the default recipe that see as many samples as the tutorial's `epochs` (210 images each): the
    tutorial sees each image once an epoch, the default at least `min_samples_per_epoch` augmented samples."""
    return max(1, round(epochs * 210 / max(RECIPES[DEFAULT_RECIPE].min_samples_per_epoch, 210)))


def _rows(epochs: int, measured: dict, theirs: dict) -> list[Row]:
    default = RECIPES[DEFAULT_RECIPE]
    ours, thorough, equal = measured["default"], measured["thorough"], measured["equal"]
    theirs_s, theirs_acc = theirs["seconds"], theirs["test"]
    equal_epochs = _equal_epochs(epochs)
    samples = max(default.min_samples_per_epoch, 210)
    rows: list[Row] = [
        (f"retrain on 210 images (at most {epochs} epochs, stops {default.patience} after validation last improved; "
         f"{ours['precision']}, {_threads(ours['threads'])}), wall time (s)",
         f"{ours['seconds']:.1f}", f"{theirs_s:.1f}", f"{ours['seconds'] / theirs_s:.2f}x the tutorial's",
         "<= 3x the tutorial's"),
        (f"  samples seen ({samples} vs 210 an epoch; {ours['epochs']} epochs run)", f"{ours['epochs'] * samples:,}",
         f"{epochs * 210:,}", f"{ours['epochs'] * samples / (epochs * 210):.1f}x more", ""),
        ("  test accuracy reached (90 images)", f"{ours['test']:.3f}", f"{theirs_acc:.3f}", "", ">= tutorial's"),
    ]
    for name in HELD_OUT:
        rows.append((f"  accuracy on {3 * HELD_OUT_PER_CLASS} held-out {name} drawings (previous default in the ratio "
                     "column)", f"{ours[name]:.3f}", f"{theirs[name]:.3f}", f"{thorough[name]:.3f}",
                     ">= the previous default's"))
    rows += [
        (f"previous default ('thorough': every one of {epochs} epochs), wall time (s)", f"{thorough['seconds']:.1f}",
         f"{theirs_s:.1f}", f"{thorough['seconds'] / theirs_s:.2f}x the tutorial's", ""),
        (f"default recipe, {equal_epochs} epochs = the tutorial's {epochs * 210:,} samples (s)",
         f"{equal['seconds']:.1f}", f"{theirs_s:.1f}", f"{theirs_s / equal['seconds']:.2f}x", ""),
        ("  its test accuracy (90 images)", f"{equal['test']:.3f}", f"{theirs_acc:.3f}", "", ""),
    ]
    return rows


def _threads(threads: int) -> str:
    return "TensorFlow's default threads" if threads == 0 else f"{threads} thread{'s' * (threads > 1)} an operation"


def _ours(data: Path, root: Path, recipe: str, epochs: int, seed: int, held_out: dict[str, Path]) -> dict:
    """Train `recipe` on `data` (timed), then its accuracy on the test split and on each held-out set."""
    from shapes_viz.training import train

    root.mkdir(parents=True, exist_ok=True)
    model = root / f"{recipe}-{epochs}.h5"
    started = time.perf_counter()
    result = train(data, model, recipe=recipe, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - started
    measured = {name: _accuracy(model, folder) for name, folder in held_out.items()}
    return {"seconds": seconds, "epochs": int(result.history["epochs_run"]), "precision": result.history["precision"],
            "threads": int(result.history["intra_op_threads"]), "test": _accuracy(model, data / "test_set"), **measured}


def _accuracy(model: Path, folder: Path) -> float:
    """Accuracy of the model file on every image under `folder` (both splits of a generated set)."""
    from shapes_viz.dataset import load_folder
    from shapes_viz.engine import open_engine
    from shapes_viz.evaluation import evaluate_arrays

    engine = open_engine(model)
    parts = [folder / split for split in ("training_set", "test_set") if (folder / split).is_dir()] or [folder]
    correct = total = 0
    for part in parts:
        result = evaluate_arrays(engine, load_folder(part))
        correct, total = correct + result.correct, total + result.total
    return correct / total


def _tutorial_training(data: Path, epochs: int, seed: int, out: Path) -> float:
    """The tutorial's recipe as written: files decoded every epoch, RMSprop, batch 16, best val_accuracy
    (its best epoch's model saved at `out` for the held-out sets, as the tutorial's checkpoint does)."""
    import keras

    from shapes_viz.model import build_model

    keras.utils.set_random_seed(seed)

    def folder(name: str, shuffle: bool):
        ds = keras.utils.image_dataset_from_directory(
            data / name, labels="inferred", label_mode="categorical", class_names=list(CLASS_NAMES),
            image_size=(28, 28), batch_size=16, shuffle=shuffle, seed=seed, verbose=False,
        )
        return ds.map(lambda x, y: (x / 255.0, y))

    model = build_model()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    best = keras.callbacks.ModelCheckpoint(str(out), monitor="val_accuracy", save_best_only=True)
    history = model.fit(folder("training_set", True), validation_data=folder("test_set", False),
                        epochs=epochs, verbose=0, shuffle=False, callbacks=[best])  # the dataset shuffles itself
    return float(max(history.history["val_accuracy"]))

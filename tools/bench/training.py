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

    Measured in a fresh (spawned) process, like the app's trainer, so that what earlier sections left in this
    one (thread pools, compiled graphs, caches) neither slows nor warms any of the three recipes; there, one
    untimed epoch of the default and of the tutorial's recipe warms it up for all of them alike.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_bench_training, (quick, seed))


def _bench_training(quick: bool, seed: int) -> list[Row]:
    from shapes_viz.generator import generate_dataset

    epochs = 2 if quick else 30
    default = RECIPES[DEFAULT_RECIPE]
    # The tutorial sees each of the 210 images once an epoch; the default recipe at least
    # `min_samples_per_epoch` augmented samples. Same number of samples: that many fewer epochs.
    equal_epochs = max(1, round(epochs * 210 / max(default.min_samples_per_epoch, 210)))
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        root = Path(scratch)
        data = root / "data"
        generate_dataset(data, per_class=100, seed=1000 + seed)
        held_out = {}
        for name, (style, held_seed) in HELD_OUT.items():
            generate_dataset(root / name, per_class=HELD_OUT_PER_CLASS, seed=held_seed + seed, style=style)
            held_out[name] = root / name
        # One epoch of each recipe first, untimed: the first training in a process sets up what every later one
        # reuses (kernels, thread pools, allocator); without this the recipe measured first paid it (up to 1.6x).
        for recipe in (DEFAULT_RECIPE, "tutorial"):
            _ours(data, root / f"warm-{recipe}", recipe, 1, seed, {})
        ours = _ours(data, root, DEFAULT_RECIPE, epochs, seed, held_out)
        started = time.perf_counter()
        tutorial_model = root / "tutorial.keras"
        theirs_acc = _tutorial_training(data, epochs, seed, tutorial_model)
        theirs_s = time.perf_counter() - started
        theirs_held = {name: _accuracy(tutorial_model, folder) for name, folder in held_out.items()}
        thorough = _ours(data, root, "thorough", epochs, seed, held_out)
        equal = _ours(data, root, DEFAULT_RECIPE, equal_epochs, seed, {})
    samples = max(default.min_samples_per_epoch, 210)
    rows: list[Row] = [
        (f"retrain on 210 images (at most {epochs} epochs, stops {default.patience} after validation last improved; "
         f"{ours['precision']}), wall time (s)",
         f"{ours['seconds']:.1f}", f"{theirs_s:.1f}", f"{ours['seconds'] / theirs_s:.2f}x the tutorial's",
         "<= 3x the tutorial's"),
        (f"  samples seen ({samples} vs 210 an epoch; {ours['epochs']} epochs run)", f"{ours['epochs'] * samples:,}",
         f"{epochs * 210:,}", f"{ours['epochs'] * samples / (epochs * 210):.1f}x more", ""),
        ("  test accuracy reached (90 images)", f"{ours['test']:.3f}", f"{theirs_acc:.3f}", "", ">= tutorial's"),
    ]
    for name in HELD_OUT:
        rows.append((f"  accuracy on {3 * HELD_OUT_PER_CLASS} held-out {name} drawings (previous default in the ratio "
                     "column)", f"{ours[name]:.3f}", f"{theirs_held[name]:.3f}", f"{thorough[name]:.3f}",
                     ">= the previous default's"))
    rows += [
        (f"previous default ('thorough': every one of {epochs} epochs), wall time (s)", f"{thorough['seconds']:.1f}",
         f"{theirs_s:.1f}", f"{thorough['seconds'] / theirs_s:.2f}x the tutorial's", ""),
        (f"default recipe, {equal_epochs} epochs = the tutorial's {epochs * 210:,} samples (s)",
         f"{equal['seconds']:.1f}", f"{theirs_s:.1f}", f"{theirs_s / equal['seconds']:.2f}x", ""),
        ("  its test accuracy (90 images)", f"{equal['test']:.3f}", f"{theirs_acc:.3f}", "", ""),
    ]
    return rows


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
            "test": _accuracy(model, data / "test_set"), **measured}


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

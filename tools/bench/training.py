"""Benchmark section "training": a retrain on 210 generated drawings, against the tutorial's recipe and the
previous default ("thorough": every one of 30 epochs), measured on drawings unlike the training set.

Two recipes that both reach about 99.8% on drawings unlike their training set differ by a drawing or two in a
few hundred, and from one seed to the next by as much: measured on 300 held-out drawings with one seed, the
comparison was a coin toss. So each recipe trains with several seeds (`SEEDS`) on the same data, and each
model is scored on 3,000 held-out drawings of each look; the rows give the means over the seeds.
"""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path
from statistics import mean

from shapes_viz.config import CLASS_NAMES, DEFAULT_RECIPE, RECIPES
from shapes_viz.training.estimate import samples_per_epoch
from tools.bench.report import Row

# Held-out drawings the training never sees, in the two generated looks (seeds apart from the training set's).
HELD_OUT = {"browser-style": ("browser", 7001), "mixed": ("mixed", 7002)}
HELD_OUT_PER_CLASS = 1000
SEEDS = 6  # training seeds of each recipe, on the same data (each trains the same weights every time)


def bench_training(quick: bool, seed: int = 0) -> list[Row]:
    """Retrain on 210 generated drawings (test on 90): the default recipe against the tutorial's way and the
    previous default, each with `SEEDS` seeds, with the accuracy on 3,000 held-out drawings of each look.

    Each side is measured in its own fresh (spawned) process, like the app's trainer, so that what earlier
    sections left in this one (thread pools, compiled graphs, caches) neither slows nor warms any recipe, and
    each runs with its own threading: ours as `train` sets it (`training.threads`), the tutorial's with
    TensorFlow's defaults, as written. In each, one untimed epoch warms up what every later training reuses.
    """
    import multiprocessing

    epochs = 2 if quick else 30
    seeds = [seed + k for k in range(1 if quick else SEEDS)]
    per_class = 20 if quick else HELD_OUT_PER_CLASS
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        root = Path(scratch)
        data, held_out = _generate(root, seed, per_class)
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1) as pool:
            ours = pool.apply(_ours_side, (data, root / "ours", epochs, seeds, held_out))
        with spawn.Pool(1) as pool:
            theirs = pool.apply(_tutorial_side, (data, root / "tutorial", epochs, seeds, held_out))
    return _rows(epochs, len(seeds), 3 * per_class, ours, theirs)


def _generate(root: Path, seed: int, per_class: int) -> tuple[Path, dict[str, Path]]:
    """The 300 drawings trained on (210 train, 90 test) and the held-out sets (`per_class` drawings of each
    class in each look), under `root`."""
    from shapes_viz.generator import generate_dataset

    data = root / "data"
    generate_dataset(data, per_class=100, seed=1000 + seed)
    held_out = {}
    for name, (style, held_seed) in HELD_OUT.items():
        generate_dataset(root / name, per_class=per_class, seed=held_seed + seed, style=style)
        held_out[name] = root / name
    return data, held_out


def _ours_side(data: Path, root: Path, epochs: int, seeds: list[int], held_out: dict[str, Path]) -> dict:
    """In a fresh process: the default recipe and the previous default with each seed, and the default at the
    tutorial's number of samples (first seed), after one untimed epoch (the first training in a process sets up
    kernels, pools, allocator). Each recipe: a list of one result per seed."""
    _ours(data, root / "warm", DEFAULT_RECIPE, 1, seeds[0], {})
    measured: dict[str, list[dict]] = {"default": [], "thorough": []}
    for seed in seeds:
        for key, recipe in (("default", DEFAULT_RECIPE), ("thorough", "thorough")):
            measured[key].append(_ours(data, root / f"seed{seed}", recipe, epochs, seed, held_out))
    measured["equal"] = [_ours(data, root / "equal", DEFAULT_RECIPE, _equal_epochs(epochs), seeds[0], {})]
    return measured


def _tutorial_side(data: Path, root: Path, epochs: int, seeds: list[int], held_out: dict[str, Path]) -> list[dict]:
    """In a fresh process with TensorFlow's defaults: the tutorial's recipe with each seed, after one untimed
    epoch."""
    root.mkdir(parents=True, exist_ok=True)
    _tutorial_training(data, 1, seeds[0], root / "warm.keras")
    results = []
    for seed in seeds:
        model = root / f"tutorial-{seed}.keras"
        started = time.perf_counter()
        test = _tutorial_training(data, epochs, seed, model)
        seconds = time.perf_counter() - started
        results.append({"seconds": seconds, "test": test,
                        **{name: _accuracy(model, folder) for name, folder in held_out.items()}})
    return results


def _equal_epochs(epochs: int) -> int:
    """Epochs of the default recipe that see as many samples as the tutorial's `epochs` (210 images each): the
    tutorial sees each image once an epoch, the default at least `min_samples_per_epoch` augmented samples."""
    return max(1, round(epochs * 210 / samples_per_epoch(RECIPES[DEFAULT_RECIPE], 210)))


def _rows(epochs: int, seeds: int, held_out_count: int, measured: dict, theirs: list[dict]) -> list[Row]:
    """The section's rows: means over the seeds (each seed's figures in the ratio column where they matter)."""
    default = RECIPES[DEFAULT_RECIPE]
    ours, thorough, equal = measured["default"], measured["thorough"], measured["equal"][0]
    ours_s, theirs_s, thorough_s = (mean(r["seconds"] for r in runs) for runs in (ours, theirs, thorough))
    theirs_acc = mean(r["test"] for r in theirs)
    per_seed = ", ".join(f"{r['seconds'] / t['seconds']:.2f}x" for r, t in zip(ours, theirs))
    epochs_run = [r["epochs"] for r in ours]
    samples = samples_per_epoch(default, 210)
    of = f"mean of {seeds} seed{'s' * (seeds > 1)}"
    rows: list[Row] = [
        (f"retrain on 210 images (at most {epochs} epochs, stops {default.patience} after validation last improved"
         f"{f', not before epoch {default.min_epochs}' if default.min_epochs > 1 else ''}; "
         f"{ours[0]['precision']}, {_threads(ours[0]['threads'])}), wall time (s), {of}",
         f"{ours_s:.1f}", f"{theirs_s:.1f}", f"{ours_s / theirs_s:.2f}x the tutorial's (each seed: {per_seed})",
         "<= 3x the tutorial's"),
        (f"  samples seen ({samples} vs 210 an epoch; epochs run: {', '.join(map(str, epochs_run))})",
         f"{mean(epochs_run) * samples:,.0f}", f"{epochs * 210:,}",
         f"{mean(epochs_run) * samples / (epochs * 210):.1f}x more", ""),
        (f"  test accuracy reached (90 images), {of}", f"{mean(r['test'] for r in ours):.3f}", f"{theirs_acc:.3f}",
         "", ">= tutorial's"),
    ]
    for name in HELD_OUT:
        wrong = ", ".join(str(round((1 - r[name]) * held_out_count)) for r in ours)
        wrong_before = ", ".join(str(round((1 - r[name]) * held_out_count)) for r in thorough)
        rows.append((f"  accuracy on {held_out_count:,} held-out {name} drawings, {of} (previous default in the "
                     f"ratio column; wrong, each seed: {wrong} against {wrong_before})",
                     f"{mean(r[name] for r in ours):.4f}", f"{mean(r[name] for r in theirs):.4f}",
                     f"{mean(r[name] for r in thorough):.4f}", ">= the previous default's"))
    rows += [
        (f"previous default ('thorough': every one of {epochs} epochs), wall time (s), {of}", f"{thorough_s:.1f}",
         f"{theirs_s:.1f}", f"{thorough_s / theirs_s:.2f}x the tutorial's", ""),
        (f"default recipe, {_equal_epochs(epochs)} epochs = the tutorial's {epochs * 210:,} samples (s), first seed",
         f"{equal['seconds']:.1f}", f"{theirs[0]['seconds']:.1f}", f"{theirs[0]['seconds'] / equal['seconds']:.2f}x",
         ""),
        ("  its test accuracy (90 images)", f"{equal['test']:.3f}", f"{theirs[0]['test']:.3f}", "", ""),
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
    from shapes_viz.engine import open_engine

    engine = open_engine(model)
    correct = total = 0
    for part in held_out_parts(str(folder)):
        for start in range(0, len(part.labels), 500):  # a batch's activations stay a few hundred MB
            predicted = engine.probabilities(part.images[start:start + 500]).argmax(axis=1)
            correct += int((predicted == part.labels[start:start + 500]).sum())
        total += len(part.labels)
    return correct / total


@functools.lru_cache(maxsize=8)
def held_out_parts(folder: str) -> tuple:
    """The decoded images of both splits of a generated set (or of `folder` itself), read once per process."""
    from shapes_viz.dataset import load_folder

    root = Path(folder)
    parts = [root / split for split in ("training_set", "test_set") if (root / split).is_dir()] or [root]
    return tuple(load_folder(part) for part in parts)


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

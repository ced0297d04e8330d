"""Benchmark section "training": a retrain on 210 generated drawings, against the tutorial's recipe."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from shapes_viz.config import CLASS_NAMES, RECIPES
from tools.bench.report import Row


def bench_training(quick: bool, seed: int = 0) -> list[Row]:
    """Retrain on 210 generated drawings (test on 90): default recipe vs the tutorial's way."""
    from shapes_viz.engine import open_engine
    from shapes_viz.evaluation import evaluate
    from shapes_viz.generator import generate_dataset
    from shapes_viz.training import train

    epochs = 2 if quick else 30
    default = RECIPES["stable"]
    # The tutorial sees each of the 210 images once an epoch; the default recipe at least
    # `min_samples_per_epoch` augmented samples. Same number of samples: that many fewer epochs.
    equal_epochs = max(1, round(epochs * 210 / max(default.min_samples_per_epoch, 210)))
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        data = Path(scratch) / "data"
        generate_dataset(data, per_class=100, seed=1000 + seed)

        def ours(n_epochs: int, name: str) -> tuple[float, float, int]:
            start = time.perf_counter()
            result = train(data, Path(scratch) / f"{name}.h5", epochs=n_epochs, seed=seed)
            seconds = time.perf_counter() - start
            accuracy = evaluate(open_engine(result.model_path), data / "test_set").accuracy
            return seconds, accuracy, int(result.history["epochs_run"])

        ours_s, ours_acc, ours_epochs = ours(epochs, "ours")
        start = time.perf_counter()
        theirs_acc = _tutorial_training(data, epochs, seed)
        theirs_s = time.perf_counter() - start
        equal_s, equal_acc, _ = ours(equal_epochs, "equal")
    samples = max(default.min_samples_per_epoch, 210)
    return [
        (f"retrain on 210 images (at most {epochs} epochs, stops {default.patience} after the last rise), wall time (s)",
         f"{ours_s:.1f}", f"{theirs_s:.1f}", f"{ours_s / theirs_s:.2f}x the tutorial's", "<= 3x the tutorial's"),
        (f"  samples seen ({samples} vs 210 an epoch; {ours_epochs} epochs run)", f"{ours_epochs * samples:,}",
         f"{epochs * 210:,}", f"{ours_epochs * samples / (epochs * 210):.1f}x more", ""),
        ("  test accuracy reached (90 images)", f"{ours_acc:.3f}", f"{theirs_acc:.3f}", "", ">= tutorial's"),
        (f"default recipe, {equal_epochs} epochs = the tutorial's {epochs * 210:,} samples (s)",
         f"{equal_s:.1f}", f"{theirs_s:.1f}", f"{theirs_s / equal_s:.2f}x", ""),
        ("  its test accuracy (90 images)", f"{equal_acc:.3f}", f"{theirs_acc:.3f}", "", ""),
    ]


def _tutorial_training(data: Path, epochs: int, seed: int) -> float:
    """The tutorial's recipe as written: files decoded every epoch, RMSprop, batch 16, best val_accuracy."""
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
    history = model.fit(folder("training_set", True), validation_data=folder("test_set", False),
                        epochs=epochs, verbose=0, shuffle=False)  # the dataset shuffles itself
    return float(max(history.history["val_accuracy"]))

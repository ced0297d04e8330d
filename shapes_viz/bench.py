"""Benchmarks: `python -m shapes_viz.bench [--quick] [--out docs/benchmarks.md] [--sections ...]`.

Every figure is a median over repeats, and every comparison a ratio measured in the same run on the
same machine (no timed assertions anywhere: tests only check that this runs, with --quick).

Sections:
    engine    prediction + all activations for one input: ActivationEngine against the tutorial's
              way (model.predict plus the activation model's predict).
    training  a retrain on 210 images (70 a class) and test on 90: the default recipe and pipeline
              against the tutorial's (image_dataset_from_directory decoding files every epoch,
              RMSprop, batch 16), with the test accuracy each reached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from shapes_viz.config import CLASS_NAMES, PROJECT_ROOT  # noqa: E402

Row = tuple[str, str, str, str]  # (what, ours, tutorial's way, ratio)


def median_ms(function: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of `function` in milliseconds over `repeats` calls, after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def machine_description() -> str:
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, {platform.system()} {platform.release()}"
    )


def bench_engine(quick: bool) -> list[Row]:
    """Latency of one input's probabilities + every layer's output."""
    import keras

    from shapes_viz.activations import ActivationEngine
    from shapes_viz.model import build_model, load_model
    from shapes_viz.preprocessing import preprocess
    from shapes_viz.config import settings

    path = settings().model_path
    model = load_model(path) if path.exists() else build_model(seed=0)
    rng = np.random.default_rng(0)
    drawing = (rng.random((280, 280)) > 0.995).astype(np.uint8) * 255
    drawing[60:220, 60:64] = 255
    x = preprocess(255 - drawing)
    repeats = 20 if quick else 200
    engine = ActivationEngine(model)
    ours = median_ms(lambda: engine.run(x), repeats)
    activation_model = keras.Model(inputs=model.inputs[0], outputs=[layer.output for layer in model.layers])

    def tutorial_way():
        model.predict(x, verbose=0)
        activation_model.predict(x, verbose=0)

    theirs = median_ms(tutorial_way, max(5, repeats // 10))
    plain = ActivationEngine(model, jit_compile=False)
    no_xla = median_ms(lambda: plain.run(x), repeats)
    return [
        ("prediction + all 16 layer outputs + channel stats, 1 input (ms)", f"{ours:.2f}", f"{theirs:.1f}",
         f"{theirs / ours:.0f}x faster"),
        ("  same engine without XLA (ms)", f"{no_xla:.2f}", f"{theirs:.1f}", f"{theirs / no_xla:.0f}x faster"),
    ]


def bench_training(quick: bool, seed: int = 0) -> list[Row]:
    """Retrain on 210 generated drawings (test on 90): default recipe vs the tutorial's way."""
    import keras

    from shapes_viz.evaluation import evaluate
    from shapes_viz.generator import generate_dataset
    from shapes_viz.training import train

    epochs = 2 if quick else 30
    with tempfile.TemporaryDirectory(prefix="shapes_viz_bench_") as scratch:
        data = Path(scratch) / "data"
        generate_dataset(data, per_class=100, seed=1000 + seed)
        start = time.perf_counter()
        result = train(data, Path(scratch) / "ours.h5", epochs=epochs, seed=seed)
        ours_s = time.perf_counter() - start
        ours_acc = evaluate(keras.saving.load_model(result.model_path, compile=False), data / "test_set").accuracy

        start = time.perf_counter()
        theirs_acc = _tutorial_training(data, epochs, seed)
        theirs_s = time.perf_counter() - start
    return [
        (f"retrain {epochs} epochs on 210 images, wall time (s)", f"{ours_s:.1f}", f"{theirs_s:.1f}",
         f"{theirs_s / ours_s:.2f}x"),
        ("  test accuracy reached (90 images)", f"{ours_acc:.3f}", f"{theirs_acc:.3f}", ""),
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
                        epochs=epochs, verbose=0)
    return float(max(history.history["val_accuracy"]))


def format_table(rows: list[Row]) -> str:
    header = ("measure", "shapes_viz", "tutorial's way", "ratio")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[bool], list[Row]]] = {
    "engine": bench_engine,
    "training": bench_training,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shapes_viz.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats and epochs: checks that it runs")
    parser.add_argument("--sections", nargs="+", choices=sorted(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown file to write (default docs/benchmarks.md; none with --quick)")
    args = parser.parse_args(argv)
    out = args.out or (None if args.quick else PROJECT_ROOT / "docs" / "benchmarks.md")
    rows: list[Row] = []
    for name in args.sections:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += SECTIONS[name](args.quick)
    table = format_table(rows)
    print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        out.write_text(
            f"# Benchmarks\n\n`python -m shapes_viz.bench` on {stamp}\n\nMachine: {machine_description()}\n\n"
            f"Medians over repeats; ratios measured in the same run.\n\n{table}\n"
        )
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

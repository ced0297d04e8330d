"""Train every architecture variant on the same data and compare them: `python -m shapes_viz variants`.

    run_variants("data", "runs/variants", seeds=3)   # DIR/<variant>/seed<k>/model.h5 (+ history), DIR/results.json

Each seed's model and history are written as the trainer publishes (atomically); `results.json` is rewritten
atomically after every variant. A variant seed whose model and history are already there is not trained
again: a run that was interrupted resumes where it stopped. A seed that fails (a diverging run) is recorded
with its reason and the others go on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shapes_viz.artifacts import VARIANT_RESULTS, history_path, read_history, read_results, write_json_atomic
from shapes_viz.config import DEFAULT_RECIPE
from shapes_viz.dataset import LabeledImages, load_folder
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.errors import TrainingError
from shapes_viz.model_files import LayerSpec
from shapes_viz.variants import VARIANTS, variant

BROWSER_SET_SEED = 20261129  # the held-out browser-style drawings: the same for every run
BROWSER_SET_PER_CLASS = 30


def multiply_adds(specs: Sequence[LayerSpec]) -> int:
    """Multiply-adds of one image's forward pass: every Conv2D and Dense weight use (pooling not counted)."""
    total = 0
    for spec in specs:
        if spec.kind == "Conv2D":
            h, w, c_out = spec.output_shape
            total += h * w * c_out * spec.window[0] * spec.window[1] * (spec.input_shape[-1] // spec.groups)
        elif spec.kind == "Dense":
            total += spec.input_shape[0] * spec.size
    return total


def browser_set(folder: Path) -> LabeledImages:
    """Held-out drawings unlike the training set (browser-canvas look, every second one inverted), made once."""
    from shapes_viz.generator import generate_dataset

    if not (folder / "test_set").is_dir():
        generate_dataset(folder, per_class=BROWSER_SET_PER_CLASS, seed=BROWSER_SET_SEED, style="browser")
    sets = [load_folder(folder / split) for split in ("training_set", "test_set")]
    return LabeledImages(np.concatenate([s.images for s in sets]), np.concatenate([s.labels for s in sets]),
                         [p for s in sets for p in s.paths])


def run_variants(data_dir: str | Path, out_dir: str | Path, seeds: int = 1, only: Sequence[str] | None = None,
                 epochs: int | None = None, recipe: str = DEFAULT_RECIPE,
                 say: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the variants (`only`, or all) for `seeds` seeds each; return what `results.json` holds.

    Raises:
        ValueError: an unknown variant name. DatasetError: the data folder cannot be used.
    """
    from shapes_viz.training.run import train

    names = list(only) if only else list(VARIANTS)
    for name in names:
        variant(name)  # unknown names fail before anything is trained
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    test_folder = data_dir / "test_set" if (data_dir / "test_set").is_dir() else data_dir
    test = load_folder(test_folder)
    browser = browser_set(out_dir / "browser_set")
    everything = _all_drawings(data_dir)
    results_path = out_dir / VARIANT_RESULTS
    previous = read_results(results_path)
    results: dict[str, Any] = dict(previous.get("variants", {}))
    for name in names:
        runs = []
        for seed in range(seeds):
            model = out_dir / name / f"seed{seed}" / "model.h5"
            if model.is_file() and history_path(model).is_file():
                say(f"{name} seed {seed}: done before, kept")
            else:
                started = time.perf_counter()
                try:
                    train(data_dir, model, recipe=recipe, epochs=epochs, seed=seed, architecture=name,
                          publish_if_worse=True)
                except TrainingError as exc:
                    say(f"{name} seed {seed}: failed: {exc}")
                    runs.append({"seed": seed, "error": str(exc)})
                    continue
                say(f"{name} seed {seed}: trained in {time.perf_counter() - started:.0f} s")
            runs.append(_measure(model, seed, test, browser, everything))
        results[name] = _summary(name, runs)
        write_json_atomic(results_path, {"recipe": recipe, "epochs": epochs, "seeds": seeds,
                                         "data": str(data_dir), "test_images": len(test.labels),
                                         "browser_images": len(browser.labels), "variants": results})
        say(_line(name, results[name]))
    return read_results(results_path)


def _all_drawings(data_dir: Path) -> LabeledImages:
    from shapes_viz.channels.scan import load_splits

    return load_splits(data_dir)


def _measure(model: Path, seed: int, test: LabeledImages, browser: LabeledImages, everything: LabeledImages) -> dict:
    from shapes_viz.channels.knockout import accuracy_with
    from shapes_viz.channels.scan import scan_images
    from shapes_viz.model_files import check_model_file

    engine = NumpyEngine.from_file(model)
    history = read_history(model) or {}
    scan = scan_images(engine, everything)
    channels = [s for name, s in scan.layers.items() if engine.layers[engine.layer_names.index(name)].spec.kind
                in ("Conv2D", "Dense") and name != engine.layer_names[-1]]
    dead = sum(int(s.dead.sum()) for s in channels) / max(sum(s.dead.size for s in channels), 1)
    x = test.images[:1]
    engine.run(x)
    times = []
    for _ in range(30):
        started = time.perf_counter()
        engine.run(x)
        times.append(time.perf_counter() - started)
    return {
        "seed": seed, "test_accuracy": accuracy_with(engine, test), "browser_accuracy": accuracy_with(engine, browser),
        "dead_share": dead, "seconds": history.get("seconds"), "epochs_run": history.get("epochs_run"),
        "best_epoch": history.get("best_epoch"), "val_accuracy": history.get("val_accuracy", []),
        "latency_ms": statistics.median(times) * 1000, "multiply_adds": multiply_adds(check_model_file(model).layers),
    }


def _summary(name: str, runs: list[dict]) -> dict[str, Any]:
    good = [r for r in runs if "error" not in r]
    spec = VARIANTS[name]

    def stats(key: str) -> dict[str, float] | None:
        values = [float(r[key]) for r in good if r.get(key) is not None]
        if not values:
            return None
        return {"mean": statistics.fmean(values), "spread": (max(values) - min(values)) if len(values) > 1 else 0.0}

    return {
        "title": spec.title, "description": spec.description, "params": spec.params,
        "multiply_adds": good[0]["multiply_adds"] if good else None,
        "latency_ms": stats("latency_ms"), "test_accuracy": stats("test_accuracy"),
        "browser_accuracy": stats("browser_accuracy"), "dead_share": stats("dead_share"),
        "seconds": stats("seconds"), "runs": runs,
    }


def _line(name: str, result: dict[str, Any]) -> str:
    """One line of the run's output for a variant."""

    def pct(key: str) -> str:
        value = result.get(key)
        return f"{value['mean']:.1%} (±{value['spread'] / 2:.1%})" if value else "n/a"

    if not result.get("seconds"):
        return f"{name}: every seed failed"
    return (f"{name}: {result['params']:,} parameters, {result['multiply_adds']:,} multiply-adds, "
            f"test {pct('test_accuracy')}, browser-style {pct('browser_accuracy')}, "
            f"dead channels {pct('dead_share')}, {result['seconds']['mean']:.0f} s a seed")


def add_command(commands: argparse._SubParsersAction, positive_int: Callable[[str], int]) -> None:
    """The `variants` verb of the command line."""
    from shapes_viz.config import RECIPES

    va = commands.add_parser("variants", help="train every architecture variant on the same data and compare them")
    va.add_argument("--data", type=Path, default=None, help="data folder (default: the app's data folder)")
    va.add_argument("--seeds", type=positive_int, default=1, help="seeds per variant (default 1)")
    va.add_argument("--only", default=None, help=f"comma-separated variants (default all: {', '.join(VARIANTS)})")
    va.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: the recipe's)")
    va.add_argument("--recipe", choices=sorted(RECIPES), default=DEFAULT_RECIPE)
    va.add_argument("--out", type=Path, required=True, help="folder of the run: <variant>/seed<k>/, results.json")


def run_command(args: argparse.Namespace) -> int:
    """`python -m shapes_viz variants`: 0 when every seed trained, 1 otherwise (each failure said in one line)."""
    from shapes_viz.config import settings

    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    try:
        results = run_variants(args.data or settings().data_dir, args.out, args.seeds, only, args.epochs, args.recipe)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = [run for result in results.get("variants", {}).values() for run in result["runs"] if "error" in run]
    print(f"results: {args.out / VARIANT_RESULTS}")
    return 1 if failed else 0

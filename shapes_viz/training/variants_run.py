"""Train every architecture variant on the same data and compare them: `python -m shapes_viz variants`.

    run_variants("data", "runs/variants", seeds=3)   # DIR/<variant>/seed<k>/model.h5 (+ history), DIR/results.json

Each seed's model and history are written as the trainer publishes (atomically); `results.json` is rewritten
atomically after every variant. A variant seed whose model and history are already there is not trained
again: a run that was interrupted resumes where it stopped. A seed that fails (a diverging run, or with
`jobs` > 1 a training process that dies) is recorded with its reason and the others go on.

With `jobs` > 1 the trainings run in up to `jobs` worker processes at once (spawned, never forked: TensorFlow
is not fork-safe), one process per (variant, seed), each with its share of the CPU threads; this process
measures each finished seed and writes `results.json` as every variant's seeds are all finished.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from shapes_viz.artifacts import VARIANT_RESULTS, history_path, read_history, read_results, write_json_atomic
from shapes_viz.config import DEFAULT_RECIPE
from shapes_viz.dataset import LabeledImages, has_split_layout, load_dataset, load_folder
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.errors import DatasetError, TrainingError
from shapes_viz.model_files import LayerSpec
from shapes_viz.variants import VARIANTS, variant

BROWSER_SET_SEED = 20261129  # the held-out browser-style drawings: the same for every run
BROWSER_SET_PER_CLASS = 30
# Fewer training drawings of a class than this and a variant's accuracy says more about the draw of the
# drawings than about the architecture (the test suite's tiny generated sets have 7 per class).
MIN_TRAIN_PER_CLASS = 5
MIN_VALIDATION_PER_CLASS = 1
PROCESS_DIED = "the training process ended unexpectedly"


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


def check_data(data_dir: str | Path) -> None:
    """Fail before any training unless every class has enough usable drawings to train and validate on.

    The training and validation splits are those `train` makes (`load_dataset`): `training_set/` and
    `test_set/`, or a plain folder of class subfolders split 70/30 per class.

    Raises:
        DatasetError: the folder is missing, empty or unusable (the message names it), or a class has fewer
            than MIN_TRAIN_PER_CLASS usable training drawings or fewer than MIN_VALIDATION_PER_CLASS
            validation drawings (the message says how many each class has and the minimum).
    """
    data_dir = Path(data_dir)
    need = (f"each class needs at least {MIN_TRAIN_PER_CLASS} training and {MIN_VALIDATION_PER_CLASS} "
            f"validation image{'s' if MIN_VALIDATION_PER_CLASS > 1 else ''}")
    if not has_split_layout(data_dir):
        counts = load_folder(data_dir, require_all=True).counts()
        if min(counts.values()) < 2:  # load_dataset cannot split it
            raise DatasetError(f"Data folder {data_dir} is too small to train the variants: it holds "
                               f"{_counts(counts)} usable images, split 70/30 into training and validation; "
                               f"{need}.")
    splits = load_dataset(data_dir)
    train, validation = splits.train.counts(), splits.validation.counts()
    if min(train.values()) < MIN_TRAIN_PER_CLASS or min(validation.values()) < MIN_VALIDATION_PER_CLASS:
        where = " (training_set/, test_set/)" if has_split_layout(data_dir) else f" ({splits.layout})"
        raise DatasetError(f"Data folder {data_dir} is too small to train the variants: found {_counts(train)} "
                           f"usable training images and {_counts(validation)} validation images{where}; {need}.")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def run_variants(data_dir: str | Path, out_dir: str | Path, seeds: int = 1, only: Sequence[str] | None = None,
                 epochs: int | None = None, recipe: str = DEFAULT_RECIPE,
                 say: Callable[[str], None] = print, jobs: int = 1) -> dict[str, Any]:
    """Train the variants (`only`, or all) for `seeds` seeds each; return what `results.json` holds.

    Args:
        jobs: trainings at once. 1: one after the other in this process. N > 1: up to N spawned worker
            processes (one per variant seed), each limited to its share of the CPU threads.

    Raises:
        ValueError: an unknown variant name, or jobs < 1. DatasetError: the data folder cannot be used or is
            too small (`check_data`); raised before anything is trained or written.
    """
    from shapes_viz.training.run import train

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer. Received: jobs={jobs!r}")
    names = list(only) if only else list(VARIANTS)
    for name in names:
        variant(name)  # unknown names fail before anything is trained
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    check_data(data_dir)
    test_folder = data_dir / "test_set" if (data_dir / "test_set").is_dir() else data_dir
    test = load_folder(test_folder)
    browser = browser_set(out_dir / "browser_set")
    everything = _all_drawings(data_dir)
    results_path = out_dir / VARIANT_RESULTS
    previous = read_results(results_path)
    results: dict[str, Any] = dict(previous.get("variants", {}))

    def measure(name: str, seed: int) -> dict:
        return _measure(_model_path(out_dir, name, seed), seed, test, browser, everything)

    def finish(name: str, runs: list[dict]) -> None:
        results[name] = _summary(name, runs)
        write_json_atomic(results_path, {"recipe": recipe, "epochs": epochs, "seeds": seeds,
                                         "data": str(data_dir), "test_images": len(test.labels),
                                         "browser_images": len(browser.labels),
                                         "variants": _in_order(results, names)})
        say(_line(name, results[name]))

    if jobs > 1:
        _run_parallel(names, seeds, data_dir, out_dir, epochs, recipe, jobs, measure, finish, say)
        return read_results(results_path)
    for name in names:
        runs = []
        for seed in range(seeds):
            model = _model_path(out_dir, name, seed)
            if _trained(model):
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
            runs.append(measure(name, seed))
        finish(name, runs)
    return read_results(results_path)


def _model_path(out_dir: Path, name: str, seed: int) -> Path:
    return out_dir / name / f"seed{seed}" / "model.h5"


def _trained(model: Path) -> bool:
    """True when the seed's model and its history are both published (a resumed run keeps it)."""
    return model.is_file() and history_path(model).is_file()


def _in_order(results: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """`results` with the variants of this run in the order they were asked for (after those of earlier runs),
    whichever finished first."""
    earlier = {key: value for key, value in results.items() if key not in names}
    return {**earlier, **{name: results[name] for name in names if name in results}}


def _run_parallel(names: Sequence[str], seeds: int, data_dir: Path, out_dir: Path, epochs: int | None,
                  recipe: str, jobs: int, measure: Callable[[str, int], dict],
                  finish: Callable[[str, list[dict]], None], say: Callable[[str], None]) -> None:
    """Train the seeds not done before in up to `jobs` spawned processes; measure and `finish` each variant.

    One single-worker pool per training, so that a process that dies (killed, out of memory) fails only its
    own seed, and each training starts with a fresh TensorFlow (its memory is returned when it ends).
    """
    context = multiprocessing.get_context("spawn")  # never fork a process that may hold TensorFlow
    threads = max(1, _cpu_count() // jobs)
    runs: dict[str, dict[int, dict]] = {name: {} for name in names}

    def settle(name: str, seed: int, run: dict) -> None:
        runs[name][seed] = run
        if len(runs[name]) == seeds:
            finish(name, [runs[name][k] for k in range(seeds)])

    kept, queue = [], deque()
    for name in names:
        for seed in range(seeds):
            if _trained(_model_path(out_dir, name, seed)):
                say(f"{name} seed {seed}: done before, kept")
                kept.append((name, seed))
            else:
                queue.append((name, seed))
    running: dict[Future, tuple[str, int, ProcessPoolExecutor]] = {}

    def start_next() -> None:
        while queue and len(running) < jobs:
            name, seed = queue.popleft()
            pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
            future = pool.submit(_train_in_worker, str(data_dir), str(_model_path(out_dir, name, seed)), recipe,
                                 epochs, seed, name, threads, jobs > 1)
            running[future] = (name, seed, pool)

    try:
        start_next()
        for name, seed in kept:  # measured while the first trainings run
            settle(name, seed, measure(name, seed))
        while running:
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            outcomes = []
            for future in finished:
                name, seed, pool = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    outcome = ("error", PROCESS_DIED)
                pool.shutdown(wait=True)
                outcomes.append((name, seed, outcome))
            start_next()  # keep the workers busy while this process measures
            for name, seed, (kind, value) in sorted(outcomes, key=lambda o: (names.index(o[0]), o[1])):
                if kind == "error":
                    say(f"{name} seed {seed}: failed: {value}")
                    settle(name, seed, {"seed": seed, "error": value})
                else:
                    say(f"{name} seed {seed}: trained in {value:.0f} s")
                    settle(name, seed, measure(name, seed))
    finally:  # an unexpected error here or in a worker: the other trainings stop too (resume redoes them)
        for _, _, pool in running.values():
            _stop(pool)


def _cpu_count() -> int:
    """CPUs this process may run on (its affinity where the OS says, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the pool's worker process now (not when its training ends)."""
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _train_in_worker(data_dir: str, model: str, recipe: str, epochs: int | None, seed: int, name: str,
                     threads: int, share_gpus: bool) -> tuple[str, float | str]:
    """One variant seed's training in a spawned worker process (runs `train`, inside its strategy scope).

    Args:
        threads: TensorFlow's intra- and inter-op threads (and numpy's BLAS threads) in this process, set before
            TensorFlow runs any op; TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS in the environment win.
        share_gpus: let TensorFlow's GPU memory grow as needed instead of taking every visible GPU's memory at
            start, so that the workers can share the GPUs they all see.

    Returns:
        ("trained", seconds of the training) or ("error", the TrainingError's message).
    """
    from shapes_viz.cli import _quiet_tensorflow
    from shapes_viz.engine.threads import limit_blas_threads
    from shapes_viz.training.run import train

    limit_blas_threads(threads)
    _quiet_tensorflow()
    import tensorflow as tf

    if "TF_NUM_INTRAOP_THREADS" not in os.environ:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    if "TF_NUM_INTEROP_THREADS" not in os.environ:
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if share_gpus:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    started = time.perf_counter()
    try:
        train(data_dir, model, recipe=recipe, epochs=epochs, seed=seed, architecture=name, publish_if_worse=True)
    except TrainingError as exc:  # sent back as text: not every TrainingError subclass survives pickling
        return "error", str(exc)
    return "trained", time.perf_counter() - started


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
    va.add_argument("--jobs", type=positive_int, default=1,
                    help="trainings at once, each in its own process with its share of the CPU threads (default 1)")
    va.add_argument("--out", type=Path, required=True, help="folder of the run: <variant>/seed<k>/, results.json")


def run_command(args: argparse.Namespace) -> int:
    """`python -m shapes_viz variants`: 0 when every seed trained, 1 otherwise (each failure said in one line)."""
    from shapes_viz.config import settings

    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    try:
        results = run_variants(args.data or settings().data_dir, args.out, args.seeds, only, args.epochs, args.recipe,
                               jobs=args.jobs)
    except (ValueError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = [run for result in results.get("variants", {}).values() for run in result["runs"] if "error" in run]
    print(f"results: {args.out / VARIANT_RESULTS}")
    return 1 if failed else 0

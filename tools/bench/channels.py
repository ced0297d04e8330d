"""Benchmark section "channels": the channels view's computations on the shipped model and data/, in numpy.

Times, as medians, each against the issue's goal and as a multiple of one input's forward pass measured in the
same run: the dataset scan of data/ (300 drawings; also with reading and preprocessing the files), the test-set
accuracy with 3 channels off, one channel's image (150 steps); information: a whole layer's 64 images as the
app's background job (time to finish), and one input's prediction in the foreground while it runs against idle.
The same again in a child process with OPENBLAS_NUM_THREADS=1 (batched numpy under load was 4-10x slower with
OpenBLAS's default threads); with --quick the child leaves out the whole layer (about half a minute).

`python -m tools.bench.channels [--quick] [--no-layer]` prints the times as JSON (what the child process runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from shapes_viz.config import PROJECT_ROOT, VISUALIZE
from tools.bench.report import Row, median_ms

SHIPPED_MODEL = PROJECT_ROOT / "models" / "shapes_cnn.h5"
DATA = PROJECT_ROOT / "data"
LAYER_SETTINGS = VISUALIZE  # the background job's (the app's)
LAYER, CHANNEL, OFF = "conv2_1", 12, (3, 17, 40)  # the layer and channel timed, the 3 channels switched off
# (key, what is measured, unit, goal) in the table's order.
TIMED = (
    ("scan", "scan of data/: {files} drawings, every layer's maxima, positions, top and bottom 9 (scan_images)",
     "ms", "<= 1500 ms"),
    ("load_scan", "  the same including reading and preprocessing the files (load_splits + scan_images)", "ms",
     "<= 1500 ms"),
    ("accuracy", f"test-set accuracy ({{test}} drawings) with 3 channels of {LAYER} off {OFF} (accuracy_with)", "ms",
     "<= 150 ms"),
    ("image", f"one channel's image: {LAYER} channel {CHANNEL}, {VISUALIZE.steps} steps (channel_image)", "ms",
     "<= 600 ms"),
    ("layer", f"a whole layer's images in the background: {LAYER}, 64 channels of {{layer_steps}} steps "
              "(LayerImageJobs), time to finish",
     "s", "information"),
)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def time_layer_job(engine, x: np.ndarray) -> dict[str, float]:
    """Seconds for LayerImageJobs (with LAYER_SETTINGS) to finish LAYER's images, and one input's `engine.run` (the explorer's call)
    while it runs against idle: median and p95 in ms (a call every 10 ms in the foreground)."""
    from shapes_viz.channels.layer_images import LayerImageJobs

    idle = [median_ms(lambda: engine.run(x), 1, warmup=0) for _ in range(50)]
    jobs = LayerImageJobs(LAYER_SETTINGS)
    start = time.perf_counter()
    job = jobs.start(engine, "bench", LAYER, seed=0)
    busy = []
    while not job.done:
        busy.append(median_ms(lambda: engine.run(x), 1, warmup=0))
        time.sleep(0.01)
    seconds = time.perf_counter() - start
    if job.error or len(job.images) != job.channels:
        raise RuntimeError(f"the layer job stopped early: {job.error or len(job.images)}")
    return {"layer": seconds, "channels": job.channels, "layer_steps": LAYER_SETTINGS.steps, "idle_median": statistics.median(idle),
            "idle_p95": _percentile(idle, 95), "busy_median": statistics.median(busy) if busy else float("nan"),
            "busy_p95": _percentile(busy, 95), "busy_calls": len(busy)}


def time_channels(quick: bool, whole_layer: bool = True) -> dict[str, float]:
    """Median milliseconds of one input's forward pass ("forward") and of each TIMED key (the layer in seconds,
    with its foreground figures), plus the counts of drawings ("files", "test")."""
    from shapes_viz.channels.knockout import accuracy_with
    from shapes_viz.channels.scan import load_splits, scan_images
    from shapes_viz.channels.visualize import channel_image
    from shapes_viz.dataset import load_folder
    from shapes_viz.engine.numpy_engine import NumpyEngine

    engine = NumpyEngine.from_file(SHIPPED_MODEL)
    data, test = load_splits(DATA), load_folder(DATA / "test_set")
    x = test.images[:1]
    fast, slow = (20, 2) if quick else (200, 10)
    times = {
        "files": len(data.labels), "test": len(test.labels),
        "forward": median_ms(lambda: engine.forward(x), fast),
        "scan": median_ms(lambda: scan_images(engine, data), slow, warmup=1),
        "load_scan": median_ms(lambda: scan_images(engine, load_splits(DATA)), max(1, slow // 3), warmup=1),
        "accuracy": median_ms(lambda: accuracy_with(engine, test, {LAYER: OFF}), fast // 2),
        "image": median_ms(lambda: channel_image(engine, LAYER, CHANNEL), slow, warmup=1),
    }
    if whole_layer:
        times.update(time_layer_job(engine, x))
    return times


def _single_threaded_times(quick: bool) -> dict[str, float] | None:
    """time_channels in a child process with OPENBLAS_NUM_THREADS=1 (without the whole layer when quick); None
    if this process already is single-threaded, or if the child failed."""
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        return None
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    command = [sys.executable, "-m", "tools.bench.channels"] + (["--quick", "--no-layer"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=900)
    if done.returncode != 0:
        print(f"channels: the single-threaded child failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _label(what: str, unit: str, times: dict[str, float], note: str = "") -> str:
    return f"{what.format(**times).strip()}{note} ({unit})"


def _timing_rows(times: dict[str, float], single: dict[str, float] | None) -> list[Row]:
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    forward = times["forward"]
    rows: list[Row] = [(f"channels: forward pass, 1 input (engine.forward), OPENBLAS_NUM_THREADS={threads} (ms)",
                        f"{forward:.2f}", "", "1x", "")]
    for key, what, unit, goal in TIMED:
        if key not in times:
            continue
        ms = times[key] * (1000.0 if unit == "s" else 1.0)
        digits = 1 if unit == "s" else 2
        rows.append((f"  {'  ' * what.startswith(' ')}{_label(what, unit, times)}", f"{times[key]:.{digits}f}",
                     f"{forward:.2f} (forward, ms)", f"{ms / forward:.0f}x the forward pass", goal))
    if "layer" in times:
        rows.append(("    meanwhile, one input's prediction + all layers (engine.run), median / p95 (ms)",
                     f"{times['busy_median']:.2f} / {times['busy_p95']:.2f}",
                     f"idle {times['idle_median']:.2f} / {times['idle_p95']:.2f}",
                     f"{times['busy_median'] / times['idle_median']:.1f}x the idle median "
                     f"({int(times['busy_calls'])} calls)", "information"))
    if single is not None:
        rows.append(("  the same with OPENBLAS_NUM_THREADS=1 (child process): forward (ms)",
                     f"{single['forward']:.2f}", f"{forward:.2f}", f"{forward / single['forward']:.2f}x faster", ""))
        for key, what, unit, goal in TIMED:
            if key not in single or key not in times:
                continue
            rows.append((f"    {'  ' * what.startswith(' ')}{_label(what, unit, single, ', 1 BLAS thread')}",
                         f"{single[key]:.{1 if unit == 's' else 2}f}", f"{times[key]:.{1 if unit == 's' else 2}f}",
                         f"{times[key] / single[key]:.2f}x faster", goal))
        if "layer" in single:
            rows.append(("      meanwhile, engine.run median / p95, 1 BLAS thread (ms)",
                         f"{single['busy_median']:.2f} / {single['busy_p95']:.2f}",
                         f"idle {single['idle_median']:.2f} / {single['idle_p95']:.2f}",
                         f"{single['busy_median'] / single['idle_median']:.1f}x the idle median", "information"))
    return rows


def bench_channels(quick: bool) -> list[Row]:
    """Times of the channels view's computations (see the module)."""
    if not SHIPPED_MODEL.is_file() or not (DATA / "test_set").is_dir():
        return [(f"channels: skipped (needs {SHIPPED_MODEL.relative_to(PROJECT_ROOT)} and "
                 f"{(DATA / 'test_set').relative_to(PROJECT_ROOT)})", "missing", "", "", "")]
    return _timing_rows(time_channels(quick), _single_threaded_times(quick))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.channels", description="time_channels as JSON")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-layer", action="store_true", help="leave out the whole layer's images")
    args = parser.parse_args(argv)
    print(json.dumps(time_channels(args.quick, whole_layer=not args.no_layer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

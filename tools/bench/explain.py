"""Benchmark section "explain": gradients and attribution maps on the shipped model, in numpy (no TensorFlow).

Times: forward+backward and each method for one test drawing, as medians, each against the issue's goal and
as a multiple of the forward pass measured in the same run; the same in a child process with
OPENBLAS_NUM_THREADS=1 (batched calls can be slower with several BLAS threads on 2 busy cores).
Information: each method's deletion and insertion areas on test drawings against random maps and the ink,
and its rank correlation with the same method on a randomised network.

`python -m tools.bench.explain [--quick]` prints the times as JSON (what the child process runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from shapes_viz.config import CLASS_NAMES, PROJECT_ROOT
from shapes_viz.explain.report import DEFAULT_CAM_LAYER as CAM_LAYER  # what the CLI uses
from tools.bench.report import Row, median_ms

SHIPPED_MODEL = PROJECT_ROOT / "models" / "shapes_cnn.h5"
TEST_SET = PROJECT_ROOT / "data" / "test_set"
# (key, what is measured, goal in ms) in the table's order; the keys of METHODS are the methods' names.
TIMED = (
    ("backward", "forward+backward: trace + gradient of the class logit", 5),
    ("layercam", f"LayerCAM at {CAM_LAYER}", 5),
    ("gradcam", f"Grad-CAM at {CAM_LAYER}", 5),
    ("saliency", "saliency", 5),
    ("smoothgrad", "SmoothGrad (25 samples)", 100),
    ("occlusion", "occlusion (6 px paper patch, stride 2)", 300),
    ("ig", "integrated gradients (64 steps, paper baseline)", 400),
)
SLOW = ("smoothgrad", "occlusion", "ig")


def _drawings(per_class: int) -> list[tuple[str, np.ndarray]]:
    """(name, (1, 28, 28, 3) float32 input) of the first `per_class` test drawings of each class (0: one square)."""
    from shapes_viz.preprocessing import preprocess

    files = [path for name in CLASS_NAMES for path in sorted((TEST_SET / name).glob("*.png"))[:per_class]]
    files = files or sorted((TEST_SET / CLASS_NAMES[1]).glob("*.png"))[:1]  # per_class 0: one drawing
    return [(f"{path.parent.name}/{path.name}", preprocess(path)) for path in files]


def time_methods(quick: bool) -> dict[str, float]:
    """Median milliseconds of the forward pass ("forward"), forward+backward ("backward") and each method,
    for one test drawing (a square) explained for its predicted class."""
    from shapes_viz.engine.gradients import logit_gradients, trace
    from shapes_viz.engine.numpy_engine import NumpyEngine
    from shapes_viz.explain.methods import CAM_METHODS, METHODS, attribute

    engine = NumpyEngine.from_file(SHIPPED_MODEL)
    (_, x), = _drawings(0)
    target = int(engine.probabilities(x)[0].argmax())
    repeats, slow_repeats = (3, 1) if quick else (100, 15)
    times = {
        "forward": median_ms(lambda: trace(engine, x), repeats),
        "backward": median_ms(lambda: logit_gradients(engine, trace(engine, x), target), repeats),
    }
    for method in METHODS:
        layer = CAM_LAYER if method in CAM_METHODS else None
        times[method] = median_ms(lambda: attribute(engine, x, method, target, layer),
                                  slow_repeats if method in SLOW else repeats, warmup=int(not quick) + 1)
    return times


def _single_threaded_times(quick: bool) -> dict[str, float] | None:
    """time_methods in a child process with OPENBLAS_NUM_THREADS=1; None if it already is, or if it failed."""
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        return None
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    command = [sys.executable, "-m", "tools.bench.explain"] + (["--quick"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=900)
    if done.returncode != 0:
        print(f"explain: the single-threaded child failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _timing_rows(times: dict[str, float], single: dict[str, float] | None) -> list[Row]:
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    forward = times["forward"]
    rows: list[Row] = [(f"explain: forward pass (trace), 1 input, OPENBLAS_NUM_THREADS={threads} (ms)",
                        f"{forward:.2f}", "", "1x", "")]
    for key, what, goal in TIMED:
        rows.append((f"  {what} (ms)", f"{times[key]:.2f}", f"{forward:.2f} (forward)",
                     f"{times[key] / forward:.1f}x the forward pass", f"<= {goal} ms"))
    if single is not None:
        rows.append(("  the same with OPENBLAS_NUM_THREADS=1 (child process): forward (ms)",
                     f"{single['forward']:.2f}", f"{forward:.2f}", f"{forward / single['forward']:.2f}x faster", ""))
        for key, what, goal in TIMED:
            rows.append((f"    {what}, 1 BLAS thread (ms)", f"{single[key]:.2f}", f"{times[key]:.2f}",
                         f"{times[key] / single[key]:.2f}x faster", f"<= {goal} ms"))
    return rows


def faithfulness_rows(per_class: int) -> list[Row]:
    """Each method's mean deletion / insertion area on test drawings (predicted class), against random maps and
    the ink, and its mean rank correlation with the same method on a randomised network (information)."""
    from shapes_viz.engine.numpy_engine import NumpyEngine
    from shapes_viz.explain.faithfulness import faithfulness, randomised, rank_correlation
    from shapes_viz.explain.methods import CAM_METHODS, METHODS, attribute

    engine = NumpyEngine.from_file(SHIPPED_MODEL)
    random_engine = randomised(engine)
    drawings = _drawings(per_class)
    scores: dict[str, list[tuple[float, ...]]] = {method: [] for method in METHODS}
    for _, x in drawings:
        target = int(engine.probabilities(x)[0].argmax())
        for method in METHODS:
            layer = CAM_LAYER if method in CAM_METHODS else None
            values = attribute(engine, x, method, target, layer).values
            f = faithfulness(engine, x, values, target)
            correlation = rank_correlation(values, attribute(random_engine, x, method, target, layer).values)
            scores[method].append((f.deletion.area, f.insertion.area, f.random_deletion.area,
                                   f.random_insertion.area, f.ink_deletion.area, f.ink_insertion.area, correlation))
    rows: list[Row] = []
    for method in METHODS:
        d, i, rd, ri, kd, ki, r = np.mean(scores[method], axis=0)
        name = f"{method} at {CAM_LAYER}" if method in CAM_METHODS else method
        rows.append((f"  {name}: deletion / insertion area; rank correlation with a randomised network",
                     f"{d:.3f} / {i:.3f}; {r:.2f}", f"random {rd:.3f} / {ri:.3f}, ink {kd:.3f} / {ki:.3f}",
                     f"deletion {rd / d:.2f}x lower than random", "information"))
    header = (f"explain: faithfulness on {len(drawings)} test drawings (mean; lower deletion, higher insertion "
              "is better; correlation near 1 = the map shows the drawing, not the training)", "", "", "", "")
    return [header, *rows]


def bench_explain(quick: bool) -> list[Row]:
    """Times of the gradients and each attribution method, then their faithfulness (see the module)."""
    if not SHIPPED_MODEL.is_file() or not TEST_SET.is_dir():
        return [(f"explain: skipped (needs {SHIPPED_MODEL.relative_to(PROJECT_ROOT)} and "
                 f"{TEST_SET.relative_to(PROJECT_ROOT)})", "missing", "", "", "")]
    rows = _timing_rows(time_methods(quick), _single_threaded_times(quick))
    return rows + faithfulness_rows(0 if quick else 10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.explain", description="time_methods as JSON")
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(time_methods(parser.parse_args(argv).quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

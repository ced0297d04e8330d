"""Benchmark section "engine": one input's prediction + every layer's output, against the tutorial's way."""

from __future__ import annotations

import time

import numpy as np

from shapes_viz.config import settings
from tools.bench.report import Row, median_ms


def bench_engine(quick: bool) -> list[Row]:
    """Latency of one input's probabilities + every layer's output."""
    import keras

    from shapes_viz.engine.keras_engine import KerasEngine
    from shapes_viz.model import build_model, load_model
    from shapes_viz.preprocessing import preprocess

    path = settings().model_path
    model = load_model(path) if path.exists() else build_model(seed=0)
    rng = np.random.default_rng(0)
    drawing = (rng.random((280, 280)) > 0.995).astype(np.uint8) * 255
    drawing[60:220, 60:64] = 255
    x = preprocess(255 - drawing)
    repeats = 20 if quick else 200
    engine = KerasEngine(model)
    ours = median_ms(lambda: engine.run(x), repeats)
    activation_model = keras.Model(inputs=model.inputs[0], outputs=[layer.output for layer in model.layers])

    def tutorial_way():
        model.predict(x, verbose=0)
        activation_model.predict(x, verbose=0)

    theirs = median_ms(tutorial_way, max(5, repeats // 10))
    plain = KerasEngine(model, jit_compile=False)
    no_xla = median_ms(lambda: plain.run(x), repeats)
    rows = [
        ("prediction + all 16 layer outputs + channel stats, 1 input (ms)", f"{ours:.2f}", f"{theirs:.1f}",
         f"{theirs / ours:.0f}x faster", "<= 2 ms, >= 30x"),
        ("  same engine without XLA (ms)", f"{no_xla:.2f}", f"{theirs:.1f}", f"{theirs / no_xla:.0f}x faster", ""),
    ]
    if path.exists() and path.suffix == ".h5":
        from shapes_viz.engine.numpy_engine import NumpyEngine

        start = time.perf_counter()
        numpy_engine = NumpyEngine.from_file(path)
        load_ms = (time.perf_counter() - start) * 1000
        dashboard = median_ms(lambda: numpy_engine.run(x), repeats)
        rows += [
            ("  numpy engine, the dashboard's (no TensorFlow) (ms)", f"{dashboard:.2f}", f"{theirs:.1f}",
             f"{theirs / dashboard:.0f}x faster", "<= 2 ms, >= 30x"),
            ("  numpy engine: read the model file, ready to run (ms)", f"{load_ms:.0f}", "", "", ""),
        ]
    return rows

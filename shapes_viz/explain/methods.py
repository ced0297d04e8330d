"""Attribution maps: which pixels of the model's input were evidence for a class, six ways.

Every method returns an `AttributionMap`: a (28, 28) float32 map on the model's input grid, larger meaning
more evidence for the target class. The target is the class **logit** (before softmax). Removing evidence
means turning pixels to paper (white, 1.0): ink is 0 here, so the usual black baseline would be ink.

    result = attribute(engine, x, method="layercam", target=1, layer="conv1_2")
    result.values          # (28, 28) float32
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shapes_viz.config import EXPLAIN, PAPER, ExplainSettings
from shapes_viz.engine.gradients import Trace, logit_gradients, trace
from shapes_viz.engine.numpy_engine import NumpyEngine

METHODS: tuple[str, ...] = ("layercam", "gradcam", "saliency", "smoothgrad", "ig", "occlusion")
CAM_METHODS: tuple[str, ...] = ("layercam", "gradcam")
SIGNED_METHODS: tuple[str, ...] = ("ig", "occlusion")  # negative values: evidence against the target


@dataclass(frozen=True)
class AttributionMap:
    """One attribution map and how it was made.

    Attributes:
        method: one of METHODS.
        target: the class whose logit was explained.
        layer: the layer of a CAM method ("" for the others).
        values: (28, 28) float32, larger = more evidence for `target`; signed for SIGNED_METHODS.
        layer_map: for CAM methods, the map at the layer's own resolution (h, w) before upsampling.
        details: numbers particular to the method, e.g. integrated gradients' completeness.
    """

    method: str
    target: int
    layer: str
    values: np.ndarray
    layer_map: np.ndarray | None = None
    details: dict[str, float] = field(default_factory=dict)

    @property
    def signed(self) -> bool:
        return self.method in SIGNED_METHODS


def attribute(engine: NumpyEngine, x: np.ndarray, method: str, target: int, layer: str | None = None,
              settings: ExplainSettings = EXPLAIN) -> AttributionMap:
    """The `method` map of (1, 28, 28, 3) float32 input `x` for class `target`.

    Args:
        layer: the layer of a CAM method (a layer with (h, w, c) output); ignored by the others.

    Raises:
        ValueError: unknown method, class or layer, or a CAM layer that is not a map (says what was received).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method. Expected one of {', '.join(METHODS)}. Received: method={method!r}")
    x = np.asarray(x, dtype=np.float32)
    if x.shape != (1, *engine.input_shape):
        raise ValueError(f"Expected x of shape {(1, *engine.input_shape)}. Received: x.shape={x.shape}")
    if method in CAM_METHODS:
        return _cam(engine, x, method, target, _map_layer(engine, layer))
    if method == "saliency":
        return _saliency(engine, x, target)
    if method == "smoothgrad":
        return _smoothgrad(engine, x, target, settings)
    if method == "ig":
        return integrated_gradients(engine, x, target, settings)
    return _occlusion(engine, x, target, settings)


def map_layers(engine: NumpyEngine) -> tuple[str, ...]:
    """The layers a CAM method can use: those whose output is a (h, w, c) map."""
    return tuple(name for name, shape in zip(engine.layer_names, engine.output_shapes) if len(shape) == 3)


def _map_layer(engine: NumpyEngine, layer: str | None) -> str:
    layers = map_layers(engine)
    if layer is None:
        return layers[-1]
    if layer not in layers:
        raise ValueError(f"CAM methods need a layer with (h, w, c) maps: {', '.join(layers)}. Received: layer={layer!r}")
    return layer


def _cam(engine: NumpyEngine, x: np.ndarray, method: str, target: int, layer: str) -> AttributionMap:
    """LayerCAM: sum over channels of relu(gradient) * activation, cell by cell (Jiang et al. 2021).
    Grad-CAM: channels weighted by their mean gradient, then relu (Selvaraju et al. 2017)."""
    run = trace(engine, x)
    grads = logit_gradients(engine, run, target)
    activation = run.outputs[run.index(layer)][0]
    gradient = grads.output(layer)[0]
    if method == "layercam":
        cam = (np.maximum(gradient, 0.0) * activation).sum(axis=-1)
    else:
        cam = (gradient.mean(axis=(0, 1)) * activation).sum(axis=-1)
    cam = np.maximum(cam, 0.0).astype(np.float32)
    return AttributionMap(method, int(target), layer, upsample(cam, engine.input_shape[:2]), layer_map=cam)


def _input_gradients(engine: NumpyEngine, images: np.ndarray, target: int) -> tuple[Trace, np.ndarray]:
    """The trace and d logit / d pixel for (N, 28, 28, 3) images, (N, 28, 28): the three channels are one grey
    value copied, so a pixel's gradient is the sum over its channels."""
    run = trace(engine, images)
    return run, logit_gradients(engine, run, target).input.sum(axis=-1)


def _saliency(engine: NumpyEngine, x: np.ndarray, target: int) -> AttributionMap:
    """|d logit / d pixel| (Simonyan et al. 2014)."""
    _, gradient = _input_gradients(engine, x, target)
    return AttributionMap("saliency", int(target), "", np.abs(gradient[0]).astype(np.float32))


def _smoothgrad(engine: NumpyEngine, x: np.ndarray, target: int, settings: ExplainSettings) -> AttributionMap:
    """The saliency map averaged over noisy copies of the input (Smilkov et al. 2017)."""
    rng = np.random.default_rng(settings.seed)
    noise = rng.normal(0.0, settings.smoothgrad_noise, (settings.smoothgrad_samples, *x.shape[1:3], 1))
    noisy = (x + noise).astype(np.float32)  # one grey noise value per pixel, like the grey input
    _, gradients = _input_gradients(engine, noisy, target)
    return AttributionMap("smoothgrad", int(target), "", np.abs(gradients).mean(axis=0).astype(np.float32))


def integrated_gradients(engine: NumpyEngine, x: np.ndarray, target: int, settings: ExplainSettings = EXPLAIN,
                         baseline_value: float = PAPER) -> AttributionMap:
    """(x - baseline) times the mean gradient on the straight path from the baseline to x (Sundararajan et al.
    2017). The baseline is blank paper; `baseline_value=0.0` gives the usual black one (all ink, here).

    Completeness: the map sums to logit(x) - logit(baseline) up to the integration error, which is reported
    (it does not fall steadily with more steps on ReLU and max-pool networks).
    """
    steps = settings.ig_steps
    baseline = np.full_like(x, baseline_value)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)[:, None, None, None]
    path = baseline + alphas * (x - baseline)
    _, gradients = _input_gradients(engine, path, target)
    values = ((x - baseline)[0, ..., 0] * gradients.mean(axis=0)).astype(np.float32)
    ends = trace(engine, np.concatenate([x, baseline])).logits[:, target]
    delta = float(ends[0] - ends[1])
    total = float(values.sum())
    details = {"sum": total, "logit_difference": delta, "completeness_error": abs(total - delta),
               "relative_error": abs(total - delta) / max(abs(delta), 1e-6), "steps": float(steps)}
    return AttributionMap("ig", int(target), "", values, details=details)


def _occlusion(engine: NumpyEngine, x: np.ndarray, target: int, settings: ExplainSettings) -> AttributionMap:
    """How much the target logit drops when a square paper patch covers each place (Zeiler & Fergus 2014);
    each pixel gets the mean drop of the patches that covered it."""
    size, stride = settings.occlusion_patch, settings.occlusion_stride
    height, width = x.shape[1:3]
    corners = [(r, c) for r in range(0, height - size + 1, stride) for c in range(0, width - size + 1, stride)]
    batch = np.repeat(x, len(corners), axis=0)
    for k, (r, c) in enumerate(corners):
        batch[k, r : r + size, c : c + size, :] = PAPER
    logits = trace(engine, np.concatenate([x, batch])).logits[:, target]
    drops = logits[0] - logits[1:]
    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for drop, (r, c) in zip(drops, corners):
        total[r : r + size, c : c + size] += drop
        count[r : r + size, c : c + size] += 1
    values = np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)
    return AttributionMap("occlusion", int(target), "", values)


def upsample(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An (h, w) map stretched bilinearly over the (H, W) input (cell centres on the input's grid), float32."""
    cells = np.asarray(cells, dtype=np.float32)
    h, w = cells.shape
    rows = np.clip((np.arange(size[0]) + 0.5) * h / size[0] - 0.5, 0, h - 1)
    cols = np.clip((np.arange(size[1]) + 0.5) * w / size[1] - 0.5, 0, w - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = cells[r0][:, c0] * (1 - fc) + cells[r0][:, c1] * fc
    bottom = cells[r1][:, c0] * (1 - fc) + cells[r1][:, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)

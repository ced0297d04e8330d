"""The image a channel wants most, and the image each class wants most (activation maximisation).

    result = channel_image(engine, "conv2_1", 12, seed=0)     # (1, 28, 28, 3) float32 in [0, 1]
    result.start, result.end                                 # the objective before and after
    class_image(engine, 1, seed=0)                           # an image the network calls a square

Gradient ascent on one grey image (copied to the three channels, like the data) with Adam, from paper with a
little seeded noise; each step shifts the image by up to a pixel (paper fills the gap), every few steps it is
blurred a little, and it is pulled slightly towards paper and clipped to [0, 1]. A channel's objective is its
mean pre-ReLU activation over the map's interior (the border cells see padding); a class's is its
log-probability (its logit against the others': rising logits of every class do not make it win).
Same engine, arguments and seed: the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shapes_viz.config import PAPER, VISUALIZE, VisualizeSettings
from shapes_viz.engine.gradients import Trace, backward, trace
from shapes_viz.engine.numpy_engine import NumpyEngine


@dataclass(frozen=True)
class Visualization:
    """An optimised model input and how the objective went.

    Attributes:
        image: (1, 28, 28, 3) float32 in [0, 1], the three channels equal.
        start, end: the objective on the starting image and on the result (no jitter).
        history: (steps,) float32, the objective at each step (on the jittered image).
        objective: what was maximised, e.g. "mean pre-activation of conv2_1 channel 12".
    """

    image: np.ndarray
    start: float
    end: float
    history: np.ndarray
    objective: str


class _Objective:
    """A value of a trace and its gradient with respect to a layer's pre-activation (the backward seed)."""

    def __init__(self, engine: NumpyEngine, layer: str | None, channel: int | None, target: int | None):
        self.engine = engine
        if target is not None:
            self.index, self.name = len(engine.layers) - 1, f"log-probability of class {target}"
            self.target = int(target)
            return
        if layer not in engine.layer_names:
            raise ValueError(f"No layer named {layer!r}. Received: layer={layer!r}; layers: {list(engine.layer_names)}")
        self.index = engine.layer_names.index(layer)
        shape = engine.output_shapes[self.index]
        if channel is None or not 0 <= int(channel) < shape[-1]:
            raise ValueError(f"{layer} has channels 0..{shape[-1] - 1}. Received: channel={channel!r}")
        self.target = None
        self.channel = int(channel)
        self.mask = np.zeros(shape, np.float32)
        if len(shape) == 3:
            rows, cols = shape[:2]
            inner = (slice(1, rows - 1) if rows >= 5 else slice(None), slice(1, cols - 1) if cols >= 5 else slice(None))
            self.mask[(*inner, self.channel)] = 1.0
        else:
            self.mask[self.channel] = 1.0
        self.mask /= self.mask.sum()
        self.name = f"mean pre-activation of {layer} {'channel' if len(shape) == 3 else 'unit'} {self.channel}"

    def value_and_seed(self, run: Trace) -> tuple[float, np.ndarray]:
        z = run.pre_activations[self.index]
        if self.target is None:
            return float((z[0] * self.mask).sum()), self.mask[None]
        shifted = z[0] - z[0].max()
        log_probabilities = shifted - np.log(np.exp(shifted).sum())
        seed = -np.exp(log_probabilities)
        seed[self.target] += 1.0
        return float(log_probabilities[self.target]), seed[None].astype(np.float32)


def channel_image(engine: NumpyEngine, layer: str, channel: int, seed: int = 0,
                  settings: VisualizeSettings = VISUALIZE) -> Visualization:
    """The input that most raises `layer`'s `channel` (mean pre-activation over the map's interior).

    Raises:
        ValueError: no such layer or channel (the message says what exists).
    """
    return _ascend(engine, _Objective(engine, layer, channel, None), seed, settings)


def class_image(engine: NumpyEngine, target: int, seed: int = 0, settings: VisualizeSettings = VISUALIZE) -> Visualization:
    """The input that most raises the log-probability of class `target`.

    Raises:
        ValueError: not a class index.
    """
    classes = engine.output_shapes[-1][0]
    if not 0 <= int(target) < classes:
        raise ValueError(f"Expected a class index in 0..{classes - 1}. Received: target={target!r}")
    return _ascend(engine, _Objective(engine, None, None, int(target)), seed, settings)


def _ascend(engine: NumpyEngine, objective: _Objective, seed: int, settings: VisualizeSettings) -> Visualization:
    rng = np.random.default_rng(seed)
    size = engine.input_shape[:2]
    grey = np.clip(PAPER + rng.normal(0.0, settings.start_noise, size), 0.0, 1.0).astype(np.float32)
    start = _evaluate(engine, objective, grey)
    first, second = np.zeros_like(grey), np.zeros_like(grey)
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    history = np.zeros(settings.steps, np.float32)
    for step in range(1, settings.steps + 1):
        dy, dx = (int(v) for v in rng.integers(-settings.jitter, settings.jitter + 1, 2))
        shifted = _shift(grey, dy, dx)
        run = trace(engine, _rgb(shifted))
        value, seed_gradient = objective.value_and_seed(run)
        history[step - 1] = value
        gradient = backward(engine, run, objective.index, seed_gradient).input[0].sum(axis=-1)
        gradient = _shift(gradient, -dy, -dx, fill=0.0)
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * gradient * gradient
        update = (first / (1 - beta1**step)) / (np.sqrt(second / (1 - beta2**step)) + epsilon)
        grey = grey + settings.learning_rate * update  # ascent
        if settings.blur_every and step % settings.blur_every == 0:
            grey = (1 - settings.blur) * grey + settings.blur * _box_blur(grey)
        grey = np.clip(grey + settings.paper_pull * (PAPER - grey), 0.0, 1.0).astype(np.float32)
    return Visualization(_rgb(grey), start, _evaluate(engine, objective, grey), history, objective.name)


def _evaluate(engine: NumpyEngine, objective: _Objective, grey: np.ndarray) -> float:
    return objective.value_and_seed(trace(engine, _rgb(grey)))[0]


def _rgb(grey: np.ndarray) -> np.ndarray:
    """(28, 28) -> (1, 28, 28, 3) float32, the grey value in every channel."""
    return np.repeat(grey[None, :, :, None], 3, axis=-1).astype(np.float32)


def _shift(image: np.ndarray, dy: int, dx: int, fill: float = PAPER) -> np.ndarray:
    """`image` moved by (dy, dx) pixels; what comes in is `fill`."""
    out = np.full_like(image, fill)
    h, w = image.shape
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def _box_blur(image: np.ndarray) -> np.ndarray:
    """The 3x3 mean of each pixel (edges padded with paper)."""
    padded = np.pad(image, 1, constant_values=PAPER)
    h, w = image.shape
    return sum(padded[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0

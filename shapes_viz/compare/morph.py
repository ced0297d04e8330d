"""Morph: a pixel blend from input A to input B, every step through the network in one batched forward pass.

    (1 - t) * A + t * B   for t = 0, 1/(steps-1), ..., 1

The probabilities along the way show where the network changes its mind (`flips`); the layer outputs at
each step let the UI show the heatmaps at any position of a slider without running the model again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from shapes_viz.engine.results import checked_input

STEPS = 21  # t = 0, 0.05, ..., 1


@dataclass(frozen=True)
class Morph:
    """The blend from A to B and what the network makes of every step.

    Attributes:
        t: (S,) float32 blend weights from 0 (A) to 1 (B).
        inputs: (S, 28, 28, 3) float32 blended model inputs.
        probabilities: (S, num_classes) float32.
        outputs: one (S, ...) float32 array per layer, in layer order (the last is `probabilities`).
        layer_names: the layers' names, in order.
    """

    t: np.ndarray
    inputs: np.ndarray
    probabilities: np.ndarray
    outputs: tuple[np.ndarray, ...]
    layer_names: tuple[str, ...]

    @property
    def predicted(self) -> np.ndarray:
        """(S,) int64 predicted class at each step."""
        return np.argmax(self.probabilities, axis=1)

    def flips(self) -> list[int]:
        """The steps i at which the predicted class differs from step i - 1 (the first step of the new class)."""
        predicted = self.predicted
        return [int(i) for i in np.flatnonzero(predicted[1:] != predicted[:-1]) + 1]

    def layer(self, name: str) -> np.ndarray:
        """(S, ...) float32 outputs of the layer `name` at every step."""
        if name not in self.layer_names:
            raise KeyError(f"No layer named {name!r}. Received: name={name!r}")
        return self.outputs[self.layer_names.index(name)]


def blend(a: np.ndarray, b: np.ndarray, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The weights t (S,) float32 and the blended inputs (S, 28, 28, 3) float32 from `a` to `b`.

    Args:
        a, b: (1, 28, 28, 3) float32 model inputs, as `preprocess` returns them.
        steps: how many inputs, both ends included (at least 2).

    Raises:
        ValueError: fewer than 2 steps, or inputs of different shapes.
    """
    if int(steps) < 2:
        raise ValueError(f"A morph needs at least 2 steps. Received: steps={steps}")
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.shape != b.shape or a.ndim != 4 or a.shape[0] != 1:
        raise ValueError(f"A and B must be two (1, H, W, C) inputs. Received: a.shape={a.shape}, b.shape={b.shape}")
    t = np.linspace(0.0, 1.0, int(steps), dtype=np.float32)
    weights = t[:, None, None, None]
    inputs = ((1.0 - weights) * a + weights * b).astype(np.float32)
    inputs[0], inputs[-1] = a[0], b[0]  # the ends are exactly A and B
    return t, inputs


def morph(engine, a: np.ndarray, b: np.ndarray, steps: int = STEPS,
          off: Mapping[str, Collection[int]] | None = None) -> Morph:
    """Blend A into B and run every step through `engine` (a `NumpyEngine`) in one forward pass.

    Args:
        engine: a `NumpyEngine` (its `forward` gives every layer's output for a batch).
        a, b: (1, 28, 28, 3) float32 model inputs.
        off: channels switched off, as for `NumpyEngine.forward`.
    """
    a = checked_input(a, engine.input_shape)
    b = checked_input(b, engine.input_shape)
    t, inputs = blend(a, b, steps)
    outputs = tuple(engine.forward(inputs, off))
    return Morph(t=t, inputs=inputs, probabilities=outputs[-1], outputs=outputs,
                 layer_names=tuple(engine.layer_names))

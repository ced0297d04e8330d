"""Knock-out: switch channels off (their output set to 0) and measure what the network loses.

    accuracy_with(engine, data, {"conv2_1": [3, 17]})     # test-set accuracy with those channels off
    most_harmful(engine, data, "conv2_1", count=5)         # the channels whose loss hurts accuracy most

The channels' output is set to 0 for every image, so every later layer sees the knock-out (see
`NumpyEngine.forward`). A channel that is never positive on a drawing already outputs exactly 0 for it:
switching it off changes nothing for that drawing, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shapes_viz.dataset import LabeledImages
from shapes_viz.engine.numpy_engine import Knockout, NumpyEngine
from shapes_viz.errors import DatasetError


@dataclass(frozen=True)
class ChannelLoss:
    """What switching one channel off costs: the accuracy without it and the drop from the full network."""

    channel: int
    accuracy: float
    drop: float


def accuracy_with(engine: NumpyEngine, data: LabeledImages, off: Knockout | None = None) -> float:
    """Share of `data`'s images whose argmax prediction is their label, with the `off` channels switched off.

    Raises:
        DatasetError: no image. ValueError: `off` names a layer or channel that does not exist.
    """
    if len(data.labels) == 0:
        raise DatasetError("No image to measure the accuracy on.", code="data_no_test_images")
    predicted = engine.probabilities(data.images, off).argmax(axis=1)
    return float(np.mean(predicted == data.labels))


def most_harmful(engine: NumpyEngine, data: LabeledImages, layer: str, count: int = 5,
                 off: Knockout | None = None) -> list[ChannelLoss]:
    """The `count` channels of `layer` whose knock-out (one at a time, on top of `off`) lowers the accuracy
    most, largest drop first (ties: lower channel first).

    The layers before `layer` run once; each channel's knock-out reruns only the layers after it.

    Raises:
        DatasetError: no image. ValueError: no such layer (the message says which layers exist).
    """
    if layer not in engine.layer_names:
        raise ValueError(f"No layer named {layer!r}. Received: layer={layer!r}; layers: {list(engine.layer_names)}")
    if len(data.labels) == 0:
        raise DatasetError("No image to measure the accuracy on.", code="data_no_test_images")
    base = dict(engine.checked_knockout(off))
    index = engine.layer_names.index(layer)
    outputs = engine.forward(data.images, base)
    full = float(np.mean(outputs[-1].argmax(axis=1) == data.labels))
    at_layer = outputs[index]
    losses = []
    for channel in range(at_layer.shape[-1]):
        x = at_layer.copy()
        x[..., channel] = 0.0
        for later in engine.layers[index + 1 :]:
            x = later.forward(x)
            if later.name in base:
                x[..., base[later.name]] = 0.0
        accuracy = float(np.mean(x.argmax(axis=1) == data.labels))
        losses.append(ChannelLoss(channel, accuracy, full - accuracy))
    losses.sort(key=lambda loss: (-loss.drop, loss.channel))
    return losses[:count]

"""The prediction and one channel: probability bars, the model's input as an image, a channel as a heatmap."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import (
    BARS_MARGIN, COLORSCALE, IMAGE_MARGIN, SELECTED_COLOR, TRAIN_COLOR, class_labels, figure, image_axes, require_ndim, rounded,
)


def probability_bars(
    probabilities: np.ndarray, class_names: Sequence[str], *, height: int = 260
) -> go.Figure:
    """Bar chart of the softmax output, one bar per class labelled 'name (index)', the winner highlighted.

    Args:
        probabilities: (num_classes,) floats in [0, 1].
        class_names: names in output-index order.
    """
    probabilities = require_ndim("probabilities", probabilities, (1,)).astype(np.float32)
    if probabilities.shape[0] != len(class_names):
        raise ValueError(
            "`probabilities` needs one value per class. "
            f"Received: probabilities.shape={probabilities.shape}, {len(class_names)} class names"
        )
    winner = int(np.argmax(probabilities))
    colors = [SELECTED_COLOR if i == winner else TRAIN_COLOR for i in range(len(class_names))]
    bar = dict(
        type="bar",
        x=class_labels(class_names),
        y=rounded(probabilities),
        marker=dict(color=colors),
        texttemplate="%{y:.1%}",
        textposition="outside",
        hovertemplate="%{x}<br>probability %{y:.4f}<extra></extra>",
    )
    return figure([bar], dict(
        height=height, margin=BARS_MARGIN, title=dict(text="Softmax probabilities"),
        yaxis=dict(range=[0, 1.12], tickformat=".0%", title=dict(text="probability"), automargin=False),
        xaxis=dict(title=dict(text="class (output index)"), automargin=False),
        showlegend=False,
    ))


def input_image(x: np.ndarray, *, height: int = 280) -> go.Figure:
    """'What the model sees': the preprocessed input enlarged nearest-neighbour, exact values on hover.

    Args:
        x: (28, 28, 3) or (1, 28, 28, 3) floats in [0, 1], as returned by `preprocess`.
    Returns:
        A grey heatmap (0 black, 1 white) when the three channels are equal, an RGB image otherwise.
    """
    x = require_ndim("x", x, (3, 4))
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"`x` must hold one image. Received: x.shape={x.shape}")
        x = x[0]
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"`x` must have 1 or 3 channels. Received: x.shape={x.shape}")
    x = np.asarray(x, dtype=np.float32)
    rows, cols = x.shape[:2]
    grey = x.shape[-1] == 1 or (np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 0], x[..., 2]))
    if grey:
        trace = dict(
            type="heatmap", z=rounded(x[..., 0]), zmin=0.0, zmax=1.0, colorscale="Greys", reversescale=True,
            showscale=False, hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>",
        )
    else:
        rgb = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
        trace = dict(type="image", z=rgb, hovertemplate="row %{y}, column %{x}<br>RGB %{z}<extra></extra>")
    return figure([trace], dict(
        image_axes(), height=height, margin=IMAGE_MARGIN,
        title=dict(text=f"What the model sees ({rows}x{cols})"),
    ))


def channel_heatmap(
    values: np.ndarray,
    *,
    zmin: float | None = None,
    zmax: float | None = None,
    title: str = "",
    height: int = 420,
) -> go.Figure:
    """One channel of a convolution/pooling output as an image-like heatmap (viridis).

    Args:
        values: (H, W) activations.
        zmin, zmax: colour range; both None lets the channel's own min/max decide ("this channel").
        title: figure title.
    Returns:
        A heatmap whose hover shows "row r, column c" and the value; square pixels, row 0 on top.
    """
    values = require_ndim("values", values, (2,))
    if (zmin is None) != (zmax is None):
        raise ValueError(f"Pass both `zmin` and `zmax` or neither. Received: zmin={zmin}, zmax={zmax}")
    if zmin is not None and zmax is not None and zmax <= zmin:
        zmax = zmin + 1e-6  # a constant range still draws
    trace = dict(
        type="heatmap",
        z=rounded(values),
        colorscale=COLORSCALE,
        zauto=zmin is None,
        colorbar=dict(thickness=12, title=dict(text="value")),
        hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>",
    )
    if zmin is not None:
        trace.update(zmin=zmin, zmax=zmax)
    # The colour bar sits in a fixed right margin: letting it push the margins out lays the chart out twice.
    margin = dict(IMAGE_MARGIN, r=84, autoexpand=False)
    return figure([trace], dict(image_axes(), height=height, margin=margin, title=dict(text=title)))

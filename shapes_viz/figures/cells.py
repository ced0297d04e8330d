"""One cell traced back: its receptive field on the input, its effective receptive field, and the terms that
add up to its value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import (
    BARS_MARGIN, DEAD_COLOR, IMAGE_MARGIN, SELECTED_COLOR, TRAIN_COLOR, figure, image_axes, require_ndim, rounded,
)

BOX_COLOR = SELECTED_COLOR


def _box_shape(box: Sequence[int]) -> dict:
    top, left, bottom, right = (int(v) for v in box)
    return dict(type="rect", xref="x", yref="y", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5, y1=bottom + 0.5,
                line=dict(color=BOX_COLOR, width=3), fillcolor="rgba(0,0,0,0)", layer="above")


def _check_box(box: Sequence[int], shape: tuple[int, int]) -> None:
    if len(box) != 4:
        raise ValueError(f"`box` must be (top, left, bottom, right). Received: box={tuple(box)}")
    top, left, bottom, right = (int(v) for v in box)
    if not (0 <= top <= bottom < shape[0] and 0 <= left <= right < shape[1]):
        raise ValueError(f"`box` must lie inside the {shape[0]}x{shape[1]} image. Received: box={tuple(box)}")


def receptive_field(x: np.ndarray, box: Sequence[int], *, title: str = "", height: int = 300) -> go.Figure:
    """The model's input in grey with a cell's receptive field outlined.

    Args:
        x: (28, 28) or (28, 28, 3) or (1, 28, 28, 3) floats in [0, 1] (the model's input).
        box: (top, left, bottom, right), inclusive input rows and columns.
    """
    x = np.asarray(x, dtype=np.float32)
    x = x.reshape(x.shape[-3:] if x.ndim == 4 else x.shape)
    grey = require_ndim("x", x, (2, 3))
    grey = grey[..., 0] if grey.ndim == 3 else grey
    _check_box(box, grey.shape)
    trace = dict(type="heatmap", z=rounded(grey), zmin=0.0, zmax=1.0, colorscale="Greys", reversescale=True,
                 showscale=False, hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>")
    return figure([trace], dict(image_axes(), height=height, margin=IMAGE_MARGIN, shapes=[_box_shape(box)],
                                title=dict(text=title or "Receptive field on the input")))


def effective_receptive_field(erf: np.ndarray, box: Sequence[int], *, title: str = "", height: int = 300) -> go.Figure:
    """|d cell / d pixel| over the input (viridis), the theoretical receptive field outlined.

    Args:
        erf: (28, 28) float32, zero outside the box.
        box: (top, left, bottom, right), inclusive.
    """
    erf = require_ndim("erf", erf, (2,))
    _check_box(box, erf.shape)
    trace = dict(type="heatmap", z=rounded(erf), colorscale="Viridis", zmin=0.0,
                 zmax=max(float(np.max(erf)), 1e-9), colorbar=dict(thickness=10, title=dict(text="|grad|")),
                 hovertemplate="row %{y}, column %{x}<br>|d cell / d pixel| %{z:.4f}<extra></extra>")
    margin = dict(IMAGE_MARGIN, r=70, autoexpand=False)
    return figure([trace], dict(image_axes(), height=height, margin=margin, shapes=[_box_shape(box)],
                                title=dict(text=title or "Effective receptive field")))


def contributions(terms: np.ndarray, bias: float, *, labels: Sequence[str] | None = None, title: str = "",
                  height: int = 300) -> go.Figure:
    """The terms of a pre-activation as bars (positive blue, negative red), the bias last in orange.

    Args:
        terms: (K,) floats, e.g. each input channel's sum of patch * kernel.
        bias: the bias added to their sum.
        labels: K bar labels (default "0" .. "K-1").
    """
    terms = require_ndim("terms", terms, (1,)).astype(np.float32)
    labels = list(labels) if labels is not None else [str(i) for i in range(terms.size)]
    if len(labels) != terms.size:
        raise ValueError(f"`labels` must name {terms.size} terms. Received: len(labels)={len(labels)}")
    colors = [TRAIN_COLOR if t >= 0 else DEAD_COLOR for t in terms] + [SELECTED_COLOR]
    bar = dict(type="bar", x=[*labels, "bias"], y=rounded(np.append(terms, np.float32(bias))),
               marker=dict(color=colors), hovertemplate="%{x}: %{y:.4f}<extra></extra>")
    return figure([bar], dict(
        height=height, margin=BARS_MARGIN, title=dict(text=title), showlegend=False,
        xaxis=dict(title=dict(text="input channel"), type="category", automargin=False),
        yaxis=dict(title=dict(text="contribution"), automargin=False),
    ))

"""Training and evaluation: loss and accuracy curves with the best epoch, the confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import MARGIN, TRAIN_COLOR, VAL_COLOR, class_labels, figure, require_ndim, rounded


def training_curves(
    history: Mapping[str, Sequence[float]],
    *,
    best_epoch: int | None = None,
    epochs_total: int | None = None,
    stacked: bool = False,
    height: int | None = None,
) -> go.Figure:
    """Loss and accuracy per epoch, train (solid) vs validation (dashed), the best epoch marked.

    Args:
        history: lists per epoch under "loss", "accuracy", "val_loss", "val_accuracy" (any may be missing
            or shorter while training is still running).
        best_epoch: 1-based epoch to mark with a dotted line, or None.
        epochs_total: fix the x axis to 1..epochs_total (live progress), or None to fit the data.
        stacked: loss above accuracy (narrow sidebars) instead of side by side.
    Returns:
        Traces in the order train loss, validation loss, train accuracy, validation accuracy.
    """
    # Two subplots laid out by hand (plain dicts, like every figure here): make_subplots and add_trace
    # validate and copy the figure at every step, ~14 ms, and the sidebar redraws this every second for
    # every session watching a training; built in one go it takes ~1 ms.
    gap = 0.16 if stacked else 0.12
    size = (1 - gap) / 2
    first, second = [0.0, size], [1 - size, 1.0]  # loss, accuracy: left/right, or bottom/top
    domains = {1: second, 2: first} if stacked else {1: first, 2: second}
    height = height or (440 if stacked else 320)
    series = (
        ("loss", "train", TRAIN_COLOR, "solid", 1),
        ("val_loss", "validation", VAL_COLOR, "dash", 1),
        ("accuracy", "train", TRAIN_COLOR, "solid", 2),
        ("val_accuracy", "validation", VAL_COLOR, "dash", 2),
    )
    data: list[dict[str, Any]] = []
    longest = 0
    for key, label, color, dash, cell in series:  # cell: 1 loss, 2 accuracy
        ys = np.asarray(history.get(key) or [], dtype=np.float32)
        longest = max(longest, ys.shape[0])
        data.append(dict(
            type="scatter", x=np.arange(1, ys.shape[0] + 1, dtype=np.int32), y=rounded(ys),
            mode="lines+markers", name=label, legendgroup=label, showlegend=cell == 1,
            line=dict(color=color, dash=dash), marker=dict(size=5), xaxis=_axis("x", cell), yaxis=_axis("y", cell),
            hovertemplate=f"epoch %{{x}}<br>{key} %{{y:.4f}}<extra></extra>",
        ))
    last = max(epochs_total or 0, longest, 1)
    layout: dict[str, Any] = dict(
        height=height, margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.08 if stacked else 1.12, x=0),
        shapes=[], annotations=[],
    )
    for cell, title in ((1, "loss"), (2, "accuracy")):
        x_name, y_name = _axis("x", cell), _axis("y", cell)
        x_domain, y_domain = ([0.0, 1.0], domains[cell]) if stacked else (domains[cell], [0.0, 1.0])
        layout[_layout_key(x_name)] = dict(domain=x_domain, anchor=y_name, range=[0.5, last + 0.5])
        if cell == 2 or not stacked:  # stacked: one "epoch" title, under the lower subplot
            layout[_layout_key(x_name)]["title"] = dict(text="epoch")
        layout[_layout_key(y_name)] = dict(domain=y_domain, anchor=x_name, **({"range": [0, 1.02]} if cell == 2 else {}))
        layout["annotations"].append(dict(
            text=title, x=(x_domain[0] + x_domain[1]) / 2, y=y_domain[1], xref="paper", yref="paper",
            xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=16),
        ))
        if best_epoch is not None and best_epoch >= 1:
            layout["shapes"].append(dict(
                type="line", x0=best_epoch, x1=best_epoch, y0=0, y1=1, xref=x_name, yref=f"{y_name} domain",
                line=dict(color="#2ca02c", dash="dot", width=2),
            ))
    if best_epoch is not None and best_epoch >= 1:
        layout["annotations"].append(dict(
            x=best_epoch, y=0.02, xref="x2", yref="y2 domain", text=f"best epoch {best_epoch}",
            showarrow=False, xanchor="left", yanchor="bottom", font=dict(color="#2ca02c"),
        ))
    return figure(data, layout)


def _axis(letter: str, cell: int) -> str:
    """The trace's axis reference of subplot `cell` (1 loss, 2 accuracy): "x", "y", "x2", "y2"."""
    return letter if cell == 1 else f"{letter}{cell}"


def _layout_key(axis: str) -> str:
    """"x" -> "xaxis", "y2" -> "yaxis2"."""
    return f"{axis[0]}axis{axis[1:]}"


def confusion_matrix(confusion: np.ndarray, class_names: Sequence[str], *, height: int = 360) -> go.Figure:
    """Counts of [true class, predicted class] as an annotated heatmap (true classes down, predicted across).

    Args:
        confusion: (K, K) non-negative integer counts, rows true, columns predicted.
        class_names: K names in output-index order.
    """
    confusion = require_ndim("confusion", confusion, (2,))
    k = len(class_names)
    if confusion.shape != (k, k):
        raise ValueError(f"`confusion` must have shape ({k}, {k}). Received: confusion.shape={confusion.shape}")
    labels = class_labels(class_names)
    fig = go.Figure(
        go.Heatmap(
            z=confusion.astype(np.int32), x=labels, y=labels, colorscale="Blues", showscale=False,
            texttemplate="%{z}", hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="true class")
    fig.update_xaxes(title_text="predicted class", side="bottom")
    fig.update_layout(height=height, margin=MARGIN, title="Confusion matrix (test set)")
    return fig

"""Figures of the Compare and "Where does my drawing sit?" views: A, B and A-B heatmaps, the similarity of A
and B layer by layer, both predictions, the morph's probability curves, and the data set in a 2-D PCA.

Numpy in, Plotly figure out; the numbers come from `shapes_viz.compare`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import (
    BARS_MARGIN, COLORSCALE, IMAGE_MARGIN, SELECTED_COLOR, figure, image_axes, require_ndim, rounded,
)

CLASS_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")  # by class index
DIFF_SCALE = "RdBu_r"  # A - B: blue where B is larger, red where A is
A_COLOR, B_COLOR = "#1f77b4", "#ff7f0e"
HOVER = "row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>"


def shared_range(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(zmin, zmax) covering both arrays (never empty)."""
    low = float(min(np.min(a), np.min(b)))
    high = float(max(np.max(a), np.max(b)))
    return low, high if high > low else low + 1e-6


def ab_heatmaps(a: np.ndarray, b: np.ndarray, *, titles: Sequence[str] = ("A", "B", "A - B"),
                height: int = 330) -> go.Figure:
    """A, B and A - B side by side: A and B on one viridis range, A - B on a diverging scale of the same
    magnitude (plus or minus the largest |value| of that range).

    Args:
        a, b: (H, W) activations of one channel for the two inputs.
        titles: the three panels' titles.
    """
    a = require_ndim("a", a, (2,)).astype(np.float32)
    b = require_ndim("b", b, (2,)).astype(np.float32)
    if a.shape != b.shape:
        raise ValueError(f"A and B must have the same shape. Received: a.shape={a.shape}, b.shape={b.shape}")
    zmin, zmax = shared_range(a, b)
    top = max(abs(zmin), abs(zmax), 1e-6)
    traces, layout = [], {}
    for i, (values, scale, low, high) in enumerate(
        ((a, COLORSCALE, zmin, zmax), (b, COLORSCALE, zmin, zmax), (a - b, DIFF_SCALE, -top, top))
    ):
        suffix = "" if i == 0 else str(i + 1)
        traces.append(dict(
            type="heatmap", z=rounded(values), colorscale=scale, zmin=low, zmax=high, hovertemplate=HOVER,
            xaxis=f"x{suffix}", yaxis=f"y{suffix}", showscale=i != 0,
            colorbar=dict(thickness=10, x=0.64 if i == 1 else 1.0, len=0.8),
        ))
        axes = image_axes()
        left = i * 0.35
        layout[f"xaxis{suffix}"] = dict(axes["xaxis"], domain=[left, left + 0.27], anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = dict(axes["yaxis"], anchor=f"x{suffix}", scaleanchor=f"x{suffix}")
    annotations = [dict(text=title, x=i * 0.35 + 0.135, y=1.08, xref="paper", yref="paper", showarrow=False)
                   for i, title in enumerate(titles)]
    return figure(traces, dict(layout, height=height, margin=dict(IMAGE_MARGIN, t=46, r=30),
                               annotations=annotations))


def ab_bars(a: np.ndarray, b: np.ndarray, *, title: str = "", height: int = 300) -> go.Figure:
    """A vector layer's units for A and B as two lines (unit index on x)."""
    a = require_ndim("a", a, (1,)).astype(np.float32)
    b = require_ndim("b", b, (1,)).astype(np.float32)
    units = np.arange(len(a), dtype=np.float32)
    traces = [dict(type="scatter", mode="lines", x=units, y=rounded(v), name=name, line=dict(color=color, width=1))
              for v, name, color in ((a, "A", A_COLOR), (b, "B", B_COLOR))]
    return figure(traces, dict(height=height, margin=BARS_MARGIN, title=dict(text=title),
                               xaxis=dict(title=dict(text="unit")), yaxis=dict(title=dict(text="value"))))


def similarity_chart(layer_names: Sequence[str], similarity: np.ndarray, *, selected: str | None = None,
                     title: str = "", height: int = 300) -> go.Figure:
    """The cosine similarity of A's and B's activations at every layer, in order (the depth hierarchy).

    Args:
        layer_names: (L,) layer names.
        similarity: (L,) cosine similarities in [-1, 1].
        selected: the layer to mark (the explorer's), or None.
    """
    similarity = require_ndim("similarity", similarity, (1,)).astype(np.float32)
    if len(layer_names) != len(similarity):
        raise ValueError(f"One similarity per layer. Received: {len(layer_names)} names, "
                         f"similarity.shape={similarity.shape}")
    colors = [SELECTED_COLOR if name == selected else A_COLOR for name in layer_names]
    trace = dict(type="scatter", mode="lines+markers", x=list(layer_names), y=rounded(similarity),
                 marker=dict(color=colors, size=9), line=dict(color="#7f7f7f"),
                 hovertemplate="%{x}<br>cosine similarity %{y:.3f}<extra></extra>")
    low = min(0.0, float(similarity.min()) - 0.05)
    return figure([trace], dict(height=height, margin=dict(BARS_MARGIN, b=70), title=dict(text=title),
                                yaxis=dict(range=[low, 1.05], title=dict(text="cosine similarity")),
                                xaxis=dict(tickangle=-45), showlegend=False))


def probability_pair(a: np.ndarray, b: np.ndarray, class_names: Sequence[str], *, labels: Sequence[str] = ("A", "B"),
                     height: int = 260) -> go.Figure:
    """A's and B's probabilities as grouped bars, one group per class."""
    a = require_ndim("a", a, (1,)).astype(np.float32)
    b = require_ndim("b", b, (1,)).astype(np.float32)
    if len(a) != len(class_names) or len(b) != len(class_names):
        raise ValueError(f"One probability per class. Received: a.shape={a.shape}, b.shape={b.shape}, "
                         f"{len(class_names)} classes")
    traces = [dict(type="bar", x=list(class_names), y=rounded(v), name=label, marker=dict(color=color),
                   texttemplate="%{y:.1%}", textposition="outside",
                   hovertemplate=f"{label}: " + "%{x} %{y:.4f}<extra></extra>")
              for v, label, color in ((a, labels[0], A_COLOR), (b, labels[1], B_COLOR))]
    return figure(traces, dict(height=height, margin=BARS_MARGIN, barmode="group",
                               yaxis=dict(range=[0, 1.15], tickformat=".0%"), legend=dict(orientation="h")))


def morph_curve(t: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], *, flips: Sequence[int] = (),
                position: int | None = None, title: str = "", height: int = 300) -> go.Figure:
    """Every class's probability along the morph from A (t = 0) to B (t = 1).

    Args:
        t: (S,) blend weights.
        probabilities: (S, classes) probabilities at each step.
        flips: steps where the predicted class changes (dashed grey lines with the new class).
        position: the slider's step (an orange line), or None.
    """
    t = require_ndim("t", t, (1,)).astype(np.float32)
    probabilities = require_ndim("probabilities", probabilities, (2,)).astype(np.float32)
    if probabilities.shape != (len(t), len(class_names)):
        raise ValueError(f"probabilities must be (steps, classes) = ({len(t)}, {len(class_names)}). "
                         f"Received: probabilities.shape={probabilities.shape}")
    traces = [dict(type="scatter", mode="lines+markers", x=t, y=rounded(probabilities[:, c]), name=name,
                   line=dict(color=CLASS_COLORS[c % len(CLASS_COLORS)]), marker=dict(size=5),
                   hovertemplate=f"{name}" + " %{y:.3f} at t = %{x:.2f}<extra></extra>")
              for c, name in enumerate(class_names)]
    shapes, annotations = [], []
    predicted = np.argmax(probabilities, axis=1)
    for step in flips:
        x = float((t[step - 1] + t[step]) / 2)
        shapes.append(dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(color="#555", dash="dash")))
        annotations.append(dict(x=x, y=1.02, yref="paper", text=f"→ {class_names[int(predicted[step])]}",
                                showarrow=False, font=dict(size=11)))
    if position is not None:
        x = float(t[int(position)])
        shapes.append(dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(color=SELECTED_COLOR, width=3)))
    return figure(traces, dict(height=height, margin=dict(BARS_MARGIN, t=50), title=dict(text=title),
                               shapes=shapes, annotations=annotations, legend=dict(orientation="h", y=-0.25),
                               xaxis=dict(range=[-0.02, 1.02], title=dict(text="t (0 = A, 1 = B)")),
                               yaxis=dict(range=[0, 1.05], title=dict(text="probability"))))


def pca_scatter(points: np.ndarray, labels: np.ndarray, predicted: np.ndarray, class_names: Sequence[str],
                names: Sequence[str], *, explained: Sequence[float], layer: str, current: np.ndarray | None = None,
                title: str = "", height: int = 520) -> go.Figure:
    """The data set in a 2-D PCA: one colour per true class, misclassified drawings outlined in red, the current
    input a black star. Each dot's customdata is [index into the data set]; its hover shows `names[index]`.

    Args:
        points: (N, 2) PCA coordinates.
        labels, predicted: (N,) int true and predicted classes.
        names: (N,) text per dot (a file's path as the page shows it).
        explained: the two components' fractions of the variance.
        current: (2,) the current input's coordinates, or None.
    """
    points = require_ndim("points", points, (2,)).astype(np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if points.shape != (len(labels), 2) or predicted.shape != labels.shape or len(names) != len(labels):
        raise ValueError(f"points (N, 2), labels, predicted and names of one length. Received: points.shape="
                         f"{points.shape}, labels.shape={labels.shape}, predicted.shape={predicted.shape}, "
                         f"{len(names)} names")
    traces = []
    for c, name in enumerate(class_names):
        index = np.flatnonzero(labels == c)
        wrong = predicted[index] != c
        traces.append(dict(
            type="scatter", mode="markers", x=points[index, 0], y=points[index, 1], name=name,
            customdata=index.astype(np.float32)[:, None],
            text=[f"{names[i]}<br>true {name}, predicted {class_names[int(predicted[i])]}" for i in index],
            hovertemplate="%{text}<br>click: make it the input<extra></extra>",
            marker=dict(color=CLASS_COLORS[c % len(CLASS_COLORS)], size=np.where(wrong, 11, 8).tolist(),
                        line=dict(color=np.where(wrong, "#d62728", "white").tolist(),
                                  width=np.where(wrong, 2.5, 0.5).tolist())),
            selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)),
        ))
    if current is not None:
        current = np.asarray(current, dtype=np.float32).reshape(2)
        traces.append(dict(type="scatter", mode="markers", x=[float(current[0])], y=[float(current[1])],
                           name="your input", marker=dict(symbol="star", size=18, color="black",
                                                          line=dict(color="white", width=1)),
                           hovertemplate="your input<extra></extra>"))
    return figure(traces, dict(
        height=height, margin=dict(l=50, r=10, t=50, b=40), title=dict(text=title), hovermode="closest",
        clickmode="event+select", dragmode=False, legend=dict(orientation="h", y=-0.1),
        xaxis=dict(title=dict(text=f"PC 1 ({explained[0]:.0%} of the variance)"), zeroline=False),
        yaxis=dict(title=dict(text=f"PC 2 ({explained[1]:.0%})"), zeroline=False),
    ))


def input_pair(a: np.ndarray, b: np.ndarray, *, titles: Sequence[str] = ("A", "B"), height: int = 200) -> go.Figure:
    """The two model inputs (1, 28, 28, 3) side by side in grey (0 black ink, 1 white paper)."""
    traces, layout = [], {}
    for i, x in enumerate((a, b)):
        grey = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28, np.asarray(x).shape[-1])[0, :, :, 0]
        suffix = "" if i == 0 else "2"
        traces.append(dict(type="heatmap", z=rounded(grey), colorscale="Greys", reversescale=True, zmin=0.0,
                           zmax=1.0, showscale=False, hoverinfo="skip", xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
        axes = image_axes()
        layout[f"xaxis{suffix}"] = dict(axes["xaxis"], domain=[i * 0.5, i * 0.5 + 0.45], anchor=f"y{suffix}",
                                        showticklabels=False)
        layout[f"yaxis{suffix}"] = dict(axes["yaxis"], anchor=f"x{suffix}", scaleanchor=f"x{suffix}",
                                        showticklabels=False)
    annotations = [dict(text=title, x=i * 0.5 + 0.225, y=1.1, xref="paper", yref="paper", showarrow=False)
                   for i, title in enumerate(titles)]
    return figure(traces, dict(layout, height=height, margin=dict(l=5, r=5, t=30, b=5), annotations=annotations))

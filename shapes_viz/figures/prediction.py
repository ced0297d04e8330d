"""The prediction and one channel: probability bars, the model's input as an image, a channel as a heatmap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import (
    BARS_MARGIN, COLORSCALE, IMAGE_MARGIN, SELECTED_COLOR, TRAIN_COLOR, class_labels, figure, image_axes,
    require_ndim, rounded,
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
    clickable: bool = False,
    selected_cell: tuple[int, int] | None = None,
) -> go.Figure:
    """One channel of a convolution/pooling output as an image-like heatmap (viridis).

    Args:
        values: (H, W) activations.
        zmin, zmax: colour range; both None lets the channel's own min/max decide ("this channel").
        title: figure title.
        clickable: add an invisible square marker over every cell carrying (row, column, value), so that a
            click selects the cell through `st.plotly_chart(on_select=...)` (Plotly cannot select heatmap
            cells); see `selected_cell_of`.
        selected_cell: (row, column) to outline in orange, or None.
    Returns:
        A heatmap whose hover shows "row r, column c" and the value; square pixels, row 0 on top.
    """
    values = require_ndim("values", values, (2,))
    if (zmin is None) != (zmax is None):
        raise ValueError(f"Pass both `zmin` and `zmax` or neither. Received: zmin={zmin}, zmax={zmax}")
    if zmin is not None and zmax is not None and zmax <= zmin:
        zmax = zmin + 1e-6  # a constant range still draws
    hover = "row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>"
    trace = dict(
        type="heatmap",
        z=rounded(values),
        colorscale=COLORSCALE,
        zauto=zmin is None,
        colorbar=dict(thickness=12, title=dict(text="value")),
    )
    trace.update(hoverinfo="skip") if clickable else trace.update(hovertemplate=hover)
    if zmin is not None:
        trace.update(zmin=zmin, zmax=zmax)
    traces = [trace]
    rows, cols = values.shape
    if clickable:
        r, c = np.mgrid[0:rows, 0:cols]
        cell_px = (height - IMAGE_MARGIN["t"] - IMAGE_MARGIN["b"]) / max(rows, cols)
        traces.append(dict(
            type="scatter", x=c.ravel().astype(np.float32), y=r.ravel().astype(np.float32), mode="markers",
            marker=dict(symbol="square", size=max(cell_px * 0.95, 4), color="rgba(0,0,0,0)", line=dict(width=0)),
            customdata=np.column_stack([r.ravel(), c.ravel(), rounded(values).ravel()]).astype(np.float32),
            hovertemplate="row %{customdata[0]}, column %{customdata[1]}<br>value %{customdata[2]:.4f}"
                          "<br>click: how was it computed?<extra></extra>",
            selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)),
            showlegend=False, name="cells",
        ))
    shapes = []
    if selected_cell is not None:
        row, column = selected_cell
        shapes.append(dict(type="rect", xref="x", yref="y", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5,
                           y1=row + 0.5, line=dict(color=SELECTED_COLOR, width=3), layer="above"))
    # The colour bar sits in a fixed right margin: letting it push the margins out lays the chart out twice.
    margin = dict(IMAGE_MARGIN, r=84, autoexpand=False)
    layout = dict(image_axes(), height=height, margin=margin, title=dict(text=title), shapes=shapes)
    if clickable:
        layout.update(hovermode="closest", dragmode=False, clickmode="event+select", showlegend=False)
        layout["xaxis"].update(range=[-0.5, cols - 0.5])
        layout["yaxis"].update(range=[rows - 0.5, -0.5], autorange=False)
    return figure(traces, layout)


def selected_cell_of(selection: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """The (row, column) a click on a clickable `channel_heatmap` picked, from Streamlit's selection state.

    Args:
        selection: `state.selection` of `st.plotly_chart(..., on_select=...)`: a mapping with "points";
            a marker's "customdata" is (row, column, value) (Streamlit may send it as {"0": row, "1": ...}).
    """
    if not selection:
        return None
    for point in selection.get("points") or []:
        data = point.get("customdata")
        if isinstance(data, Mapping):
            data = [data.get(str(i), data.get(i)) for i in range(2)]
        try:
            return int(round(float(data[0]))), int(round(float(data[1])))
        except (TypeError, ValueError, IndexError):
            continue
    return None

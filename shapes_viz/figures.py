"""Numpy in, Plotly figure out: every chart the dashboard shows.

No Keras, no Streamlit: each function takes plain arrays (activations, probabilities, histories,
confusion matrices) and returns a `plotly.graph_objects.Figure`, so the module is tested without
TensorFlow. Arrays go into figures as rounded float32 (Plotly encodes numpy arrays as base64 typed
arrays), and hover text comes from `hovertemplate`, never from per-cell text arrays, to keep the
payload each rerun sends to the browser small.

Conventions:
    * image-like arrays are indexed [row, column] and drawn like an image: row 0 at the top, square pixels
      (`yaxis.scaleanchor="x"`), nearest-neighbour (heatmap cells, no smoothing);
    * a "dead" channel is one that is never positive for the current input (marked in red);
    * the selected channel is outlined in orange.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

COLORSCALE = "Viridis"
DEAD_COLOR = "#d62728"
SELECTED_COLOR = "#ff7f0e"
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
_DECIMALS = 4  # activations are shown to 4 decimals; rounding keeps hover text short
_MARGIN = dict(l=10, r=10, t=40, b=10)
# Axes of the charts that a canvas report redraws have `automargin` off (Plotly's default template turns it
# on): automargin measures the tick labels and lays the chart out again, which makes a fresh draw in the
# browser 3-4x slower (a 28x28 heatmap: ~45 ms instead of ~13 ms). Fixed margins leave room for the labels.
_IMAGE_MARGIN = dict(l=34, r=10, t=40, b=26)  # tick labels: row numbers left, column numbers below
_BARS_MARGIN = dict(l=62, r=10, t=40, b=54)  # tick labels and an axis title on both axes


def _rounded(values: np.ndarray) -> np.ndarray:
    """float32 copy rounded to `_DECIMALS` (NaN kept), for compact, readable figure data."""
    return np.round(np.asarray(values, dtype=np.float32), _DECIMALS).astype(np.float32)


def _require_ndim(name: str, values: np.ndarray, ndims: Sequence[int]) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim not in ndims:
        wanted = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"`{name}` must be a {wanted} array. Received: {name}.shape={values.shape}")
    return values


def class_labels(class_names: Sequence[str]) -> list[str]:
    """'circles (0)', 'squares (1)', ...: the class names with their output index."""
    return [f"{name} ({index})" for index, name in enumerate(class_names)]


def _image_axes() -> dict[str, Any]:
    """Layout for one image-like subplot: row 0 at the top, square pixels, no tick clutter."""
    return {
        "xaxis": dict(constrain="domain", showgrid=False, zeroline=False, automargin=False),
        "yaxis": dict(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain",
                      showgrid=False, zeroline=False, automargin=False),
    }


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """One Figure from plain trace and layout dicts, validated once.

    Building a figure step by step (add_trace, update_layout, update_xaxes, ...) validates and copies the
    whole figure at every step: ~8 ms for a small heatmap, ~25 ms for a layer grid. Built in one go it
    takes about a tenth of that, which matters when every canvas report redraws four figures.
    """
    return go.Figure({"data": data, "layout": layout})


# --- prediction ------------------------------------------------------------------------------------


def probability_bars(
    probabilities: np.ndarray, class_names: Sequence[str], *, height: int = 260
) -> go.Figure:
    """Bar chart of the softmax output, one bar per class labelled 'name (index)', the winner highlighted.

    Args:
        probabilities: (num_classes,) floats in [0, 1].
        class_names: names in output-index order.
    """
    probabilities = _require_ndim("probabilities", probabilities, (1,)).astype(np.float32)
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
        y=_rounded(probabilities),
        marker=dict(color=colors),
        texttemplate="%{y:.1%}",
        textposition="outside",
        hovertemplate="%{x}<br>probability %{y:.4f}<extra></extra>",
    )
    return _figure([bar], dict(
        height=height, margin=_BARS_MARGIN, title=dict(text="Softmax probabilities"),
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
    x = _require_ndim("x", x, (3, 4))
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
            type="heatmap", z=_rounded(x[..., 0]), zmin=0.0, zmax=1.0, colorscale="Greys", reversescale=True,
            showscale=False, hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>",
        )
    else:
        rgb = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
        trace = dict(type="image", z=rgb, hovertemplate="row %{y}, column %{x}<br>RGB %{z}<extra></extra>")
    return _figure([trace], dict(
        _image_axes(), height=height, margin=_IMAGE_MARGIN,
        title=dict(text=f"What the model sees ({rows}x{cols})"),
    ))


# --- one channel -----------------------------------------------------------------------------------


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
    values = _require_ndim("values", values, (2,))
    if (zmin is None) != (zmax is None):
        raise ValueError(f"Pass both `zmin` and `zmax` or neither. Received: zmin={zmin}, zmax={zmax}")
    if zmin is not None and zmax is not None and zmax <= zmin:
        zmax = zmin + 1e-6  # a constant range still draws
    trace = dict(
        type="heatmap",
        z=_rounded(values),
        colorscale=COLORSCALE,
        zauto=zmin is None,
        colorbar=dict(thickness=12, title=dict(text="value")),
        hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>",
    )
    if zmin is not None:
        trace.update(zmin=zmin, zmax=zmax)
    # The colour bar sits in a fixed right margin: letting it push the margins out lays the chart out twice.
    margin = dict(_IMAGE_MARGIN, r=84, autoexpand=False)
    return _figure([trace], dict(_image_axes(), height=height, margin=margin, title=dict(text=title)))


# --- a whole layer ---------------------------------------------------------------------------------


def grid_columns(channels: int) -> int:
    """How many tiles per row the layer grid uses for `channels` channels (8 at most)."""
    if channels <= 0:
        raise ValueError(f"`channels` must be positive. Received: channels={channels}")
    return min(8, channels) if channels > 4 else channels


def layer_grid(
    values: np.ndarray,
    *,
    dead: np.ndarray | None = None,
    selected: int | None = None,
    per_channel: bool = False,
    zmin: float | None = None,
    zmax: float | None = None,
    columns: int | None = None,
    title: str = "",
    tile_px: int = 64,
) -> go.Figure:
    """Every channel of a layer as small multiples, one tile per channel, clickable.

    The tiles are laid into one mosaic heatmap (a one-pixel NaN gap between tiles) rather than one
    subplot per channel: 64 subplots cost ~0.1 s to build and 128 axes to draw; the mosaic is one trace.
    An invisible square marker over each tile's centre carries the channel number, so a click selects
    it through `st.plotly_chart(on_select=...)` (Plotly cannot select heatmap cells); its hover shows
    the channel's min, max, mean and whether it is dead.

    Args:
        values: (H, W, C) activations of one layer.
        dead: (C,) bool, channels never positive for this input; outlined in red.
        selected: channel to outline in orange, or None.
        per_channel: scale each tile by its own min/max (colour bar 0..1, "relative"); otherwise one
            colour range for all tiles: `zmin`/`zmax`, or the layer's min/max when they are None.
        columns: tiles per row; `grid_columns(C)` when None.
        tile_px: approximate tile size in screen pixels (sets the figure height and marker size).
    Returns:
        A figure whose trace 1 (scatter) has `customdata[i][0] == i`, the channel of marker i.
    """
    values = _require_ndim("values", values, (3,)).astype(np.float32)
    height_px, width_px, channels = values.shape
    if channels == 0:
        raise ValueError(f"`values` has no channels. Received: values.shape={values.shape}")
    if dead is not None:
        dead = np.asarray(dead, dtype=bool)
        if dead.shape != (channels,):
            raise ValueError(f"`dead` must have shape ({channels},). Received: dead.shape={dead.shape}")
    if selected is not None and not 0 <= selected < channels:
        raise ValueError(f"`selected` must be in [0, {channels}). Received: selected={selected}")
    columns = columns or grid_columns(channels)
    rows = math.ceil(channels / columns)
    gap = 1
    mosaic = np.full(
        (rows * (height_px + gap) - gap, columns * (width_px + gap) - gap), np.nan, dtype=np.float32
    )
    lows = values.min(axis=(0, 1))
    highs = values.max(axis=(0, 1))
    means = values.mean(axis=(0, 1))
    for c in range(channels):
        r0 = (c // columns) * (height_px + gap)
        c0 = (c % columns) * (width_px + gap)
        tile = values[:, :, c]
        if per_channel:
            span = highs[c] - lows[c]
            tile = (tile - lows[c]) / span if span > 0 else np.zeros_like(tile)
        mosaic[r0 : r0 + height_px, c0 : c0 + width_px] = tile
    if per_channel:
        zmin, zmax, bar_title = 0.0, 1.0, "relative"
    else:
        if zmin is None or zmax is None:
            zmin, zmax = float(lows.min()), float(highs.max())
        if zmax <= zmin:
            zmax = zmin + 1e-6
        bar_title = "value"

    heat = dict(
        type="heatmap", z=_rounded(mosaic), colorscale=COLORSCALE, zmin=zmin, zmax=zmax,
        colorbar=dict(thickness=12, title=dict(text=bar_title)), hoverinfo="skip",
    )
    centres_x = np.array([(c % columns) * (width_px + gap) + (width_px - 1) / 2 for c in range(channels)])
    centres_y = np.array([(c // columns) * (height_px + gap) + (height_px - 1) / 2 for c in range(channels)])
    is_dead = dead if dead is not None else np.zeros(channels, dtype=bool)
    customdata = np.column_stack(
        [np.arange(channels), _rounded(lows), _rounded(highs), _rounded(means), is_dead.astype(np.float32)]
    ).astype(np.float32)
    markers = dict(
        type="scatter", x=centres_x.astype(np.float32), y=centres_y.astype(np.float32), mode="markers",
        marker=dict(symbol="square", size=tile_px * 0.9, color="rgba(0,0,0,0)", line=dict(width=0)),
        customdata=customdata,
        hovertemplate=(
            "channel %{customdata[0]}<br>min %{customdata[1]:.4f}<br>max %{customdata[2]:.4f}"
            "<br>mean %{customdata[3]:.4f}<br>dead (1 = never positive): %{customdata[4]}<extra></extra>"
        ),
        selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)),
        showlegend=False, name="channels",
    )
    shapes = []

    def _outline(c: int, color: str, width: int) -> dict[str, Any]:
        x0 = (c % columns) * (width_px + gap) - 0.5
        y0 = (c // columns) * (height_px + gap) - 0.5
        return dict(
            type="rect", xref="x", yref="y", x0=x0, y0=y0, x1=x0 + width_px, y1=y0 + height_px,
            line=dict(color=color, width=width), fillcolor="rgba(0,0,0,0)", layer="above",
        )

    for c in np.flatnonzero(is_dead):
        shapes.append(_outline(int(c), DEAD_COLOR, 2))
    if selected is not None:
        shapes.append(_outline(selected, SELECTED_COLOR, 4))
    axes = _image_axes()
    axes["xaxis"].update(showticklabels=False, range=[-0.5, mosaic.shape[1] - 0.5])
    axes["yaxis"].update(showticklabels=False, range=[mosaic.shape[0] - 0.5, -0.5], autorange=False)
    return _figure([heat, markers], dict(
        axes, shapes=shapes, title=dict(text=title), margin=_MARGIN, showlegend=False,
        height=int(rows * tile_px + 70), hovermode="closest", dragmode=False, clickmode="event+select",
    ))


def selected_channel(selection: Mapping[str, Any] | None) -> int | None:
    """The channel a click on `layer_grid`'s figure picked, from Streamlit's selection state, or None.

    Args:
        selection: `state.selection` of `st.plotly_chart(..., on_select=...)`: a mapping with "points".
            A point of the grid's marker trace carries "customdata" (channel first; Streamlit sends a row
            of a typed array as {"0": channel, "1": ...}) and "point_index" (equal to the channel).
    """
    if not selection:
        return None
    for point in selection.get("points") or []:
        data = point.get("customdata")
        if isinstance(data, Mapping):
            data = data.get("0", data.get(0))
        elif isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is None and point.get("curve_number") == 1:
            data = point.get("point_index")
        try:
            return int(round(float(data)))
        except (TypeError, ValueError):
            continue
    return None


def vector_bars(
    values: np.ndarray,
    *,
    dead: np.ndarray | None = None,
    selected: int | None = None,
    ymin: float | None = None,
    ymax: float | None = None,
    title: str = "",
    height: int = 320,
) -> go.Figure:
    """A Flatten/Dense output as one bar per unit; dead units red, the selected unit orange.

    Args:
        values: (N,) activations.
        dead: (N,) bool, units never positive for this input.
        selected: unit to highlight, or None.
        ymin, ymax: fixed value axis range (network-wide comparison); None autoscale.
    """
    values = _require_ndim("values", values, (1,)).astype(np.float32)
    n = values.shape[0]
    if dead is not None:
        dead = np.asarray(dead, dtype=bool)
        if dead.shape != (n,):
            raise ValueError(f"`dead` must have shape ({n},). Received: dead.shape={dead.shape}")
    if selected is not None and not 0 <= selected < n:
        raise ValueError(f"`selected` must be in [0, {n}). Received: selected={selected}")
    data = [dict(
        type="bar", x=np.arange(n, dtype=np.int32), y=_rounded(values),
        marker=dict(color=TRAIN_COLOR, line=dict(width=0)),
        hovertemplate="unit %{x}<br>value %{y:.4f}<extra></extra>",
        name="units",
    )]
    if dead is not None and dead.any():
        idx = np.flatnonzero(dead).astype(np.int32)
        data.append(dict(
            type="scatter", x=idx, y=np.zeros(idx.shape, np.float32), mode="markers",
            marker=dict(symbol="line-ew-open", color=DEAD_COLOR, size=6),
            hovertemplate="unit %{x}: dead (never positive)<extra></extra>", name="dead",
        ))
    if selected is not None:
        data.append(dict(
            type="bar", x=[selected], y=_rounded(values[selected : selected + 1]),
            marker=dict(color=SELECTED_COLOR), width=max(1.0, n / 150),
            hovertemplate="unit %{x} (selected)<br>value %{y:.4f}<extra></extra>", name="selected",
        ))
    yaxis: dict[str, Any] = dict(title=dict(text="value"), automargin=False)
    if ymin is not None and ymax is not None:
        yaxis["range"] = [ymin, ymax if ymax > ymin else ymin + 1e-6]
    return _figure(data, dict(
        barmode="overlay", bargap=0, height=height, margin=_BARS_MARGIN, title=dict(text=title), showlegend=False,
        xaxis=dict(title=dict(text="unit"), range=[-0.5, n - 0.5], automargin=False), yaxis=yaxis,
    ))


# --- training and evaluation -----------------------------------------------------------------------


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
            type="scatter", x=np.arange(1, ys.shape[0] + 1, dtype=np.int32), y=_rounded(ys),
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
    return _figure(data, layout)


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
    confusion = _require_ndim("confusion", confusion, (2,))
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
    fig.update_layout(height=height, margin=_MARGIN, title="Confusion matrix (test set)")
    return fig

"""A whole layer: every channel as a grid of tiles (click one to select it), or a vector layer as bars."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import (
    BARS_MARGIN, COLORSCALE, DATA_DEAD_COLOR, DEAD_COLOR, MARGIN, OFF_COLOR, SELECTED_COLOR, TRAIN_COLOR, figure,
    image_axes, require_ndim, rounded,
)


def grid_columns(channels: int) -> int:
    """How many tiles per row the layer grid uses for `channels` channels (8 at most)."""
    if channels <= 0:
        raise ValueError(f"`channels` must be positive. Received: channels={channels}")
    return min(8, channels) if channels > 4 else channels


def layer_grid(
    values: np.ndarray,
    *,
    dead: np.ndarray | None = None,
    dead_on_data: np.ndarray | None = None,
    switched_off: Sequence[int] = (),
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
        dead_on_data: (C,) bool, channels never positive on any drawing of the data set; dashed grey outline
            (inside the red one when both hold).
        switched_off: channels knocked out (their output set to 0); crossed out in black.
        selected: channel to outline in orange, or None.
        per_channel: scale each tile by its own min/max (colour bar 0..1, "relative"); otherwise one
            colour range for all tiles: `zmin`/`zmax`, or the layer's min/max when they are None.
        columns: tiles per row; `grid_columns(C)` when None.
        tile_px: approximate tile size in screen pixels (sets the figure height and marker size).
    Returns:
        A figure whose trace 1 (scatter) has `customdata[i][0] == i`, the channel of marker i.
    """
    values = require_ndim("values", values, (3,)).astype(np.float32)
    height_px, width_px, channels = values.shape
    if channels == 0:
        raise ValueError(f"`values` has no channels. Received: values.shape={values.shape}")
    if dead is not None:
        dead = np.asarray(dead, dtype=bool)
        if dead.shape != (channels,):
            raise ValueError(f"`dead` must have shape ({channels},). Received: dead.shape={dead.shape}")
    if dead_on_data is not None:
        dead_on_data = np.asarray(dead_on_data, dtype=bool)
        if dead_on_data.shape != (channels,):
            raise ValueError(
                f"`dead_on_data` must have shape ({channels},). Received: dead_on_data.shape={dead_on_data.shape}"
            )
    if any(not 0 <= int(c) < channels for c in switched_off):
        raise ValueError(
            f"`switched_off` must be channels in [0, {channels}). Received: switched_off={list(switched_off)}"
        )
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
        type="heatmap", z=rounded(mosaic), colorscale=COLORSCALE, zmin=zmin, zmax=zmax,
        colorbar=dict(thickness=12, title=dict(text=bar_title)), hoverinfo="skip",
    )
    centres_x = np.array([(c % columns) * (width_px + gap) + (width_px - 1) / 2 for c in range(channels)])
    centres_y = np.array([(c // columns) * (height_px + gap) + (height_px - 1) / 2 for c in range(channels)])
    is_dead = dead if dead is not None else np.zeros(channels, dtype=bool)
    customdata = np.column_stack(
        [np.arange(channels), rounded(lows), rounded(highs), rounded(means), is_dead.astype(np.float32)]
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
    for c in np.flatnonzero(dead_on_data) if dead_on_data is not None else ():
        inner = _outline(int(c), DATA_DEAD_COLOR, 2)
        inner.update(x0=inner["x0"] + 1, y0=inner["y0"] + 1, x1=inner["x1"] - 1, y1=inner["y1"] - 1)
        inner["line"]["dash"] = "dot"
        shapes.append(inner)
    for c in switched_off:
        x0 = (int(c) % columns) * (width_px + gap) - 0.5
        y0 = (int(c) // columns) * (height_px + gap) - 0.5
        for a, b in (((x0, y0), (x0 + width_px, y0 + height_px)), ((x0, y0 + height_px), (x0 + width_px, y0))):
            shapes.append(dict(type="line", xref="x", yref="y", x0=a[0], y0=a[1], x1=b[0], y1=b[1],
                               line=dict(color=OFF_COLOR, width=2), layer="above"))
    if selected is not None:
        shapes.append(_outline(selected, SELECTED_COLOR, 4))
    axes = image_axes()
    axes["xaxis"].update(showticklabels=False, range=[-0.5, mosaic.shape[1] - 0.5])
    axes["yaxis"].update(showticklabels=False, range=[mosaic.shape[0] - 0.5, -0.5], autorange=False)
    return figure([heat, markers], dict(
        axes, shapes=shapes, title=dict(text=title), margin=MARGIN, showlegend=False,
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
    dead_on_data: np.ndarray | None = None,
    switched_off: Sequence[int] = (),
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
    values = require_ndim("values", values, (1,)).astype(np.float32)
    n = values.shape[0]
    if dead is not None:
        dead = np.asarray(dead, dtype=bool)
        if dead.shape != (n,):
            raise ValueError(f"`dead` must have shape ({n},). Received: dead.shape={dead.shape}")
    if selected is not None and not 0 <= selected < n:
        raise ValueError(f"`selected` must be in [0, {n}). Received: selected={selected}")
    data = [dict(
        type="bar", x=np.arange(n, dtype=np.int32), y=rounded(values),
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
            type="bar", x=[selected], y=rounded(values[selected : selected + 1]),
            marker=dict(color=SELECTED_COLOR), width=max(1.0, n / 150),
            hovertemplate="unit %{x} (selected)<br>value %{y:.4f}<extra></extra>", name="selected",
        ))
    yaxis: dict[str, Any] = dict(title=dict(text="value"), automargin=False)
    if ymin is not None and ymax is not None:
        yaxis["range"] = [ymin, ymax if ymax > ymin else ymin + 1e-6]
    return figure(data, dict(
        barmode="overlay", bargap=0, height=height, margin=BARS_MARGIN, title=dict(text=title), showlegend=False,
        xaxis=dict(title=dict(text="unit"), range=[-0.5, n - 0.5], automargin=False), yaxis=yaxis,
    ))

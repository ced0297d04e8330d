"""Attribution maps and their checks: a map over the model's input, two maps side by side, deletion and insertion
curves. Numpy in, Plotly figure out (the maps come from `shapes_viz.explain`, computed elsewhere).

A map is drawn over the exact (28, 28) input the model got: the input in grey, the map on top with a colour
scale that is transparent where the map is near zero, so the drawing shows through. Signed maps (evidence
against the class is negative) get a diverging scale centred on 0 (blue against, red for); the others a
sequential one from 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import IMAGE_MARGIN, figure, image_axes, require_ndim, rounded

# Transparent at 0, then yellow to dark red: where the map is small the input shows through.
SEQUENTIAL = [
    [0.0, "rgba(255,255,204,0)"], [0.15, "rgba(255,237,160,0.35)"], [0.4, "rgba(254,178,76,0.7)"],
    [0.7, "rgba(240,59,32,0.85)"], [1.0, "rgba(128,0,38,0.95)"],
]
# Blue (against the class) through transparent (0) to red (for the class).
DIVERGING = [
    [0.0, "rgba(5,48,97,0.95)"], [0.25, "rgba(67,147,195,0.8)"], [0.45, "rgba(209,229,240,0.25)"],
    [0.5, "rgba(255,255,255,0)"], [0.55, "rgba(253,219,199,0.25)"], [0.75, "rgba(214,96,77,0.8)"],
    [1.0, "rgba(103,0,31,0.95)"],
]
CURVE_COLORS = {"this map": "#d62728", "random maps": "#7f7f7f", "ink": "#1f77b4"}
HOVER = "row %{y}, column %{x}<br>value %{z:.4g}<extra></extra>"


def _grey(x: np.ndarray) -> np.ndarray:
    """The model input as (28, 28): accepts (28, 28), (28, 28, C) or (1, 28, 28, C) in [0, 1]."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"`x` must hold one image. Received: x.shape={x.shape}")
        x = x[0]
    if x.ndim == 3:
        x = x[..., 0]
    return require_ndim("x", x, (2,))


def colour_range(values: np.ndarray, signed: bool) -> tuple[float, float]:
    """(zmin, zmax) of a map: [-m, m] with m = max |value| for signed maps, [0, max] otherwise (never empty)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if signed:
        top = float(np.abs(finite).max()) if finite.size else 0.0
        top = top if top > 0 else 1e-6
        return -top, top
    top = float(finite.max()) if finite.size else 0.0
    return 0.0, top if top > 0 else 1e-6


def _map_traces(x: np.ndarray, values: np.ndarray, signed: bool, *, axis: str = "", colorbar: bool = True
                ) -> list[dict[str, Any]]:
    grey = _grey(x)
    values = require_ndim("values", values, (2,))
    if values.shape != grey.shape:
        raise ValueError(f"The map must cover the input pixel for pixel. Received: values.shape={values.shape}, "
                         f"x grid={grey.shape}")
    zmin, zmax = colour_range(values, signed)
    axes = {"xaxis": f"x{axis}", "yaxis": f"y{axis}"} if axis else {}
    underneath = dict(type="heatmap", z=rounded(grey), zmin=0.0, zmax=1.0, colorscale="Greys", reversescale=True,
                      showscale=False, hoverinfo="skip", **axes)
    on_top = dict(type="heatmap", z=np.asarray(values, dtype=np.float32), zmin=zmin, zmax=zmax,
                  colorscale=DIVERGING if signed else SEQUENTIAL, showscale=colorbar, hovertemplate=HOVER,
                  colorbar=dict(thickness=12, title=dict(text="value")), **axes)
    return [underneath, on_top]


def attribution_map(x: np.ndarray, values: np.ndarray, *, signed: bool, title: str = "", height: int = 400
                    ) -> go.Figure:
    """An attribution map over the input the model got.

    Args:
        x: the model input, (1, 28, 28, 3), (28, 28, 3) or (28, 28) floats in [0, 1] (ink 0, paper 1).
        values: (28, 28) map, larger = more evidence for the class.
        signed: True for maps whose negative values mean "evidence against" (diverging scale centred on 0).
    Returns:
        Two heatmaps: data[0] the input (grey, no hover), data[1] the map (float32 z, hover row, column, value;
        zmin/zmax = [-m, m] when signed, [0, max] otherwise).
    """
    margin = dict(IMAGE_MARGIN, r=84, autoexpand=False)
    return figure(_map_traces(x, values, signed),
                  dict(image_axes(), height=height, margin=margin, title=dict(text=title)))


def map_pair(x: np.ndarray, left: np.ndarray, right: np.ndarray, *, signed: bool,
             titles: tuple[str, str] = ("trained network", "randomised network"), height: int = 260) -> go.Figure:
    """Two (28, 28) maps of the same input side by side, each over the input with its own colour range.

    Returns:
        data[0:2] the left map's traces (input, map), data[2:4] the right one's on axes x2/y2.
    """
    data = _map_traces(x, left, signed, colorbar=False) + _map_traces(x, right, signed, axis="2", colorbar=False)
    axes = image_axes()
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(axes["xaxis"], domain=[0.0, 0.48], showticklabels=False),
        yaxis=dict(axes["yaxis"], showticklabels=False),
        xaxis2=dict(axes["xaxis"], domain=[0.52, 1.0], anchor="y2", showticklabels=False),
        yaxis2=dict(axes["yaxis"], scaleanchor="x2", anchor="x2", showticklabels=False),
        annotations=[
            dict(text=titles[0], x=0.24, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False),
            dict(text=titles[1], x=0.76, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False),
        ],
    )
    return figure(data, layout)


def trust_curves(fractions: np.ndarray, deletion: Mapping[str, np.ndarray], insertion: Mapping[str, np.ndarray],
                 *, names: Sequence[str] | None = None, height: int = 250) -> go.Figure:
    """Deletion (left) and insertion (right) curves: the class's probability against the fraction of pixels
    turned to paper (deletion) or revealed on paper (insertion), most important first.

    Args:
        fractions: (K,) floats from 0 to 1.
        deletion, insertion: {curve name: (K,) probabilities}, e.g. "this map", "random maps", "ink".
        names: legend text per curve name (e.g. with the areas), default the names.
    Returns:
        One line per curve and panel: deletion lines on x/y, insertion lines on x2/y2, in the mappings' order.
    """
    fractions = require_ndim("fractions", fractions, (1,)).astype(np.float32)
    labels = dict(zip(deletion, names)) if names is not None else {name: name for name in deletion}
    data = []
    for axis, curves in (("", deletion), ("2", insertion)):
        for name, probabilities in curves.items():
            probabilities = require_ndim(name, probabilities, (1,))
            if probabilities.shape != fractions.shape:
                raise ValueError(f"Each curve needs one probability per fraction. Received: {name}.shape="
                                 f"{probabilities.shape}, fractions.shape={fractions.shape}")
            data.append(dict(
                type="scatter", mode="lines", x=fractions, y=rounded(probabilities), name=labels.get(name, name),
                legendgroup=name, showlegend=axis == "", xaxis=f"x{axis}", yaxis=f"y{axis}",
                line=dict(color=CURVE_COLORS.get(name), width=2.5 if name == "this map" else 1.5),
                hovertemplate=f"{name}<br>%{{x:.0%}} of the pixels: p = %{{y:.3f}}<extra></extra>",
            ))
    axis = dict(range=[0, 1], tickformat=".0%", automargin=False)
    layout = dict(
        height=height, margin=dict(l=40, r=10, t=30, b=70),
        xaxis=dict(axis, domain=[0.0, 0.46], title=dict(text="deleted (lower is better)")),
        xaxis2=dict(axis, domain=[0.54, 1.0], anchor="y2", title=dict(text="inserted (higher is better)")),
        yaxis=dict(range=[0, 1.02], automargin=False, title=dict(text="p(class)")),
        yaxis2=dict(range=[0, 1.02], automargin=False, anchor="x2", showticklabels=False),
        legend=dict(orientation="h", y=-0.45, x=0.0), title=dict(text=""),
    )
    return figure(data, layout)

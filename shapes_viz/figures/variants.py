"""The architecture variants compared: accuracy against parameters, and their validation curves overlaid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from shapes_viz.figures.base import MARGIN, figure

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def accuracy_vs_params(names: Sequence[str], params: Sequence[int], accuracy: Sequence[float],
                       spread: Sequence[float], held_out: Sequence[float | None], *, title: str = "",
                       accuracy_label: str = "test accuracy", held_out_label: str = "browser-style drawings",
                       params_label: str = "parameters (log scale)", height: int = 380) -> go.Figure:
    """One dot per variant at (parameters, test accuracy) with its spread over seeds as an error bar, and a
    hollow dot for its accuracy on held-out drawings unlike the training set.

    Args:
        names, params, accuracy, spread, held_out: one entry per variant (spread: max - min over seeds; held_out
            may hold None).
    """
    count = len(names)
    if not (len(params) == len(accuracy) == len(spread) == len(held_out) == count):
        raise ValueError(f"One value per variant expected. Received: {count} names, {len(params)} params, "
                         f"{len(accuracy)} accuracies, {len(spread)} spreads, {len(held_out)} held-out")
    colours = [PALETTE[i % len(PALETTE)] for i in range(count)]
    test = dict(type="scatter", mode="markers+text", x=list(params), y=list(accuracy), text=list(names),
                textposition="top center", marker=dict(size=12, color=colours), name=accuracy_label,
                error_y=dict(type="data", array=[s / 2 for s in spread], visible=True),
                hovertemplate="%{text}<br>%{x:,} parameters<br>" + accuracy_label + " %{y:.1%}<extra></extra>")
    kept = [i for i in range(count) if held_out[i] is not None]
    other = dict(type="scatter", mode="markers", x=[params[i] for i in kept], y=[held_out[i] for i in kept],
                 text=[names[i] for i in kept], marker=dict(size=11, color="rgba(0,0,0,0)",
                 line=dict(width=2, color=[colours[i] for i in kept])), name=held_out_label,
                 hovertemplate="%{text}<br>" + held_out_label + " %{y:.1%}<extra></extra>")
    return figure([test, other], dict(
        height=height, margin=dict(MARGIN, l=60, b=50), title=dict(text=title),
        xaxis=dict(type="log", title=dict(text=params_label)),
        yaxis=dict(tickformat=".0%", title=dict(text=accuracy_label), range=[0, 1.08]),
        legend=dict(orientation="h", y=-0.25),
    ))


def validation_curves(curves: dict[str, Sequence[Sequence[float]]], *, title: str = "", epoch_label: str = "epoch",
                      accuracy_label: str = "validation accuracy", height: int = 360) -> go.Figure:
    """Every variant's validation accuracy per epoch, one line per seed, one colour per variant.

    Args:
        curves: {variant name: [one list of per-epoch accuracies per seed]}.
    """
    traces = []
    for index, (name, seeds) in enumerate(curves.items()):
        colour = PALETTE[index % len(PALETTE)]
        for k, curve in enumerate(seeds):
            values = np.asarray(curve, dtype=np.float32)
            traces.append(dict(type="scatter", mode="lines", x=np.arange(1, values.size + 1), y=values,
                               line=dict(color=colour, width=1.5), name=name, legendgroup=name, showlegend=k == 0,
                               hovertemplate=f"{name}, seed {k}<br>epoch %{{x}}: %{{y:.1%}}<extra></extra>"))
    return figure(traces, dict(
        height=height, margin=dict(MARGIN, l=60, b=50), title=dict(text=title),
        xaxis=dict(title=dict(text=epoch_label)), yaxis=dict(tickformat=".0%", title=dict(text=accuracy_label)),
    ))

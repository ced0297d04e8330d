"""How was this number computed? The panel under the explorer's heatmap for the cell the user clicked.

A click on a heatmap cell (or on a unit's bar) stores the cell in `state.CELL`; the panel shows its receptive
field on the input, its effective receptive field, and the arithmetic by layer kind: a conv cell's input
channels' contributions plus the bias adding up to the pre-activation, then the activation, equal to the
heatmap's value; a pool cell's winning input; a dense unit's largest terms. Computed by
`shapes_viz.explain.cells` on the numpy engine (a few milliseconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from shapes_viz import figures
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.explain.cells import CellExplanation, effective_receptive_field, explain_cell
from shapes_viz.figures import cells as cell_figures
from shapes_viz.ui import state
from shapes_viz.ui.safety import guarded_callback

HINT = "Click a cell of the heatmap to see how its value was computed."


@guarded_callback("explorer")
def heatmap_clicked(layer: str, channel: int) -> None:
    """Callback of the clickable heatmap: remember the clicked (row, column) of `layer`'s `channel`."""
    cell = figures.selected_cell_of(_selection(state.HEATMAP))
    if cell is not None:
        st.session_state[state.CELL] = {"layer": layer, "channel": int(channel), "row": cell[0], "column": cell[1]}


@guarded_callback("explorer")
def bars_clicked(layer: str) -> None:
    """Callback of a vector layer's bars: remember the clicked unit."""
    for point in (_selection(state.VECTOR_BARS) or {}).get("points") or []:
        index = point.get("point_index", point.get("x"))
        if index is not None:
            st.session_state[state.CELL] = {"layer": layer, "unit": int(index)}
            return


def _selection(key: str) -> dict[str, Any] | None:
    event = st.session_state.get(key)
    selection = getattr(event, "selection", None) if event is not None else None
    if selection is None and isinstance(event, dict):
        selection = event.get("selection")
    return selection


def selected_cell(layer: str, channel: int, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The clicked cell if it belongs to this layer (and channel, for maps) and fits its shape, else None."""
    cell = st.session_state.get(state.CELL)
    if not cell or cell.get("layer") != layer:
        return None
    if len(shape) == 3:
        if cell.get("channel") != channel or "row" not in cell:
            return None
        unit = (int(cell["row"]), int(cell["column"]), int(channel))
    else:
        if "unit" not in cell:
            return None
        unit = (int(cell["unit"]),)
    return unit if all(0 <= u < s for u, s in zip(unit, shape)) else None


def render(engine: Any, x: np.ndarray, layer: str, unit: tuple[int, ...] | None) -> None:
    """The panel for `unit` of `layer` (None: a hint), for the model input `x` (1, 28, 28, 3) float32."""
    if unit is None:
        st.caption(HINT)
        return
    if not isinstance(engine, NumpyEngine):
        st.info("The arithmetic of a cell is computed by the numpy engine, which reads .h5 model files only.")
        return
    cell = explain_cell(engine, x, layer, unit)
    where = f"row {unit[0]}, column {unit[1]}, channel {unit[2]}" if len(unit) == 3 else f"unit {unit[0]}"
    st.markdown(f"##### How was {cell.value:.4f} computed? ({layer}, {where})")
    box = (cell.box.top, cell.box.left, cell.box.bottom, cell.box.right)
    left, right = st.columns(2)
    with left:
        size = f"{cell.box.size[0]}x{cell.box.size[1]}"
        clipped = " (clipped to the image)" if (cell.box.height, cell.box.width) != cell.box.size else ""
        st.plotly_chart(cell_figures.receptive_field(x, box, title=f"Receptive field: {size} px{clipped}"),
                        key="cell_receptive_field", width="stretch", config={"displayModeBar": False})
    with right:
        erf = effective_receptive_field(engine, x, layer, unit)
        st.plotly_chart(cell_figures.effective_receptive_field(erf, box), key="cell_effective_field",
                        width="stretch", config={"displayModeBar": False})
    st.caption("Left: every input pixel this cell can depend on. Right: how much each one really moves it "
               "for this drawing (|d cell / d pixel|), exactly zero outside the box.")
    if cell.kind == "Conv2D":
        _conv(cell)
    elif cell.kind == "MaxPooling2D":
        _pool(cell)
    elif cell.kind == "Dense":
        _dense(cell)
    else:
        st.markdown(f"`{layer}` ({cell.kind}) passes its input through unchanged at inference: the value is "
                    "the previous layer's.")


def _activation_line(cell: CellExplanation) -> str:
    if cell.activation == "relu":
        return f"ReLU(max(0, {cell.pre_activation:.4f})) = **{cell.value:.4f}**, the heatmap's value."
    if cell.activation == "linear":
        return f"No activation: **{cell.value:.4f}**, the heatmap's value."
    return f"{cell.activation}({cell.pre_activation:.4f}) = **{cell.value:.4f}**, the heatmap's value."


def _conv(cell: CellExplanation) -> None:
    terms = np.asarray(cell.contributions)
    st.plotly_chart(
        cell_figures.contributions(terms, cell.bias, title="Each input channel's sum of patch x kernel, then the bias"),
        key="cell_contributions", width="stretch", config={"displayModeBar": False},
    )
    st.markdown(
        f"Σ over {terms.size} input channels of (3x3 patch · 3x3 kernel) = {float(terms.sum()):.4f}; "
        f"+ bias {cell.bias:.4f} = **{cell.pre_activation:.4f}** (pre-activation). " + _activation_line(cell)
    )
    top = int(np.argmax(np.abs(terms)))
    kh = cell.patch.shape[0]
    st.caption(f"The largest contribution: input channel {top} ({terms[top]:.4f}). Its patch and kernel:")
    patch, kernel = st.columns(2)
    patch.dataframe(np.round(cell.patch[:, :, top], 4), key="cell_patch", width="stretch", height=38 + 35 * kh)
    kernel.dataframe(np.round(cell.kernel[:, :, top], 4), key="cell_kernel", width="stretch", height=38 + 35 * kh)


def _pool(cell: CellExplanation) -> None:
    window = cell.patch
    r, c = cell.winner["window"]
    values = ", ".join(f"{v:.4f}" for v in window.ravel() if np.isfinite(v))
    st.markdown(
        f"Max pooling keeps the largest of its {window.shape[0]}x{window.shape[1]} window [{values}]: "
        f"**{cell.value:.4f}**, from the previous layer's row {cell.winner['input'][0]}, "
        f"column {cell.winner['input'][1]} (window position {r}, {c}). Only that input gets a gradient."
    )


def _dense(cell: CellExplanation) -> None:
    rows = cell.contributions or []
    st.dataframe(
        {"input": [r[0] for r in rows], "input value": [round(r[1], 4) for r in rows],
         "weight": [round(r[2], 4) for r in rows], "input x weight": [round(r[3], 4) for r in rows]},
        key="cell_dense_terms", hide_index=True, width="stretch",
    )
    listed = sum(r[3] for r in rows)
    st.markdown(
        f"The {len(rows)} largest terms sum to {listed:.4f}; the other terms add {cell.rest:.4f}; + bias "
        f"{cell.bias:.4f} = **{cell.pre_activation:.4f}** (pre-activation). " + _activation_line(cell)
    )

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
from shapes_viz.ui.i18n import t
from shapes_viz.ui.safety import guarded_callback


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
        st.caption(t("cell.hint"))
        return
    if not isinstance(engine, NumpyEngine):
        st.info(t("cell.needs_h5"))
        return
    cell = explain_cell(engine, x, layer, unit)
    where = (t("cell.where_map", row=unit[0], column=unit[1], channel=unit[2]) if len(unit) == 3
             else t("cell.where_unit", unit=unit[0]))
    st.markdown(t("cell.title", value=cell.value, layer=layer, where=where))
    box = (cell.box.top, cell.box.left, cell.box.bottom, cell.box.right)
    left, right = st.columns(2)
    with left:
        size = f"{cell.box.size[0]}x{cell.box.size[1]}"
        clipped = t("cell.clipped") if (cell.box.height, cell.box.width) != cell.box.size else ""
        st.plotly_chart(cell_figures.receptive_field(x, box, title=t("cell.receptive_title", size=size, clipped=clipped)),
                        key="cell_receptive_field", width="stretch", config={"displayModeBar": False})
    with right:
        erf = effective_receptive_field(engine, x, layer, unit)
        st.plotly_chart(cell_figures.effective_receptive_field(erf, box, title=t("cell.effective_title")),
                        key="cell_effective_field",
                        width="stretch", config={"displayModeBar": False})
    st.caption(t("cell.fields_caption"))
    if cell.kind == "Conv2D":
        _conv(cell)
    elif cell.kind == "MaxPooling2D":
        _pool(cell)
    elif cell.kind == "Dense":
        _dense(cell)
    else:
        st.markdown(t("cell.passes", layer=layer, kind=cell.kind))


def _activation_line(cell: CellExplanation) -> str:
    if cell.activation == "relu":
        return t("cell.relu", pre=cell.pre_activation, value=cell.value)
    if cell.activation == "linear":
        return t("cell.linear", value=cell.value)
    return t("cell.other", activation=cell.activation, pre=cell.pre_activation, value=cell.value)


def _conv(cell: CellExplanation) -> None:
    terms = np.asarray(cell.contributions)
    st.plotly_chart(
        cell_figures.contributions(terms, cell.bias, title=t("cell.contributions_title")),
        key="cell_contributions", width="stretch", config={"displayModeBar": False},
    )
    st.markdown(t("cell.conv_sum", count=terms.size, total=float(terms.sum()), bias=cell.bias,
                  pre=cell.pre_activation) + " " + _activation_line(cell))
    top = int(np.argmax(np.abs(terms)))
    kh = cell.patch.shape[0]
    st.caption(t("cell.largest", channel=top, value=terms[top]))
    patch, kernel = st.columns(2)
    patch.dataframe(np.round(cell.patch[:, :, top], 4), key="cell_patch", width="stretch", height=38 + 35 * kh)
    kernel.dataframe(np.round(cell.kernel[:, :, top], 4), key="cell_kernel", width="stretch", height=38 + 35 * kh)


def _pool(cell: CellExplanation) -> None:
    window = cell.patch
    r, c = cell.winner["window"]
    values = ", ".join(f"{v:.4f}" for v in window.ravel() if np.isfinite(v))
    st.markdown(t("cell.pool", h=window.shape[0], w=window.shape[1], values=values, value=cell.value,
                  row=cell.winner["input"][0], column=cell.winner["input"][1], r=r, c=c))


def _dense(cell: CellExplanation) -> None:
    rows = cell.contributions or []
    st.dataframe(
        {t("cell.col_input"): [r[0] for r in rows], t("cell.col_value"): [round(r[1], 4) for r in rows],
         t("cell.col_weight"): [round(r[2], 4) for r in rows], t("cell.col_term"): [round(r[3], 4) for r in rows]},
        key="cell_dense_terms", hide_index=True, width="stretch",
    )
    listed = sum(r[3] for r in rows)
    st.markdown(t("cell.dense_sum", count=len(rows), listed=listed, rest=cell.rest, bias=cell.bias,
                  pre=cell.pre_activation) + " " + _activation_line(cell))

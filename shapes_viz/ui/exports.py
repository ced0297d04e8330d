"""Export what the explorer shows: the channel heatmap and the layer grid as PNG, everything about the input as
.npz. SVGs come from each chart's own Plotly toolbar (`svg_config`).

Downloads never rerun the page (`on_click="ignore"`) and their bytes are made only when clicked (Streamlit's
deferred download data): drawing the buttons costs nothing. The PNGs are `shapes_viz.compare.export`'s
(byte-reproducible, the colours the page shows).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from shapes_viz import __version__
from shapes_viz.artifacts import file_digest
from shapes_viz.compare.export import grid_png, heatmap_png, npz_bytes
from shapes_viz.config import CLASS_NAMES
from shapes_viz.engine import Activations, LayerActivation
from shapes_viz.figures import grid_columns
from shapes_viz.ui import state
from shapes_viz.ui.i18n import t

HEATMAP_SCALE = 16
GRID_SCALE = 4


@st.cache_data(max_entries=8, show_spinner=False)
def model_digest(identity) -> str:
    """SHA-256 of the model file of `identity` (read once per file version)."""
    return file_digest(identity[0])


def svg_config(filename: str, buttons_only: bool = False) -> dict:
    """A Plotly chart config whose toolbar camera button downloads an SVG named `filename`.svg."""
    config = {"toImageButtonOptions": {"format": "svg", "filename": filename}, "displaylogo": False}
    if buttons_only:
        config["modeBarButtons"] = [["toImage"]]
    return config


def render(identity, x: np.ndarray, acts: Activations, layer: LayerActivation, channel: int,
           zmin: float | None, zmax: float | None, per_channel: bool) -> None:
    """Three download buttons in a row (the heatmap and grid PNGs only for map layers)."""
    columns = st.columns(3)
    stem = f"{layer.name}_channel{channel}"
    if layer.is_map:
        values = np.array(layer.values, dtype=np.float32)
        columns[0].download_button(
            t("exports.heatmap"), lambda: heatmap_png(values[:, :, channel], zmin, zmax, HEATMAP_SCALE),
            file_name=f"{stem}.png", mime="image/png", key=state.EXPORT_HEATMAP, on_click="ignore",
            icon=":material/image:", help=t("exports.help_png", scale=HEATMAP_SCALE),
        )
        columns[1].download_button(
            t("exports.grid"), lambda: grid_png(values, grid_columns(layer.channels), per_channel=per_channel,
                                           zmin=zmin, zmax=zmax, scale=GRID_SCALE),
            file_name=f"{layer.name}_grid.png", mime="image/png", key=state.EXPORT_GRID, on_click="ignore",
            icon=":material/grid_view:", help=t("exports.help_png", scale=GRID_SCALE),
        )
    digest = model_digest(identity) if identity else ""
    columns[2].download_button(
        t("exports.npz"), lambda: npz_bytes(x, acts, model_sha256=digest,
                                       app_version=__version__, class_names=CLASS_NAMES),
        file_name="shapes_viz_input.npz", mime="application/octet-stream", key=state.EXPORT_NPZ,
        on_click="ignore", icon=":material/download:", help=t("exports.help_npz"),
    )

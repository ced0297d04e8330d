"""The layer explorer: pick a layer and a channel, see its heatmap, the whole layer, and statistics.

`explorer` is a fragment: changing the layer, the channel or the colour range reruns only this function,
never the page. The model ran once per input (see `resources.activations`); here the cached activations
of the current input (the input record in session state, its digest the cache key) are only read and drawn.
"""

from __future__ import annotations

import functools
import logging
import time

import numpy as np
import streamlit as st

from shapes_viz import figures
from shapes_viz.engine import Activations, LayerActivation
from shapes_viz.errors import ShapesVizError
from shapes_viz.ui import cell_panel, channels_data, exports, lessons, resources, share, state
from shapes_viz.ui.context import PageContext
from shapes_viz.ui import i18n
from shapes_viz.ui.i18n import t
from shapes_viz.ui.inputs import LIVE_SUFFIX, current_choice
from shapes_viz.ui.safety import guarded, guarded_callback

log = logging.getLogger("shapes_viz.ui")

RANGE_CHANNEL = "this channel"
RANGE_LAYER = "whole layer"
RANGE_NETWORK = "whole network [0, max]"
RANGES = (RANGE_CHANNEL, RANGE_LAYER, RANGE_NETWORK)  # the radio's values (English ids); shown through RANGE_KEYS
RANGE_KEYS = {RANGE_CHANNEL: "explorer.range_channel", RANGE_LAYER: "explorer.range_layer",
              RANGE_NETWORK: "explorer.range_network"}
# Kept because nothing cleaner orders the browser's drawing: messages arriving together are drawn in one pass,
# so without this pause the grid's Plotly mount delays the heatmap asked for (figures: docs/benchmarks.md).
GRID_AFTER_HEATMAP_S = 0.015


def shape_text(layer: LayerActivation) -> str:
    if layer.is_map:
        h, w, c = layer.values.shape
        return t("explorer.shape_maps", h=h, w=w, c=c)
    return t("explorer.shape_vector", units=layer.values.shape[0])


def layer_label(layer: LayerActivation) -> str:
    """The picker's text for a layer: name, type, output shape.

    Nothing that depends on the input (such as the dead-channel count, shown under the channel picker):
    the browser sends the selectbox's value back as this text, and a label that changed with a new input
    made Streamlit fall back to the first layer.
    """
    return f"{layer.name} · {layer.kind} · {shape_text(layer)}"


@st.fragment(key=state.EXPLORER_FRAGMENT)
def explorer(ctx: PageContext) -> None:
    """The explorer section (a fragment) for the page's model and the current input."""
    started = time.perf_counter()
    with guarded("explorer"):
        _explorer(ctx)
    log.debug("explorer drawn in %.1f ms", (time.perf_counter() - started) * 1000)


def _explorer(ctx: PageContext) -> None:
    acts = _current_activations(ctx)
    st.session_state[state.EXPLORER_READY] = acts is not None
    if acts is None:
        st.info(t("explorer.no_input"))
        return
    layer = _layer_picker(acts)
    channel = _channel_picker(layer)
    st.radio(t("explorer.range"), RANGES, key=state.COLOR_RANGE, horizontal=True, help=t("explorer.range_help"),
             format_func=i18n.bound(lambda value: t(RANGE_KEYS[value])))
    if layer.is_map:
        left, right = st.columns([1, 1.25])
        with left:
            selected_view(ctx)
        time.sleep(GRID_AFTER_HEATMAP_S)
        with right:
            mode = st.session_state[state.COLOR_RANGE]
            _layer_grid(layer, channel, mode, _network_max(acts), _dead_on_data(ctx, layer))
    else:
        selected_view(ctx)
    # Lazy, like the statistics: built and sent only while open (a layer or channel change stays light).
    with guarded("export"):
        exporter = st.expander(t("exports.section"), expanded=False, key=state.EXPORT_OPEN, on_change="rerun")
        if exporter.open:
            with exporter:
                mode = st.session_state[state.COLOR_RANGE]
                exports.render(ctx.identity, current_choice().x, acts, layer, channel,
                               *_ranges(layer, mode, _network_max(acts)), per_channel=mode == RANGE_CHANNEL)
        caption = st.expander(t("lessons.what_am_i_looking_at"), expanded=False, key=state.CAPTION_OPEN,
                              on_change="rerun")
        if caption.open:
            with caption:
                st.markdown(lessons.layer_caption(ctx.loaded.engine, layer.name, layer.values,
                                                  _dead_on_data(ctx, layer)))
    _stats_table(layer, channel)
    share.write_link()


def _current_activations(ctx: PageContext) -> Activations | None:
    """The cached activations of the current input (None without input or model); a new model reruns the page."""
    choice = current_choice()
    if choice.x is None or ctx.identity is None or ctx.loaded is None:
        return None
    if resources.model_identity() != ctx.identity:
        st.rerun()  # a new model was published since the page ran: the whole page follows it
    return resources.activations(ctx.identity, choice.digest, choice.x, state.knockout())


def _network_max(acts: Activations) -> float:
    return float(max(float(l.stats.maximum.max()) for l in acts.layers))


@st.fragment(key=state.SELECTED_FRAGMENT)
def selected_view(ctx: PageContext) -> None:
    """The selected channel's heatmap (the selected unit's bars for a vector layer).

    A fragment of its own inside the explorer: while the pen is down, a canvas report reruns this (with
    the prediction) but not the pickers and the layer grid, which follow when the stroke ends. It reads
    the picked layer, channel and colour range from session state.
    """
    with guarded("explorer"):
        acts = _current_activations(ctx)
        if acts is None:
            return
        layer = acts.layer(_picked_layer_name(acts))
        channel = min(max(int(st.session_state.get(state.CHANNEL, 0)), 0), layer.channels - 1)
        mode = st.session_state.get(state.COLOR_RANGE) or RANGE_CHANNEL
        cell = cell_panel.selected_cell(layer.name, channel, layer.values.shape)
        if layer.is_map:
            _channel_view(layer, channel, mode, _network_max(acts), cell)
        else:
            _vector_view(layer, channel, mode, _network_max(acts))
        cell_panel.render(ctx.loaded.engine, current_choice().x, layer.name, cell)


def _picked_layer_name(acts: Activations) -> str:
    """The layer picked last (a plain copy in session state), or the first layer."""
    names = [layer.name for layer in acts.layers]
    picked = st.session_state.get(state.PICKED_LAYER)
    return picked if picked in names else names[0]


def _layer_picker(acts: Activations) -> LayerActivation:
    """The layer selectbox, showing the layer picked last (`state.PICKED_LAYER`, a plain copy).

    The widget's own state is not enough: Streamlit drops it after a full run that did not draw the picker
    (e.g. while an upload is replaced and there is no input for a moment), and a picker the browser mounts
    afresh shows the widget's default, not the server's value. So the default (`index`) is always the
    picked layer: whichever side forgot, both show the same layer.
    """
    picked = _picked_layer_name(acts)
    labels = {layer.name: layer_label(layer) for layer in acts.layers}
    names = list(labels)
    name = st.selectbox(
        t("explorer.layer"), names, index=names.index(picked), key=state.LAYER, format_func=labels.__getitem__,
        on_change=_layer_changed, help=t("explorer.layer_help"),
    )
    if name not in labels:  # a value the browser kept from another model's picker
        name = picked
    st.session_state[state.PICKED_LAYER] = name
    return acts.layer(name)


@guarded_callback("explorer")
def _layer_changed() -> None:
    st.session_state[state.PICKED_LAYER] = st.session_state.get(state.LAYER)


def _channel_picker(layer: LayerActivation) -> int:
    count = layer.channels
    unit = t("explorer.channel") if layer.is_map else t("explorer.unit")
    channel = min(max(int(st.session_state.get(state.CHANNEL, 0)), 0), count - 1)
    if (
        channel != st.session_state.get(state.CHANNEL)
        or st.session_state.get(state.CHANNEL_SLIDER) != channel
        or st.session_state.get(state.CHANNEL_NUMBER) != channel
    ):
        state.set_channel(channel)
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    with left:
        if count > 1:
            st.slider(
                t("explorer.channel_slider", unit=unit.capitalize(), last=count - 1), 0, count - 1, key=state.CHANNEL_SLIDER,
                on_change=_sync_channel, args=(state.CHANNEL_SLIDER,),
            )
    with right:
        st.number_input(
            unit.capitalize(), 0, count - 1, step=1, key=state.CHANNEL_NUMBER,
            on_change=_sync_channel, args=(state.CHANNEL_NUMBER,),
        )
    dead = np.flatnonzero(layer.stats.dead)
    if dead.size:
        listed = ", ".join(str(i) for i in dead[:40]) + (" ..." if dead.size > 40 else "")
        st.caption(t("explorer.dead_list", units=t("explorer.channels" if layer.is_map else "explorer.units"),
                     dead=dead.size, count=count, listed=listed))
    return channel


@guarded_callback("explorer")
def _sync_channel(source_key: str) -> None:
    value = st.session_state.get(source_key)
    if value is not None:
        state.set_channel(int(value))


@guarded_callback("explorer")
def _grid_clicked() -> None:
    event = st.session_state.get(state.GRID)
    selection = getattr(event, "selection", None) if event is not None else None
    if selection is None and isinstance(event, dict):
        selection = event.get("selection")
    channel = figures.selected_channel(selection)
    if channel is not None:
        state.set_channel(channel)


def _ranges(layer: LayerActivation, mode: str, network_max: float) -> tuple[float | None, float | None]:
    if mode == RANGE_LAYER:
        return float(layer.stats.minimum.min()), float(layer.stats.maximum.max())
    if mode == RANGE_NETWORK:
        return 0.0, max(network_max, 1e-6)
    return None, None


def _title(layer: LayerActivation, channel: int, unit: str) -> str:
    dead = t("explorer.title_dead") if layer.stats.dead[channel] else ""
    return t("explorer.title", layer=layer.name, unit=t(f"explorer.{unit}"), channel=channel, dead=dead)


def _channel_view(layer: LayerActivation, channel: int, mode: str, network_max: float,
                  cell: tuple[int, ...] | None) -> None:
    zmin, zmax = _ranges(layer, mode, network_max)
    st.plotly_chart(
        figures.channel_heatmap(
            layer.values[:, :, channel], zmin=zmin, zmax=zmax, title=_title(layer, channel, "channel"),
            clickable=not _pen_down(), selected_cell=cell[:2] if cell else None,
        ),
        key=state.HEATMAP, width="stretch", selection_mode="points", config=exports.svg_config(f"{layer.name}_channel{channel}"),
        on_select=functools.partial(cell_panel.heatmap_clicked, layer.name, channel),
    )
    stats = layer.stats
    if stats.dead[channel]:
        st.markdown(t("explorer.dead_badge"))
    st.caption(t("explorer.channel_stats", min=stats.minimum[channel], max=stats.maximum[channel],
                 mean=stats.mean[channel], zeros=stats.zero_fraction[channel]))


def _pen_down() -> bool:
    """True while a stroke goes on: the heatmap is then redrawn for every report, and nobody clicks a cell."""
    return current_choice().label.endswith(LIVE_SUFFIX)


def _dead_on_data(ctx: PageContext, layer: LayerActivation) -> np.ndarray | None:
    """(C,) bool: the layer's channels dead on the whole data set, if the Channels view has scanned it already."""
    data_dir = str(ctx.data_dir)
    if not channels_data.scanned(ctx.identity, data_dir):  # no need to look at the folder's files
        return None
    try:
        scan = channels_data.scan_if_done(ctx.identity, data_dir, channels_data.fingerprint(data_dir))
    except ShapesVizError:
        return None
    return scan.layer(layer.name).dead if scan is not None and layer.name in scan.layers else None


def _layer_grid(layer: LayerActivation, channel: int, mode: str, network_max: float,
                dead_on_data: np.ndarray | None = None) -> None:
    zmin, zmax = _ranges(layer, mode, network_max)
    off = dict(state.knockout()).get(layer.name, ())
    grid = figures.layer_grid(
        layer.values, dead=layer.stats.dead, dead_on_data=dead_on_data, switched_off=off, selected=channel,
        per_channel=mode == RANGE_CHANNEL,
        zmin=zmin, zmax=zmax, title=t("explorer.grid_title", layer=layer.name, count=layer.channels),
        tile_px=56 if layer.channels > 32 else 64,
    )
    st.plotly_chart(
        grid, key=state.GRID, on_select=_grid_clicked, selection_mode="points", width="stretch",
        config=exports.svg_config(f"{layer.name}_grid", buttons_only=True),
    )
    st.caption(
        t("explorer.grid_caption")
        + (t("explorer.grid_dead_on_data") if dead_on_data is not None else t("explorer.grid_open_channels"))
        + (t("explorer.grid_off") if off else "")
    )


def _vector_view(layer: LayerActivation, unit: int, mode: str, network_max: float) -> None:
    ymin, ymax = _ranges(layer, mode, network_max)
    if ymin is not None:
        ymin = min(ymin, 0.0)
    st.plotly_chart(
        figures.vector_bars(
            layer.values, dead=layer.stats.dead, selected=unit, ymin=ymin, ymax=ymax,
            title=_title(layer, unit, "unit"),
        ),
        key=state.VECTOR_BARS, width="stretch", selection_mode="points",
        on_select=functools.partial(cell_panel.bars_clicked, layer.name),
    )
    st.caption(t("explorer.vector_caption", layer=layer.name, count=layer.channels, unit=unit,
                 value=float(layer.values[unit])))


def _stats_table(layer: LayerActivation, channel: int) -> None:
    stats = layer.stats
    unit = t("explorer.channel") if layer.is_map else t("explorer.unit")
    # Lazy: the table (an Arrow conversion, tens of kB) is built and sent only while the expander is open.
    # A fixed label keeps it open across layers (the label is part of the expander's identity).
    expander = st.expander(t("explorer.stats"), expanded=False, key=state.STATS_OPEN, on_change="rerun")
    if not expander.open:
        return
    with expander:
        st.caption(t("explorer.stats_caption", layer=layer.name, count=layer.channels,
                     units=t("explorer.channels" if layer.is_map else "explorer.units")))
        st.dataframe(
            {
                unit: np.arange(layer.channels),
                t("explorer.col_min"): stats.minimum.round(4),
                t("explorer.col_max"): stats.maximum.round(4),
                t("explorer.col_mean"): stats.mean.round(4),
                t("explorer.col_zeros"): (stats.zero_fraction * 100).round(1),
                t("explorer.col_dead"): stats.dead,
            },
            hide_index=True, height=280, width="stretch", key="explorer_stats",
        )
        st.caption(t("explorer.stats_selected", unit=unit, channel=channel))

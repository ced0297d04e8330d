"""The Compare view: input A (pinned) against input B (the current input, from any source).

    compare(ctx)   a fragment: A and B, both predictions; for the explorer's layer and channel the A, B and A - B
                   heatmaps on one colour range; the cosine similarity of A and B at every layer; the morph from
                   A to B (every class's probability along 21 blended inputs, one forward pass) with the
                   heatmaps at the slider's step

A canvas report reruns this fragment when the pen lifts (state.VIEW_CANVAS_FRAGMENTS). The morph is cached per
(model, A, B, knock-out); the activations of A and B are the page's (resources.activations).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from shapes_viz.compare.morph import STEPS, Morph, morph
from shapes_viz.compare.similarity import layer_similarity
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.figures import channel_heatmap
from shapes_viz.preprocessing import to_uint8_image
from shapes_viz.figures.compare import ab_bars, ab_heatmaps, input_pair, morph_curve, probability_pair, similarity_chart
from shapes_viz.ui import resources, state
from shapes_viz.ui.context import PageContext
from shapes_viz.ui.i18n import class_names, shown, t
from shapes_viz.ui.inputs import current_choice
from shapes_viz.ui.safety import guarded, guarded_callback



def pin_button(place: str) -> None:
    """A "Pin the current input as A" button (`place` makes its key unique on the page)."""
    choice = current_choice()
    st.button(t("compare.pin"), key=f"{state.PIN_A}_{place}", on_click=_pin, disabled=choice.x is None,
              icon=":material/push_pin:")


@guarded_callback("compare")
def _pin() -> None:
    choice = current_choice()
    if choice.x is not None:
        st.session_state[state.COMPARE_A] = {"x": choice.x, "digest": choice.digest, "label": choice.label or "?"}


@guarded_callback("compare")
def _unpin() -> None:
    st.session_state[state.COMPARE_A] = None


@st.cache_resource(max_entries=8, show_spinner=False)
def morph_of(identity: resources.Identity, digest_a: str, digest_b: str, off: resources.Off,
             _a: np.ndarray, _b: np.ndarray) -> Morph:
    """The 21-step morph from A to B (shared, read-only: ~5 MB of layer outputs)."""
    return morph(resources.load_engine(identity).engine, _a, _b, STEPS, dict(off) or None)


@st.fragment(key=state.COMPARE_FRAGMENT)
def compare(ctx: PageContext) -> None:
    """The view (a tab of `views.VIEWS`)."""
    with guarded("compare"):
        _compare(ctx)
    from shapes_viz.ui.share import write_link

    write_link()


def _compare(ctx: PageContext) -> None:
    if ctx.loaded is None or ctx.identity is None:
        st.info(t("compare.no_model"))
        return
    choice = current_choice()
    pinned = st.session_state.get(state.COMPARE_A)
    left, right = st.columns([3, 1])
    with right:
        pin_button("compare")
        if pinned:
            st.button(t("compare.unpin"), key=state.UNPIN_A, on_click=_unpin)
    if not pinned:
        left.info(t("compare.no_a"))
        return
    if choice.x is None:
        left.info(t("compare.no_b"))
        return
    left.markdown(t("compare.pinned", label=shown(pinned["label"]), b=shown(choice.label or choice.source)))
    off = state.knockout()
    acts_a = resources.activations(ctx.identity, pinned["digest"], pinned["x"], off)
    acts_b = resources.activations(ctx.identity, choice.digest, choice.x, off)
    top_left, top_right = st.columns([1, 1.4])
    with top_left:
        st.plotly_chart(input_pair(pinned["x"], choice.x), key="compare_inputs", width="stretch",
                        config={"displayModeBar": False})
    with top_right:
        st.plotly_chart(probability_pair(acts_a.probabilities, acts_b.probabilities, class_names()),
                        key="compare_probabilities", width="stretch", config={"displayModeBar": False})
    layer, channel = _pickers(acts_a)
    a_values, b_values = acts_a.layer(layer).values, acts_b.layer(layer).values
    if a_values.ndim == 3:
        st.markdown(t("compare.heatmaps", layer=layer, channel=channel))
        st.plotly_chart(ab_heatmaps(a_values[:, :, channel], b_values[:, :, channel]), key="compare_heatmaps",
                        width="stretch")
    else:
        st.markdown(t("compare.vector", layer=layer, units=len(a_values)))
        st.plotly_chart(ab_bars(a_values, b_values), key="compare_bars", width="stretch")
    similarity = layer_similarity(acts_a, acts_b)
    st.plotly_chart(similarity_chart([l.name for l in acts_a.layers], similarity, selected=layer,
                                     title=t("compare.similarity_title")), key="compare_similarity", width="stretch")
    st.caption(t("compare.similarity"))
    _morph(ctx, pinned, choice, off, layer, channel)


def _pickers(acts) -> tuple[str, int]:
    """The explorer's layer and channel, with pickers of their own here (they change the explorer's too)."""
    names = [layer.name for layer in acts.layers]
    picked = st.session_state.get(state.PICKED_LAYER)
    picked = picked if picked in names else names[0]
    count = acts.layer(picked).channels
    channel = min(max(int(st.session_state.get(state.CHANNEL) or 0), 0), count - 1)
    st.session_state[state.COMPARE_LAYER] = picked
    st.session_state[state.COMPARE_CHANNEL] = channel
    left, right = st.columns([3, 1])
    left.selectbox(t("compare.layer"), names, key=state.COMPARE_LAYER, on_change=_layer_changed)
    right.number_input(t("compare.channel") if acts.layer(picked).is_map else t("compare.unit"), 0, count - 1, step=1,
                       key=state.COMPARE_CHANNEL, on_change=_channel_changed)
    return picked, channel


@guarded_callback("compare")
def _layer_changed() -> None:
    st.session_state[state.PICKED_LAYER] = st.session_state.get(state.COMPARE_LAYER)


@guarded_callback("compare")
def _channel_changed() -> None:
    state.set_channel(int(st.session_state.get(state.COMPARE_CHANNEL) or 0))


@st.fragment(key=state.MORPH_FRAGMENT)
def _morph(ctx: PageContext, pinned: dict, choice, off, layer: str, channel: int) -> None:
    """The morph: a fragment of its own, so that moving its slider redraws only the morph's charts."""
    with guarded("compare"):
        _morph_body(ctx, pinned, choice, off, layer, channel)


def _morph_body(ctx: PageContext, pinned: dict, choice, off, layer: str, channel: int) -> None:
    st.markdown("#### " + t("compare.morph_title"))
    if not isinstance(ctx.loaded.engine, NumpyEngine):
        st.info(t("compare.needs_h5"))
        return
    result = morph_of(ctx.identity, pinned["digest"], choice.digest, off, pinned["x"], choice.x)
    step = st.slider(t("compare.morph_slider", last=STEPS - 1), 0, STEPS - 1, key=state.MORPH_STEP)
    flips = result.flips()
    probabilities = result.probabilities[step]
    winner = int(np.argmax(probabilities))
    left, right = st.columns(2)
    with left:
        # A picture, not a chart: the browser shows it at once, and the heatmap beside it comes sooner.
        st.image(resources.enlarged(to_uint8_image(result.inputs[step]), side=252), width="content")
        st.caption(t("compare.morph_step", step=step, p=float(probabilities[winner]), name=class_names()[winner]))
    values = result.layer(layer)[step]
    with right:
        if values.ndim == 3:
            along = result.layer(layer)[..., channel]  # one colour range for every step: sliding compares
            low, high = float(along.min()), float(along.max())
            st.plotly_chart(channel_heatmap(values[:, :, channel], zmin=low, zmax=max(high, low + 1e-6),
                                            title=t("compare.morph_heatmap_title", layer=layer, channel=channel, step=step), height=300),
                            key="morph_heatmap", width="stretch")
        else:
            st.plotly_chart(ab_bars(result.layer(layer)[0], values, title=t("compare.morph_bars_title", layer=layer, step=step)),
                            key="morph_bars", width="stretch")
    # Below the pictures at the step: they are what the slider is about, so the browser draws them first.
    st.plotly_chart(morph_curve(result.t, result.probabilities, class_names(), flips=flips, position=step),
                    key="morph_curve", width="stretch")
    if flips:
        st.caption(t("compare.morph_flips", where=", ".join(f"{float(result.t[i]):.2f}" for i in flips)))
    else:
        st.caption(t("compare.morph_none"))

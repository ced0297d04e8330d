"""The "Why?" view: which pixels of the input made the network say what it said, and whether to believe it.

    why(ctx)              a fragment: the pickers (method, class, layer), then beside each other
      why_map(ctx)        a nested fragment: the map over the model's input, a caption, warnings, IG's completeness
      why_trust(ctx)      a nested fragment: on demand, deletion/insertion against random maps and the ink, and
                          the same method on a randomised network

Changing a picker reruns `why` only. While the pen is down a canvas report reruns `why_map` alone, and only
for the cheap methods (`LIVE_METHODS`); the rest follows when the pen lifts (see `inputs.canvas_fragments`).
Maps and checks are cached per (model identity, input digest, method, class, layer); everything is numpy on
the numpy engine: a model the numpy engine cannot read (not .h5) gets a message, not TensorFlow.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import streamlit as st

from shapes_viz.config import CLASS_NAMES, EXPLAIN
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.explain.cells import receptive_box
from shapes_viz.explain.faithfulness import Faithfulness, faithfulness, randomised, rank_correlation
from shapes_viz.explain.methods import CAM_METHODS, METHODS, AttributionMap, attribute, map_layers
from shapes_viz.figures.explain import attribution_map, map_pair, trust_curves
from shapes_viz.ui import i18n, resources, state
from shapes_viz.ui.context import PageContext
from shapes_viz.ui.i18n import class_name, t
from shapes_viz.ui.inputs import InputChoice, current_choice
from shapes_viz.ui.safety import guarded, guarded_callback

Identity = resources.Identity

LIVE_METHODS = ("layercam", "gradcam", "saliency")  # a few ms each: they follow the pen
PREDICTED = "predicted"
TINY_MAP_CELLS = 9  # a map of at most 3x3 cells: each cell sees (nearly) the whole image


def method_label(method: str) -> str:
    """A method's name as shown (its id stays the picker's value)."""
    return t(f"why.method.{method}")

# How often each map or check was computed (cache misses), for tests and diagnostics.
EXPLAIN_RUNS: Counter[str] = Counter()


# --- cached computations (shared by every session) --------------------------------------------------------


@st.cache_data(max_entries=128, show_spinner=False)
def attribution(identity: Identity, digest: str, method: str, target: int, layer: str, _x: np.ndarray
                ) -> AttributionMap:
    """The `method` map of input `_x` (1, 28, 28, 3) float32 for class `target` (`layer` "" for non-CAM methods)."""
    EXPLAIN_RUNS[method] += 1
    return attribute(resources.load_engine(identity).engine, _x, method, target, layer or None)


@st.cache_data(max_entries=32, show_spinner=False)  # callers show a spinner in the session's language
def trust(identity: Identity, digest: str, method: str, target: int, layer: str, _x: np.ndarray) -> Faithfulness:
    """Deletion and insertion of the map against random maps and the ink (see `explain.faithfulness`)."""
    EXPLAIN_RUNS["faithfulness"] += 1
    values = attribution(identity, digest, method, target, layer, _x).values
    return faithfulness(resources.load_engine(identity).engine, _x, values, target)


@st.cache_resource(max_entries=2, show_spinner=False)
def randomised_engine(identity: Identity) -> NumpyEngine:
    """The model of `identity` with every weight re-drawn at random (seeded), once per model file version."""
    return randomised(resources.load_engine(identity).engine)


@st.cache_data(max_entries=32, show_spinner=False)
def randomised_attribution(identity: Identity, digest: str, method: str, target: int, layer: str, _x: np.ndarray
                           ) -> AttributionMap:
    """The same method, class and layer on the randomised network."""
    EXPLAIN_RUNS["randomised"] += 1
    return attribute(randomised_engine(identity), _x, method, target, layer or None)


# --- what the fragments share -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What is explained: the model, the input, its probabilities, the method, class and layer ("" if not CAM)."""

    identity: Identity
    engine: NumpyEngine
    choice: InputChoice
    probabilities: np.ndarray
    method: str
    target: int
    layer: str

    def map(self) -> AttributionMap:
        return attribution(self.identity, self.choice.digest, self.method, self.target, self.layer, self.choice.x)


def _numpy_engine(ctx: PageContext) -> NumpyEngine | None:
    """The page's numpy engine, or None after saying why not; a model published since the page ran reruns it."""
    if ctx.identity is None or ctx.loaded is None:
        st.info(t("why.no_model"))
        return None
    if resources.model_identity() != ctx.identity:
        st.rerun()  # a new model was published since the page ran: the whole page follows it
    if not isinstance(ctx.loaded.engine, NumpyEngine):
        st.warning(t("why.needs_h5", model=resources.shown_path(ctx.loaded.path)))
        return None
    return ctx.loaded.engine


def _subject(ctx: PageContext) -> Subject | None:
    """The current model, input and picks (from session state), or None after a message."""
    engine = _numpy_engine(ctx)
    if engine is None:
        return None
    choice = current_choice()
    if choice.x is None:
        st.info(t("why.no_input_because", message=choice.shown_message()) if choice.message else t("why.no_input"))
        return None
    probabilities = resources.activations(ctx.identity, choice.digest, choice.x).probabilities
    method = _picked_method()
    picked = st.session_state.get(state.WHY_PICKED_TARGET, PREDICTED)
    target = CLASS_NAMES.index(picked) if picked in CLASS_NAMES else int(np.argmax(probabilities))
    layer = default_layer(engine) if method in CAM_METHODS else ""
    return Subject(ctx.identity, engine, choice, probabilities, method, target, layer)


def _picked_method() -> str:
    method = st.session_state.get(state.WHY_PICKED_METHOD)
    return method if method in METHODS else METHODS[0]


def default_layer(engine: NumpyEngine) -> str:
    """The CAM layer: the explorer's (the picked layer, or its first one) when it is a map, else the last map."""
    layers = map_layers(engine)
    picked = st.session_state.get(state.PICKED_LAYER) or engine.layer_names[0]
    return picked if picked in layers else layers[-1]


# --- the view ---------------------------------------------------------------------------------------------


@st.fragment(key=state.WHY_FRAGMENT)
def why(ctx: PageContext) -> None:
    """The Why view (a fragment) for the page's model and the current input."""
    with guarded("why"):
        _why(ctx)


def _why(ctx: PageContext) -> None:
    st.session_state[state.WHY_READY] = False
    engine = _numpy_engine(ctx)
    if engine is None:
        return
    if current_choice().x is None:
        _subject(ctx)  # says why there is nothing to explain
        return
    _pickers(engine)
    st.session_state[state.WHY_READY] = True
    st.session_state[state.WHY_FOLLOWS_PEN] = _picked_method() in LIVE_METHODS
    left, right = st.columns([1.15, 1], gap="medium")
    with left:
        why_map(ctx)
    with right:
        why_trust(ctx)


def _pickers(engine: NumpyEngine) -> None:
    """Method, class and (CAM methods) layer. Each picker's default is its plain copy in session state, so a
    picker the browser mounts afresh (after another tab) shows what was picked last."""
    columns = st.columns([1.1, 1.6, 1.2], vertical_alignment="bottom")
    with columns[0]:
        method = _picker(st.selectbox, t("why.method_label"), METHODS, state.WHY_METHOD, state.WHY_PICKED_METHOD,
                         format_func=i18n.bound(method_label), help=t("why.method_help"))
    with columns[1]:
        _picker(st.radio, t("why.target_label"), (PREDICTED, *CLASS_NAMES), state.WHY_TARGET, state.WHY_PICKED_TARGET,
                format_func=i18n.bound(lambda v: t("why.predicted") if v == PREDICTED else class_name(v)), horizontal=True,
                help=t("why.target_help"))
    picked = st.session_state.get(state.PICKED_LAYER)
    if method not in CAM_METHODS:
        return
    layers = map_layers(engine)
    with columns[2]:
        st.selectbox(t("why.layer_label"), layers, index=layers.index(default_layer(engine)), key=state.WHY_LAYER,
                     on_change=_layer_changed, help=t("why.layer_help"))
    if picked is not None and picked not in engine.layer_names:
        st.info(t("why.layer_gone", picked=picked, shown=default_layer(engine)))


def _picker(widget, label: str, options: tuple[str, ...], key: str, plain_key: str, **kwargs) -> str:
    current = st.session_state.get(plain_key)
    current = current if current in options else options[0]
    value = widget(label, options, index=options.index(current), key=key, on_change=_copy, args=(key, plain_key),
                   **kwargs)
    value = value if value in options else current
    st.session_state[plain_key] = value
    return value


@guarded_callback("why")
def _copy(key: str, plain_key: str) -> None:
    st.session_state[plain_key] = st.session_state.get(key)


@guarded_callback("why")
def _layer_changed() -> None:
    """The layer picked here becomes the explorer's too: one layer being looked at."""
    st.session_state[state.PICKED_LAYER] = st.session_state.get(state.WHY_LAYER)


@st.fragment(key=state.WHY_MAP_FRAGMENT)
def why_map(ctx: PageContext) -> None:
    """The map over the model's input, what it shows, its caveats (a canvas report reruns this alone)."""
    with guarded("why"):
        subject = _subject(ctx)
        if subject is None:
            return
        result = subject.map()
        name = class_name(subject.target)
        at = t("why.at_layer", layer=subject.layer) if subject.layer else ""
        st.markdown(_explaining(subject))
        st.plotly_chart(
            attribution_map(subject.choice.x, result.values, signed=result.signed,
                            title=t("why.map_title", method=method_label(subject.method), name=name, at=at)),
            key="why_map", width="stretch", config={"displayModeBar": False},
        )
        st.caption(caption(subject.method, subject.layer))
        _warnings(subject, result)


def caption(method: str, layer: str) -> str:
    """What the map of `method` shows and its caveat."""
    if method not in ("layercam", "gradcam", "saliency", "smoothgrad", "ig", "occlusion"):
        return ""
    return t(f"why.caption.{method}", layer=layer, samples=EXPLAIN.smoothgrad_samples, noise=EXPLAIN.smoothgrad_noise,
             patch=EXPLAIN.occlusion_patch)


def _explaining(subject: Subject) -> str:
    p = subject.probabilities
    winner = int(np.argmax(p))
    name = class_name(subject.target)
    if subject.target == winner:
        return t("why.why", name=name, p=p[winner])
    return t("why.why_not", name=name, p=p[subject.target], winner=class_name(winner), pw=p[winner])


def _warnings(subject: Subject, result: AttributionMap) -> None:
    if result.layer_map is not None and result.layer_map.size <= TINY_MAP_CELLS:
        h, w = result.layer_map.shape
        box = receptive_box(subject.engine, subject.layer, h // 2, w // 2)
        st.warning(t("why.tiny_map", layer=subject.layer, h=h, w=w, bh=box.size[0], bw=box.size[1],
                     ih=subject.engine.input_shape[0], iw=subject.engine.input_shape[1]))
    if not np.any(result.values):
        st.info(t("why.zero_map") + (t("why.zero_gradcam") if subject.method == "gradcam" else "."))
    if subject.method == "ig":
        d = result.details
        with st.container(key="why_completeness"):
            st.markdown(t("why.completeness", sum=d["sum"], difference=d["logit_difference"],
                          error=d["completeness_error"], relative=d["relative_error"], steps=int(d["steps"])))
            st.caption(t("why.completeness_caption"))


@st.fragment(key=state.WHY_TRUST_FRAGMENT)
def why_trust(ctx: PageContext) -> None:
    """Can you trust this map? Computed on demand (hundreds of ms): the toggle reruns this fragment alone."""
    with guarded("why"):
        on = st.toggle(t("why.trust"), key=state.WHY_TRUST, help=t("why.trust_help"))
        if not on:
            st.caption(t("why.trust_off"))
            return
        subject = _subject(ctx)
        if subject is None:
            return
        args = (subject.identity, subject.choice.digest, subject.method, subject.target, subject.layer,
                subject.choice.x)
        with st.spinner(t("spinner.checking_map")):
            scores = trust(*args)
        _faithfulness_panel(scores)
        _randomised_panel(subject, subject.map(), randomised_attribution(*args))


def _faithfulness_panel(scores: Faithfulness) -> None:
    rows = {t("why.this_map"): (scores.deletion, scores.insertion), t("why.random_maps"): (scores.random_deletion,
            scores.random_insertion), t("why.ink"): (scores.ink_deletion, scores.ink_insertion)}
    st.plotly_chart(
        trust_curves(scores.deletion.fractions, {k: d.probabilities for k, (d, _) in rows.items()},
                     {k: i.probabilities for k, (_, i) in rows.items()},
                     names=[f"{k} ({d.area:.2f} / {i.area:.2f})" for k, (d, i) in rows.items()]),
        key="why_trust_curves", width="stretch", config={"displayModeBar": False},
    )
    st.caption(t("why.trust_caption", count=EXPLAIN.random_maps))
    st.markdown(reading(scores))
    deletion, insertion = t("why.col_deletion"), t("why.col_insertion")
    st.dataframe(
        {t("why.col_reference"): list(rows), deletion: [d.area for d, _ in rows.values()],
         insertion: [i.area for _, i in rows.values()]},
        hide_index=True, key="why_trust_scores",
        column_config={deletion: st.column_config.NumberColumn(format="%.3f", help=t("why.lower_better")),
                       insertion: st.column_config.NumberColumn(format="%.3f", help=t("why.higher_better"))},
    )


def reading(scores: Faithfulness) -> str:
    """One line: does the map beat random maps and the ink on deletion (lower area) and insertion (higher)?"""

    def verdict(better_than_random: bool, better_than_ink: bool) -> str:
        if better_than_random and better_than_ink:
            return t("why.beats_both")
        if better_than_random:
            return t("why.beats_random")
        return t("why.beats_none") + (t("why.beats_ink") if better_than_ink else "")

    deletion = verdict(scores.deletion.area < scores.random_deletion.area, scores.deletion.area < scores.ink_deletion.area)
    insertion = verdict(scores.insertion.area > scores.random_insertion.area,
                        scores.insertion.area > scores.ink_insertion.area)
    return t("why.reading", deletion=deletion, insertion=insertion)


def _randomised_panel(subject: Subject, result: AttributionMap, random_result: AttributionMap) -> None:
    st.markdown(t("why.randomised"))
    st.plotly_chart(map_pair(subject.choice.x, result.values, random_result.values, signed=result.signed,
                             titles=(t("why.trained_network"), t("why.randomised_network"))),
                    key="why_randomised", width="stretch", config={"displayModeBar": False})
    correlation = rank_correlation(result.values, random_result.values)
    st.metric(t("why.correlation"), f"{correlation:.2f}")
    if correlation >= 0.5:
        st.caption(t("why.alike"))
    else:
        st.caption(t("why.different"))

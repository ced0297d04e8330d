"""Share a view: the URL's query parameters carry the view tab, the layer, the channel, the colour range, the
Why? method, the input itself (and the Compare view's pinned A and morph step, an open lesson, and the language).

    apply_link()   once per session, before anything is drawn: the link's view becomes the session's
                   (its input becomes the "Link" input of the Examples tab); refused parameters -> one notice
    write_link()   after a run or a fragment run: the URL follows what the page shows (written only on change)

The codec and its validation live in `shapes_viz.compare.link` (never raises; parameters never name files).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import streamlit as st

from shapes_viz.compare import link
from shapes_viz.compare.morph import STEPS
from shapes_viz.explain.methods import METHODS
from shapes_viz.ui import i18n, resources, state
from shapes_viz.ui.i18n import t
from shapes_viz.ui.safety import guarded

LINK_LABEL = i18n.stored("stored.shared")  # labels kept in session state in English, shown through i18n.shown
LINK_A_LABEL = i18n.stored("stored.link_a")
LANG = "lang"  # the language's parameter: read and written here (the core codec does not know it)
RANGE_SLUGS = ("channel", "layer", "network")  # explorer.RANGES in order


def slug(label: str) -> str:
    """A view's label as the link writes it: "Why?" -> "why"."""
    return re.sub(r"[^a-z0-9]", "", label.lower())


def _labels() -> list[str]:
    from shapes_viz.ui.views import VIEWS  # imported here: views imports the modules that import this one

    return [view.label for view in VIEWS]


def _ranges() -> tuple[str, ...]:
    from shapes_viz.ui.explorer import RANGES

    return RANGES


def choices() -> dict[str, list[str]]:
    """The values the link may carry for "view", "range", "method" and "lesson"."""
    from shapes_viz.ui.lessons import LESSONS

    return {"view": [slug(label) for label in _labels()], "range": list(RANGE_SLUGS), "method": list(METHODS),
            "lesson": [lesson.id for lesson in LESSONS]}


def _query() -> dict[str, list[str]]:
    params = st.query_params
    return {key: params.get_all(key) for key in params}


def shared_record(x: np.ndarray, label: str = LINK_LABEL) -> dict[str, Any]:
    """The plain record of an input carried by a link (the state of SHARED_INPUT and COMPARE_A)."""
    return {"x": x, "digest": resources.input_digest(x), "label": label}


def apply_link() -> None:
    """Read the URL once per session and make its view this session's (call before anything is drawn)."""
    if st.session_state.get(state.SHARE_READ):
        return
    st.session_state[state.SHARE_READ] = True
    query = _query()
    lang = query.pop(LANG, None)
    shared = link.decode(query, choices())
    apply(shared)
    if lang is not None:
        _apply_language(lang)


def _apply_language(values: list[str]) -> None:
    """A link's `lang`: one of i18n.LANGUAGES becomes the session's language; anything else joins the notice."""
    value = values[-1] if values else None
    if value in i18n.LANGUAGES:
        i18n.set_language(value)
    else:
        problems = list(st.session_state.get(state.SHARE_NOTICE) or [])
        st.session_state[state.SHARE_NOTICE] = [*problems, link.PROBLEMS["bad_value"].format(key=LANG)]


def apply(shared: link.SharedView) -> None:
    """Make a decoded link the session's view: tab, layer, channel, range, method, input, A, morph step."""
    st.session_state[state.SHARE_NOTICE] = list(shared.problems) or None
    if shared.view is not None:
        st.session_state[state.VIEW_TAB] = {slug(label): label for label in _labels()}[shared.view]
    if shared.layer is not None:
        st.session_state[state.PICKED_LAYER] = shared.layer
    if shared.channel is not None:
        state.set_channel(shared.channel)
    if shared.range is not None:
        st.session_state[state.COLOR_RANGE] = _ranges()[RANGE_SLUGS.index(shared.range)]
    if shared.method is not None:
        st.session_state[state.WHY_PICKED_METHOD] = shared.method
    if shared.x is not None:
        st.session_state[state.SHARED_INPUT] = shared_record(shared.x)
        st.session_state[state.PICKED_FILE] = None
        st.session_state[state.INPUT_TAB] = "Examples"
    if shared.a is not None:
        st.session_state[state.COMPARE_A] = shared_record(shared.a, LINK_A_LABEL)
    if shared.t is not None:
        st.session_state[state.MORPH_STEP] = min(shared.t, STEPS - 1)
    st.session_state[state.LESSON] = shared.lesson


def render_notice() -> None:
    """The link's refused parameters, once (a warning, never a traceback)."""
    problems = st.session_state.get(state.SHARE_NOTICE)
    if problems:
        st.session_state[state.SHARE_NOTICE] = None
        listed = "; ".join(problem_text(problem) for problem in problems[:5]) + (" ..." if len(problems) > 5 else "")
        st.warning(t("share.notice", problems=listed), icon=":material/link_off:")


def problem_text(problem: str) -> str:
    """A refused parameter's text (the codec's English, `link.PROBLEMS`) in the session's language."""
    for name, template in link.PROBLEMS.items():
        pattern = re.escape(template)
        for field in ("key", "count"):
            pattern = pattern.replace(re.escape("{" + field + "}"), f"(?P<{field}>.*)")
        match = re.fullmatch(pattern, problem)
        if match:
            return t(f"share.problem.{name}", **match.groupdict())
    return problem


@st.cache_data(max_entries=256, show_spinner=False)
def encoded(identity: resources.Identity | None, digest: str, _x: np.ndarray) -> str:
    """The link text of an input: 8 bits, or 16 when 8 would move a probability by more than link.TOLERANCE."""
    bits = 8
    if identity is not None:
        try:
            bits = link.choose_bits(resources.load_engine(identity).engine, _x)
        except Exception:  # noqa: BLE001 - no usable model: 8 bits
            bits = 8
    return link.encode_input(_x, bits)


def current_params() -> dict[str, str]:
    """The query parameters of what the page shows now."""
    from shapes_viz.ui.inputs import current_choice

    session = st.session_state
    params: dict[str, str] = {}
    tab = i18n.tab_id(session.get(state.VIEW_TAB), "view")
    if tab in _labels():
        params["view"] = slug(tab)
    if session.get(state.PICKED_LAYER):
        params["layer"] = str(session[state.PICKED_LAYER])
    params["ch"] = str(int(session.get(state.CHANNEL) or 0))
    if session.get(state.COLOR_RANGE) in _ranges():
        params["range"] = RANGE_SLUGS[_ranges().index(session[state.COLOR_RANGE])]
    if session.get(state.WHY_PICKED_METHOD) in METHODS:
        params["method"] = session[state.WHY_PICKED_METHOD]
    identity = resources.model_identity()
    choice = current_choice()
    if choice.x is not None:
        params["x"] = encoded(identity, choice.digest, choice.x)
    pinned = session.get(state.COMPARE_A)
    if pinned:
        params["a"] = encoded(identity, pinned["digest"], pinned["x"])
        params["t"] = str(int(session.get(state.MORPH_STEP) or 0))
    if session.get(state.LESSON):
        params["lesson"] = session[state.LESSON]
    lang = i18n.language()
    if lang != i18n.DEFAULT or session.get(state.LANGUAGE):  # the language travels once it is not the default
        params[LANG] = lang
    return params


def write_link() -> None:
    """Make the URL carry the current view (only when it changed since the last write)."""
    with guarded("share link"):
        if not st.session_state.get(state.SHARE_READ):
            return  # never overwrite a link before it was read
        params = current_params()
        if params != st.session_state.get(state.SHARE_WRITTEN):
            st.query_params.from_dict(params)
            st.session_state[state.SHARE_WRITTEN] = params

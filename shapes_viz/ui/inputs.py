"""The input, three ways (Draw, Upload, Examples), and "what the model sees".

Every source goes through the one `preprocess` function. The open tab's input is kept in session state
(`state.INPUT`, plain data); the parts that show it (what the model sees, the prediction, the explorer)
are fragments that read it. The Draw tab is a live canvas: while the pen moves, its callback
preprocesses each report and reruns only those fragments (`canvas_fragments`), never the page; a new
upload does the same (`_upload_changed`). An input is preprocessed once: a rerun that finds the same source
(`ref`) reuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from shapes_viz import figures
from shapes_viz.config import CHANNELS, CLASS_NAMES, IMAGE_SIZE
from shapes_viz.errors import EmptyImageError, ImageError
from shapes_viz.preprocessing import EMPTY_CODE, EMPTY_MESSAGE, preprocess, to_uint8_image
from shapes_viz.ui import i18n, resources, state
from shapes_viz.ui.i18n import class_name, t
from shapes_viz.ui.live_canvas import current_report, engine_data, live_canvas, parse_drawing, requested_digest
from shapes_viz.ui.safety import guarded, guarded_callback

SOURCES = ("Draw", "Upload", "Examples")
BLANK = np.ones((1, IMAGE_SIZE, IMAGE_SIZE, CHANNELS), np.float32)  # what the model would see of empty paper
DRAWING_LABEL = i18n.stored("stored.drawing")  # kept in English in session state; shown through i18n.shown
LIVE_SUFFIX = i18n.stored("stored.drawing_live")[len(DRAWING_LABEL):]  # " (live)": while the pen is still down


@dataclass(frozen=True)
class InputChoice:
    """What the open input tab holds.

    Attributes:
        source: "Draw", "Upload", "Examples" or "Link" (an input a share link carried, shown by Examples).
        x: (1, 28, 28, 3) float32 model input, or None when there is nothing usable.
        digest: the cache key of x's activations (`resources.input_digest`), "" without x.
        message: why `x` is None (shown instead of a prediction), "" otherwise: an English text (a core error's
            message, a "stored.*" text) or a text already in the session's language; `shown_message` shows it.
        message_code, message_values: the code and plain values of a core error's message (`errors.ShapesVizError`;
            "" and {} for other messages), so that the message follows a change of language.
        level: "info" (nothing yet) or "warning" (the input was refused).
        label: a short description of the input ("your drawing", a file name).
        ref: where the input came from (canvas key and report number, upload id, example file and
            version): the same ref means the same input, so it is not preprocessed again.
    """

    source: str
    x: np.ndarray | None
    message: str = ""
    level: str = "info"
    label: str = ""
    ref: str = ""
    digest: str = ""
    message_code: str = ""
    message_values: dict[str, Any] = field(default_factory=dict)

    def as_state(self) -> dict[str, Any]:
        return {"source": self.source, "x": self.x, "message": self.message, "level": self.level,
                "label": self.label, "ref": self.ref, "digest": self.digest, "message_code": self.message_code,
                "message_values": dict(self.message_values)}

    @classmethod
    def from_state(cls, value: dict[str, Any] | None) -> InputChoice:
        if not value:
            return cls("Draw", None, t("input.draw_first"))
        return cls(**value)

    @classmethod
    def refused(cls, source: str, exc: ImageError, label: str, ref: str) -> InputChoice:
        """No input: `exc` says why (an EmptyImageError as information, other refusals as a warning)."""
        level = "info" if isinstance(exc, EmptyImageError) else "warning"
        return cls(source, None, str(exc), level, label, ref, message_code=exc.code or "",
                   message_values=dict(exc.values))

    def shown_message(self) -> str:
        """The message as the page shows it, in the session's language ("" without one)."""
        return i18n.error_text(self.message_code or None, self.message_values, fallback=i18n.shown(self.message))


def current_choice() -> InputChoice:
    """The open tab's input, as the last run or canvas report left it."""
    return InputChoice.from_state(state.input_state())


def render_input(data_dir: Path) -> InputChoice:
    """Draw the three input tabs; remember and return the open tab's input.

    All three tabs are drawn (so the canvas keeps its drawing and the uploader its file while another
    tab is open); only the open one is turned into a model input.
    """
    tabs = st.tabs(i18n.tab_labels(state.INPUT_TAB, "source", SOURCES), key=state.INPUT_TAB, on_change="rerun")
    opened = next((name for name, tab in zip(SOURCES, tabs) if tab.open), "Draw")
    with tabs[0]:
        draw_tab(opened == "Draw")
    with tabs[1]:
        _upload(opened == "Upload")
    with tabs[2]:
        _examples(data_dir, opened == "Examples")
    return current_choice()


def _from(source: str, label: str, image, ref: str) -> InputChoice:
    try:
        x = preprocess(image)
        return InputChoice(source, x, label=label, ref=ref, digest=resources.input_digest(x))
    except ImageError as exc:
        return InputChoice.refused(source, exc, label, ref)


def _remember(ref: str, make) -> None:
    """Store the input `make()` builds, unless the stored one already came from `ref`."""
    stored = state.input_state()
    if stored is None or stored.get("ref") != ref:
        state.set_input(make().as_state())


# --- Draw ------------------------------------------------------------------------------------------------


@st.fragment(key=state.DRAW_FRAGMENT)
def draw_tab(active: bool) -> None:
    """The live canvas, Clear, and (when the Draw tab is open) the drawing as the current input."""
    with guarded("input"):
        key = state.canvas_key()
        engine = _canvas_engine(key)
        with st.container(key="draw_canvas"):
            report = live_canvas(key, on_change=_drawing_changed, engine=engine)
        st.button(t("input.clear"), key=state.CLEAR_CANVAS, on_click=_clear, icon=":material/delete:")
        st.caption(t("input.draw_caption"))
        if active:
            _remember_drawing(key, report)


def _canvas_settings() -> dict[str, Any]:
    """What the canvas' in-browser network shows besides the prediction: the page's layer, channel, colour
    range and switched-off channels, with the published model's identity; and whether the server still wants
    reports while the pen moves (the Why view's map follows the pen)."""
    session = st.session_state
    return {"identity": resources.model_identity(), "layer": session.get(state.PICKED_LAYER),
            "channel": int(session.get(state.CHANNEL) or 0), "range": session.get(state.COLOR_RANGE),
            "off": {layer: list(channels) for layer, channels in state.knockout()},
            # The Why view's cheap map follows the pen on the server: keep reporting while the pen moves.
            "report_live": bool(i18n.tab_id(session.get(state.VIEW_TAB), "view") == state.WHY_VIEW
                                and (session.get(state.WHY_FOLLOWS_PEN) or not session.get(state.WHY_READY)))}


def _canvas_engine(key: str) -> dict[str, Any] | None:
    """The canvas component's "engine" data for this run (the weights too when the browser asked for them)."""
    settings = _canvas_settings()
    st.session_state[state.CANVAS_SENT] = dict(settings)
    identity = settings.pop("identity")
    return engine_data(identity, {**settings, "classes": i18n.class_names(), "head": t("canvas.live_head")}, requested_digest(key))


def _remember_drawing(key: str, report: Any) -> None:
    """Make the canvas report the current input (preprocessed once per report)."""
    try:
        drawing = parse_drawing(report)
    except ImageError as exc:
        ref, error = f"draw:{key}:unreadable", exc
        _remember(ref, lambda: InputChoice.refused("Draw", error, DRAWING_LABEL, ref))
        return
    if drawing is None:
        ref = f"draw:{key}:empty"
        _remember(ref, lambda: InputChoice("Draw", None, EMPTY_MESSAGE, "info", DRAWING_LABEL, ref,
                                           message_code=EMPTY_CODE))
        return
    ref = f"draw:{key}:{drawing.seq}"
    label = DRAWING_LABEL + (LIVE_SUFFIX if drawing.pen_down else "")
    _remember(ref, lambda: _from("Draw", label, drawing.png, ref))


@guarded_callback("input")
def _drawing_changed() -> None:
    """A canvas report arrived: make it the input and rerun only what shows the input."""
    key = state.canvas_key()
    report = current_report(key)
    _remember_drawing(key, report)
    pen_down = isinstance(report, dict) and report.get("pen") == "down"
    fragments = canvas_fragments(st.session_state, pen_down)
    if not pen_down and st.session_state.get(state.CANVAS_SENT) != _canvas_settings():
        fragments = (state.DRAW_FRAGMENT, *fragments)  # the canvas' own network follows the page's settings
    rerun_fragments(fragments)


def canvas_fragments(session: Mapping[str, Any], pen_down: bool) -> tuple[str, ...]:
    """The fragments a canvas report reruns, by the open view tab (`session`: the session state).

    Explorer (and the other tabs): while the pen is down, the prediction and the selected channel's heatmap;
    otherwise everything that shows the input. Why?: while the pen is down, the prediction and the map when
    its method is cheap (`WHY_FOLLOWS_PEN`), the prediction alone when it is not (the map follows when the
    pen lifts); otherwise everything. Before a view shows its map or heatmap (no input yet), everything.
    """
    view = i18n.tab_id(session.get(state.VIEW_TAB), "view")  # the open tab's English label, whatever the language
    own = state.VIEW_CANVAS_FRAGMENTS.get(view)
    if own is not None:  # Compare, Where?: their own fragment (see state.VIEW_CANVAS_FRAGMENTS)
        return own[0] if pen_down else own[1]
    if view == state.WHY_VIEW:
        if not (pen_down and session.get(state.WHY_READY)):
            return state.WHY_PEN_UP_FRAGMENTS
        return state.WHY_PEN_DOWN_FRAGMENTS if session.get(state.WHY_FOLLOWS_PEN) else (state.PREDICTION_FRAGMENT,)
    ready = session.get(state.EXPLORER_READY)
    return state.PEN_DOWN_FRAGMENTS if pen_down and ready else state.PEN_UP_FRAGMENTS


@guarded_callback("input")
def _clear() -> None:
    """Clear: a fresh canvas (a new key) and no input."""
    state.clear_canvas()
    _remember_drawing(state.canvas_key(), None)
    rerun_fragments((state.DRAW_FRAGMENT, *canvas_fragments(st.session_state, pen_down=False)))


def rerun_fragments(keys: tuple[str, ...], whole_page_without_view: bool = False) -> None:
    """From a callback: rerun only these fragments. The last one is the open view's (or nested in it), which
    exists only while that view's tab is open and shows it; without it, the others rerun (or the page), or the
    whole page when `whole_page_without_view` (a new input that every view must see at once)."""
    try:
        st.rerun(list(keys))
    except StreamlitAPIException:  # a fragment key not rendered in this session's last full run
        st.rerun("app" if whole_page_without_view else (list(keys[:-1]) or "app"))


# --- Upload and Examples ---------------------------------------------------------------------------------


@st.fragment(key=state.UPLOAD_FRAGMENT)
def _upload(active: bool) -> None:
    """The Upload tab (a fragment): the uploader and, when the tab is open, its file as the current input.

    A new or removed file reruns this fragment and the ones that show the input (`_upload_changed`), not
    the page (sidebar, input tabs, title): the WebSocket load test of 20 sessions x 50 interactions with a
    layer job running, back to back, measured upload-to-prediction p50 72-84 ms and p95 368-414 ms this way,
    119-141 ms and 513-694 ms with a full run per upload.
    """
    with guarded("input"):
        uploaded = st.file_uploader(
            t("input.upload_label"),
            type=["png", "jpg", "jpeg"],
            accept_multiple_files=False,
            key=state.UPLOAD,
            help=t("input.upload_help"),
            on_change=_upload_changed,
        )
        if not active:
            return
        _remember_upload(uploaded)
        if uploaded is not None and current_choice().x is not None:
            st.image(uploaded.getvalue(), caption=uploaded.name, width=140)


def _remember_upload(uploaded) -> None:
    """Make the uploaded file (a Streamlit UploadedFile, or None) the current input."""
    if uploaded is None:
        state.set_input(InputChoice("Upload", None, t("input.upload_first"), "info", ref="upload:none").as_state())
        return
    ref = f"upload:{uploaded.file_id}"
    _remember(ref, lambda: _from("Upload", uploaded.name, uploaded.getvalue(), ref))


@guarded_callback("input")
def _upload_changed() -> None:
    """A file was uploaded or removed: make it the input, rerun the Upload tab and what shows the input (the
    open view's fragments, as after a pen stroke), or the page when the open view has none."""
    _remember_upload(st.session_state.get(state.UPLOAD))
    shown = canvas_fragments(st.session_state, pen_down=False)  # the prediction first, the open view's last
    rerun_fragments((*shown[:-1], state.UPLOAD_FRAGMENT, shown[-1]), whole_page_without_view=True)


def _examples(data_dir: Path, active: bool) -> None:
    folder = resources.test_folder(data_dir)
    files = resources.class_images(str(folder)) if folder else {}
    if not any(files.values()):
        if active:
            state.set_input(InputChoice(
                "Examples", None,
                t("input.no_examples", folder=resources.shown_path(data_dir)), "info",
                ref="examples:none",
            ).as_state())
        return
    classes = [name for name in CLASS_NAMES if files.get(name)]
    name = st.radio(t("input.class"), classes, horizontal=True, key=state.EXAMPLE_CLASS, on_change=_unpick,
                    format_func=i18n.bound(class_name))
    paths = files[name]
    if len(paths) > 1:
        index = st.slider(t("input.image"), 1, len(paths), 1, key=state.EXAMPLE_INDEX, on_change=_unpick) - 1
    else:
        index = 0
    path = paths[min(index, len(paths) - 1)]
    label = f"{name}/{Path(path).name}"
    picked = st.session_state.get(state.PICKED_FILE)
    shared = st.session_state.get(state.SHARED_INPUT)
    if shared and not picked:  # an input a share link carried (ui/share.py): source "Link"
        _shared(shared, active)
        return
    if picked:
        path, label = picked, resources.shown_path(picked)
        st.caption(t("input.picked", label=label))
        st.button(t("input.back"), key=state.UNPICK, on_click=_unpick)
    else:
        st.caption(t("input.example_from", label=label, folder=resources.shown_path(folder)))
    with guarded("examples"):
        st.image(resources.pixel_image(path), width=140)
    if active:
        try:
            version = Path(path).stat().st_mtime_ns
        except OSError:
            version = 0
        ref = f"example:{path}:{version}"
        _remember(ref, lambda: _from("Examples", label, Path(path), ref))


def _shared(shared: dict[str, Any], active: bool) -> None:
    """The input a share link carried ({"x", "digest", "label"}), kept across reruns like a picked file."""
    st.caption(t("input.from_link", label=i18n.shown(shared["label"])))
    st.button(t("input.back"), key=state.UNPICK, on_click=_unpick)
    st.image(resources.enlarged(to_uint8_image(shared["x"])), width=140)
    if active:
        ref = f"link:{shared['digest']}"
        _remember(ref, lambda: InputChoice("Link", shared["x"], label=shared["label"], ref=ref, digest=shared["digest"]))


def pick_file(path: str) -> None:
    """Callback: make a data-set drawing (any split) the input, through the Examples tab."""
    st.session_state[state.PICKED_FILE] = str(path)
    st.session_state[state.SHARED_INPUT] = None
    st.session_state[state.INPUT_TAB] = "Examples"


def _unpick() -> None:
    st.session_state[state.PICKED_FILE] = None
    st.session_state[state.SHARED_INPUT] = None


# --- what the model sees ---------------------------------------------------------------------------------


@st.fragment(key=state.MODEL_VIEW_FRAGMENT)
def render_model_view() -> None:
    """'What the model sees': the exact 28x28 array the model gets, enlarged nearest-neighbour."""
    with guarded("model view"):
        choice = current_choice()
        # Blank paper until there is an input: the chart (and the browser's Plotly code) is there from the
        # first page load, so the first prediction does not wait for it.
        x = choice.x if choice.x is not None else BLANK
        seen = figures.input_image(x, height=300)
        seen.update_layout(title=dict(text=t("input.seen_title", rows=x.shape[1], cols=x.shape[2])))
        st.plotly_chart(
            seen, key="model_view", width="stretch",
            config={"displayModeBar": False},
        )
        if choice.x is None:
            st.caption(t("input.seen_nothing"))
        else:
            st.caption(t("input.seen"))

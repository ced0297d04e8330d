"""What am I looking at? A caption for every layer from live numbers, a small glossary, and five one-click
lessons a teacher can link to (a lesson is a share link with a caption; see `ui.share`).

    layer_caption(engine, layer, values, dead_on_data)   the explorer's "What am I looking at?" text
    lessons_view(ctx)                                   the Lessons tab: the lessons, their links, the glossary
    render_banner()                                     the open lesson's caption at the top of the page

Every number a lesson or caption states is computed from the published model when it is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from shapes_viz.compare import link
from shapes_viz.config import CLASS_NAMES
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.explain.cells import receptive_box
from shapes_viz.ui import resources, state
from shapes_viz.ui.context import PageContext
from shapes_viz.ui.safety import guarded, guarded_callback

BLANK = np.ones((1, 28, 28, 3), np.float32)

OPERATIONS = {
    "Conv2D": "slides {size} filters of {h}x{w} over every position of its input, adds a bias and keeps the "
              "positive part ({activation}): each channel is one filter's answer, position by position.",
    "MaxPooling2D": "keeps the largest value of each {h}x{w} window: the map halves, a feature found anywhere in "
                    "the window survives.",
    "Dropout": "does nothing when the model is used (it switched random units off only while training): its "
               "output equals its input.",
    "Flatten": "lays the maps out as one long vector, nothing computed.",
    "Dense": "gives each of its {size} units a weighted sum of every input value plus a bias ({activation}).",
}
LOOK_FOR = {
    "Conv2D": "Early convolutions answer to strokes and edges; deeper ones to corners, curves and whole parts.",
    "MaxPooling2D": "The same patterns as the layer before, coarser.",
    "Dropout": "The same as the layer before.",
    "Flatten": "The units in groups of the previous layer's channels.",
    "Dense": "Few units are strong for a given drawing; the last layer's three are the class probabilities.",
}
CAPTION = ("**{name}** ({kind}) {operation} Output {shape}; {params:,} parameters. Each value sees a "
           "{rh}x{rw} patch of the input (receptive field). Dead for this input (never positive): {dead} of "
           "{count}{data}. {look}")
DEAD_ON_DATA = "; dead on the whole data set: {count}"
GLOSSARY = {
    "Activation": "a number a layer computes; a map of them per channel.",
    "Channel": "one filter's map in a convolution layer (one unit in a dense layer).",
    "Dead": "never positive: after the ReLU the channel is zero everywhere (for this input, or for every drawing).",
    "Receptive field": "the patch of input pixels one value can depend on; it grows with depth.",
    "Padding": "zeros added around a map so a 3x3 filter fits at the border: for this network, ink.",
    "Softmax": "turns the last three numbers into probabilities that add up to 1: there is no 'none of these'.",
    "Cosine similarity": "how alike two activations are in direction, from -1 to 1 (1: proportional).",
    "PCA": "the two directions along which the data set's activations vary most; a fixed map, so new inputs land exactly.",
}
WHAT_AM_I_LOOKING_AT = "What am I looking at?"
TEXT = {
    "title": "#### Lessons: one click opens a prepared view (and its link reproduces it anywhere)",
    "open": "Open",
    "close": "Close the lesson",
    "link": "Link (append to the app's address):",
    "share": "#### Share this view",
    "share_caption": "The address bar always carries the current view; this is the same link:",
    "glossary": "#### Glossary",
    "needs_h5": "Lessons are computed on the numpy engine, which reads .h5 model files only.",
    "no_model": "No model loaded.",
}


def layer_caption(engine: NumpyEngine, name: str, values: np.ndarray, dead_on_data: np.ndarray | None) -> str:
    """The "What am I looking at?" text of layer `name`, from the model's spec and this input's `values`."""
    spec = engine.layers[engine.layer_names.index(name)].spec
    operation = OPERATIONS.get(spec.kind, "").format(size=spec.size, h=spec.window[0], w=spec.window[1],
                                                     activation=spec.activation)
    size = receptive_box(engine, name).size
    flat = values.reshape(-1, values.shape[-1])
    dead = int((~(flat > 0).any(axis=0)).sum())
    data = DEAD_ON_DATA.format(count=int(np.sum(dead_on_data))) if dead_on_data is not None else ""
    return CAPTION.format(name=name, kind=spec.kind, operation=operation, shape=" x ".join(map(str, values.shape)),
                          params=spec.params, rh=size[0], rw=size[1], dead=dead, count=values.shape[-1], data=data,
                          look=LOOK_FOR.get(spec.kind, ""))


# --- lessons -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lesson:
    """A lesson: its id (the link's "lesson"), title, and a builder of its view and caption from live numbers."""

    id: str
    title: str
    build: Callable[[NumpyEngine, dict[str, np.ndarray]], tuple[dict, str]]


def _blank(engine: NumpyEngine, examples: dict) -> tuple[dict, str]:
    p = engine.probabilities(BLANK)[0]
    winner = int(np.argmax(p))
    return (dict(view="explorer", layer="predictions", ch=winner, x=BLANK),
            f"A blank page is called **{CLASS_NAMES[winner]}** at {p[winner]:.0%}: the softmax has no 'nothing' "
            "class, its three probabilities must add up to 1. Not a bug: a lesson about what a classifier can say.")


def _padding(engine: NumpyEngine, examples: dict) -> tuple[dict, str]:
    values = engine.run(BLANK).layer("conv1_1").values
    inner = values[1:-1, 1:-1].mean(axis=(0, 1))
    border = np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]]).mean(axis=0)
    channel = int(np.argmax(np.abs(border - inner)))
    return (dict(view="explorer", layer="conv1_1", ch=channel, range="layer", x=BLANK),
            f"Blank paper, yet channel {channel} of conv1_1 draws a frame: zero padding puts 0s around the image, "
            f"and 0 is ink for this network. Border mean {border[channel]:.3f} against {inner[channel]:.3f} inside.")


def _morph(engine: NumpyEngine, examples: dict) -> tuple[dict, str]:
    from shapes_viz.compare.morph import morph

    a, b = examples["circles"], examples["squares"]
    result = morph(engine, a, b)
    flips = result.flips()
    where = f"t = {float(result.t[flips[0]]):.2f}" if flips else "nowhere"
    return (dict(view="compare", layer="conv3_2", ch=0, a=a, x=b, t=10),
            f"A circle (A) turns into a square (B) pixel by pixel. Slide the morph: the predicted class flips at "
            f"{where}. Do the heatmaps change suddenly there, or smoothly?")


def _dead(engine: NumpyEngine, examples: dict) -> tuple[dict, str]:
    x = examples["triangles"]
    acts = engine.run(x)
    for layer in acts.layers:
        if layer.is_map and layer.stats.dead.any():
            channel = int(np.flatnonzero(layer.stats.dead)[0])
            p = acts.probabilities
            off = engine.probabilities(x, {layer.name: [channel]})[0]
            return (dict(view="channels", layer=layer.name, ch=channel, x=x),
                    f"Channel {channel} of {layer.name} is never positive for this triangle (dead). Switch it off "
                    f"in the Knock-out panel: the probabilities stay {np.round(p, 4).tolist()} "
                    f"(off: {np.round(off, 4).tolist()}): a dead channel passes nothing on.")
    return dict(view="channels", x=x), "No channel is dead for this drawing."


def _decides(engine: NumpyEngine, examples: dict) -> tuple[dict, str]:
    from shapes_viz.compare.similarity import layer_similarity

    a, b = examples["circles"], examples["triangles"]
    similarity = layer_similarity(engine.run(a), engine.run(b))
    names = list(engine.layer_names)
    first, deep = similarity[names.index("conv1_1")], similarity[names.index("conv3_2")]
    return (dict(view="compare", layer="conv3_2", ch=0, a=a, x=b, t=0),
            f"A circle and a triangle look alike to conv1_1 (cosine similarity {first:.2f}: strokes are strokes) "
            f"and apart at conv3_2 ({deep:.2f}). Follow the similarity chart: where does it drop? That is where "
            "the network decides.")


LESSONS = (
    Lesson("blank", "The blank page called a triangle", _blank),
    Lesson("padding", "The padding frame in conv1_1", _padding),
    Lesson("morph", "A circle morphing into a square", _morph),
    Lesson("dead", "A dead channel switched off changes nothing", _dead),
    Lesson("decides", "Where the network decides", _decides),
)


@st.cache_data(max_entries=4, show_spinner=False)
def built(identity: resources.Identity, data_dir: str) -> dict[str, tuple[dict[str, str], str]]:
    """{lesson id: (query parameters, caption)} for the model of `identity` and the data folder's examples."""
    engine = resources.load_engine(identity).engine
    folder = resources.test_folder(Path(data_dir))
    files = resources.class_images(str(folder)) if folder else {}
    examples = {}
    for name in CLASS_NAMES:
        path = sorted(files[name])[0] if files.get(name) else None
        x = resources.model_view_of_file(path, Path(path).stat().st_mtime_ns) if path else None
        examples[name] = x if x is not None else BLANK
    result = {}
    for lesson in LESSONS:
        values, caption = lesson.build(engine, examples)
        result[lesson.id] = (link.encode(**values, lesson=lesson.id), caption)
    return result


@guarded_callback("lessons")
def _open(params: dict[str, str]) -> None:
    from shapes_viz.ui.share import apply, choices

    apply(link.decode(params, choices()))


@guarded_callback("lessons")
def _close() -> None:
    st.session_state[state.LESSON] = None


def render_banner(ctx: PageContext) -> None:
    """The open lesson's title and caption (from a link or the Lessons tab), with a Close button."""
    lesson_id = st.session_state.get(state.LESSON)
    if not lesson_id or ctx.identity is None or not isinstance(getattr(ctx.loaded, "engine", None), NumpyEngine):
        return
    with guarded("lessons"):
        title = {lesson.id: lesson.title for lesson in LESSONS}[lesson_id]
        _, caption = built(ctx.identity, str(ctx.data_dir))[lesson_id]
        with st.container(key="lesson_banner", border=True):
            st.markdown(f"**Lesson: {title}.** {caption}")
            st.button(TEXT["close"], key="lesson_close", on_click=_close)


def lessons_view(ctx: PageContext) -> None:
    """The Lessons tab (a view of `views.VIEWS`)."""
    from shapes_viz.ui.share import current_params

    if ctx.loaded is None or ctx.identity is None:
        st.info(TEXT["no_model"])
        return
    if not isinstance(ctx.loaded.engine, NumpyEngine):
        st.info(TEXT["needs_h5"])
        return
    st.markdown(TEXT["title"])
    lessons = built(ctx.identity, str(ctx.data_dir))
    for lesson in LESSONS:
        params, caption = lessons[lesson.id]
        with st.container(border=True, key=f"lesson_{lesson.id}"):
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(f"**{lesson.title}**. {caption}")
            right.button(TEXT["open"], key=f"lesson_open_{lesson.id}", on_click=_open, args=(params,))
            st.caption(TEXT["link"])
            st.code("?" + urlencode(params), language=None, wrap_lines=True)
    st.markdown(TEXT["share"])
    st.caption(TEXT["share_caption"])
    st.code(_base_url() + "?" + urlencode(current_params()), language=None, wrap_lines=True)
    st.markdown(TEXT["glossary"])
    st.markdown("\n".join(f"- **{term}**: {meaning}" for term, meaning in GLOSSARY.items()))


def _base_url() -> str:
    try:
        return str(st.context.url or "").split("?")[0]
    except Exception:  # noqa: BLE001 - no browser context (tests)
        return ""

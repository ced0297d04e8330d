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
from shapes_viz.ui import i18n, resources, state
from shapes_viz.ui.i18n import t
from shapes_viz.ui.context import PageContext, numpy_engine_or_say
from shapes_viz.ui.safety import guarded, guarded_callback

BLANK = np.ones((1, 28, 28, 3), np.float32)

KINDS = ("Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense")  # layer kinds with an operation and a "look for" text
GLOSSARY = ("activation", "channel", "dead", "receptive_field", "padding", "softmax", "cosine", "pca")  # glossary.<id>


def layer_caption(engine: NumpyEngine, name: str, values: np.ndarray, dead_on_data: np.ndarray | None) -> str:
    """The "What am I looking at?" text of layer `name`, from the model's spec and this input's `values`."""
    spec = engine.layers[engine.layer_names.index(name)].spec
    known = spec.kind in KINDS
    operation = t(f"lessons.operation.{spec.kind}", size=spec.size, h=spec.window[0], w=spec.window[1],
                  activation=spec.activation) if known else ""
    size = receptive_box(engine, name).size
    flat = values.reshape(-1, values.shape[-1])
    dead = int((~(flat > 0).any(axis=0)).sum())
    data = t("lessons.dead_on_data", count=int(np.sum(dead_on_data))) if dead_on_data is not None else ""
    return t("lessons.caption", name=name, kind=spec.kind, operation=operation, shape=" x ".join(map(str, values.shape)),
             params=spec.params, rh=size[0], rw=size[1], dead=dead, count=values.shape[-1], data=data,
             look=t(f"lessons.look_for.{spec.kind}") if known else "")


# --- lessons -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lesson:
    """A lesson: its id (the link's "lesson"; its title is the catalogue's "lessons.title.<id>"), and a builder of its
    view and caption (in a language) from live numbers."""

    id: str
    build: Callable[[NumpyEngine, dict[str, np.ndarray], str], tuple[dict, str]]

    @property
    def title(self) -> str:
        return t(f"lessons.title.{self.id}")


def _blank(engine: NumpyEngine, examples: dict, lang: str) -> tuple[dict, str]:
    p = engine.probabilities(BLANK)[0]
    winner = int(np.argmax(p))
    return (dict(view="explorer", layer="predictions", ch=winner, x=BLANK),
            i18n.text(lang, "lessons.blank", name=i18n.text(lang, f"class.{CLASS_NAMES[winner]}"), p=p[winner]))


def _padding(engine: NumpyEngine, examples: dict, lang: str) -> tuple[dict, str]:
    values = engine.run(BLANK).layer("conv1_1").values
    inner = values[1:-1, 1:-1].mean(axis=(0, 1))
    border = np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]]).mean(axis=0)
    channel = int(np.argmax(np.abs(border - inner)))
    return (dict(view="explorer", layer="conv1_1", ch=channel, range="layer", x=BLANK),
            i18n.text(lang, "lessons.padding", channel=channel, border=border[channel], inner=inner[channel]))


def _morph(engine: NumpyEngine, examples: dict, lang: str) -> tuple[dict, str]:
    from shapes_viz.compare.morph import morph

    a, b = examples["circles"], examples["squares"]
    result = morph(engine, a, b)
    flips = result.flips()
    where = f"t = {float(result.t[flips[0]]):.2f}" if flips else i18n.text(lang, "lessons.nowhere")
    return (dict(view="compare", layer="conv3_2", ch=0, a=a, x=b, t=10),
            i18n.text(lang, "lessons.morph", where=where))


def _dead(engine: NumpyEngine, examples: dict, lang: str) -> tuple[dict, str]:
    x = examples["triangles"]
    acts = engine.run(x)
    for layer in acts.layers:
        if layer.is_map and layer.stats.dead.any():
            channel = int(np.flatnonzero(layer.stats.dead)[0])
            p = acts.probabilities
            off = engine.probabilities(x, {layer.name: [channel]})[0]
            return (dict(view="channels", layer=layer.name, ch=channel, x=x),
                    i18n.text(lang, "lessons.dead", channel=channel, layer=layer.name, p=np.round(p, 4).tolist(),
                              off=np.round(off, 4).tolist()))
    return dict(view="channels", x=x), i18n.text(lang, "lessons.none_dead")


def _decides(engine: NumpyEngine, examples: dict, lang: str) -> tuple[dict, str]:
    from shapes_viz.compare.similarity import layer_similarity

    a, b = examples["circles"], examples["triangles"]
    similarity = layer_similarity(engine.run(a), engine.run(b))
    names = list(engine.layer_names)
    first, deep = similarity[names.index("conv1_1")], similarity[names.index("conv3_2")]
    return (dict(view="compare", layer="conv3_2", ch=0, a=a, x=b, t=0),
            i18n.text(lang, "lessons.decides", first=first, deep=deep))


LESSONS = (
    Lesson("blank", _blank),
    Lesson("padding", _padding),
    Lesson("morph", _morph),
    Lesson("dead", _dead),
    Lesson("decides", _decides),
)


@st.cache_data(max_entries=4, show_spinner=False)
def built(identity: resources.Identity, data_dir: str, lang: str = i18n.DEFAULT) -> dict[str, tuple[dict[str, str], str]]:
    """{lesson id: (query parameters, caption in `lang`)} for the model of `identity` and the data folder's examples."""
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
        values, caption = lesson.build(engine, examples, lang)
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
        _, caption = built(ctx.identity, str(ctx.data_dir), i18n.language())[lesson_id]
        with st.container(key="lesson_banner", border=True):
            st.markdown(t("lessons.banner", title=title, caption=caption))
            st.button(t("lessons.close"), key="lesson_close", on_click=_close)


def lessons_view(ctx: PageContext) -> None:
    """The Lessons tab (a view of `views.VIEWS`)."""
    from shapes_viz.ui.share import current_params

    if numpy_engine_or_say(ctx, "lessons.needs_h5") is None:
        return
    st.markdown(t("lessons.heading"))
    lessons = built(ctx.identity, str(ctx.data_dir), i18n.language())
    for lesson in LESSONS:
        params, caption = lessons[lesson.id]
        with st.container(border=True, key=f"lesson_{lesson.id}"):
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(t("lessons.item", title=lesson.title, caption=caption))
            right.button(t("lessons.open"), key=f"lesson_open_{lesson.id}", on_click=_open, args=(params,))
            st.caption(t("lessons.link"))
            st.code("?" + urlencode(params), language=None, wrap_lines=True)
    st.markdown(t("lessons.share"))
    st.caption(t("lessons.share_caption"))
    st.code(_base_url() + "?" + urlencode(current_params()), language=None, wrap_lines=True)
    st.markdown(t("lessons.glossary"))
    st.markdown("\n".join("- " + t(f"glossary.{term}") for term in GLOSSARY))


def _base_url() -> str:
    try:
        return str(st.context.url or "").split("?")[0]
    except Exception:  # noqa: BLE001 - no browser context (tests)
        return ""

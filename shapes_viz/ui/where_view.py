"""Where does my drawing sit? The data set in a 2-D PCA of one layer's outputs, the current input a star.

    where(ctx)   a fragment: both splits of the data folder as dots (colour: true class; red outline:
                 misclassified), the current input projected with the same PCA, a click on a dot loads it

The PCA is fitted once per (model identity, data fingerprint, layer) and shared by every session; placing the
current input is one small matrix product (its activations are the page's cached ones). A canvas report reruns
this fragment while the pen moves, so the star follows the drawing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import streamlit as st

from shapes_viz.channels.scan import load_splits
from shapes_viz.compare import pca
from shapes_viz.errors import DatasetError
from shapes_viz.figures import selected_channel
from shapes_viz.figures.compare import pca_scatter
from shapes_viz.ui import channels_data, resources, state
from shapes_viz.ui.compare_view import pin_button
from shapes_viz.ui.context import PageContext, numpy_engine_or_say
from shapes_viz.ui.i18n import class_names, t
from shapes_viz.ui.inputs import current_choice, pick_file
from shapes_viz.ui.safety import guarded, guarded_callback

LAYERS = ("dense", "pool3")  # the layers offered (those the model has); the first is the default


@dataclass(frozen=True)
class Placement:
    """The data set in a PCA of one layer: the fit, and per drawing its true and predicted class and file."""

    pca: pca.Pca
    labels: np.ndarray  # (N,) int64
    predicted: np.ndarray  # (N,) int64
    paths: tuple[str, ...]
    names: tuple[str, ...]  # the paths as the page shows them


@st.cache_resource(max_entries=2, show_spinner=False)  # `placement`'s callers show a spinner in the session's language
def dataset_outputs(identity: resources.Identity, data_dir: str, fingerprint: str) -> dict:
    """{"labels", "paths", "probabilities", <layer>: (N, ...) float32 for each of LAYERS}: one batched forward pass."""
    engine = resources.load_engine(identity).engine
    data = load_splits(data_dir)
    outputs = engine.forward(data.images)
    found = {name: outputs[engine.layer_names.index(name)] for name in LAYERS if name in engine.layer_names}
    return dict(found, labels=np.asarray(data.labels, dtype=np.int64), paths=tuple(str(p) for p in data.paths),
                probabilities=outputs[-1])


@st.cache_resource(max_entries=4, show_spinner=False)
def placement(identity: resources.Identity, data_dir: str, fingerprint: str, layer: str) -> Placement:
    """The PCA of `layer` over the data folder (fitted once per model, data and layer; shared, read-only)."""
    outputs = dataset_outputs(identity, data_dir, fingerprint)
    fitted = pca.fit(outputs[layer])
    paths = outputs["paths"]
    return Placement(fitted, outputs["labels"], np.argmax(outputs["probabilities"], axis=1), paths,
                     tuple(resources.shown_path(p) for p in paths))


@st.fragment(key=state.WHERE_FRAGMENT)
def where(ctx: PageContext) -> None:
    """The view (a tab of `views.VIEWS`)."""
    with guarded("where"):
        _where(ctx)
    from shapes_viz.ui.share import write_link

    write_link()


def _where(ctx: PageContext) -> None:
    engine = numpy_engine_or_say(ctx, "where.needs_h5", "where.no_model")
    if engine is None:
        return
    data_dir = str(ctx.data_dir)
    try:
        fingerprint = channels_data.fingerprint(data_dir)
        offered = [name for name in LAYERS if name in engine.layer_names]
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        layer = left.radio(t("where.layer"), offered, horizontal=True, key=state.WHERE_LAYER)
        with st.spinner(t("spinner.dataset_outputs")):
            fitted = placement(ctx.identity, data_dir, fingerprint, layer)
    except DatasetError as exc:
        st.info(t("where.no_data", error=exc, folder=resources.shown_path(data_dir)))
        return
    with right:
        pin_button("where")
    choice = current_choice()
    current = None
    if choice.x is not None:
        values = resources.activations(ctx.identity, choice.digest, choice.x).layer(layer).values
        current = fitted.pca.project(values)[0]
    explained = fitted.pca.explained
    title = t("where.title", count=len(fitted.labels), layer=layer, explained=float(explained.sum()))
    st.plotly_chart(
        pca_scatter(fitted.pca.points, fitted.labels, fitted.predicted, class_names(), fitted.names,
                    explained=explained, layer=layer, current=current, title=title),
        key=state.WHERE_SCATTER, width="stretch", selection_mode="points",
        on_select=functools.partial(_clicked, fitted.paths),
    )
    wrong = int((fitted.predicted != fitted.labels).sum())
    st.caption(t("where.caption", wrong=wrong))
    if choice.x is None:
        st.info(t("where.no_input"))


@guarded_callback("where")
def _clicked(paths: tuple[str, ...]) -> None:
    """A click on a dot: that drawing becomes the input (through the Examples tab, like the Channels view's Use)."""
    event = st.session_state.get(state.WHERE_SCATTER)
    selection = getattr(event, "selection", None) if event is not None else None
    if selection is None and isinstance(event, dict):
        selection = event.get("selection")
    index = selected_channel(selection)  # the dot's customdata[0]: its index in the data set
    if index is not None and 0 <= index < len(paths):
        pick_file(paths[index])
        st.rerun()  # the whole page: the input tabs, the prediction and this view follow the new input

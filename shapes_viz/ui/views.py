"""The tabs beside the explorer. A view is a label and a render function; add one to VIEWS to add a tab.

Tabs are lazy (`on_change="rerun"`): only the open tab's view runs, so the test-set evaluation of the
Training tab costs nothing until someone opens it (and then once per model file version).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from shapes_viz import figures
from shapes_viz.config import CLASS_NAMES
from shapes_viz.ui import resources, state
from shapes_viz.ui.channels_view import channels
from shapes_viz.ui.compare_view import compare
from shapes_viz.ui.context import PageContext
from shapes_viz.ui.explorer import explorer
from shapes_viz.ui.lessons import lessons_view
from shapes_viz.ui.safety import guarded
from shapes_viz.ui.where_view import where
from shapes_viz.ui.why import why


@dataclass(frozen=True)
class View:
    label: str
    render: Callable[[PageContext], None]


def _explorer_view(ctx: PageContext) -> None:
    explorer(ctx)


WHY_TWO_CONVS = (
    "**Why two Conv2D per block?** Two stacked 3x3 convolutions see a 5x5 patch of their input, like one 5x5 "
    "kernel, but with fewer weights (2·9 = 18 instead of 25 per channel pair) and a ReLU in between, so each "
    "block can combine simple edges into more complex parts before pooling halves the map."
)


def _model_view(ctx: PageContext) -> None:
    if ctx.loaded is None:
        st.info("No model loaded.")
        return
    rows = ctx.loaded.summary
    st.dataframe(
        {
            "layer": [row.name for row in rows],
            "type": [row.kind for row in rows],
            "output shape": [" x ".join(str(d) for d in row.output_shape) for row in rows],
            "params": [row.params for row in rows],
        },
        hide_index=True, width="stretch", height=min(40 + 35 * len(rows), 640), key="model_summary",
    )
    st.markdown(f"**Total: {sum(row.params for row in rows):,} parameters** in {len(rows)} layers.")
    st.markdown(WHY_TWO_CONVS)


def _training_view(ctx: PageContext) -> None:
    if ctx.identity is None or ctx.loaded is None:
        st.info("No model loaded.")
        return
    history = resources.history(ctx.identity)
    st.markdown("#### Training curves of the current model")
    if history and history.get("loss"):
        st.plotly_chart(
            figures.training_curves(history, best_epoch=history.get("best_epoch")),
            key="history_curves", width="stretch",
        )
        data = history.get("data") or {}
        st.caption(
            f"Best epoch {history.get('best_epoch')} (validation accuracy "
            f"{history.get('val_accuracy_best', float('nan')):.1%}); data: {data.get('source', '?')}; "
            f"{history.get('seconds', 0):.0f} s; seed {history.get('seed', '?')}."
        )
    else:
        st.info("This model file has no training history beside it.")
    st.markdown("#### Test set")
    folder = resources.test_folder(ctx.data_dir)
    if folder is None:
        st.info(f"No test set: {resources.shown_path(ctx.data_dir)} has no test_set/ folder of class subfolders.")
        return
    result = resources.test_set_evaluation(ctx.identity, str(folder))
    st.markdown(f"Accuracy on `{resources.shown_path(folder)}`: **{result.accuracy:.1%}** ({result.correct}/{result.total}).")
    left, right = st.columns([1, 1])
    with left:
        st.plotly_chart(figures.confusion_matrix(result.confusion, CLASS_NAMES), key="confusion", width="stretch")
    with right:
        st.dataframe(
            {"class": list(result.per_class_accuracy), "accuracy": [f"{v:.1%}" for v in result.per_class_accuracy.values()]},
            hide_index=True, key="per_class_accuracy",
        )
        if result.skipped:
            st.caption(f"{len(result.skipped)} files skipped (not usable images).")
    wrong = result.misclassified
    st.markdown(f"#### Misclassified ({len(wrong)})")
    if not wrong:
        st.success("Every test image is classified correctly.")
        return
    shown = wrong[:24]
    columns = st.columns(6)
    for i, item in enumerate(shown):
        image = resources.model_view_image(str(item.path))
        if image is None:
            continue
        p = float(np.asarray(item.probabilities)[item.predicted_index])
        columns[i % 6].image(
            image, width="content",
            caption=f"{CLASS_NAMES[item.true_index]} → {CLASS_NAMES[item.predicted_index]} ({p:.0%})",
        )
    if len(wrong) > len(shown):
        st.caption(f"... and {len(wrong) - len(shown)} more.")


PREVIEW_PER_CLASS = 8


def _dataset_view(ctx: PageContext) -> None:
    splits = resources.data_splits(ctx.data_dir)
    if not splits:
        st.info(f"No data in {resources.shown_path(ctx.data_dir)}: expected training_set/ and test_set/ (or class folders).")
        return
    counts = {}
    for split, folder in splits.items():
        files = resources.class_images(str(folder))
        counts[split] = {name: len(files.get(name, [])) for name in CLASS_NAMES}
    st.dataframe(
        {"class": list(CLASS_NAMES), **{split: [counts[split][n] for n in CLASS_NAMES] for split in counts}},
        hide_index=True, key="dataset_counts",
    )
    split = st.radio("Preview", list(splits), horizontal=True, key=state.DATASET_SPLIT)
    files = resources.class_images(str(splits[split]))
    st.caption(f"The first {PREVIEW_PER_CLASS} images per class, as the model sees them (28x28, enlarged).")
    for name in CLASS_NAMES:
        paths = files.get(name, [])[:PREVIEW_PER_CLASS]
        st.markdown(f"**{name}** ({len(files.get(name, []))} images)")
        if not paths:
            st.caption("none")
            continue
        images = [resources.model_view_image(path) for path in paths]
        columns = st.columns(PREVIEW_PER_CLASS)
        for column, path, image in zip(columns, paths, images):
            if image is not None:
                column.image(image, caption=Path(path).name, width="content")


VIEWS: tuple[View, ...] = (
    View("Explorer", _explorer_view),
    View(state.WHY_VIEW, why),
    View("Channels", channels),
    View(state.COMPARE_VIEW, compare),
    View(state.WHERE_VIEW, where),
    View(state.LESSONS_VIEW, lessons_view),
    View("Model", _model_view),
    View("Training", _training_view),
    View("Dataset", _dataset_view),
)


def render_views(ctx: PageContext, views: tuple[View, ...] = VIEWS) -> None:
    """One lazy tab per view; only the open one runs, each guarded on its own."""
    tabs = st.tabs([view.label for view in views], key=state.VIEW_TAB, on_change="rerun")
    for view, tab in zip(views, tabs):
        if tab.open is False:
            continue
        with tab, guarded(view.label.lower()):
            view.render(ctx)

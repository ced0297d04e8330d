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
from shapes_viz.ui.i18n import class_name, class_names, t, tab_labels
from shapes_viz.ui.lessons import lessons_view
from shapes_viz.ui.safety import guarded
from shapes_viz.ui.where_view import where
from shapes_viz.ui.why import why
from shapes_viz.ui.variants_view import render_variants


@dataclass(frozen=True)
class View:
    label: str  # the English tab label: the view's id (the shown label: i18n key "view.<slug>")
    render: Callable[[PageContext], None]


def _explorer_view(ctx: PageContext) -> None:
    explorer(ctx)


def _model_view(ctx: PageContext) -> None:
    if ctx.loaded is None:
        st.info(t("common.no_model"))
        return
    rows = ctx.loaded.summary
    st.dataframe(
        {
            t("views.col_layer"): [row.name for row in rows],
            t("views.col_type"): [row.kind for row in rows],
            t("views.col_shape"): [" x ".join(str(d) for d in row.output_shape) for row in rows],
            t("views.col_params"): [row.params for row in rows],
        },
        hide_index=True, width="stretch", height=min(40 + 35 * len(rows), 640), key="model_summary",
    )
    st.markdown(t("views.total", params=sum(row.params for row in rows), layers=len(rows)))
    st.markdown(t("views.why_two_convs"))
    with guarded("variants"):
        render_variants()


def _training_view(ctx: PageContext) -> None:
    if ctx.identity is None or ctx.loaded is None:
        st.info(t("common.no_model"))
        return
    history = resources.history(ctx.identity)
    st.markdown(t("views.curves_title"))
    if history and history.get("loss"):
        st.plotly_chart(
            figures.training_curves(history, best_epoch=history.get("best_epoch")),
            key="history_curves", width="stretch",
        )
        data = history.get("data") or {}
        st.caption(t(
            "views.history", epoch=history.get("best_epoch"), accuracy=history.get("val_accuracy_best", float("nan")),
            source=data.get("source", "?"), seconds=history.get("seconds", 0), seed=history.get("seed", "?"),
        ))
    else:
        st.info(t("views.no_history"))
    st.markdown(t("views.test_title"))
    folder = resources.test_folder(ctx.data_dir)
    if folder is None:
        st.info(t("views.no_test_set", folder=resources.shown_path(ctx.data_dir)))
        return
    with st.spinner(t("spinner.evaluating")):
        result = resources.test_set_evaluation(ctx.identity, str(folder))
    st.markdown(t("views.accuracy", folder=resources.shown_path(folder), accuracy=result.accuracy,
                  correct=result.correct, total=result.total))
    left, right = st.columns([1, 1])
    with left:
        confusion = figures.confusion_matrix(result.confusion, class_names())
        confusion.update_layout(title=t("views.confusion_title"))
        st.plotly_chart(confusion, key="confusion", width="stretch")
    with right:
        st.dataframe(
            {t("views.col_class"): [class_name(name) for name in result.per_class_accuracy],
             t("views.col_accuracy"): [f"{v:.1%}" for v in result.per_class_accuracy.values()]},
            hide_index=True, key="per_class_accuracy",
        )
        if result.skipped:
            st.caption(t("views.skipped", count=len(result.skipped)))
    wrong = result.misclassified
    st.markdown(t("views.misclassified", count=len(wrong)))
    if not wrong:
        st.success(t("views.all_correct"))
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
            caption=t("views.wrong_caption", true=class_name(item.true_index), predicted=class_name(item.predicted_index),
                      p=p),
        )
    if len(wrong) > len(shown):
        st.caption(t("views.more", count=len(wrong) - len(shown)))


PREVIEW_PER_CLASS = 8


def _dataset_view(ctx: PageContext) -> None:
    splits = resources.data_splits(ctx.data_dir)
    if not splits:
        st.info(t("views.no_data", folder=resources.shown_path(ctx.data_dir)))
        return
    counts = {}
    for split, folder in splits.items():
        files = resources.class_images(str(folder))
        counts[split] = {name: len(files.get(name, [])) for name in CLASS_NAMES}
    st.dataframe(
        {t("views.col_class"): class_names(), **{split: [counts[split][n] for n in CLASS_NAMES] for split in counts}},
        hide_index=True, key="dataset_counts",
    )
    split = st.radio(t("views.preview"), list(splits), horizontal=True, key=state.DATASET_SPLIT)
    files = resources.class_images(str(splits[split]))
    st.caption(t("views.preview_caption", count=PREVIEW_PER_CLASS))
    for name in CLASS_NAMES:
        paths = files.get(name, [])[:PREVIEW_PER_CLASS]
        st.markdown(t("views.class_count", name=class_name(name), count=len(files.get(name, []))))
        if not paths:
            st.caption(t("views.none"))
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
    """One lazy tab per view (labels in the session's language); only the open one runs, each guarded on its own."""
    labels = tab_labels(state.VIEW_TAB, "view", [view.label for view in views])
    tabs = st.tabs(labels, key=state.VIEW_TAB, on_change="rerun")
    for view, tab in zip(views, tabs):
        if tab.open is False:
            continue
        with tab, guarded(view.label.lower()):
            view.render(ctx)

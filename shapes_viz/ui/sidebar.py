"""The sidebar: the current model, the Retrain form, and live training progress.

Training never runs here: Start asks the server's `TrainingJobs` to spawn the CLI trainer. Every session
sees the same job through a status fragment that polls it: every 2 s on a page drawn while a job runs
(epoch k of n, live loss/accuracy curves, Cancel), every few seconds otherwise. Progress and outcome are
shown in place: the server never reruns a page by itself (a page rerun drops what the session was doing at
that moment: explorer clicks, an upload waiting for its URL). Start stays enabled; a press while a job runs
is told so. The freshly published model (a new file identity) is used from the page's next interaction.
A retrained model that is worse than the current one on the same validation images is not published (the
trainer's publish gate; the outcome says "the current model stays" with both accuracies) unless "Publish
even if worse" is ticked.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import streamlit as st

from shapes_viz import figures
from shapes_viz.artifacts import read_history
from shapes_viz.config import DEFAULT_RECIPE, RECIPES
from shapes_viz.errors import ShapesVizError
from shapes_viz.dataset import TRAIN_FOLDER
from shapes_viz.training import CANCELLED, DONE, FAILED, KEPT, STARTING, JobStatus, TrainingJobs, TrainRequest
from shapes_viz.training.estimate import estimate_training, time_left
from shapes_viz.training.precision import training_policy
from shapes_viz.ui import i18n, resources, state
from shapes_viz.ui.i18n import t
from shapes_viz.ui.safety import guarded, guarded_callback

RECENT_SECONDS = 15 * 60  # a finished job's outcome stays in the sidebar this long
# How often a page polls the training job. Every poll is a fragment run on the one server process, for every
# open page: at 1 s, 20 pages watching a training cost the sessions' interactions more than the trainer did
# (WebSocket load test); an epoch takes seconds, so 2 s loses nothing.
LIVE_POLL_S = 2
IDLE_POLL_S = 5
# The Data radio's values and their texts' catalogue keys.
SOURCES = {"project data folder": "sidebar.source_project", "freshly generated": "sidebar.source_generated"}


def _jobs() -> TrainingJobs:
    """The server's one job manager for the published model."""
    return resources.training_jobs(str(resources.published_path()))


def render_language() -> None:
    """The language selector: the browser's language until one is picked here (or by a shared link's `lang`).
    Switching keeps everything else: widget values and session state never depend on the language."""
    st.session_state[state.LANGUAGE_SELECT] = i18n.language()
    st.radio(t("sidebar.language"), list(i18n.LANGUAGES), key=state.LANGUAGE_SELECT, horizontal=True,
             format_func=i18n.LANGUAGES.__getitem__, on_change=_language_changed)


def _language_changed() -> None:
    i18n.set_language(st.session_state.get(state.LANGUAGE_SELECT))


def render_model_info(identity: resources.Identity | None, error: str | None) -> None:
    """What model is in use: file, when and on what it was trained, validation accuracy, best epoch."""
    st.subheader(t("sidebar.model"))
    path = resources.model_path()
    if identity is None or error:
        st.error(error or t("sidebar.no_model_file", path=resources.shown_path(path)))
        return
    history = resources.history(identity)
    modified = dt.datetime.fromtimestamp(identity[1] / 1e9).strftime("%Y-%m-%d %H:%M")
    st.markdown(t("sidebar.file", name=path.name, kb=identity[2] / 1024, modified=modified))
    if history is None:
        st.caption(t("sidebar.no_history"))
        return
    data = history.get("data") or {}
    recipe = (history.get("recipe") or {}).get("name", "?")
    date = str(history.get("date", "?")).replace("T", " ")[:16]
    val = history.get("val_accuracy_best")
    cols = st.columns(2)
    cols[0].metric(t("sidebar.val_accuracy"), f"{val:.1%}" if isinstance(val, (int, float)) else "?")
    cols[1].metric(t("sidebar.best_epoch", epochs=len(history.get("loss") or [])), f"{history.get('best_epoch', '?')}")
    source = data.get("source") or "?"
    st.caption(t("sidebar.trained", date=date, recipe=recipe, source=source, train=data.get("train_count", "?"),
                 val=data.get("val_count", "?")))


def render_training(data_dir: Path) -> None:
    """The Retrain form and the status of the current/last training job."""
    st.subheader(t("sidebar.retrain"))
    with guarded("training"):  # a failure of the Cancel callback shows in "training progress", by the button
        jobs = _jobs()
        status = jobs.status()
        _notice()
        if status.active:
            _live_status()
        else:
            _idle_status()
        _form(data_dir)


def _notice() -> None:
    notice = st.session_state.get(state.TRAIN_NOTICE)
    if notice:
        {"warning": st.warning, "error": st.error, "success": st.success}.get(notice["level"], st.info)(notice["text"])
        st.session_state[state.TRAIN_NOTICE] = None


def _form(data_dir: Path) -> None:
    recipes = list(RECIPES)
    with st.form("retrain_form", border=True):
        source = st.radio(
            t("sidebar.data"), list(SOURCES), key="train_source", format_func=i18n.bound(lambda value: t(SOURCES[value])),
            help=t("sidebar.data_help", folder=resources.shown_path(data_dir)),
        )
        cols = st.columns(2)
        per_class = cols[0].number_input(t("sidebar.per_class"), 3, 5000, 100, step=10, key="train_per_class")
        seed = cols[1].number_input(t("sidebar.seed"), 0, 2**31 - 1, 0, step=1, key="train_seed")
        recipe = st.selectbox(
            t("sidebar.recipe"), recipes, index=recipes.index(DEFAULT_RECIPE), key="train_recipe",
            format_func=i18n.bound(_recipe_label),
        )
        cols = st.columns(2)
        epochs = cols[0].number_input(
            t("sidebar.epochs"), 1, 500, value=None, step=1, key="train_epochs", placeholder=t("sidebar.recipes"),
        )
        batch = cols[1].number_input(
            t("sidebar.batch"), 1, 1024, value=None, step=1, key="train_batch", placeholder=t("sidebar.recipes"),
        )
        publish_if_worse = st.checkbox(
            t("sidebar.publish_if_worse"), key="train_publish_if_worse", value=False,
            help=t("sidebar.publish_help"),
        )
        _expected_time(data_dir, source, int(per_class), recipe, epochs)
        # Never disabled: a press while another job runs is told so (a button disabled on a page drawn during
        # a job would stay disabled after it, since the page is not rerun when the job ends).
        submitted = st.form_submit_button(t("sidebar.start"), key="train_start", type="primary", width="stretch")
    if submitted:
        request = TrainRequest(
            data_dir=data_dir,
            generate=int(per_class) if source == "freshly generated" else None,
            recipe=recipe,
            epochs=int(epochs) if epochs else None,
            batch_size=int(batch) if batch else None,
            seed=int(seed),
            publish_if_worse=bool(publish_if_worse),
        )
        _start(request)


def _expected_time(data_dir: Path, source: str, per_class: int, recipe: str, epochs: int | None) -> None:
    """How long Start would take with the form's values (as last submitted: a form reruns only on Start)."""
    if source == "freshly generated":
        test = min(max(round(per_class * 0.3), 1), per_class - 1)  # as `generate_dataset` splits
        train_count = 3 * (per_class - test)
    else:
        train_count = _folder_train_count(data_dir)
    if not train_count:
        return
    history = read_history(resources.published_path())
    try:
        policy = training_policy()
    except ShapesVizError:  # a bad SHAPES_VIZ_TRAINING_PRECISION: the trainer says so when started
        policy = "float32"
    estimate = estimate_training(RECIPES[recipe], train_count, history, epochs or None, policy)
    st.caption(t("sidebar.expected_time", expected=_duration(estimate.expected_s), at_most=_duration(estimate.at_most_s),
                 train=train_count) + " " + t("sidebar.expected_basis_last" if estimate.basis == "last run"
                                              else "sidebar.expected_basis_typical"))


def _folder_train_count(data_dir: Path) -> int:
    """Training images the trainer would use from `data_dir`: its training_set, or 70% of a folder of class
    folders (the trainer's split); 0 when there is none."""
    splits = resources.data_splits(data_dir)
    folder = splits.get(TRAIN_FOLDER) or splits.get("data")
    if folder is None:
        return 0
    count = sum(len(files) for files in resources.class_images(str(folder)).values())
    return count if TRAIN_FOLDER in splits else round(count * 0.7)


def _duration(seconds: float) -> str:
    """"45 s", "2 min 05 s": the same in English and French."""
    seconds = max(int(round(seconds)), 1)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def _recipe_label(name: str) -> str:
    """A recipe as the selectbox shows it: its name and description (the catalogue's when it has one)."""
    key = f"sidebar.recipe_description.{name}"
    return f"{name}: {t(key) if key in i18n.catalogue(i18n.DEFAULT) else RECIPES[name].description}"


def _start(request: TrainRequest) -> None:
    if request.generate is None and not resources.data_splits(request.data_dir):
        state.notice(
            "warning",
            t("sidebar.no_class_folders", folder=resources.shown_path(request.data_dir)),
        )
        st.rerun()
    jobs = _jobs()
    try:
        jobs.start(request)
    except ShapesVizError as exc:  # the notice shows in the next run (st.rerun below): this language
        state.notice("warning", i18n.error_text(exc))
    else:
        state.notice("info", t("sidebar.started"))
    st.rerun()


@guarded_callback("training progress")  # shown by the progress fragment, which reruns alone
def _cancel() -> None:
    jobs = _jobs()
    if jobs.cancel():
        state.notice("warning", t("sidebar.cancelling"))


@st.fragment(run_every=LIVE_POLL_S)
def _live_status() -> None:
    """The job's status, every 2 s: drawn on pages whose last full run saw a job running. It goes on
    polling after the job ends, until the page's next full run draws `_idle_status` instead."""
    _status()


@st.fragment(run_every=IDLE_POLL_S)
def _idle_status() -> None:
    """The job's status, every few seconds: a job another session starts appears here within 5 s."""
    _status()


def _status() -> None:
    """Progress and Cancel while a job runs, else the last job's outcome; never a page rerun."""
    with guarded("training progress"):
        status = _jobs().status()
        if not status.active:
            _outcome(status)
            return
        _progress(status)
        st.button(
            t("sidebar.cancel"), key=state.CANCEL_TRAINING, on_click=_cancel, icon=":material/stop:",
            disabled=status.cancel_requested, width="stretch",
        )


def _progress(status: JobStatus) -> None:
    if status.state == STARTING:
        st.info(t("sidebar.starting"))
        st.progress(0.0)
        return
    total = max(status.epochs, 1)
    label = t("sidebar.epoch", epoch=status.epoch, epochs=status.epochs)
    if status.cancel_requested:
        label += t("sidebar.epoch_cancelling")
    st.progress(min(status.epoch / total, 1.0), text=label)
    left = time_left(status.epoch, status.epochs, status.history["val_accuracy"], status.history["val_loss"],
                     status.patience, status.min_loss_improvement, status.seconds_so_far or 0.0,
                     min_epochs=status.min_epochs)
    st.caption(t("sidebar.time_left", expected=_duration(left.expected_s), at_most=_duration(left.at_most_s))
               if left else t("sidebar.time_left_starting"))
    if status.train_count is not None:
        st.caption(t("sidebar.job", recipe=status.recipe, train=status.train_count, val=status.val_count))
    if status.epoch:
        st.plotly_chart(
            figures.training_curves(status.history, epochs_total=status.epochs, stacked=True, height=380),
            key="live_curves", width="stretch", config={"displayModeBar": False},
        )


def _outcome(status: JobStatus) -> None:
    if status.state not in (DONE, KEPT, FAILED, CANCELLED) or status.finished_at is None:
        return
    age = time.time() - float(status.finished_at)
    if age > RECENT_SECONDS:
        return
    when = dt.datetime.fromtimestamp(float(status.finished_at)).strftime("%H:%M:%S")
    message = i18n.error_text(status.message_code, status.message_values, fallback=status.message)
    if status.state == DONE:
        st.success(t("sidebar.outcome", when=when, message=message))
    elif status.state == KEPT:
        st.info(t("sidebar.kept", when=when, message=message, label=t("sidebar.publish_if_worse")))
    elif status.state == CANCELLED:
        st.warning(t("sidebar.outcome", when=when, message=message))
    else:
        st.error(t("sidebar.failed", when=when, message=message))
    if status.skipped:
        with st.expander(t("sidebar.skipped", count=len(status.skipped))):
            st.write("\n".join(f"- {item}" for item in status.skipped[:50]))

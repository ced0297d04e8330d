"""The sidebar: the current model, the Retrain form, and live training progress.

Training never runs here: Start asks the server's `TrainingJobs` to spawn the CLI trainer. Every session
sees the same job. A page drawn while a job runs polls it every second (epoch k of n, live loss/accuracy
curves, Cancel) and reruns once when it ends, which enables its Start button again. A page drawn while no
job ran looks for one every few seconds and shows its progress, Cancel and outcome in place, without
rerunning the page (a page rerun drops the clicks being made at that moment). Either way the freshly
published model (a new file identity) is used from the page's next interaction.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from shapes_viz import figures
from shapes_viz.config import DEFAULT_RECIPE, RECIPES, settings
from shapes_viz.errors import ShapesVizError
from shapes_viz.training_jobs import CANCELLED, DONE, FAILED, JobStatus, TrainRequest
from shapes_viz.ui import resources, state
from shapes_viz.ui.safety import guarded, guarded_callback

RECENT_SECONDS = 15 * 60  # a finished job's outcome stays in the sidebar this long


def render_model_info(identity: resources.Identity | None, error: str | None) -> None:
    """What model is in use: file, when and on what it was trained, validation accuracy, best epoch."""
    st.subheader("Model")
    path = resources.model_path()
    if identity is None or error:
        st.error(error or f"No model file at {path}. Train one with the form below.")
        return
    history = resources.history(identity)
    modified = dt.datetime.fromtimestamp(identity[1] / 1e9).strftime("%Y-%m-%d %H:%M")
    st.markdown(f"**{path.name}**  \n{identity[2] / 1024:.0f} KB · file from {modified}")
    if history is None:
        st.caption("No training history beside this file.")
        return
    data = history.get("data") or {}
    recipe = (history.get("recipe") or {}).get("name", "?")
    date = str(history.get("date", "?")).replace("T", " ")[:16]
    val = history.get("val_accuracy_best")
    cols = st.columns(2)
    cols[0].metric("Val. accuracy", f"{val:.1%}" if isinstance(val, (int, float)) else "?")
    cols[1].metric(f"Best epoch (of {len(history.get('loss') or [])})", f"{history.get('best_epoch', '?')}")
    source = data.get("source") or "?"
    counts = f"{data.get('train_count', '?')} train / {data.get('val_count', '?')} validation images"
    st.caption(f"Trained {date} with recipe *{recipe}* on {source} ({counts}).")


def render_training(data_dir: Path) -> None:
    """The Retrain form and the status of the current/last training job."""
    st.subheader("Retrain")
    with guarded("training"):  # also shows a failure of the Cancel callback
        jobs = resources.training_jobs(str(resources.model_path()))
        status = jobs.status()
        _notice()
        if status.active:
            _live_progress()
        else:
            _idle_status()
        _form(data_dir, disabled=status.active)


def _notice() -> None:
    notice = st.session_state.get(state.TRAIN_NOTICE)
    if notice:
        {"warning": st.warning, "error": st.error, "success": st.success}.get(notice["level"], st.info)(notice["text"])
        st.session_state[state.TRAIN_NOTICE] = None


def _form(data_dir: Path, disabled: bool) -> None:
    recipes = list(RECIPES)
    with st.form("retrain_form", border=True):
        source = st.radio(
            "Data", ["project data folder", "freshly generated"], key="train_source",
            help=f"The project data folder is {data_dir}. Generated: a new set of drawings, N per class.",
        )
        cols = st.columns(2)
        per_class = cols[0].number_input("N per class", 3, 5000, 100, step=10, key="train_per_class")
        seed = cols[1].number_input("Seed", 0, 2**31 - 1, 0, step=1, key="train_seed")
        recipe = st.selectbox(
            "Recipe", recipes, index=recipes.index(DEFAULT_RECIPE), key="train_recipe",
            format_func=lambda name: f"{name}: {RECIPES[name].description}",
        )
        cols = st.columns(2)
        epochs = cols[0].number_input(
            "Epochs", 1, 500, value=None, step=1, key="train_epochs", placeholder="recipe's",
        )
        batch = cols[1].number_input(
            "Batch size", 1, 1024, value=None, step=1, key="train_batch", placeholder="recipe's",
        )
        submitted = st.form_submit_button(
            "Start training", key="train_start", type="primary", disabled=disabled, width="stretch",
        )
    if disabled:  # a press on a page drawn before the job started is dropped by Streamlit: say why
        st.caption("One training at a time for the whole server: Start is available again when this one ends.")
    if submitted:
        request = TrainRequest(
            data_dir=data_dir,
            generate=int(per_class) if source == "freshly generated" else None,
            recipe=recipe,
            epochs=int(epochs) if epochs else None,
            batch_size=int(batch) if batch else None,
            seed=int(seed),
        )
        _start(request)


def _start(request: TrainRequest) -> None:
    if request.generate is None and not resources.data_splits(request.data_dir):
        state.notice("warning", f"The data folder {request.data_dir} has no class folders; choose 'freshly generated'.")
        st.rerun()
    jobs = resources.training_jobs(str(resources.model_path()))
    try:
        jobs.start(request)
    except ShapesVizError as exc:
        state.notice("warning", str(exc))
    else:
        state.notice("info", "Training started. You can keep drawing and exploring meanwhile.")
    st.rerun()


@guarded_callback("training progress")  # shown by the progress fragment, which reruns alone
def _cancel() -> None:
    jobs = resources.training_jobs(str(resources.model_path()))
    if jobs.cancel():
        state.notice("warning", "Cancelling: the trainer stops within the current epoch; the old model stays.")


@st.fragment(run_every=1)
def _live_progress() -> None:
    """Polls the job every second while it runs; reruns the page when it ends."""
    with guarded("training progress"):
        status = resources.training_jobs(str(resources.model_path())).status()
        if not status.active:
            st.rerun()  # done, failed or cancelled: the whole page picks up the outcome (and a new model)
        _progress(status)
        st.button(
            "Cancel training", key=state.CANCEL_TRAINING, on_click=_cancel, icon=":material/stop:",
            disabled=status.cancel_requested, width="stretch",
        )


@st.fragment(run_every=5)
def _idle_status() -> None:
    """The last job's outcome; every few seconds it looks for a job another session started and, while one
    runs, shows its progress and Cancel in place. It does not rerun the page for it: every page rerunning
    when a job starts dropped the explorer clicks made at that moment. (This page's Start button stays
    enabled; a press is told that a training is running.)"""
    with guarded("training progress"):
        status = resources.training_jobs(str(resources.model_path())).status()
        if status.active:
            _progress(status)
            st.button(
                "Cancel training", key=state.CANCEL_TRAINING, on_click=_cancel, icon=":material/stop:",
                disabled=status.cancel_requested, width="stretch",
            )
            return
        _outcome(status)


def _progress(status: JobStatus) -> None:
    if status.state == "starting":
        st.info("Training is starting (loading TensorFlow and the data) ...")
        st.progress(0.0)
        return
    total = max(status.epochs, 1)
    label = f"Epoch {status.epoch} of {status.epochs}"
    if status.cancel_requested:
        label += " (cancelling)"
    st.progress(min(status.epoch / total, 1.0), text=label)
    if status.train_count is not None:
        st.caption(f"{status.recipe} recipe · {status.train_count} train / {status.val_count} validation images")
    if status.epoch:
        st.plotly_chart(
            figures.training_curves(status.history, epochs_total=status.epochs, stacked=True, height=380),
            key="live_curves", width="stretch", config={"displayModeBar": False},
        )


def _outcome(status: JobStatus) -> None:
    if status.state not in (DONE, FAILED, CANCELLED) or status.finished_at is None:
        return
    import time

    age = time.time() - float(status.finished_at)
    if age > RECENT_SECONDS:
        return
    when = dt.datetime.fromtimestamp(float(status.finished_at)).strftime("%H:%M:%S")
    if status.state == DONE:
        st.success(f"{when}: {status.message}")
    elif status.state == CANCELLED:
        st.warning(f"{when}: {status.message or 'Training cancelled; the previous model stays.'}")
    else:
        st.error(f"{when}: training failed, the previous model stays. {status.message}")
    if status.skipped:
        with st.expander(f"{len(status.skipped)} files skipped"):
            st.write("\n".join(f"- {item}" for item in status.skipped[:50]))


def data_dir() -> Path:
    return settings().data_dir

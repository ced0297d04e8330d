"""What a session sees of a training job: its states, `JobStatus`, and how a run folder's files fold into one.

A run folder (`<models>/.runs/<timestamp>/`) holds `job.json` (the request, the command, the trainer's pid,
its start time), `progress.jsonl` (the trainer's events, see `progress`), `log.txt` (the trainer's output)
and `stop` once cancelled. Everything a session shows of a job is read from these files, so every session
of the server (and a restarted server) sees the same job.

No Streamlit, Plotly or TensorFlow here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapes_viz.errors import plain_values
from shapes_viz.training import progress
from shapes_viz.training.progress import CANCELLED_CODE, CANCELLED_MESSAGE, METRICS, parse_progress

RUNS_FOLDER = ".runs"
JOB_FILE = "job.json"
PROGRESS_FILE = "progress.jsonl"
STOP_FILE = "stop"
LOG_FILE = "log.txt"

# States of a job. "starting": spawned, no "start" event yet (importing TensorFlow, loading data).
# "kept": trained normally, but the publish gate kept the current model (the new one was worse on the same
# validation images); not a failure.
IDLE, STARTING, RUNNING, DONE, FAILED, CANCELLED = "idle", "starting", "running", "done", "failed", "cancelled"
KEPT = "kept"
ACTIVE_STATES = frozenset({STARTING, RUNNING})


@dataclass(frozen=True)
class JobStatus:
    """A training job as the UI shows it: plain data.

    Attributes:
        state: "idle" (no job yet), "starting", "running", "done" (published), "kept" (trained, but the current
            model stays: the new one was worse), "failed" or "cancelled".
        run_dir: the job's run folder, None when idle.
        epoch: epochs finished so far; epochs: epochs planned (0 until the trainer says).
        history: {"loss", "accuracy", "val_loss", "val_accuracy"}: one float per finished epoch.
        message: why it failed, was cancelled or kept the current model; a summary when done (English).
        message_code, message_values: the message's stable code (str, the UI's key "errors.<code>") and the plain
            values (dict) it was built from, for the UI to show it in the page's language; None and {} when the
            message has no code (it is then shown as it is).
        best_epoch, val_accuracy: from the "done" event (val_accuracy: the new model's, also when kept).
        current_accuracy: the current (previous) model's accuracy on the same validation images, when measured.
        recipe, train_count, val_count, skipped: from the "start" event.
        request: the job's TrainRequest as a dict.
        started_at, finished_at: Unix times (finished_at None while active).
        cancel_requested: a stop file exists.
        patience, min_loss_improvement, min_epochs: the recipe's early stop (`stopping.EarlyStop`).
        seconds_so_far: from the first epoch's start to the last finished epoch's end (None before one ends), for
            the time left (`estimate.time_left`).
    """

    state: str
    run_dir: str | None = None
    epoch: int = 0
    epochs: int = 0
    history: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key in METRICS})
    message: str = ""
    message_code: str | None = None
    message_values: dict[str, Any] = field(default_factory=dict)
    best_epoch: int | None = None
    val_accuracy: float | None = None
    current_accuracy: float | None = None
    recipe: str | None = None
    train_count: int | None = None
    val_count: int | None = None
    skipped: list[str] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)
    model_path: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    cancel_requested: bool = False
    patience: int = 0
    min_loss_improvement: float = 0.0
    min_epochs: int = 0
    seconds_so_far: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


def read_job_file(run_dir: Path) -> dict[str, Any] | None:
    """The run's job.json as a dict, or None if it is missing, unreadable or not an object."""
    try:
        with open(run_dir / JOB_FILE) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readlines()
    except OSError:
        return []


def _last_log_line(path: Path, limit: int = 300) -> str:
    """The last meaningful line of a trainer log (skipping TensorFlow's noise), for a failure message."""
    lines = [line.strip() for line in _read_lines(path)[-50:] if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("W0000", "I0000", "WARNING: All log messages", "E0000")):
            return line[:limit]
    return ""


def pid_alive(pid: int, run_dir: Path) -> bool:
    """True if `pid` runs and (where /proc tells) its command line names this run folder (no pid reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        raw = cmdline.read_bytes()
    except OSError:
        return not cmdline.parent.parent.exists()  # no /proc on this system: trust kill(0)
    if not raw:
        return False  # a zombie has an empty command line
    return str(run_dir) in raw.decode(errors="replace")


def run_status(run_dir: Path, job: Mapping[str, Any], alive: bool, code: int | None) -> JobStatus:
    """The status of the job in `run_dir`, from its files and `job` (its job.json).

    Args:
        alive: the trainer process is running; code: its exit code when known (None otherwise).
    """
    summary = parse_progress(_read_lines(run_dir / PROGRESS_FILE))
    cancel_requested = (run_dir / STOP_FILE).exists()
    terminal = summary["terminal"]
    finished_at = None
    if terminal == progress.DONE:
        state = DONE
        summary.update(_published_message(summary["best_epoch"], summary["val_accuracy"], summary["current_accuracy"]))
    elif terminal == progress.KEPT:
        state = KEPT
    elif terminal == progress.CANCELLED:
        state = CANCELLED
    elif terminal == progress.ERROR:
        state = FAILED
    elif alive:
        state = RUNNING if summary["started"] else STARTING
    else:
        state = FAILED
        if job.get("spawn_error"):
            summary.update(_message(f"Could not start the trainer: {job['spawn_error']}",
                                    message_code="trainer_spawn_failed", error=job["spawn_error"]))
        elif cancel_requested:
            state = CANCELLED
            summary.update(_message(CANCELLED_MESSAGE, message_code=CANCELLED_CODE))
        else:
            summary.update(_ended_message(code, _last_log_line(run_dir / LOG_FILE)))
    if state not in ACTIVE_STATES:
        finished_at = _mtime(run_dir / PROGRESS_FILE) or job.get("finished_at")
    return JobStatus(
        state=state, run_dir=str(run_dir), epoch=summary["epoch"], epochs=summary["epochs"],
        history=summary["history"], message=summary["message"], message_code=summary["message_code"],
        message_values=summary["message_values"], best_epoch=summary["best_epoch"],
        val_accuracy=summary["val_accuracy"], current_accuracy=summary["current_accuracy"], recipe=summary["recipe"],
        train_count=summary["train_count"], val_count=summary["val_count"], skipped=summary["skipped"], request=dict(job.get("request") or {}),
        model_path=job.get("model_path"), started_at=job.get("started_at"), finished_at=finished_at,
        cancel_requested=cancel_requested, patience=summary["patience"],
        min_loss_improvement=summary["min_loss_improvement"], min_epochs=summary["min_epochs"],
        seconds_so_far=summary["seconds_so_far"],
    )


def _message(text: str, message_code: str, **values: Any) -> dict[str, Any]:
    """A status message as the summary keeps it: the English `text`, its code and the plain values it was built
    from (the English catalogue's "errors.<message_code>" filled with `values` is `text`)."""
    return {"message": text, "message_code": message_code, "message_values": plain_values(values)}


def _published_message(best_epoch: Any, accuracy: Any, previous: Any) -> dict[str, Any]:
    """The message of a published model: its best epoch, with its validation accuracy and the previous model's
    (floats in [0, 1]) when known."""
    if accuracy is not None and previous is not None:
        return _message(f"New model published: best epoch {best_epoch}, validation accuracy {float(accuracy):.1%} "
                        f"(the previous model: {float(previous):.1%} on the same images).",
                        message_code="job_published_compared", best_epoch=best_epoch, accuracy=float(accuracy),
                        previous=float(previous))
    if accuracy is not None:
        return _message(f"New model published: best epoch {best_epoch}, validation accuracy {float(accuracy):.1%}.",
                        message_code="job_published_accuracy", best_epoch=best_epoch, accuracy=float(accuracy))
    if previous is not None:
        return _message(f"New model published: best epoch {best_epoch} (the previous model: {float(previous):.1%} "
                        "on the same images).", message_code="job_published_previous", best_epoch=best_epoch,
                        previous=float(previous))
    return _message(f"New model published: best epoch {best_epoch}.", message_code="job_published",
                    best_epoch=best_epoch)


def _ended_message(exit_code: int | None, output: str) -> dict[str, Any]:
    """The message of a trainer that ended without a result event: its exit code (None: unknown) and its last
    meaningful output line ("" when none)."""
    if exit_code is not None:
        text = f"The training process ended with code {exit_code}; the previous model stays."
        if output:
            return _message(f"{text} Last output: {output}", message_code="trainer_exited_output",
                            exit_code=exit_code, output=output)
        return _message(text, message_code="trainer_exited", exit_code=exit_code)
    text = "The training process ended without reporting a result; the previous model stays."
    if output:
        return _message(f"{text} Last output: {output}", message_code="trainer_vanished_output", output=output)
    return _message(text, message_code="trainer_vanished")


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None

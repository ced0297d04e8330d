"""The progress events that pass between the trainer process and the app: their names, how the trainer
writes them (one JSON object per line, appended and flushed) and how the app folds them into one summary.

    {"event": "start", "epochs", "recipe", "patience", "min_loss_improvement", "min_epochs", "train_count",
     "val_count", "skipped", "time"}                                                training begins
    {"event": "epoch", "epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "time"}   one per epoch

("time": the Unix time of the event, from which the app tells the time left.)
    {"event": "done", "model_path", "best_epoch", "val_accuracy", "seconds", "publish_gate"}   published
    {"event": "kept", "message", "new_accuracy", "current_accuracy", "val_count"}   the gate kept the current model
    {"event": "cancelled"}                                                          stopped on request
    {"event": "error", "message"[, "busy": true]}                                  failed (busy: the lock was held)

A kept, cancelled or error event may also carry "code" and "values": the code and values of its message
(`errors.ShapesVizError`), from which the app shows the message in the page's language; events without them (an
older trainer's, an unexpected exception's) are read as before, their message shown as it is.

This module alone names them; `train` emits them through a plain callable, the CLI appends them to the file
given by --progress (`ProgressWriter`), and the job manager reads them back (`parse_progress`).
No TensorFlow, Streamlit or Plotly here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shapes_viz.errors import CODE_PATTERN, ModelNotPublished, ShapesVizError, TrainingBusyError, TrainingCancelled

Event = dict[str, Any]

START, EPOCH, DONE, KEPT, CANCELLED, ERROR = "start", "epoch", "done", "kept", "cancelled", "error"
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")

CANCELLED_MESSAGE = "Training cancelled; the previous model stays."
CANCELLED_CODE = "training_cancelled"  # CANCELLED_MESSAGE's code (the key "errors.training_cancelled" of the UI)
KEPT_MESSAGE = "Not published: the new model was worse; the current model stays."  # a kept event without message
FAILED_MESSAGE = "Training failed."  # an error event without message


def start_event(epochs: int, recipe: str, train_count: int, val_count: int, skipped: Sequence[str],
                patience: int = 0, min_loss_improvement: float = 0.0, min_epochs: int = 0) -> Event:
    """Data loaded and the model built: the first epoch starts now. `patience`, `min_loss_improvement`,
    `min_epochs`: the recipe's early stop (`stopping.EarlyStop`)."""
    return {"event": START, "epochs": epochs, "recipe": recipe, "patience": patience,
            "min_loss_improvement": min_loss_improvement, "min_epochs": min_epochs, "train_count": train_count,
            "val_count": val_count, "skipped": list(skipped), "time": time.time()}


def epoch_event(epoch: int, epochs: int, metrics: dict[str, float]) -> Event:
    """`metrics`: the float value of each of METRICS for this epoch (NaN where Keras gave none)."""
    return {"event": EPOCH, "epoch": epoch, "epochs": epochs, **{key: metrics[key] for key in METRICS},
            "time": time.time()}


def done_event(model_path: Path | str, history: dict[str, Any], gate: dict[str, Any]) -> Event:
    """The published run: `history` as written beside the model, `gate` the publish gate's record."""
    return {"event": DONE, "model_path": str(model_path), "best_epoch": history["best_epoch"],
            "val_accuracy": history["val_accuracy_best"], "seconds": history["seconds"], "publish_gate": gate}


def failure_event(exc: BaseException) -> Event:
    """The event that ends a run which raised `exc`: kept, cancelled, or an error with its message (and the
    message's "code" and "values" when the exception has a code; a kept event's describe `exc.summary`)."""
    if isinstance(exc, TrainingCancelled):
        return {"event": CANCELLED}
    if isinstance(exc, ModelNotPublished):
        return {"event": KEPT, "message": exc.summary, "new_accuracy": exc.new_accuracy,
                "current_accuracy": exc.current_accuracy, "val_count": exc.val_count, **_coded(exc)}
    if isinstance(exc, TrainingBusyError):
        return {"event": ERROR, "message": str(exc), "busy": True, **_coded(exc)}
    if isinstance(exc, ShapesVizError):
        return {"event": ERROR, "message": str(exc), **_coded(exc)}
    return {"event": ERROR, "message": f"{type(exc).__name__}: {exc}"}


def _coded(exc: ShapesVizError) -> Event:
    """{"code", "values"} of an exception that has a code, else {}."""
    return {"code": exc.code, "values": dict(exc.values)} if exc.code else {}


def event_message(event: Event) -> tuple[str | None, dict[str, Any]]:
    """The (code, values) an event carries for its message; (None, {}) when it has none or they are malformed
    (a code that is not a lowercase identifier, values that are not an object: only plain values are kept)."""
    code, values = event.get("code"), event.get("values")
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        return None, {}
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return None, {}
    return code, {str(name): value for name, value in values.items()
                  if value is None or isinstance(value, (str, int, float, bool))}


class ProgressWriter:
    """Appends events as JSON lines (flushed per line) when a path was given; otherwise does nothing."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: Event) -> None:
        if self.path is None:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps(event) + "\n")


def parse_progress(lines: Sequence[str]) -> dict[str, Any]:
    """Fold the trainer's JSON-lines events into one summary dict.

    A line that is not valid JSON is ignored (the last one may be half-written while we read).

    Returns:
        {"terminal": "done" | "kept" | "cancelled" | "error" | None, "started": bool, "epoch", "epochs",
         "history", "message", "message_code" (str or None), "message_values" (dict), "best_epoch", "val_accuracy",
         "current_accuracy", "recipe", "train_count", "val_count", "skipped", "patience", "min_loss_improvement",
         "min_epochs", "seconds_so_far"}; seconds_so_far: from the start event to the last epoch event (None until
         both have a time).
    """
    summary: dict[str, Any] = {
        "terminal": None, "started": False, "epoch": 0, "epochs": 0,
        "history": {key: [] for key in METRICS}, "message": "", "message_code": None, "message_values": {},
        "best_epoch": None, "val_accuracy": None,
        "current_accuracy": None, "recipe": None, "train_count": None, "val_count": None, "skipped": [],
        "patience": 0, "min_loss_improvement": 0.0, "min_epochs": 0, "seconds_so_far": None,
    }
    started_at = None
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == START:
            summary["started"] = True
            summary["epochs"] = int(event.get("epochs") or 0)
            for key in ("recipe", "train_count", "val_count"):
                summary[key] = event.get(key)
            summary["skipped"] = [str(item) for item in event.get("skipped") or []]
            summary["patience"] = _number(event.get("patience"), int) or 0
            summary["min_loss_improvement"] = _number(event.get("min_loss_improvement"), float) or 0.0
            summary["min_epochs"] = _number(event.get("min_epochs"), int) or 0
            started_at = _number(event.get("time"), float)
        elif kind == EPOCH:
            epoch = int(event.get("epoch") or 0)
            if epoch <= summary["epoch"]:
                continue  # a repeated line
            summary["epoch"] = epoch
            summary["epochs"] = int(event.get("epochs") or summary["epochs"])
            for key in METRICS:
                value = event.get(key)
                summary["history"][key].append(float(value) if value is not None else float("nan"))
            ended_at = _number(event.get("time"), float)
            if started_at is not None and ended_at is not None and ended_at > started_at:
                summary["seconds_so_far"] = ended_at - started_at
        elif kind == DONE:
            summary["terminal"] = DONE
            summary["best_epoch"] = event.get("best_epoch")
            summary["val_accuracy"] = event.get("val_accuracy")
            gate = event.get("publish_gate")
            if isinstance(gate, dict):
                summary["current_accuracy"] = gate.get("current_accuracy")
        elif kind == KEPT:
            summary["terminal"] = KEPT
            _read_message(summary, event, KEPT_MESSAGE, default_code="model_kept")
            summary["val_accuracy"] = event.get("new_accuracy")
            summary["current_accuracy"] = event.get("current_accuracy")
        elif kind == CANCELLED:
            summary["terminal"] = CANCELLED
            _read_message(summary, event, CANCELLED_MESSAGE, default_code=CANCELLED_CODE)
        elif kind == ERROR:
            summary["terminal"] = ERROR
            _read_message(summary, event, FAILED_MESSAGE, default_code="training_failed")
    return summary


def _read_message(summary: dict[str, Any], event: Event, default: str, default_code: str) -> None:
    """Set the summary's message, message_code and message_values from a terminal event: its own message (with
    its code and values when it carries them), else `default` (whose code is `default_code`)."""
    message = event.get("message")
    if message:
        summary["message"] = str(message)
        summary["message_code"], summary["message_values"] = event_message(event)
    else:
        summary["message"] = default
        summary["message_code"], summary["message_values"] = default_code, {}


def _number(value: Any, kind: type) -> Any:
    """`kind(value)` for an int or float value (not a bool), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return kind(value)
    return None

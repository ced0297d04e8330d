"""Streamlit's wire protocol as a load-test client sees it: the only module of tools/ that imports streamlit.

What a ForwardMsg's delta shows (`shown_by`, `problems_in`), widget ids and the states a client sends back
(`Widget`, `number_state`, `value_set_by_server`), a `Watch` that waits for an action's result and its run's
end, and plain HTTP (the page, the uploads). The protobuf classes the clients use are imported from here.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ContextInfo
from streamlit.proto.Common_pb2 import FileURLs, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.NumberInput_pb2 import NumberInput
from streamlit.proto.WidgetStates_pb2 import WidgetState

__all__ = [
    "BackMsg", "ContextInfo", "FileURLs", "ForwardMsg", "NumberInput", "ProtocolError", "Shown", "UploadedFileInfo",
    "Watch", "Widget", "WidgetState", "http_request", "multipart", "number_state", "problems_in", "shown_by",
    "value_set_by_server", "widget_id_of", "widget_key",
]

FINISH_NAMES = {number: name for name, number in ForwardMsg.ScriptFinishedStatus.items()}
SUPERSEDED = "SUPERSEDED (no script_finished for its run; a later run finished)"
ERROR_TEXTS = ("Something went wrong", "Traceback", "This app has encountered an error")
TRAINING_STARTED = re.compile("Training started|Training is starting|Epoch")
HEATMAP_TITLE = re.compile(r"(\S+) · channel (\d+)")
PREDICTION_PREFIX = "Prediction for "
# The Channels view's whole-layer job (shapes_viz/ui/channels_view.py; English texts of en.toml [channels]):
# the mosaic's caption (`mosaic`), the progress bar while it runs (`job_running`), the warning if it stopped, the
# button that starts it (`layer_job`: drawn while the page's model has no job for the layer).
LAYER_JOB_MOSAIC = re.compile(r"(\S+): (\d+) of (\d+) images")
LAYER_JOB_RUNNING = "Computing in the background"
LAYER_JOB_STOPPED = "The job stopped:"
LAYER_JOB_BUTTON = "Compute every channel of "
UNEXPECTED_MESSAGES = frozenset({"ref_hash", "page_not_found", "auth_redirect"})


class ProtocolError(Exception):
    """The server answered something a browser would not accept."""


@dataclass(frozen=True)
class Shown:
    """A result an action waits for: a prediction metric (label, class), a channel heatmap (title), a training
    notice, or what the Channels view shows of its whole-layer job."""

    what: str  # "prediction", "heatmap", "training" or "layer_job"
    text: str  # the metric's label, the heatmap's title, the training notice or progress text, the job's text
    value: str = ""  # the predicted class; for "layer_job": "mosaic", "running", "stopped" or "button"


def shown_by(element) -> Shown | None:
    """The prediction metric, channel heatmap, training notice or layer job's mosaic, progress or stop warning an
    element of a delta shows, if it is one."""
    kind = element.WhichOneof("type")
    if kind == "metric" and element.metric.label.startswith(PREDICTION_PREFIX):
        return Shown("prediction", element.metric.label, element.metric.body)
    if kind == "imgs" and element.imgs.imgs and LAYER_JOB_MOSAIC.match(element.imgs.imgs[0].caption):
        return Shown("layer_job", element.imgs.imgs[0].caption, "mosaic")
    if kind == "progress" and element.progress.text.startswith(LAYER_JOB_RUNNING):
        return Shown("layer_job", element.progress.text, "running")
    if kind == "alert" and element.alert.body.startswith(LAYER_JOB_STOPPED):
        return Shown("layer_job", element.alert.body, "stopped")
    if kind == "button" and element.button.label.startswith(LAYER_JOB_BUTTON):
        return Shown("layer_job", element.button.label, "button")
    if kind in ("alert", "progress"):
        text = element.alert.body if kind == "alert" else element.progress.text
        return Shown("training", text) if TRAINING_STARTED.search(text) else None
    if kind == "plotly_chart" and "channel" in element.plotly_chart.spec:
        title = json.loads(element.plotly_chart.spec).get("layout", {}).get("title", {}).get("text", "")
        title = re.sub(r"<[^>]*>", "", title)  # Plotly titles may be wrapped in <b>
        if HEATMAP_TITLE.match(title):
            return Shown("heatmap", title)
    return None


def problems_in(element) -> list[str]:
    """An exception element, or a message that says something went wrong."""
    kind = element.WhichOneof("type")
    if kind == "exception":
        return [f"exception element: {element.exception.type}: {element.exception.message[:160]}"]
    if kind in ("alert", "markdown", "text"):
        body = getattr(element, kind).body
        return [f"{kind} shows: {body[:160]!r}" for needle in ERROR_TEXTS if needle in body][:1]
    return []


def widget_id_of(delta) -> str:
    """The widget id of a delta's element or block ("" for plain elements)."""
    kind = delta.WhichOneof("type")
    if kind == "add_block":
        return delta.add_block.tab_container.id if delta.add_block.HasField("tab_container") else ""
    if kind != "new_element":
        return ""
    element = delta.new_element
    return getattr(getattr(element, element.WhichOneof("type")), "id", "")


def widget_key(widget_id: str) -> str:
    """The user key of a widget id: "$$ID-<hash>-<key>"."""
    return widget_id.split("-", 2)[2] if widget_id.startswith("$$ID-") and widget_id.count("-") >= 2 else ""


def value_set_by_server(element, widget_id: str) -> WidgetState | None:
    """The value the script put into a selectbox or number input (set_value), as the widget state to send back."""
    kind = element.WhichOneof("type")
    if kind == "selectbox" and element.selectbox.set_value and element.selectbox.HasField("raw_value"):
        return WidgetState(id=widget_id, string_value=element.selectbox.raw_value)
    if kind == "number_input" and element.number_input.set_value and element.number_input.HasField("value"):
        return number_state(element.number_input, element.number_input.value)
    return None


def number_state(proto: NumberInput, value: float) -> WidgetState:
    """A number input's state as the frontend sends it: int_value for an INT input, double_value otherwise."""
    if proto.data_type == NumberInput.INT:
        return WidgetState(id=proto.id, int_value=int(value))
    return WidgetState(id=proto.id, double_value=float(value))


@dataclass
class Widget:
    """A widget as the server last drew it, and the value the client holds for it (sent with every rerun)."""

    id: str
    fragment_id: str
    element: Any  # the widget's proto (options, data type, ...)
    state: WidgetState | None = None


class Watch:
    """Waits for the ForwardMsg that shows an action's result, then for the script_finished of that run.

    Streamlit 1.67 sometimes sends no script_finished for a run: when a rerun request (a click, or a
    `run_every` fragment's timer) reaches the server in the moment its ScriptRunner is finishing, the
    AppSession starts a new ScriptRunner and ignores the old one's last events ("Ignoring event from non-current
    ScriptRunner" in its debug log). The browser then takes the next run's start as the end of the old one; so
    does this: the end of any later run of the session counts as the end, status SUPERSEDED.
    """

    def __init__(self, wanted: Callable[[Shown], bool], what: str):
        self.wanted = wanted
        self.what = what
        self.shown: Shown | None = None
        self.shown_at: float | None = None
        self.run_id = ""
        self.later_runs: set[str] = set()
        self.finished_at: float | None = None
        self.status = ""
        self.done = asyncio.Event()

    def observe(self, message: ForwardMsg, shown: Shown | None, received_at: float, run_id: str) -> None:
        kind = message.WhichOneof("type")
        if self.shown_at is None:
            if shown is not None and self.wanted(shown):
                self.shown, self.shown_at, self.run_id = shown, received_at, run_id
        elif kind == "new_session" and message.metadata.run.script_run_id != self.run_id:
            self.later_runs.add(message.metadata.run.script_run_id)
        elif kind == "script_finished" and message.metadata.run.script_run_id == self.run_id:
            self.end(received_at, FINISH_NAMES[message.script_finished])
        elif kind == "script_finished" and message.metadata.run.script_run_id in self.later_runs:
            self.end(received_at, SUPERSEDED)

    def end(self, received_at: float, status: str) -> None:
        self.finished_at, self.status = received_at, status
        self.done.set()


def http_request(method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                 timeout: float = 30) -> tuple[int, Any]:
    """One blocking HTTP request (run in the thread pool): (status, response headers)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def multipart(field_name: str, file_name: str, data: bytes, mime: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file, as the browser's FormData sends it."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{file_name}\"\r\n"
            f"Content-Type: {mime}\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


"""Load test over Streamlit's own WebSocket protocol: many light clients on one shapes_viz server, one retraining.

    python scripts/loadtest_ws.py --sessions 20 --interactions 50          # the classroom figure (retrain on)
    python scripts/loadtest_ws.py --sessions 3 --interactions 6 --epochs 1   # tests/test_loadtest_ws.py
    python scripts/loadtest_ws.py --sessions 1 --interactions 3 --no-retrain # a smoke run

The same test as scripts/loadtest.py (whose server, sampler, results and drawings it imports), with clients that
speak the browser's protocol instead of N Chromium renderers, which on a 2-core machine starve the server they
measure. A client is what a classroom laptop's browser sends and receives: it loads the page, takes the
`_streamlit_xsrf` cookie from the health check the frontend makes, opens `/_stcore/stream` (subprotocols
"streamlit" + the XSRF token, cookie, same-origin Origin), sends BackMsg rerun_script with its widget states
(WidgetStates protobufs; the fragment id for a widget inside a fragment), reads every ForwardMsg (deltas,
new_session, script_finished), follows the server's `auto_rerun` timers like the frontend (the sidebar's
progress fragments), and uploads through the real endpoint (file_urls_request, then an XSRF-checked PUT to
/_stcore/upload_file/..., the old file DELETEd as the uploader does). It keeps no forward-message cache, so
the server sends every message in full.

Each client opens the Upload tab, then does M interactions, cycling: upload a PNG -> pick another layer -> pick
another channel, with a random think time between them. With --retrain, client 0 first submits the Retrain
form (project data folder copy, default "stable" recipe, --epochs epochs, "Publish even if worse" ticked, else
the publish gate would keep the better shipped model): the server spawns the trainer, which publishes a new model
while the others interact.

Reported (the JSON keys of loadtest.py, plus a few): errors (must be 0: an exception element or "Something went
wrong" in any delta, a wait over --wait-timeout, a protocol error, a traceback in the server log), latency
p50/p95/max per kind (from the action's first message - file_urls_request, rerun_script - until the
ForwardMsg that shows the result arrived: the metric "Prediction for <file>" or the channel heatmap whose
title is "<layer> · channel <k>"), the same until the script_finished of that run, whether the predicted
class was the drawn shape, the server's RSS and CPU, and the load generator's own CPU (all clients are
coroutines of this one process), which shows that the server is what is measured.

Exit status: 0 when there were no errors, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadtest import (  # noqa: E402 - scripts/ is on the path only now
    MAP_LAYERS, SHAPES, MemorySampler, Results, argument_parser, check_arguments, print_summary, run_load_test,
    shape_png,
)

import numpy as np  # noqa: E402
import websockets  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ClientState_pb2 import ContextInfo  # noqa: E402
from streamlit.proto.Common_pb2 import FileURLs, UploadedFileInfo  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.NumberInput_pb2 import NumberInput  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

from shapes_viz.ui import state as keys  # noqa: E402 - the app's widget keys

UPLOAD_TAB = "Upload"
# The Retrain form (shapes_viz/ui/sidebar.py)
EPOCHS_KEY, PUBLISH_KEY, START_KEY = "train_epochs", "train_publish_if_worse", "train_start"
TRACKED_KEYS = frozenset(
    {keys.INPUT_TAB, keys.UPLOAD, keys.LAYER, keys.CHANNEL_NUMBER, EPOCHS_KEY, PUBLISH_KEY, START_KEY}
)
UPLOAD_KIND, LAYER_KIND, CHANNEL_KIND = "upload -> prediction", "layer -> heatmap", "channel -> heatmap"
FINISH_NAMES = {number: name for name, number in ForwardMsg.ScriptFinishedStatus.items()}
SUPERSEDED = "SUPERSEDED (no script_finished for its run; a later full run finished)"
ERROR_TEXTS = ("Something went wrong", "Traceback", "This app has encountered an error")
TRAINING_STARTED = re.compile("Training started|Training is starting|Epoch")
HEATMAP_TITLE = re.compile(r"(\S+) · channel (\d+)")
PREDICTION_PREFIX = "Prediction for "
UNEXPECTED_MESSAGES = frozenset({"ref_hash", "page_not_found", "auth_redirect"})


# --------------------------------------------------------------------------- results


@dataclass
class WsResults(Results):
    """loadtest.Results plus what only a protocol client sees."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (time.time() of the action, seconds to the result)
    until_finished_s: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds to script_finished
    finish_status: dict[str, Counter] = field(default_factory=dict)  # kind -> script_finished statuses
    predictions: list[tuple[float, str, bool]] = field(default_factory=list)  # (time.time(), "file -> class", drawn class?)
    loadgen_cpu_s: dict[str, float] = field(default_factory=dict)  # this process's CPU seconds, start/end of the sessions
    transport: dict[str, Any] = field(default_factory=dict)

    def shown(self, kind: str, action_at: float, seconds: float) -> None:
        self.add(kind, seconds)
        self.samples.append((action_at, seconds))
        self.completed += 1

    def finished(self, kind: str, seconds: float, status: str) -> None:
        self.until_finished_s.setdefault(kind, []).append(seconds)
        self.finish_status.setdefault(kind, Counter())[status] += 1

    def summary(self) -> dict[str, Any]:
        summary = super().summary()
        span = self.clock.get("at_end", 0) - self.clock.get("at_start", 0)
        if {"at_start", "at_end"} <= set(self.loadgen_cpu_s) and self.completed and span > 0:
            used = self.loadgen_cpu_s["at_end"] - self.loadgen_cpu_s["at_start"]
            summary["load_generator_cpu"] = {"cpu_s": round(used, 1), "per_interaction_ms": round(1000 * used / self.completed, 1),
                                             "cores_busy": round(used / span, 2)}
        summary["latency_until_script_finished"] = {
            kind: latency_stats(values) for kind, values in sorted(self.until_finished_s.items())}
        summary["script_finished_status"] = {kind: dict(counts) for kind, counts in sorted(self.finish_status.items())}
        summary["latency_by_trainer"] = self.by_trainer()
        summary["prediction_check"] = self.prediction_check()
        summary["transport"] = self.transport
        return summary

    def while_training(self, at: float) -> bool:
        return self.training_window is not None and self.training_window[0] <= at <= self.training_window[1]

    def by_trainer(self) -> dict[str, dict[str, float]]:
        """All latencies, split by whether the action came while the trainer process ran."""
        return {"while_training": latency_stats([s for at, s in self.samples if self.while_training(at)]),
                "trainer_not_running": latency_stats([s for at, s in self.samples if not self.while_training(at)])}

    def prediction_check(self) -> dict[str, Any]:
        """Was the predicted class the drawn shape? Split at the moment the retrained model was published."""
        published = self.training_window[1] if self.training_window and self.retrain_outcome.get("published") else None
        check: dict[str, Any] = {}
        for at, text, drawn in self.predictions:
            part = check.setdefault("with the new model" if published and at > published else "with the shipped model",
                                    {"drawn class": 0, "another class": 0})
            part["drawn class" if drawn else "another class"] += 1
        check["other_class_examples"] = [text for _, text, drawn in self.predictions if not drawn][:8]
        return check


def latency_stats(seconds: list[float]) -> dict[str, float]:
    """n, p50, p95 and max in milliseconds, as loadtest.Results reports them."""
    if not seconds:
        return {}
    ms = np.asarray(seconds) * 1000
    return {"n": len(seconds), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1)}


def print_latency_table(title: str, rows: dict[str, dict[str, float]], notes: dict[str, Any]) -> None:
    print(f"{title:<24}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, stats in rows.items():
        if stats:
            print(f"{name:<24}{stats['n']:>6}{stats['p50_ms']:>10}{stats['p95_ms']:>10}{stats['max_ms']:>10}  "
                  f"{notes.get(name, '')}")


def print_ws_summary(summary: dict[str, Any]) -> None:
    """loadtest's summary, then what only this test reports."""
    print_summary(summary)
    print_latency_table("until script_finished", summary["latency_until_script_finished"],
                        summary["script_finished_status"])
    print_latency_table("all kinds, trainer", summary["latency_by_trainer"], {})
    print(f"predicted class vs drawn shape: {summary['prediction_check']}")
    if "load_generator_cpu" in summary:
        cpu = summary["load_generator_cpu"]
        print(f"load generator CPU (all clients, this process): {cpu['cpu_s']} s, {cpu['per_interaction_ms']} ms "
              f"per interaction, {cpu['cores_busy']} cores busy")
    print("transport: " + ", ".join(f"{k} {v}" for k, v in summary["transport"].items()))


# --------------------------------------------------------------------------- what the deltas show


@dataclass(frozen=True)
class Shown:
    """A result an action waits for: a prediction metric (label, class) or a channel heatmap (title)."""

    what: str  # "prediction", "heatmap" or "training"
    text: str  # the metric's label, the heatmap's title, the training notice or progress text
    value: str = ""  # the predicted class


def shown_by(element) -> Shown | None:
    """The prediction metric, channel heatmap or training notice an element of a delta shows, if it is one."""
    kind = element.WhichOneof("type")
    if kind == "metric" and element.metric.label.startswith(PREDICTION_PREFIX):
        return Shown("prediction", element.metric.label, element.metric.body)
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

    Streamlit 1.67 sometimes sends no script_finished for a fragment run: its AppSession ignores the events of a
    ScriptRunner that a rerun request replaced while it was finishing ("Ignoring event from non-current
    ScriptRunner" in its debug log). When a full run follows, its end counts as the end, status SUPERSEDED.
    """

    def __init__(self, wanted: Callable[[Shown], bool], what: str):
        self.wanted = wanted
        self.what = what
        self.shown: Shown | None = None
        self.shown_at: float | None = None
        self.run_id = ""
        self.later_full_runs: set[str] = set()
        self.finished_at: float | None = None
        self.status = ""
        self.done = asyncio.Event()

    def observe(self, message: ForwardMsg, shown: Shown | None, received_at: float, run_id: str) -> None:
        kind = message.WhichOneof("type")
        if self.shown_at is None:
            if shown is not None and self.wanted(shown):
                self.shown, self.shown_at, self.run_id = shown, received_at, run_id
        elif kind == "new_session" and not message.metadata.run.fragment_ids:
            self.later_full_runs.add(message.metadata.run.script_run_id)
        elif kind == "script_finished" and message.metadata.run.script_run_id == self.run_id:
            self.end(received_at, FINISH_NAMES[message.script_finished])
        elif kind == "script_finished" and message.metadata.run.script_run_id in self.later_full_runs:
            self.end(received_at, SUPERSEDED)

    def end(self, received_at: float, status: str) -> None:
        self.finished_at, self.status = received_at, status
        self.done.set()


# --------------------------------------------------------------------------- HTTP (the page, the uploads)


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


# --------------------------------------------------------------------------- one client


class ProtocolError(Exception):
    """The server answered something a browser would not accept."""


class Client:
    """One classroom browser, reduced to its protocol: a WebSocket, widget states, uploads over HTTP."""

    def __init__(self, index: int, url: str, args: argparse.Namespace, results: WsResults, pool: ThreadPoolExecutor):
        self.index = index
        self.url = url
        self.args = args
        self.results = results
        self.pool = pool
        self.rng = random.Random(args.seed * 1000 + index)
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.cookie = self.xsrf = self.session_id = self.page_hash = ""
        self.widgets: dict[str, Widget] = {}  # user key -> widget
        self.watches: list[Watch] = []
        self.file_requests: dict[str, asyncio.Future] = {}
        self.auto_reruns: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id -> (interval, timer)
        self.run_id = ""  # the script run whose messages arrive now
        self.foreground_run = ""  # the last run that was not a sidebar auto-rerun
        self.rerun_requested = False  # sent, its run not started yet
        self.idle = asyncio.Event()  # no foreground run in progress or requested
        self.heatmap = ""  # the last channel heatmap title
        self.uploaded: UploadedFileInfo | None = None
        self.layer = MAP_LAYERS[0]
        self.picked_layer: str | None = None
        self.channel = 0
        self.closing = False

    # ---- errors

    def error(self, text: str) -> None:
        self.results.errors.append(f"{time.perf_counter() - self.args.t0:6.1f} s, session {self.index}: {text}")

    # ---- connection

    async def http(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, http_request, method, self.url + path, headers, body)

    async def fetch_xsrf_cookie(self) -> None:
        """Load the page, then the health check the frontend makes before connecting: it sets the XSRF cookie."""
        status, _ = await self.http("GET", "/")
        if status != 200:
            raise ProtocolError(f"GET / answered {status}")
        status, headers = await self.http("GET", "/_stcore/health")
        cookie = next((value.split(";")[0] for value in headers.get_all("set-cookie") or []
                       if value.startswith("_streamlit_xsrf=")), "")
        if status != 200 or not cookie:
            raise ProtocolError(f"GET /_stcore/health answered {status} without an XSRF cookie")
        self.cookie, self.xsrf = cookie, cookie.split("=", 1)[1]

    async def open(self) -> bool:
        """Connect, wait for the first full run, then open the Upload tab (what loadtest.py's page load does)."""
        started = time.perf_counter()
        try:
            await self.fetch_xsrf_cookie()
            self.ws = await websockets.connect(
                self.url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit", self.xsrf],
                additional_headers={"Cookie": self.cookie, "Origin": self.url}, max_size=None,
                open_timeout=self.args.wait_timeout,
            )
            self.results.transport.setdefault(
                "websocket_extensions", [type(e).__name__ for e in self.ws.protocol.extensions] or "none negotiated")
            self.results.transport.setdefault("forward_msg_cache", "off: every message sent in full")
            self.reader = asyncio.create_task(self.read())
            await self.send_rerun()
            await self.wait_idle("the first script run")
            await self.open_upload_tab()
        except (OSError, ProtocolError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
            self.error(f"page load: {type(exc).__name__}: {str(exc)[:160]}")
            return False
        self.results.first_load_s.append(time.perf_counter() - started)
        return True

    async def open_upload_tab(self) -> None:
        tabs = self.widget(keys.INPUT_TAB)
        tabs.state = WidgetState(id=tabs.id, string_value=UPLOAD_TAB)
        await self.send_rerun()
        await self.wait_idle("the Upload tab")
        self.widget(keys.UPLOAD)  # raises ProtocolError when the uploader is not on the page

    async def close(self) -> None:
        self.closing = True
        for _, timer in self.auto_reruns.values():
            timer.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await self.reader

    # ---- messages from the server

    async def read(self) -> None:
        try:
            async for data in self.ws:
                received_at = time.perf_counter()
                message = ForwardMsg()
                message.ParseFromString(data)
                self.on_message(message, received_at)
        except websockets.ConnectionClosed as exc:
            if not self.closing:
                self.error(f"protocol: the server closed the WebSocket ({exc})")
        except Exception as exc:  # noqa: BLE001 - a broken client must show up as an error, not hang
            self.error(f"protocol: {type(exc).__name__}: {str(exc)[:160]}")

    def on_message(self, message: ForwardMsg, received_at: float) -> None:
        kind = message.WhichOneof("type")
        shown = None
        if kind == "new_session":
            self.on_new_session(message)
        elif kind == "delta":
            shown = self.on_delta(message.delta)
        elif kind == "script_finished":
            if message.metadata.run.script_run_id == self.foreground_run and not self.rerun_requested:
                self.idle.set()
        elif kind == "auto_rerun":
            self.start_auto_rerun(message.auto_rerun.fragment_id, message.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in message.stop_auto_rerun.fragment_ids:
                self.stop_auto_rerun(fragment_id)
        elif kind == "file_urls_response":
            future = self.file_requests.pop(message.file_urls_response.response_id, None)
            if future is not None and not future.done():
                future.set_result(message.file_urls_response)
        elif kind == "session_event" and message.session_event.HasField("script_compilation_exception"):
            self.error("the script did not compile")
        elif kind in UNEXPECTED_MESSAGES:
            self.error(f"protocol: unexpected ForwardMsg {kind}")
        for watch in self.watches:
            watch.observe(message, shown, received_at, self.run_id)

    def on_new_session(self, message: ForwardMsg) -> None:
        """A script run starts. A full run clears the auto-rerun timers (the run sets them again), like the frontend."""
        self.run_id = message.metadata.run.script_run_id
        self.session_id = self.session_id or message.new_session.initialize.session_id
        self.page_hash = message.new_session.page_script_hash
        fragments = list(message.metadata.run.fragment_ids)
        if not fragments:
            for fragment_id in list(self.auto_reruns):
                self.stop_auto_rerun(fragment_id)
        if not fragments or not set(fragments) <= set(self.auto_reruns):
            self.foreground_run = self.run_id
            self.rerun_requested = False
            self.idle.clear()

    def on_delta(self, delta) -> Shown | None:
        if delta.WhichOneof("type") == "new_element":
            for problem in problems_in(delta.new_element):
                self.error(problem)
        self.track_widget(delta)
        shown = shown_by(delta.new_element) if delta.WhichOneof("type") == "new_element" else None
        if shown is not None and shown.what == "heatmap":
            self.heatmap = shown.text
        return shown

    def track_widget(self, delta) -> None:
        """Keep the ids, fragments and server-set values of the widgets this client uses."""
        widget_id = widget_id_of(delta)
        key = widget_key(widget_id)
        if key not in TRACKED_KEYS:
            return
        element = delta.new_element if delta.WhichOneof("type") == "new_element" else delta.add_block
        known = self.widgets.get(key)
        if known is None or known.id != widget_id:  # a new widget: the server holds its value until it is set
            known = self.widgets[key] = Widget(widget_id, delta.fragment_id, element)
        known.fragment_id, known.element = delta.fragment_id, element
        if delta.WhichOneof("type") == "new_element":
            known.state = value_set_by_server(element, widget_id) or known.state

    def widget(self, key: str) -> Widget:
        if key not in self.widgets:
            raise ProtocolError(f"no {key!r} widget on the page")
        return self.widgets[key]

    # ---- messages to the server

    def context(self) -> ContextInfo:
        return ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US", url=self.url + "/",
                           is_embedded=False, color_scheme="light")

    async def send(self, message: BackMsg) -> None:
        await self.ws.send(message.SerializeToString())

    async def send_rerun(self, fragment_id: str = "", auto: bool = False, triggers: tuple[WidgetState, ...] = ()) -> None:
        """rerun_script with the state of every widget this client holds a value for, as the frontend sends it."""
        message = BackMsg()
        rerun = message.rerun_script
        rerun.query_string = ""
        rerun.page_script_hash = self.page_hash
        rerun.fragment_id = fragment_id
        rerun.is_auto_rerun = auto
        rerun.context_info.CopyFrom(self.context())
        rerun.widget_states.widgets.extend(w.state for w in self.widgets.values() if w.state is not None)
        rerun.widget_states.widgets.extend(triggers)
        if not auto:
            self.rerun_requested = True
            self.idle.clear()
        await self.send(message)

    def start_auto_rerun(self, fragment_id: str, interval: float) -> None:
        if fragment_id in self.auto_reruns and self.auto_reruns[fragment_id][0] == interval:
            return
        self.stop_auto_rerun(fragment_id)
        self.auto_reruns[fragment_id] = (interval, asyncio.create_task(self.auto_rerun(fragment_id, interval)))

    def stop_auto_rerun(self, fragment_id: str) -> None:
        entry = self.auto_reruns.pop(fragment_id, None)
        if entry is not None:
            entry[1].cancel()

    async def auto_rerun(self, fragment_id: str, interval: float) -> None:
        """The frontend's setInterval for a `st.fragment(run_every=...)`."""
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                await self.send_rerun(fragment_id, auto=True)

    # ---- waiting

    def watch(self, wanted: Callable[[Shown], bool], what: str) -> Watch:
        watch = Watch(wanted, what)
        self.watches.append(watch)
        return watch

    async def wait_idle(self, what: str) -> None:
        """Until the rerun this client asked for last has finished; after --wait-timeout, TimeoutError (and the
        client goes on as if it had)."""
        try:
            await asyncio.wait_for(self.idle.wait(), self.args.wait_timeout)
        except asyncio.TimeoutError:
            self.rerun_requested = False
            self.idle.set()
            raise asyncio.TimeoutError(f"{what}: no script_finished within {self.args.wait_timeout:.0f} s") from None

    async def wait_for(self, watch: Watch, started: float) -> None:
        """Until the watched result and its run's end arrived, or --wait-timeout after `started`."""
        try:
            await asyncio.wait_for(watch.done.wait(), max(0.1, started + self.args.wait_timeout - time.perf_counter()))
        except asyncio.TimeoutError:
            pass
        finally:
            self.watches.remove(watch)

    async def measure(self, kind: str, watch: Watch, started: float) -> Shown | None:
        """Wait for the watched result and its run's end; record the latencies (or the error)."""
        action_at = time.time() - (time.perf_counter() - started)
        await self.wait_for(watch, started)
        if watch.shown_at is None:
            self.error(f"{watch.what}: not shown within {self.args.wait_timeout:.0f} s")
            return None
        self.results.shown(kind, action_at, watch.shown_at - started)
        if watch.finished_at is None:
            self.error(f"{watch.what}: shown, but no script_finished within {self.args.wait_timeout:.0f} s")
        else:
            self.results.finished(kind, watch.finished_at - started, watch.status)
        return watch.shown

    # ---- interactions

    async def retrain(self) -> None:
        """Submit the Retrain form: project data folder (the copy), the default (stable) recipe, --epochs epochs,
        "Publish even if worse" ticked (a checkbox's state is a bool_value, as the frontend sends it)."""
        epochs, publish, start = self.widget(EPOCHS_KEY), self.widget(PUBLISH_KEY), self.widget(START_KEY)
        epochs.state = number_state(epochs.element.number_input, self.args.epochs)
        publish.state = WidgetState(id=publish.id, bool_value=True)
        watch = self.watch(lambda shown: shown.what == "training", what="retrain")
        await self.send_rerun(triggers=(WidgetState(id=start.id, trigger_value=True),))
        await self.wait_for(watch, time.perf_counter())
        if watch.shown_at is None:
            self.error(f"retrain: no training notice within {self.args.wait_timeout:.0f} s")
        else:
            self.results.retrain_outcome["started_at_s"] = round(watch.shown_at - self.args.t0, 1)

    async def upload(self, k: int) -> None:
        shape = SHAPES[(self.index + k) % 3]
        name = f"s{self.index}-i{k}-{shape}.png"
        data = shape_png(shape, self.rng)
        watch = self.watch(lambda shown: shown.what == "prediction" and shown.text == PREDICTION_PREFIX + name,
                           what=f"upload {name}")
        started = time.perf_counter()
        try:
            await self.put_file(name, data)
            await self.send_rerun()
        except BaseException:
            self.watches.remove(watch)
            raise
        shown = await self.measure(UPLOAD_KIND, watch, started)
        if shown is not None:
            self.check_prediction(name, shape, shown.value)

    def check_prediction(self, name: str, shape: str, predicted: str) -> None:
        self.results.predictions.append((time.time(), f"{name} -> {predicted}", predicted == shape))

    async def put_file(self, name: str, data: bytes) -> None:
        """What the uploader does: ask for URLs, DELETE the old file, PUT the new one, hold it as the widget state."""
        uploader = self.widget(keys.UPLOAD)
        urls = await self.request_file_urls(name)
        headers = {"Cookie": self.cookie, "X-Xsrftoken": self.xsrf, "Origin": self.url}
        body, content_type = multipart("file", name, data, "image/png")
        requests = [self.http("PUT", urls.upload_url, {**headers, "Content-Type": content_type}, body)]
        if self.uploaded is not None:  # single-file mode: the frontend deletes the old file meanwhile
            requests.append(self.http("DELETE", self.uploaded.file_urls.delete_url, headers))
        for (status, _), method in zip(await asyncio.gather(*requests), ("PUT", "DELETE")):
            if status != 204:
                raise ProtocolError(f"upload {method} answered {status}")
        self.uploaded = UploadedFileInfo(name=name, size=len(data), file_id=urls.file_id, file_urls=urls)
        uploader.state = WidgetState(id=uploader.id)
        uploader.state.file_uploader_state_value.uploaded_file_info.append(self.uploaded)

    async def request_file_urls(self, name: str) -> FileURLs:
        request_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self.file_requests[request_id] = future
        message = BackMsg()
        message.file_urls_request.request_id = request_id
        message.file_urls_request.file_names.append(name)
        message.file_urls_request.session_id = self.session_id
        await self.send(message)
        try:
            response = await asyncio.wait_for(future, self.args.wait_timeout)
        except asyncio.TimeoutError:
            self.file_requests.pop(request_id, None)
            raise asyncio.TimeoutError(f"no file_urls_response within {self.args.wait_timeout:.0f} s") from None
        if response.error_msg or len(response.file_urls) != 1:
            raise ProtocolError(f"file_urls_response: {response.error_msg or len(response.file_urls)}")
        return response.file_urls[0]

    def resync(self) -> None:
        """Take the layer and channel the last heatmap showed; count it when the layer is not the one picked last."""
        match = HEATMAP_TITLE.match(self.heatmap)
        if match is None:
            return
        layer, channel = match.group(1), int(match.group(2))
        if self.picked_layer is not None and layer != self.picked_layer:
            self.results.layer_resets += 1
            self.picked_layer = None
        self.layer, self.channel = layer, channel

    async def pick_layer(self) -> None:
        self.resync()
        layer = self.rng.choice([name for name in MAP_LAYERS if name != self.layer])
        picker = self.widget(keys.LAYER)
        label = next((option for option in picker.element.selectbox.options if option.startswith(layer + " · ")), None)
        if label is None:
            raise ProtocolError(f"no option {layer!r} in the layer picker")
        watch = self.watch(lambda shown: shown.what == "heatmap" and shown.text.startswith(layer + " · channel "),
                           what=f"layer {layer}")
        started = time.perf_counter()
        picker.state = WidgetState(id=picker.id, string_value=label)
        await self.send_rerun(picker.fragment_id)
        if await self.measure(LAYER_KIND, watch, started) is not None:
            self.layer = self.picked_layer = layer

    async def pick_channel(self) -> None:
        self.resync()
        channel = self.rng.choice([c for c in range(1, 32) if c != self.channel])
        field_ = self.widget(keys.CHANNEL_NUMBER)

        def shows_channel(shown: Shown) -> bool:
            match = HEATMAP_TITLE.match(shown.text) if shown.what == "heatmap" else None
            return match is not None and int(match.group(2)) == channel

        watch = self.watch(shows_channel, what=f"channel {channel} (on {self.layer})")
        started = time.perf_counter()
        field_.state = number_state(field_.element.number_input, channel)
        await self.send_rerun(field_.fragment_id)
        if await self.measure(CHANNEL_KIND, watch, started) is not None:
            self.channel = channel

    async def run(self, retrain: bool) -> None:
        if retrain:
            await self.retrain()
        steps = (self.upload, self.pick_layer, self.pick_channel)
        for k in range(self.args.interactions):
            if time.perf_counter() > self.args.deadline:
                self.error(f"stopped by --timeout after {k} interactions")
                return
            step = steps[k % 3]
            try:
                await self.wait_idle("the page to settle")
                await (step(k) if step == self.upload else step())
            except (OSError, ProtocolError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
                self.error(f"{step.__name__}: {type(exc).__name__}: {str(exc)[:160]}")
            await asyncio.sleep(self.args.think * self.rng.uniform(0.5, 1.5))


# --------------------------------------------------------------------------- the run


def mark(name: str, results: WsResults, memory: MemorySampler) -> None:
    """The server's and this process's CPU seconds, and the clock, at the start or end of the sessions."""
    results.server_cpu_s[name] = memory.cpu_seconds()
    results.loadgen_cpu_s[name] = time.process_time()
    results.clock[name] = time.perf_counter()


async def drive(url: str, args: argparse.Namespace, results: WsResults, memory: MemorySampler) -> None:
    pool = ThreadPoolExecutor(max_workers=args.sessions, thread_name_prefix="http")
    clients = [Client(i, url, args, results, pool) for i in range(args.sessions)]
    try:
        # The first client pays the cold start (TensorFlow import, model load, tracing); then the rest.
        if not await clients[0].open():
            return
        opened = await asyncio.gather(*(client.open() for client in clients[1:]))
        memory.mark("after_pages_loaded")
        mark("at_start", results, memory)
        live = [clients[0]] + [client for client, ok in zip(clients[1:], opened) if ok]
        await asyncio.gather(*(client.run(retrain=args.retrain and client.index == 0) for client in live))
        mark("at_end", results, memory)
    finally:
        await asyncio.gather(*(client.close() for client in clients))
        pool.shutdown(wait=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__.splitlines()[0], "WebSocket clients")
    args = parser.parse_args(argv)
    check_arguments(parser, args, max_sessions=200)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = WsResults(args.sessions, args.interactions, args.retrain, os.cpu_count() or 0)
    return run_load_test(args, results, drive, "WebSocket clients", print_ws_summary)


if __name__ == "__main__":
    sys.exit(main())

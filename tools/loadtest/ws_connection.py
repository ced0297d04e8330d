"""One browser reduced to its protocol: a WebSocket to /_stcore/stream, widget states, uploads over HTTP.

`Connection` loads the page like the frontend (the XSRF cookie from the health check), opens the stream,
reads every ForwardMsg, keeps the widgets it uses, sends rerun_script with its widget states, follows the
server's auto-rerun timers, uploads through the real endpoint and waits for results (`Watch`). The classroom
interactions built on it are in tools/loadtest/websocket.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import websockets

from shapes_viz.ui import state as keys  # the app's widget keys
from tools.loadtest.common import Results
from tools.loadtest.wire import (
    UNEXPECTED_MESSAGES, BackMsg, ContextInfo, FileURLs, ForwardMsg, ProtocolError, Shown,
    UploadedFileInfo, Watch, Widget, WidgetState, http_request, multipart, problems_in, shown_by,
    value_set_by_server, widget_id_of, widget_key,
)

UPLOAD_TAB = "Upload"
EXPLORER_VIEW, CHANNELS_VIEW = "Explorer", "Channels"  # view tabs (English labels, en.toml [view])
# The Retrain form (shapes_viz/ui/sidebar.py)
EPOCHS_KEY, PUBLISH_KEY, START_KEY = "train_epochs", "train_publish_if_worse", "train_start"
TRACKED_KEYS = frozenset(
    {keys.INPUT_TAB, keys.UPLOAD, keys.LAYER, keys.CHANNEL_NUMBER, EPOCHS_KEY, PUBLISH_KEY, START_KEY,
     keys.VIEW_TAB, keys.LAYER_IMAGES}
)


class Connection:
    """The protocol half of a classroom client; `error` records into `results.errors`."""

    def __init__(self, index: int, url: str, args: argparse.Namespace, results: Results, pool: ThreadPoolExecutor):
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
        self.auto_fragments: set[str] = set()  # every fragment the server ever had this client auto-rerun
        self.run_id = ""  # the script run whose messages arrive now
        self.foreground_run = ""  # the last run that was not an auto-rerun fragment's (the sidebar's, the layer job's)
        self.runs_after_foreground: set[str] = set()  # auto-rerun fragment runs started after it (see on_new_session)
        self.rerun_requested = False  # sent, its run not started yet
        self.idle = asyncio.Event()  # no foreground run in progress or requested
        self.heatmap = ""  # the last channel heatmap title
        self.uploaded: UploadedFileInfo | None = None
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

    def select_view_tab(self, label: str) -> None:
        """The view tab (its English label) the next rerun opens: a full run, as the lazy tabs' on_change="rerun"."""
        tabs = self.widget(keys.VIEW_TAB)
        tabs.state = WidgetState(id=tabs.id, string_value=label)

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
            finished = message.metadata.run.script_run_id
            if (finished == self.foreground_run or finished in self.runs_after_foreground) and not self.rerun_requested:
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
        """A script run starts. A full run clears the auto-rerun timers (the run sets them again), like the frontend.
        A run of an auto-rerun fragment is never the foreground run, even once its timer stopped (a tick sent just
        before a full run is run after it); but its end also ends the foreground run, whose own script_finished
        Streamlit drops when the tick reaches the server as its ScriptRunner finishes (see `wire.Watch`): runs of a
        session follow one another, so a run that started later has ended the earlier ones."""
        self.run_id = message.metadata.run.script_run_id
        self.session_id = self.session_id or message.new_session.initialize.session_id
        self.page_hash = message.new_session.page_script_hash
        fragments = list(message.metadata.run.fragment_ids)
        if not fragments:
            for fragment_id in list(self.auto_reruns):
                self.stop_auto_rerun(fragment_id)
        if not fragments or not set(fragments) <= self.auto_fragments:
            self.foreground_run = self.run_id
            self.runs_after_foreground.clear()
            self.rerun_requested = False
            self.idle.clear()
        else:
            self.runs_after_foreground.add(self.run_id)

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
        self.auto_fragments.add(fragment_id)

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


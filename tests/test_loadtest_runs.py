"""The WebSocket load-test client's model of script runs (tools/loadtest/ws_connection.py, wire.Watch), fed with
the message sequences a Streamlit 1.67 server sent under load (no server here).

The case that matters: a `run_every` fragment's tick reaches the server as a fragment run's ScriptRunner is
finishing; the AppSession starts a new ScriptRunner and drops the old one's script_finished. The browser takes
the next run's start as the old run's end; the client must too, or it waits 30 s and reports an error.
"""

from __future__ import annotations

import argparse
import asyncio

from tools.loadtest.common import Results
from tools.loadtest.wire import FINISH_NAMES, SUPERSEDED, ForwardMsg, Shown, Watch
from tools.loadtest.ws_connection import Connection

TICK = "sidebar-status-fragment"  # an auto-rerun (run_every) fragment
EXPLORER = "explorer-fragment"
SHOWN = Shown("heatmap", "conv1_1 · channel 3")


def new_session(run_id: str, *fragments: str) -> ForwardMsg:
    message = ForwardMsg()
    message.new_session.page_script_hash = "page"
    message.new_session.initialize.session_id = "session"
    message.metadata.run.script_run_id = run_id
    message.metadata.run.fragment_ids.extend(fragments)
    return message


def finished(run_id: str, status: int = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY) -> ForwardMsg:
    message = ForwardMsg()
    message.script_finished = status
    message.metadata.run.script_run_id = run_id
    return message


def auto_rerun(fragment_id: str) -> ForwardMsg:
    message = ForwardMsg()
    message.auto_rerun.fragment_id = fragment_id
    message.auto_rerun.interval = 5.0
    return message


def test_a_watch_ends_with_its_own_run():
    watch = Watch(lambda shown: shown == SHOWN, "channel 3")
    watch.observe(new_session("A", EXPLORER), None, 1.0, "A")
    watch.observe(ForwardMsg(), SHOWN, 1.1, "A")
    watch.observe(finished("A"), None, 1.2, "A")
    assert (watch.shown_at, watch.finished_at, watch.status) == (1.1, 1.2, FINISH_NAMES[3])


def test_a_watch_whose_run_never_finishes_ends_with_a_later_runs_end():
    watch = Watch(lambda shown: shown == SHOWN, "channel 3")
    watch.observe(ForwardMsg(), SHOWN, 1.1, "A")
    watch.observe(new_session("B", TICK), None, 1.3, "B")
    assert not watch.done.is_set()  # a later run has started, not ended
    watch.observe(finished("B"), None, 1.4, "B")
    assert (watch.finished_at, watch.status) == (1.4, SUPERSEDED)


def test_a_watch_ignores_runs_before_its_result_was_shown():
    """An upload's first run only runs the uploader's callback (FINISHED_EARLY_FOR_RERUN), the next shows it."""
    watch = Watch(lambda shown: shown == SHOWN, "upload")
    watch.observe(new_session("A", "upload"), None, 1.0, "A")
    watch.observe(finished("A", ForwardMsg.FINISHED_EARLY_FOR_RERUN), None, 1.1, "A")
    watch.observe(new_session("B", "upload", EXPLORER), None, 1.1, "B")
    assert not watch.done.is_set()
    watch.observe(ForwardMsg(), SHOWN, 1.2, "B")
    watch.observe(finished("B"), None, 1.3, "B")
    assert watch.status == FINISH_NAMES[3]


def _connection() -> Connection:
    args = argparse.Namespace(seed=0, wait_timeout=30.0)
    return Connection(0, "http://127.0.0.1:1", args, Results(1, 1, False, 2), pool=None)


def _feed(connection: Connection, *messages: ForwardMsg) -> None:
    for message in messages:
        connection.on_message(message, 0.0)


def test_the_page_settles_when_a_tick_run_ends_after_a_run_whose_end_was_dropped():
    async def scenario():
        connection = _connection()
        _feed(connection, auto_rerun(TICK))
        connection.auto_reruns[TICK][1].cancel()  # no timer in this test
        connection.rerun_requested = True  # a channel change was sent
        _feed(connection, new_session("A", EXPLORER))
        assert connection.foreground_run == "A" and not connection.idle.is_set()
        _feed(connection, new_session("B", TICK))  # A's script_finished was dropped by the server
        assert not connection.idle.is_set()
        _feed(connection, finished("B"))
        assert connection.idle.is_set() and connection.foreground_run == "A"

    asyncio.run(scenario())


def test_a_tick_run_does_not_settle_the_page_while_the_clients_own_rerun_is_pending():
    async def scenario():
        connection = _connection()
        _feed(connection, auto_rerun(TICK))
        connection.auto_reruns[TICK][1].cancel()
        _feed(connection, new_session("A", EXPLORER), finished("A"))
        assert connection.idle.is_set()
        connection.rerun_requested = True  # sent; the server runs a tick first
        connection.idle.clear()
        _feed(connection, new_session("B", TICK), finished("B"))
        assert not connection.idle.is_set()
        _feed(connection, new_session("C", EXPLORER), finished("C"))
        assert connection.idle.is_set() and connection.foreground_run == "C"

    asyncio.run(scenario())

"""Load test over Streamlit's own WebSocket protocol: many light clients on one shapes_viz server, one retraining.

    python -m tools.loadtest.websocket --sessions 20 --interactions 50          # the classroom figure (retrain on)
    python -m tools.loadtest.websocket --sessions 3 --interactions 6 --epochs 1   # tests/test_loadtest_ws.py
    python -m tools.loadtest.websocket --sessions 1 --interactions 3 --no-retrain # a smoke run
    python -m tools.loadtest.websocket --sessions 20 --interactions 50 --no-retrain --layer-images  # issue 11, item 5

The same test as tools/loadtest/chromium.py (both built on tools/loadtest/common.py), with clients that
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
while the others interact. With --layer-images (default off), client 0 then (unmeasured) uploads a PNG so that
the explorer shows its pickers, picks conv2_2 (64 channels), opens the Channels view tab and presses "Compute
every channel of conv2_2 in the background" (key `layer_images_start`); the job has started when the page shows its
mosaic ("conv2_2: k of 64 images") and progress bar. Client 0 goes back to the Explorer tab and interacts like the
others; every 5 s between its interactions it looks at the job (conv2_2 picked again, a full run of the Channels
tab, back to the Explorer), and once every session is done it stays on the Channels tab, looking every 2 s, until
the job has ended (at most 120 s). Those looks are not in the latency statistics; the job runs in the server
process, so its CPU is in the server's. A job that did not show up, or stopped (its "The job stopped" warning),
is an error. With --retrain, once the new model is published the page shows no job (a job's key holds the model
file's digest; the old model's job goes on): the outcome says so, and the job is looked at no more.

Reported (the JSON keys of the Chromium load test, plus a few): errors (must be 0: an exception element or "Something went
wrong" in any delta, a wait over --wait-timeout, a protocol error, a traceback in the server log), latency
p50/p95/max per kind (from the action's first message - file_urls_request, rerun_script - until the
ForwardMsg that shows the result arrived: the metric "Prediction for <file>" or the channel heatmap whose
title is "<layer> · channel <k>"), the same until the script_finished of that run, whether the predicted
class was the drawn shape, the server's RSS and CPU, and the load generator's own CPU (all clients are
coroutines of this one process), which shows that the server is what is measured. With --layer-images:
layer_images_outcome (when the button was pressed and the job seen started, the looks, the images at the last one,
when it was last seen running and first seen ended: job_s_at_least / job_s_at_most) and latency_by_layer_job (all
kinds, then kind by kind: actions from the job's start to the last look that saw it running, and actions before
the button or after it was seen ended; actions in between are in neither).

Exit status: 0 when there were no errors, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import websockets

from shapes_viz.ui import state as keys  # the app's widget keys
from tools.loadtest.common import (
    MAP_LAYERS, SHAPES, MemorySampler, Results, argument_parser, check_arguments, latency_stats, print_summary,
    run_load_test, run_sessions, shape_png,
)
from tools.loadtest.wire import (
    HEATMAP_TITLE, LAYER_JOB_MOSAIC, PREDICTION_PREFIX, ProtocolError, Shown, Watch, WidgetState, number_state,
)
from tools.loadtest.ws_connection import (
    CHANNELS_VIEW, EPOCHS_KEY, EXPLORER_VIEW, PUBLISH_KEY, START_KEY, Connection,
)

UPLOAD_KIND, LAYER_KIND, CHANNEL_KIND = "upload -> prediction", "layer -> heatmap", "channel -> heatmap"
# --layer-images: the layer whose 64 channel images client 0 has computed in the background, how often it looks
# at the job between its interactions (that layer picked, a full run of the Channels tab, back to the Explorer),
# and how long it keeps looking after its interactions (every LAYER_TAIL_POLL_S) for the job's end.
LAYER_IMAGES_LAYER = "conv2_2"
LAYER_POLL_S, LAYER_TAIL_POLL_S, LAYER_END_WAIT_S = 5.0, 2.0, 120.0


@dataclass
class WsResults(Results):
    """common.Results plus what only a protocol client sees."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (time.time() of the action, seconds to the result)
    until_finished_s: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds to script_finished
    finish_status: dict[str, Counter] = field(default_factory=dict)  # kind -> script_finished statuses
    predictions: list[tuple[float, str, bool]] = field(default_factory=list)  # (time.time(), "file -> class", drawn class?)
    transport: dict[str, Any] = field(default_factory=dict)
    layer_images: bool = False
    layer_images_outcome: dict[str, Any] = field(default_factory=dict)
    # time.time() of the layer job's moments: "pressed", "started" (the page showed it), "last_running" (the last
    # look that showed it running), "ended" (the first look that showed it done or stopped)
    layer_job_at: dict[str, float] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)  # the kind of each of `samples`

    def shown(self, kind: str, action_at: float, seconds: float) -> None:
        self.add(kind, seconds)
        self.samples.append((action_at, seconds))
        self.kinds.append(kind)
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
        summary["layer_images"] = self.layer_images
        if "ended" in self.layer_job_at and self.samples:
            last_result = max(at + seconds for at, seconds in self.samples)
            self.layer_images_outcome["ended_before_the_last_interaction"] = self.layer_job_at["ended"] < last_result
        summary["layer_images_outcome"] = self.layer_images_outcome
        summary["latency_by_layer_job"] = self.by_layer_job()
        summary["prediction_check"] = self.prediction_check()
        summary["transport"] = self.transport
        return summary

    def while_training(self, at: float) -> bool:
        return self.training_window is not None and self.training_window[0] <= at <= self.training_window[1]

    def by_trainer(self) -> dict[str, dict[str, float]]:
        """All latencies, split by whether the action came while the trainer process ran."""
        return {"while_training": latency_stats([s for at, s in self.samples if self.while_training(at)]),
                "trainer_not_running": latency_stats([s for at, s in self.samples if not self.while_training(at)])}

    def by_layer_job(self) -> dict[str, dict[str, float]]:
        """All latencies, split by whether the action came while the layer job certainly ran (from the page showing
        it started to the last look that showed it running) or certainly did not (before the button was pressed,
        after a look showed it ended); actions in between (the job's end not seen yet) are in neither."""
        at = self.layer_job_at
        if "started" not in at:
            return {}

        def running(t: float) -> bool:
            return at["started"] <= t <= at.get("last_running", at["started"])

        def idle(t: float) -> bool:
            return t < at["pressed"] or ("ended" in at and t > at["ended"])

        split = {"while_layer_job": latency_stats([s for t, s in self.samples if running(t)]),
                 "layer_job_not_running": latency_stats([s for t, s in self.samples if idle(t)])}
        for kind in (UPLOAD_KIND, LAYER_KIND, CHANNEL_KIND):  # the same split, kind by kind
            mine = [(t, s) for (t, s), k in zip(self.samples, self.kinds) if k == kind]
            split[f"{kind}, while_layer_job"] = latency_stats([s for t, s in mine if running(t)])
            split[f"{kind}, layer_job_not_running"] = latency_stats([s for t, s in mine if idle(t)])
        return split

    def layer_job_seen(self, state: str, seen_at: float, caption: str, t0: float) -> None:
        """A look at the layer job (state "running", "done" or "stopped"; seen_at a perf_counter time)."""
        wall = time.time() - (time.perf_counter() - seen_at)
        outcome = self.layer_images_outcome
        outcome["looks"] = outcome.get("looks", 0) + 1
        outcome["images_at_last_look"] = caption.split(";")[0]
        if "ended" in self.layer_job_at:
            return
        if state == "running":
            self.layer_job_at["last_running"] = wall
            outcome["last_seen_running_at_s"] = round(seen_at - t0, 1)
            return
        self.layer_job_at["ended"] = wall
        outcome.update(state=state, ended_seen_at_s=round(seen_at - t0, 1))
        at = self.layer_job_at
        outcome["job_s_at_least"] = round(at.get("last_running", at["started"]) - at["pressed"], 1)
        outcome["job_s_at_most"] = round(wall - at["pressed"], 1)

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


def print_latency_table(title: str, rows: dict[str, dict[str, float]], notes: dict[str, Any]) -> None:
    print(f"{title:<24}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, stats in rows.items():
        if stats:
            print(f"{name:<24}{stats['n']:>6}{stats['p50_ms']:>10}{stats['p95_ms']:>10}{stats['max_ms']:>10}  "
                  f"{notes.get(name, '')}")


def print_ws_summary(summary: dict[str, Any]) -> None:
    """The common summary, then what only this test reports."""
    print_summary(summary)
    print_latency_table("until script_finished", summary["latency_until_script_finished"],
                        summary["script_finished_status"])
    print_latency_table("all kinds, trainer", summary["latency_by_trainer"], {})
    if summary["layer_images"]:
        print("layer images: " + ", ".join(f"{k} {v}" for k, v in summary["layer_images_outcome"].items()))
        print_latency_table("all kinds, layer job", summary["latency_by_layer_job"], {})
    print(f"predicted class vs drawn shape: {summary['prediction_check']}")
    if "load_generator_cpu" in summary:
        cpu = summary["load_generator_cpu"]
        print(f"load generator CPU (all clients, this process): {cpu['cpu_s']} s, {cpu['per_interaction_ms']} ms "
              f"per interaction, {cpu['cores_busy']} cores busy")
    print("transport: " + ", ".join(f"{k} {v}" for k, v in summary["transport"].items()))


class Client(Connection):
    """One classroom browser: opens the Upload tab, then cycles upload -> layer -> channel (after a retrain, after
    starting the layer job)."""

    def __init__(self, index: int, url: str, args: argparse.Namespace, results: WsResults, pool: ThreadPoolExecutor):
        super().__init__(index, url, args, results, pool)
        self.layer = MAP_LAYERS[0]
        self.picked_layer: str | None = None
        self.channel = 0
        self.layer_job_shown: list[tuple[str, Shown]] = []  # (script run id, the job's mosaic / progress / warning)
        self.layer_job_open = False  # started and not seen ended
        self.layer_job_looked = 0.0  # perf_counter of the last look at it

    def on_delta(self, delta) -> Shown | None:
        shown = super().on_delta(delta)
        if shown is not None and shown.what == "layer_job":
            self.layer_job_shown.append((self.run_id, shown))
        return shown

    async def settle(self, kind: str | None, watch: Watch, started: float) -> Shown | None:
        """`measure` for an interaction (kind), or just wait (kind None: a set-up step, not in the statistics)."""
        if kind is not None:
            return await self.measure(kind, watch, started)
        await self.wait_for(watch, started)
        if watch.shown_at is None:
            self.error(f"{watch.what}: not shown within {self.args.wait_timeout:.0f} s")
        return watch.shown

    async def start_layer_job(self) -> None:
        """--layer-images: an input (an upload: the explorer shows its pickers only for one), the explorer's layer
        set to LAYER_IMAGES_LAYER, the Channels tab, its "Compute every channel ... in the background" button;
        done when the page shows the job's mosaic, then back to the Explorer tab. None of these steps is in the
        latency statistics."""
        outcome = self.results.layer_images_outcome
        outcome.update(layer=LAYER_IMAGES_LAYER, started=False)
        await self.upload(0, kind=None)
        await self.pick_layer(LAYER_IMAGES_LAYER, kind=None)
        self.select_view_tab(CHANNELS_VIEW)
        await self.send_rerun()
        await self.wait_idle(f"the {CHANNELS_VIEW} tab")
        try:
            button = self.widget(keys.LAYER_IMAGES)
            if f" {LAYER_IMAGES_LAYER} " not in f" {button.element.button.label} ":
                raise ProtocolError(f"the job button is for another layer: {button.element.button.label!r}")
            self.results.layer_job_at["pressed"] = time.time()
            outcome["pressed_at_s"] = round(time.perf_counter() - self.args.t0, 1)
            watch = await self.rerun_showing(
                self.is_mosaic, "the layer images job", button.fragment_id,
                triggers=(WidgetState(id=button.id, trigger_value=True),))
            self.results.layer_job_at["started"] = time.time() - (time.perf_counter() - watch.shown_at)
            outcome.update(started=True, started_at_s=round(watch.shown_at - self.args.t0, 1), state="running")
            self.layer_job_open = True
            self.look_at_layer_job(watch.run_id)
        finally:
            await self.open_explorer()

    @staticmethod
    def is_mosaic(shown: Shown) -> bool:
        return shown.what == "layer_job" and shown.value == "mosaic"

    @staticmethod
    def is_mosaic_or_button(shown: Shown) -> bool:
        return shown.what == "layer_job" and shown.value in ("mosaic", "button")

    async def rerun_showing(self, wanted: Callable[[Shown], bool], what: str, fragment_id: str = "",
                            triggers: tuple[WidgetState, ...] = ()) -> Watch:
        """Send a rerun; return once a result `wanted` was shown and its run ended (ProtocolError if never)."""
        self.layer_job_shown.clear()
        watch = self.watch(wanted, what=what)
        started = time.perf_counter()
        try:
            await self.send_rerun(fragment_id, triggers=triggers)
        except BaseException:
            self.watches.remove(watch)
            raise
        await self.wait_for(watch, started)
        if watch.shown_at is None:
            raise ProtocolError(f"{what}: not shown within {self.args.wait_timeout:.0f} s")
        return watch

    async def open_explorer(self) -> None:
        """Back to the Explorer tab: done when its heatmap is drawn again."""
        self.select_view_tab(EXPLORER_VIEW)
        await self.rerun_showing(lambda shown: shown.what == "heatmap", f"the {EXPLORER_VIEW} tab's heatmap")

    def look_at_layer_job(self, run_id: str) -> None:
        """What a script run that drew the job's mosaic showed of it: the mosaic (k of n images), the progress bar
        while the job runs, the warning if it stopped. Records the look; an ended job is looked at no more."""
        seen = [shown for run, shown in self.layer_job_shown if run == run_id]
        self.layer_job_shown.clear()
        mosaic = next((LAYER_JOB_MOSAIC.match(s.text) for s in seen if s.value == "mosaic"), None)
        if mosaic is None:  # the start button again: the page's model has no job for the layer
            if not self.args.retrain:
                raise ProtocolError("the Channels tab offers to start the layer job again: the job is gone")
            # The retrain published a new model, and a job's key holds the model's digest: the old model's job
            # goes on unseen.
            self.results.layer_images_outcome["state"] = "unseen once the retrained model was published"
            self.layer_job_open = False
            return
        if mosaic.group(1) != LAYER_IMAGES_LAYER:
            raise ProtocolError(f"the Channels tab shows the mosaic of {mosaic.group(1)}, not {LAYER_IMAGES_LAYER}")
        stopped = next((s.text for s in seen if s.value == "stopped"), None)
        if stopped is not None:
            self.error(f"layer images: {stopped[:160]}")
        state = ("stopped" if stopped is not None else "running" if any(s.value == "running" for s in seen)
                 else "done" if mosaic.group(2) == mosaic.group(3) else "running")
        self.results.layer_job_seen(state, time.perf_counter(), mosaic.group(0), self.args.t0)
        self.layer_job_looked = time.perf_counter()
        self.layer_job_open = state == "running"

    async def poll_layer_job(self, back: bool = True) -> None:
        """Look at the job: the explorer's layer set to the job's (the Channels view shows the picked layer's job),
        a full run of the Channels tab, then (back) the Explorer tab again. Not in the statistics."""
        self.resync()
        if self.layer != LAYER_IMAGES_LAYER:
            await self.pick_layer(LAYER_IMAGES_LAYER, kind=None)
        self.select_view_tab(CHANNELS_VIEW)
        try:
            watch = await self.rerun_showing(self.is_mosaic_or_button, "the layer images mosaic")
            self.look_at_layer_job(watch.run_id)
        finally:
            if back:
                await self.open_explorer()

    async def wait_for_layer_job(self) -> None:
        """After the interactions (every session's): stay on the Channels tab, looking every LAYER_TAIL_POLL_S,
        until the job ended (at most LAYER_END_WAIT_S, and never past --timeout)."""
        until = min(time.perf_counter() + LAYER_END_WAIT_S, self.args.deadline - 2 * self.args.wait_timeout)
        while self.layer_job_open and time.perf_counter() < until:
            await self.poll_layer_job(back=False)  # the first opens the tab, the next ones rerun it
            if self.layer_job_open:
                await asyncio.sleep(LAYER_TAIL_POLL_S)
        if self.layer_job_open:
            self.results.layer_images_outcome["state"] = "still running at the last look"

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

    async def upload(self, k: int, kind: str | None = UPLOAD_KIND) -> None:
        shape = SHAPES[(self.index + k) % 3]
        name = f"s{self.index}-i{k}-{shape}.png" if kind is not None else f"s{self.index}-setup-{shape}.png"
        data = shape_png(shape, self.rng)
        watch = self.watch(lambda shown: shown.what == "prediction" and shown.text == PREDICTION_PREFIX + name,
                           what=f"upload {name}")
        started = time.perf_counter()
        try:
            await self.put_file(name, data)
            await self.send_rerun(fragment_id=self.widget(keys.UPLOAD).fragment_id)  # as the frontend ("": not in one)
        except BaseException:
            self.watches.remove(watch)
            raise
        shown = await self.settle(kind, watch, started)
        if shown is not None and kind is not None:
            self.check_prediction(name, shape, shown.value)

    def check_prediction(self, name: str, shape: str, predicted: str) -> None:
        self.results.predictions.append((time.time(), f"{name} -> {predicted}", predicted == shape))

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

    async def pick_layer(self, layer: str | None = None, kind: str | None = LAYER_KIND) -> None:
        self.resync()
        layer = layer or self.rng.choice([name for name in MAP_LAYERS if name != self.layer])
        picker = self.widget(keys.LAYER)
        label = next((option for option in picker.element.selectbox.options if option.startswith(layer + " · ")), None)
        if label is None:
            raise ProtocolError(f"no option {layer!r} in the layer picker")
        watch = self.watch(lambda shown: shown.what == "heatmap" and shown.text.startswith(layer + " · channel "),
                           what=f"layer {layer}")
        started = time.perf_counter()
        picker.state = WidgetState(id=picker.id, string_value=label)
        await self.send_rerun(picker.fragment_id)
        if await self.settle(kind, watch, started) is not None:
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

    async def guarded(self, what: str, step: Awaitable[None]) -> None:
        """Await a step (a coroutine); an error of the protocol or a wait is recorded, and the client goes on."""
        try:
            await step
        except (OSError, ProtocolError, websockets.WebSocketException, asyncio.TimeoutError) as exc:
            self.error(f"{what}: {type(exc).__name__}: {str(exc)[:160]}")

    async def run(self, retrain: bool) -> None:
        if retrain:
            await self.retrain()
        if self.args.layer_images and self.index == 0:
            await self.guarded("layer images", self.start_layer_job())
        steps = (self.upload, self.pick_layer, self.pick_channel)
        if self.args.first_think:  # a person reads the page before the first action, as between the others
            await asyncio.sleep(self.args.think * self.rng.uniform(0.5, 1.5))
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
            if self.layer_job_open and time.perf_counter() - self.layer_job_looked >= LAYER_POLL_S:
                await self.guarded("looking at the layer job", self.poll_layer_job())
            await asyncio.sleep(self.args.think * self.rng.uniform(0.5, 1.5))

    async def after_run(self) -> None:
        """Once every session's interactions are done: wait for the layer job's end, if it was not seen yet."""
        if self.layer_job_open:
            await self.guarded("waiting for the layer job's end", self.wait_for_layer_job())


async def drive(url: str, args: argparse.Namespace, results: WsResults, memory: MemorySampler) -> None:
    pool = ThreadPoolExecutor(max_workers=args.sessions, thread_name_prefix="http")
    try:
        await run_sessions([Client(i, url, args, results, pool) for i in range(args.sessions)], args, results, memory)
    finally:
        pool.shutdown(wait=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("python -m tools.loadtest.websocket", __doc__.splitlines()[0], "WebSocket clients")
    parser.add_argument("--layer-images", action=argparse.BooleanOptionalAction, default=False,
                        help=f"session 0 has the Channels view compute every channel image of {LAYER_IMAGES_LAYER} "
                             "in the background, then interacts like the others (default off)")
    args = parser.parse_args(argv)
    check_arguments(parser, args, max_sessions=200)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = WsResults(args.sessions, args.interactions, args.retrain, os.cpu_count() or 0,
                        layer_images=args.layer_images, first_think=args.first_think)
    return run_load_test(args, results, drive, "WebSocket clients", print_ws_summary)


if __name__ == "__main__":
    sys.exit(main())

"""Load test over Streamlit's own WebSocket protocol: many light clients on one shapes_viz server, one retraining.

    python -m tools.loadtest.websocket --sessions 20 --interactions 50          # the classroom figure (retrain on)
    python -m tools.loadtest.websocket --sessions 3 --interactions 6 --epochs 1   # tests/test_loadtest_ws.py
    python -m tools.loadtest.websocket --sessions 1 --interactions 3 --no-retrain # a smoke run

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
while the others interact.

Reported (the JSON keys of the Chromium load test, plus a few): errors (must be 0: an exception element or "Something went
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
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import websockets

from shapes_viz.ui import state as keys  # the app's widget keys
from tools.loadtest.common import (
    MAP_LAYERS, SHAPES, MemorySampler, Results, argument_parser, check_arguments, latency_stats, print_summary,
    run_load_test, run_sessions, shape_png,
)
from tools.loadtest.wire import HEATMAP_TITLE, PREDICTION_PREFIX, ProtocolError, Shown, WidgetState, number_state
from tools.loadtest.ws_connection import EPOCHS_KEY, PUBLISH_KEY, START_KEY, Connection

UPLOAD_KIND, LAYER_KIND, CHANNEL_KIND = "upload -> prediction", "layer -> heatmap", "channel -> heatmap"


@dataclass
class WsResults(Results):
    """common.Results plus what only a protocol client sees."""

    samples: list[tuple[float, float]] = field(default_factory=list)  # (time.time() of the action, seconds to the result)
    until_finished_s: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds to script_finished
    finish_status: dict[str, Counter] = field(default_factory=dict)  # kind -> script_finished statuses
    predictions: list[tuple[float, str, bool]] = field(default_factory=list)  # (time.time(), "file -> class", drawn class?)
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
    print(f"predicted class vs drawn shape: {summary['prediction_check']}")
    if "load_generator_cpu" in summary:
        cpu = summary["load_generator_cpu"]
        print(f"load generator CPU (all clients, this process): {cpu['cpu_s']} s, {cpu['per_interaction_ms']} ms "
              f"per interaction, {cpu['cores_busy']} cores busy")
    print("transport: " + ", ".join(f"{k} {v}" for k, v in summary["transport"].items()))


class Client(Connection):
    """One classroom browser: opens the Upload tab, then cycles upload -> layer -> channel (after a retrain)."""

    def __init__(self, index: int, url: str, args: argparse.Namespace, results: WsResults, pool: ThreadPoolExecutor):
        super().__init__(index, url, args, results, pool)
        self.layer = MAP_LAYERS[0]
        self.picked_layer: str | None = None
        self.channel = 0

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


async def drive(url: str, args: argparse.Namespace, results: WsResults, memory: MemorySampler) -> None:
    pool = ThreadPoolExecutor(max_workers=args.sessions, thread_name_prefix="http")
    try:
        await run_sessions([Client(i, url, args, results, pool) for i in range(args.sessions)], args, results, memory)
    finally:
        pool.shutdown(wait=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("python -m tools.loadtest.websocket", __doc__.splitlines()[0], "WebSocket clients")
    args = parser.parse_args(argv)
    check_arguments(parser, args, max_sessions=200)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = WsResults(args.sessions, args.interactions, args.retrain, os.cpu_count() or 0)
    return run_load_test(args, results, drive, "WebSocket clients", print_ws_summary)


if __name__ == "__main__":
    sys.exit(main())

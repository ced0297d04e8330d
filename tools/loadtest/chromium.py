"""Load test: many browser sessions on one shapes_viz server, one of them retraining meanwhile.

    python -m tools.loadtest.chromium --sessions 20 --interactions 50            # the classroom figure
    python -m tools.loadtest.chromium --sessions 2 --interactions 3 --no-retrain  # a smoke run (tests/test_loadtest.py)

Starts `streamlit run app.py` on a free port of 127.0.0.1 with SHAPES_VIZ_MODEL / SHAPES_VIZ_DATA pointing
at temporary COPIES of the model and the data folder (retraining never touches models/), opens N headless
Chromium sessions (Playwright, Debian's /usr/bin/chromium), and has each do M interactions, cycling through
upload a PNG -> pick another layer -> pick another channel, with a random think time between them. With
--retrain, session 0 first submits the Retrain form (stable recipe, --epochs epochs on the data copy, "Publish
even if worse" ticked: a 1-2 epoch model is worse than the shipped one and the publish gate would keep the
shipped one), so the training runs - and publishes a new model - while the others interact.

Reported: errors (must be 0: an exception or "Something went wrong" on a page, a wait that timed out, a
traceback in the server log), interaction latency p50/p95/max (from the action - file handed to the
uploader, option clicked, Enter pressed - until the new prediction or heatmap is on the page, polled
every animation frame in the page), first page load, and the RSS of the server's process tree (psutil,
sampled every 0.5 s; the trainer is a child of the server). Only 127.0.0.1 is contacted; the run is bounded
by --timeout and cleans up after itself (server stopped, trainer cancelled, copies deleted).

Exit status: 0 when there were no errors, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

from tools import harness
from tools.harness import LIVE
from tools.loadtest.common import (
    MAP_LAYERS, SHAPES, MemorySampler, Results, argument_parser, check_arguments, print_summary, run_load_test,
    run_sessions, shape_png,
)

PREDICTION_SHOWS = """([name]) => {
    const el = document.querySelector('.st-key-predicted_class%s');
    return !!el && el.innerText.includes(name);
}""" % LIVE
HEATMAP_TITLE = """() => {
    const d = document.querySelector('.st-key-channel_heatmap%s .js-plotly-plot');
    if (!d || !d.layout || !d.layout.title) return null;
    return String(d.layout.title.text || '').replace(/<[^>]*>/g, '');  // Plotly wraps it in <b>
}""" % LIVE
PICKER_TEXT = """() => {
    const el = document.querySelector('.st-key-explorer_layer%s');
    if (!el) return null;
    const input = el.querySelector('input');
    return (input && input.value) || el.innerText.replace('Layer', '').trim();
}""" % LIVE
# The heatmap's title is "<layer> · channel <k>[ (dead)]". A layer pick waits for the layer, a channel pick
# for the channel (on whichever layer the page shows: see "layer resets" in the summary).
HEATMAP_SHOWS = """([layer, channel]) => {
    const d = document.querySelector('.st-key-channel_heatmap%s .js-plotly-plot');
    if (!d || !d.layout || !d.layout.title) return false;
    const title = String(d.layout.title.text || '').replace(/<[^>]*>/g, '');
    if (layer !== null && !title.startsWith(layer + ' · ')) return false;
    if (channel === null) return true;
    const m = title.match(/ · channel (\\d+)/);
    return !!m && Number(m[1]) === channel;
}""" % LIVE
# A user acts on a settled page: nothing in the main area is being redrawn (Streamlit marks the elements of a
# running script or fragment data-stale). Sidebar fragments that poll every second are not waited for.
MAIN_SETTLED = """() => {
    const main = document.querySelector('[data-testid="stMain"]') || document.body;
    return main.querySelector('[data-stale="true"]') === null;
}"""
PAGE_ERRORS = """() => {
    const found = [];
    document.querySelectorAll('[data-testid="stException"]').forEach(e => found.push('exception: ' + e.innerText.slice(0, 200)));
    const text = document.body.innerText;
    for (const needle of ['Something went wrong', 'Traceback', 'This app has encountered an error']) {
        if (text.includes(needle)) found.push('page shows: ' + needle);
    }
    return found;
}"""


class Session:
    """One Chromium page on the app doing the cycle upload -> layer -> channel."""

    def __init__(self, index: int, browser, url: str, args: argparse.Namespace, results: Results):
        self.index = index
        self.browser = browser
        self.url = url
        self.args = args
        self.results = results
        self.rng = random.Random(args.seed * 1000 + index)
        self.layer = "conv1_1"
        self.picked_layer: str | None = None
        self.channel = 0
        self.page = None
        self.context = None
        self.failures = 0
        self.last_step = "opening"  # the interaction before the current one (reported with a layer reset)

    def error(self, text: str) -> None:
        self.results.errors.append(f"{time.perf_counter() - self.args.t0:6.1f} s, session {self.index}: {text}")
        self.failures += 1

    async def evidence(self, what: str) -> None:
        """A screenshot of the page after a failure (with --screenshots), for a look afterwards."""
        if self.args.screenshots is None or self.page is None or self.failures > 3:
            return
        self.args.screenshots.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^a-z0-9]+", "_", f"s{self.index}_{what}".lower())[:60]
        with contextlib.suppress(Exception):
            await self.page.screenshot(path=str(self.args.screenshots / f"{name}.png"), full_page=True)

    async def wait(self, script: str, arg: Any, what: str) -> bool:
        try:
            await self.page.wait_for_function(script, arg=arg, polling="raf", timeout=self.args.wait_timeout * 1000)
            return True
        except Exception as exc:  # noqa: BLE001 - a timeout or a closed page: an error either way
            self.error(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            await self.evidence(what)
            return False

    async def settle(self) -> None:
        """Wait (untimed) until the main area is not being redrawn; an error only after --wait-timeout."""
        await self.wait(MAIN_SETTLED, None, "the page to settle")

    async def check_page(self, what: str) -> None:
        with contextlib.suppress(Exception):
            for problem in await self.page.evaluate(PAGE_ERRORS):
                self.error(f"after {what}: {problem}")

    async def open(self) -> bool:
        self.context = await self.browser.new_context(viewport={"width": 1500, "height": 2200})
        self.page = await self.context.new_page()
        self.page.set_default_timeout(self.args.wait_timeout * 1000)
        started = time.perf_counter()
        try:
            await self.page.goto(self.url)
            await self.page.locator(f".st-key-predicted_class{LIVE}").first.wait_for(state="visible")
            await self.page.get_by_role("tab", name="Upload").click()
            await self.page.locator(".st-key-upload_file input[type=file]").wait_for(state="attached")
        except Exception as exc:  # noqa: BLE001
            self.error(f"page load: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            return False
        self.results.first_load_s.append(time.perf_counter() - started)
        return True

    async def retrain(self) -> None:
        """Submit the Retrain form: project data folder (the copy), the stable recipe, --epochs epochs, "Publish even
        if worse" ticked (the load test is about a model published while sessions interact)."""
        sidebar = self.page.locator("[data-testid=stSidebar]")
        field = self.page.locator(".st-key-train_epochs input")
        await field.fill(str(self.args.epochs))
        await field.press("Tab")  # Enter would submit the form before the value is in
        await self.page.locator(".st-key-train_publish_if_worse label").click()
        if not await self.page.locator(".st-key-train_publish_if_worse input").is_checked():
            self.error("retrain: the 'Publish even if worse' checkbox did not tick")
        await self.page.locator(".st-key-train_start button").click()
        try:
            await sidebar.get_by_text(re.compile("Training started|Training is starting|Epoch")).first.wait_for()
            self.results.retrain_outcome["started_at_s"] = round(time.perf_counter() - self.args.t0, 1)
        except Exception as exc:  # noqa: BLE001
            self.error(f"retrain did not start: {type(exc).__name__}")

    async def upload(self, k: int) -> None:
        shape = SHAPES[(self.index + k) % 3]
        name = f"s{self.index}-i{k}-{shape}.png"
        data = shape_png(shape, self.rng)
        started = time.perf_counter()
        await self.page.locator(".st-key-upload_file input[type=file]").set_input_files(
            files=[{"name": name, "mimeType": "image/png", "buffer": data}]
        )
        if await self.wait(PREDICTION_SHOWS, [name], f"upload {name}"):
            self.results.add("upload -> prediction", time.perf_counter() - started)
            self.results.completed += 1
        else:  # counted; upload again (untimed) so that this session's next steps have an input to explore
            with contextlib.suppress(Exception):
                await self.settle()
                retry = f"s{self.index}-i{k}-retry-{shape}.png"
                await self.page.locator(".st-key-upload_file input[type=file]").set_input_files(
                    files=[{"name": retry, "mimeType": "image/png", "buffer": data}]
                )
                await self.page.wait_for_function(PREDICTION_SHOWS, arg=[retry], polling="raf",
                                                  timeout=self.args.wait_timeout * 1000)
        await self.check_page("upload")

    async def resync(self) -> None:
        """Read the layer and channel the page shows; count it when the layer is not the one picked last."""
        title = await self.page.evaluate(HEATMAP_TITLE)
        match = re.match(r"(\S+) · channel (\d+)", title or "")
        if match is None:
            return
        layer, channel = match.group(1), int(match.group(2))
        if self.picked_layer is not None and layer != self.picked_layer:
            self.results.layer_resets += 1
            picker = await self.page.evaluate(PICKER_TEXT)
            print(f"  {time.perf_counter() - self.args.t0:6.1f} s, session {self.index}: picked {self.picked_layer}, "
                  f"the heatmap shows {layer}, the picker shows {picker!r} (after {self.last_step})", flush=True)
            self.picked_layer = None
        self.layer, self.channel = layer, channel

    async def pick_layer(self) -> None:
        await self.resync()
        layer = self.rng.choice([name for name in MAP_LAYERS if name != self.layer])
        await self.page.locator(f".st-key-explorer_layer{LIVE}").first.click()
        option = self.page.get_by_role("option", name=layer).first
        await option.wait_for()
        started = time.perf_counter()
        await option.click()
        if await self.wait(HEATMAP_SHOWS, [layer, None], f"layer {layer}"):
            self.results.add("layer -> heatmap", time.perf_counter() - started)
            self.results.completed += 1
            self.layer = self.picked_layer = layer
        await self.check_page("layer change")

    async def pick_channel(self) -> None:
        await self.resync()
        channel = self.rng.choice([c for c in range(1, 32) if c != self.channel])
        field = self.page.locator(f".st-key-explorer_channel_number{LIVE} input").first
        await field.fill(str(channel))
        started = time.perf_counter()
        await field.press("Enter")
        if await self.wait(HEATMAP_SHOWS, [None, channel], f"channel {channel} (on {self.layer})"):
            self.results.add("channel -> heatmap", time.perf_counter() - started)
            self.results.completed += 1
            self.channel = channel
        await self.check_page("channel change")

    async def run(self, retrain: bool) -> None:
        if retrain:
            await self.retrain()
        steps = (self.upload, self.pick_layer, self.pick_channel)
        if self.args.first_think:  # a person reads the page before the first action, as between the others
            await asyncio.sleep(self.args.think * self.rng.uniform(0.5, 1.5))
        for k in range(self.args.interactions):
            if time.perf_counter() > self.args.deadline:
                self.error(f"stopped by --timeout after {k} interactions")
                return
            step = steps[k % 3]
            try:
                await self.settle()
                await (step(k) if step == self.upload else step())
                self.last_step = step.__name__
            except Exception as exc:  # noqa: BLE001 - a locator that never appeared, a closed page
                self.error(f"{step.__name__}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
                await self.evidence(step.__name__)
            think = self.args.think * self.rng.uniform(0.5, 1.5)
            await asyncio.sleep(think)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.context.close()


async def drive(url: str, args: argparse.Namespace, results: Results, memory: MemorySampler) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**harness.launch_options())
        sessions = [Session(i, browser, url, args, results) for i in range(args.sessions)]
        try:
            await run_sessions(sessions, args, results, memory)
        finally:
            await browser.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("python -m tools.loadtest.chromium", __doc__.splitlines()[0], "browser sessions")
    parser.add_argument("--screenshots", type=Path, default=None, help="screenshots of failures go here")
    args = parser.parse_args(argv)
    check_arguments(parser, args, max_sessions=60)
    missing = harness.chromium_missing()
    if missing:
        parser.error(missing)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results(args.sessions, args.interactions, args.retrain, os.cpu_count() or 0, first_think=args.first_think)
    return run_load_test(args, results, drive, "sessions", print_summary)


if __name__ == "__main__":
    sys.exit(main())

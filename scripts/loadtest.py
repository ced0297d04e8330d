"""Load test: many browser sessions on one shapes_viz server, one of them retraining meanwhile.

    python scripts/loadtest.py --sessions 20 --interactions 50            # the classroom figure
    python scripts/loadtest.py --sessions 2 --interactions 3 --no-retrain  # a smoke run (tests/test_loadtest.py)

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
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
MAP_LAYERS = ("conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2")
SHAPES = ("circles", "squares", "triangles")
LIVE = ':not([data-stale="true"])'

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


# --------------------------------------------------------------------------- results


@dataclass
class Results:
    sessions: int
    interactions: int
    retrain: bool
    cpus: int
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds
    first_load_s: list[float] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)
    retrain_outcome: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    load_average: dict[str, float] = field(default_factory=dict)  # 1-minute load: other work on the machine
    server_cpu_s: dict[str, float] = field(default_factory=dict)  # the server's CPU seconds, start/end of the sessions
    clock: dict[str, float] = field(default_factory=dict)

    layer_resets: int = 0  # the page showed another layer than the session had picked (not an error)
    training_window: tuple[float, float] | None = None  # time.time() when the trainer started and ended

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def summary(self) -> dict[str, Any]:
        every = [s for values in self.latencies.values() for s in values]

        def stats(values: list[float]) -> dict[str, float]:
            if not values:
                return {}
            ms = np.asarray(values) * 1000
            return {"n": len(values), "p50_ms": round(float(np.percentile(ms, 50)), 1),
                    "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1)}

        cpu = {}
        if {"at_start", "at_end"} <= set(self.server_cpu_s) and self.completed:
            used = self.server_cpu_s["at_end"] - self.server_cpu_s["at_start"]
            span = self.clock["at_end"] - self.clock["at_start"]
            cpu = {"server_cpu_s": round(used, 1), "per_interaction_ms": round(1000 * used / self.completed, 1),
                   "interactions_per_s": round(self.completed / span, 2) if span > 0 else None,
                   "server_cores_busy": round(used / span, 2) if span > 0 else None}
        return {
            "server_cpu": cpu,
            "sessions": self.sessions, "interactions_per_session": self.interactions, "retrain": self.retrain,
            "cpus": self.cpus, "completed": self.completed, "errors": len(self.errors), "error_list": self.errors[:50],
            "latency": {"all": stats(every), **{kind: stats(v) for kind, v in sorted(self.latencies.items())}},
            "first_load": stats(self.first_load_s), "server_rss_mb": self.rss_mb, "layer_resets": self.layer_resets,
            "retrain_outcome": self.retrain_outcome, "wall_s": round(self.wall_s, 1),
            "load_average_1min": self.load_average,
        }


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` headless on 127.0.0.1 (the project's .streamlit/config.toml applies)."""

    def __init__(self, model: Path, data: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**os.environ, "SHAPES_VIZ_MODEL": str(model), "SHAPES_VIZ_DATA": str(data), "PYTHONUNBUFFERED": "1"}
        with open(log, "wb") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                 "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"streamlit did not answer on {self.url}; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


class MemorySampler(threading.Thread):
    """Samples the RSS of the server and its children (the trainer) every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        import psutil

        self.process = psutil.Process(pid)
        self.every = every
        self.stop_event = threading.Event()
        self.peak_tree = self.peak_server = self.last_server = 0.0
        self.marks: dict[str, float] = {}

    def sample(self) -> tuple[float, float]:
        import psutil

        try:
            server = self.process.memory_info().rss
            children = 0
            for child in self.process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    children += child.memory_info().rss
        except psutil.Error:
            return 0.0, 0.0
        return server / 2**20, (server + children) / 2**20

    def mark(self, name: str) -> None:
        self.marks[name] = round(self.sample()[0], 1)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process itself (not the trainer)."""
        times = self.process.cpu_times()
        return times.user + times.system

    def run(self) -> None:
        while not self.stop_event.is_set():
            server, tree = self.sample()
            if server:
                self.last_server = server
                self.peak_server = max(self.peak_server, server)
                self.peak_tree = max(self.peak_tree, tree)
            self.stop_event.wait(self.every)


# --------------------------------------------------------------------------- the sessions


def shape_png(shape: str, rng: random.Random) -> bytes:
    """A hand-drawn-looking outline of `shape`, a little different every time (a new input for the cache)."""
    from PIL import Image, ImageDraw

    size = 240
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    j = lambda: rng.uniform(-12, 12)  # noqa: E731
    width = rng.randint(7, 14)
    if shape == "circles":
        draw.ellipse([40 + j(), 40 + j(), 200 + j(), 200 + j()], outline="black", width=width)
    elif shape == "squares":
        corners = [(45 + j(), 45 + j()), (195 + j(), 45 + j()), (195 + j(), 195 + j()), (45 + j(), 195 + j())]
        draw.line(corners + corners[:1], fill="black", width=width, joint="curve")
    else:
        corners = [(120 + j(), 35 + j()), (205 + j(), 200 + j()), (35 + j(), 200 + j())]
        draw.line(corners + corners[:1], fill="black", width=width, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Session:
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
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        sessions = [Session(i, browser, url, args, results) for i in range(args.sessions)]
        try:
            # The first session pays the cold start (TensorFlow import, model load, tracing); then the rest.
            if not await sessions[0].open():
                return
            opened = await asyncio.gather(*(s.open() for s in sessions[1:]))
            memory.mark("after_pages_loaded")
            results.server_cpu_s["at_start"] = memory.cpu_seconds()
            results.clock["at_start"] = time.perf_counter()
            live = [sessions[0]] + [s for s, ok in zip(sessions[1:], opened) if ok]
            await asyncio.gather(*(s.run(retrain=args.retrain and s.index == 0) for s in live))
            results.server_cpu_s["at_end"] = memory.cpu_seconds()
            results.clock["at_end"] = time.perf_counter()
        finally:
            for session in sessions:
                await session.close()
            await browser.close()


# --------------------------------------------------------------------------- main


def argument_parser(description: str, sessions: str) -> argparse.ArgumentParser:
    """The options of both load tests; `sessions` names what a session is in the help ("browser sessions")."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sessions", type=int, default=20, help=f"{sessions} (default 20)")
    parser.add_argument("--interactions", type=int, default=50, help="interactions per session (default 50)")
    parser.add_argument("--retrain", action=argparse.BooleanOptionalAction, default=True,
                        help="session 0 retrains while the others interact (default on)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of that training (default 2)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds between a session's interactions, 0.5x-1.5x at random (default 1.0)")
    parser.add_argument("--wait-timeout", type=float, default=30.0, help="seconds before a wait is an error")
    parser.add_argument("--timeout", type=float, default=900.0, help="the whole run stops after this (default 900)")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "shapes_cnn.h5", help="model to copy")
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="data folder to copy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--log", type=Path, default=None, help="keep the server log here")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, max_sessions: int) -> None:
    """Refuse out-of-range options through `parser.error` (exit status 2)."""
    if not 1 <= args.sessions <= max_sessions or not 1 <= args.interactions <= 1000:
        parser.error(f"--sessions must be 1..{max_sessions} and --interactions 1..1000")
    if not 1 <= args.epochs <= 20 or args.think < 0 or args.wait_timeout <= 0 or not 10 <= args.timeout <= 3600:
        parser.error("--epochs 1..20, --think >= 0, --wait-timeout > 0, --timeout 10..3600")
    if not args.model.is_file():
        parser.error(f"no model file at {args.model}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__.splitlines()[0], "browser sessions")
    parser.add_argument("--screenshots", type=Path, default=None, help="screenshots of failures go here")
    args = parser.parse_args(argv)
    check_arguments(parser, args, max_sessions=60)
    if not Path(CHROMIUM).exists():
        parser.error(f"needs Chromium at {CHROMIUM}")
    return args


def count_tracebacks(log: Path) -> list[str]:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [lines[i + 1].strip() if i + 1 < len(lines) else line for i, line in enumerate(lines)
            if line.startswith("Traceback")]


def copy_inputs(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """Copies of the model (with its history) and the data folder: the retrain publishes over the copy."""
    from shapes_viz.config import history_path
    from shapes_viz.generator import generate_dataset

    model = work / "models" / args.model.name
    model.parent.mkdir()
    shutil.copy2(args.model, model)
    if history_path(args.model).exists():
        shutil.copy2(history_path(args.model), history_path(model))
    data = work / "data"
    if args.data.is_dir():
        shutil.copytree(args.data, data)
    else:
        generate_dataset(data, per_class=30, seed=args.seed)
    return model, data


def record_training(model: Path, before: tuple, args: argparse.Namespace, results: Results, sessions_ended: float) -> None:
    """Wait for the retrain the server spawned (up to --timeout) and record its outcome."""
    from shapes_viz.model import file_identity
    from shapes_viz.training_jobs import TrainingJobs

    status = TrainingJobs(model).wait(timeout=max(5.0, args.deadline - time.perf_counter()))
    if status.active:
        results.errors.append("the training was still running at --timeout")
    if status.started_at and status.finished_at:
        results.training_window = (float(status.started_at), float(status.finished_at))
    results.retrain_outcome.update(
        state=status.state, epochs=status.epoch, message=status.message, published=file_identity(model) != before,
        training_s=round(float(status.finished_at) - float(status.started_at), 1)
        if status.finished_at and status.started_at else None,
        ended_before_the_sessions=bool(status.finished_at and status.finished_at < sessions_ended),
    )
    if status.state != "done":
        results.errors.append(f"retraining ended {status.state}: {status.message}")


def stop_training(model: Path) -> None:
    """The trainer outlives the server by design: cancel it if it still runs."""
    from shapes_viz.training_jobs import TrainingJobs

    jobs = TrainingJobs(model)
    if jobs.cancel():
        jobs.wait(timeout=60)


Drive = Callable[[str, argparse.Namespace, Results, MemorySampler], Awaitable[None]]


def run_load_test(args: argparse.Namespace, results: Results, drive: Drive, sessions: str,
                  print_report: Callable[[dict[str, Any]], None]) -> int:
    """The frame of both load tests: the server on temporary copies of the model and data, `drive` (the
    sessions) under --timeout, the retrain's outcome, the server's memory, its log's tracebacks, clean-up,
    the report (and --json). Returns the exit status: 0 without errors, 1 otherwise."""
    from shapes_viz.model import file_identity

    results.load_average["before"] = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix="shapes_viz_loadtest_"))
    model, data = copy_inputs(args, work)
    log = work / "server.log"
    before = file_identity(model)
    args.t0 = time.perf_counter()
    args.deadline = args.t0 + args.timeout
    server = Server(model, data, log)
    memory = None
    try:
        server.wait_healthy()
        memory = MemorySampler(server.process.pid)
        memory.mark("idle")
        memory.start()
        print(f"server {server.url} (pid {server.process.pid}); {args.sessions} {sessions} x {args.interactions} "
              f"interactions{', one retraining' if args.retrain else ''} ...", flush=True)
        try:
            asyncio.run(asyncio.wait_for(drive(server.url, args, results, memory), timeout=args.timeout))
        except asyncio.TimeoutError:
            results.errors.append(f"the run hit --timeout {args.timeout:.0f} s")
        if args.retrain:
            record_training(model, before, args, results, sessions_ended=time.time())
        results.wall_s = time.perf_counter() - args.t0
        results.load_average["end"] = round(os.getloadavg()[0], 2)
    finally:
        if memory is not None:
            memory.stop_event.set()
            memory.join(timeout=5)
            results.rss_mb = {**memory.marks, "peak_server": round(memory.peak_server, 1),
                              "peak_server_and_trainer": round(memory.peak_tree, 1),
                              "end": round(memory.last_server, 1)}
        server.stop()
        stop_training(model)
        results.errors.extend(f"server log: {line}" for line in count_tracebacks(log))
        if args.log:
            args.log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log, args.log)
        shutil.rmtree(work, ignore_errors=True)

    summary = results.summary()
    print_report(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if not results.errors else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results(args.sessions, args.interactions, args.retrain, os.cpu_count() or 0)
    return run_load_test(args, results, drive, "sessions", print_summary)


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n{summary['sessions']} sessions x {summary['interactions_per_session']} interactions "
          f"({summary['completed']} completed), retrain: {summary['retrain']}, {summary['cpus']} CPUs, "
          f"{summary['wall_s']} s, 1-minute load average {summary['load_average_1min']}")
    print(f"errors: {summary['errors']}")
    for line in summary["error_list"][:20]:
        print(f"  - {line}")
    print(f"{'latency':<24}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for kind, stats in list(summary["latency"].items()) + [("first page load", summary["first_load"])]:
        if stats:
            print(f"{kind:<24}{stats['n']:>6}{stats['p50_ms']:>10}{stats['p95_ms']:>10}{stats['max_ms']:>10}")
    print("server RSS (MB): " + ", ".join(f"{k} {v}" for k, v in summary["server_rss_mb"].items()))
    if summary["server_cpu"]:
        cpu = summary["server_cpu"]
        print(f"server CPU while the sessions ran: {cpu['server_cpu_s']} s for {summary['completed']} interactions "
              f"({cpu['per_interaction_ms']} ms each, session polling and the retrain's page updates included), "
              f"{cpu['interactions_per_s']} interactions/s, {cpu['server_cores_busy']} cores busy")
    if summary["layer_resets"]:
        print(f"layer picker jumped back to another layer {summary['layer_resets']} times (a UI finding, not an error)")
    if summary["retrain_outcome"]:
        print("retrain: " + ", ".join(f"{k} {v}" for k, v in summary["retrain_outcome"].items()))


if __name__ == "__main__":
    sys.exit(main())

"""What both load tests share: results, the server's memory sampler, options, the run's frame and report.

`run_load_test` starts the app (tools.harness.AppServer) on temporary COPIES of the model and the data folder
(retraining never touches models/), runs a `drive` coroutine (the sessions) under --timeout, records the
retrain's outcome, the server's memory and its log's tracebacks, cleans up and prints the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np

from tools.harness import PROJECT_ROOT, SHIPPED_MODEL, AppServer, copy_model

MAP_LAYERS = ("conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2")
SHAPES = ("circles", "squares", "triangles")


# --------------------------------------------------------------------------- results


def latency_stats(seconds: list[float]) -> dict[str, float]:
    """n, p50, p95 and max in milliseconds."""
    if not seconds:
        return {}
    ms = np.asarray(seconds) * 1000
    return {"n": len(seconds), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1)}


@dataclass
class Results:
    """What a load test measured; `summary()` is the report (and the --json file)."""

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
    loadgen_cpu_s: dict[str, float] = field(default_factory=dict)  # this process's CPU seconds, start/end of the sessions
    clock: dict[str, float] = field(default_factory=dict)

    layer_resets: int = 0  # the page showed another layer than the session had picked (not an error)
    first_think: bool = True  # each session thought once before its first action (else: all acted at once)
    training_window: tuple[float, float] | None = None  # time.time() when the trainer started and ended

    def add(self, kind: str, seconds: float) -> None:
        self.latencies.setdefault(kind, []).append(seconds)

    def summary(self) -> dict[str, Any]:
        every = [s for values in self.latencies.values() for s in values]

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
            "first_actions": "after one think time" if self.first_think else "all at once", "cpus": self.cpus, "completed": self.completed, "errors": len(self.errors), "error_list": self.errors[:50],
            "latency": {"all": latency_stats(every), **{kind: latency_stats(v) for kind, v in sorted(self.latencies.items())}},
            "first_load": latency_stats(self.first_load_s), "server_rss_mb": self.rss_mb, "layer_resets": self.layer_resets,
            "retrain_outcome": self.retrain_outcome, "wall_s": round(self.wall_s, 1),
            "load_average_1min": self.load_average,
        }


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


# --------------------------------------------------------------------------- what the sessions upload


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


# --------------------------------------------------------------------------- the run


def mark(name: str, results: Results, memory: MemorySampler) -> None:
    """The server's and this process's CPU seconds, and the clock, at the start or end of the sessions."""
    results.server_cpu_s[name] = memory.cpu_seconds()
    results.loadgen_cpu_s[name] = time.process_time()
    results.clock[name] = time.perf_counter()


async def run_sessions(sessions: list[Any], args: argparse.Namespace, results: Results, memory: MemorySampler) -> None:
    """Open the first session alone (it pays the cold start: model load, tracing), then the others together;
    every session that opened does its interactions (session 0 retrains first with --retrain); close them all.

    A session has `index`, `async open() -> bool`, `async run(retrain: bool)` and `async close()`, and may have
    `async after_run()`: what it does once every session's interactions are done (outside the CPU and rate figures).
    """
    try:
        if not await sessions[0].open():
            return
        opened = await asyncio.gather(*(s.open() for s in sessions[1:]))
        memory.mark("after_pages_loaded")
        mark("at_start", results, memory)
        live = [sessions[0]] + [s for s, ok in zip(sessions[1:], opened) if ok]
        await asyncio.gather(*(s.run(retrain=args.retrain and s.index == 0) for s in live))
        mark("at_end", results, memory)
        await asyncio.gather(*(s.after_run() for s in live if hasattr(s, "after_run")))
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


def argument_parser(prog: str, description: str, sessions: str) -> argparse.ArgumentParser:
    """The options of both load tests; `sessions` names what a session is in the help ("browser sessions")."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--sessions", type=int, default=20, help=f"{sessions} (default 20)")
    parser.add_argument("--interactions", type=int, default=50, help="interactions per session (default 50)")
    parser.add_argument("--retrain", action=argparse.BooleanOptionalAction, default=True,
                        help="session 0 retrains while the others interact (default on)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of that training (default 2)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean seconds between a session's interactions, 0.5x-1.5x at random (default 1.0)")
    parser.add_argument("--first-think", action=argparse.BooleanOptionalAction, default=True,
                        help="each session thinks once before its first action too, as between the others (default "
                             "on); --no-first-think: every session acts the moment the pages have loaded, all at once")
    parser.add_argument("--wait-timeout", type=float, default=30.0, help="seconds before a wait is an error")
    parser.add_argument("--timeout", type=float, default=900.0, help="the whole run stops after this (default 900)")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="model to copy")
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT / "data", help="data folder to copy")
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


def count_tracebacks(log: Path) -> list[str]:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [lines[i + 1].strip() if i + 1 < len(lines) else line for i, line in enumerate(lines)
            if line.startswith("Traceback")]


def copy_inputs(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """Copies of the model (with its history) and the data folder: the retrain publishes over the copy."""
    from shapes_viz.generator import generate_dataset

    model = copy_model(args.model, work / "models")
    data = work / "data"
    if args.data.is_dir():
        shutil.copytree(args.data, data)
    else:
        generate_dataset(data, per_class=30, seed=args.seed)
    return model, data


def record_training(model: Path, before: tuple, args: argparse.Namespace, results: Results, sessions_ended: float) -> None:
    """Wait for the retrain the server spawned (up to --timeout) and record its outcome."""
    from shapes_viz.artifacts import file_identity
    from shapes_viz.training import TrainingJobs

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
    from shapes_viz.training import TrainingJobs

    jobs = TrainingJobs(model)
    if jobs.cancel():
        jobs.wait(timeout=60)


Drive = Callable[[str, argparse.Namespace, Results, MemorySampler], Awaitable[None]]


def run_load_test(args: argparse.Namespace, results: Results, drive: Drive, sessions: str,
                  print_report: Callable[[dict[str, Any]], None]) -> int:
    """The frame of both load tests: the server on temporary copies of the model and data, `drive` (the
    sessions) under --timeout, the retrain's outcome, the server's memory, its log's tracebacks, clean-up,
    the report (and --json). Returns the exit status: 0 without errors, 1 otherwise."""
    from shapes_viz.artifacts import file_identity

    results.load_average["before"] = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix="shapes_viz_loadtest_"))
    model, data = copy_inputs(args, work)
    log = work / "server.log"
    before = file_identity(model)
    args.t0 = time.perf_counter()
    args.deadline = args.t0 + args.timeout
    server = AppServer({"SHAPES_VIZ_MODEL": str(model), "SHAPES_VIZ_DATA": str(data)}, log)
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


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n{summary['sessions']} sessions x {summary['interactions_per_session']} interactions "
          f"({summary['completed']} completed), retrain: {summary['retrain']}, first actions: "
          f"{summary.get('first_actions')}, {summary['cpus']} CPUs, "
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


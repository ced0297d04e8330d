"""The benchmark's table: rows, medians, the machine it ran on, and the report in docs/benchmarks.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

Row = tuple[str, str, str, str, str]  # (measure, shapes_viz, reference, ratio, goal)
HEADER = ("measure", "shapes_viz", "reference (tutorial's way)", "ratio", "goal")
TABLE_START = "<!-- bench:table:start -->"
TABLE_END = "<!-- bench:table:end -->"
SECTION_NAMES = ("engine", "explain", "channels", "training", "browser", "memory", "views")  # in the order a full run measures them


def median_ms(function: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of `function` in milliseconds over `repeats` calls, after `warmup` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def machine_description() -> str:
    """CPU, cores, Python and library versions, and the OS of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        versions = ", ".join(
            f"{name} {version(dist)}"
            for name, dist in (("TensorFlow", "tensorflow-cpu"), ("Streamlit", "streamlit"), ("Plotly", "plotly"))
        )
    except Exception:  # noqa: BLE001 - a missing distribution only shortens the description
        versions = ""
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {versions}, "
        f"{platform.system()} {platform.release()}"
    ).replace(", ,", ",")


def blas_threads() -> str:
    """OPENBLAS_NUM_THREADS as this process got it: OpenBLAS starts one thread per core when it is unset."""
    return f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', f'unset ({os.cpu_count()} cores)')}"


def load_average() -> str:
    """The machine's load average: other work on it slows every figure (2 cores are easily shared)."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def format_table(rows: list[Row]) -> str:
    """The rows as a markdown table under HEADER."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(out: Path, table: str, sections: list[str], quick: bool, load: str = "") -> None:
    """Put the table between the markers of `out` (creating the file if needed); the rest stays."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python -m tools.bench" + (" --quick" if quick else "")
    if sorted(sections) != sorted(SECTION_NAMES):
        command += " --sections " + " ".join(sections)
    block = (
        f"{TABLE_START}\n`{command}` on {stamp}\n\nMachine: {machine_description()}; {blas_threads()}\n\n"
        + (f"Load average (1, 5, 15 min) before / after the run: {load}\n\n" if load else "")
        + f"Medians over repeats; ratios measured in the same run.\n\n{table}\n{TABLE_END}"
    )
    text = out.read_text() if out.exists() else "# Benchmarks\n\n"
    if TABLE_START in text and TABLE_END in text:
        head, rest = text.split(TABLE_START, 1)
        text = head + block + rest.split(TABLE_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


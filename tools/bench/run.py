"""The benchmark's command line: run the chosen sections, print the table, write it (see tools/bench)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from shapes_viz.config import PROJECT_ROOT  # noqa: E402
from tools.bench.browser import bench_browser, bench_memory  # noqa: E402
from tools.bench.channels import bench_channels  # noqa: E402
from tools.bench.engine import bench_engine  # noqa: E402
from tools.bench.explain import bench_explain  # noqa: E402
from tools.bench.report import SECTION_NAMES, Row, format_table, load_average, write_report  # noqa: E402
from tools.bench.training import bench_training  # noqa: E402
from tools.bench.views import bench_views  # noqa: E402

SECTIONS: dict[str, Callable[[bool], list[Row]]] = {
    "engine": bench_engine,
    "explain": bench_explain,
    "channels": bench_channels,
    "training": bench_training,
    "browser": bench_browser,
    "memory": bench_memory,
    "views": bench_views,
}
assert tuple(SECTIONS) == SECTION_NAMES


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark with command-line arguments `argv`; returns the exit status (0)."""
    import tools.bench

    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=tools.bench.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats and epochs: checks that it runs")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown file to write the table into (default docs/benchmarks.md; none with --quick)")
    args = parser.parse_args(argv)
    out = args.out or (None if args.quick else PROJECT_ROOT / "docs" / "benchmarks.md")
    load_before = load_average()
    rows: list[Row] = []
    for name in args.sections:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += SECTIONS[name](args.quick)
    table = format_table(rows)
    print(table)
    if out is not None:
        write_report(out, table, args.sections, args.quick, f"{load_before} / {load_average()}")
        print(f"wrote {out}", file=sys.stderr)
    return 0


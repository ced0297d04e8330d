"""The benchmark runs (quick mode) and writes its table where it belongs. No timing is asserted here:
the figures are the benchmark's output, not a test's condition."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import harness
from tools.bench import report
from tools.bench.browser import bench_browser, bench_memory
from tools.bench.run import SECTIONS, main

pytest.importorskip("tensorflow")


def test_quick_engine_and_training_sections_print_a_complete_table(tmp_path, capsys):
    out = tmp_path / "benchmarks.md"
    assert main(["--quick", "--sections", "engine", "training", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = [line for line in printed.splitlines() if line.startswith("|")]
    assert lines[0] == "| " + " | ".join(report.HEADER) + " |"
    rows = {line.split(" | ")[0].strip("| ").strip(): line.split(" | ") for line in lines[2:]}
    engine = rows["prediction + all 16 layer outputs + channel stats, 1 input (ms)"]
    assert float(engine[1]) > 0 and float(engine[2]) > 0 and engine[3].endswith("x faster")
    assert any(name.startswith("retrain 2 epochs on 210 images") for name in rows)
    accuracies = rows["test accuracy reached (90 images)"]
    assert all(0.0 <= float(value) <= 1.0 for value in accuracies[1:3])
    written = out.read_text()
    assert report.TABLE_START in written and report.TABLE_END in written
    assert "Machine: " in written and "cores" in written
    assert "--quick --sections engine training" in written


def test_the_report_replaces_only_its_own_table(tmp_path):
    out = tmp_path / "benchmarks.md"
    out.write_text(f"# Benchmarks\n\nNotes before.\n\n{report.TABLE_START}\nold table\n{report.TABLE_END}\n\n## Before and after\nkept\n")
    report.write_report(out, report.format_table([("m", "1", "2", "2x", "goal")]), ["engine"], quick=False)
    text = out.read_text()
    assert "old table" not in text and "| m | 1 | 2 | 2x | goal |" in text
    assert text.startswith("# Benchmarks\n\nNotes before.") and text.endswith("## Before and after\nkept\n")
    fresh = tmp_path / "new.md"
    report.write_report(fresh, "| table |", list(SECTIONS), quick=False)
    assert fresh.read_text().count(report.TABLE_START) == 1 and "--sections" not in fresh.read_text()


def test_browser_sections_say_why_they_cannot_run(monkeypatch):
    monkeypatch.setattr(harness, "CHROMIUM", Path("/nonexistent/chromium"))
    for section in (bench_browser, bench_memory):
        (row,) = section(True)
        assert "skipped" in row[0] and "chromium" in row[1]

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
    assert any(name.startswith("retrain on 210 images (at most 2 epochs, stops") and name.endswith("mean of 1 seed")
               for name in rows)
    held_out = [row for name, row in rows.items() if name.startswith("accuracy on 60 held-out")]
    assert len(held_out) == 2 and all(0.0 <= float(value) <= 1.0 for row in held_out for value in row[1:4])
    accuracies = rows["test accuracy reached (90 images), mean of 1 seed"]
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
    from tools.bench.views import bench_views

    for section in (bench_browser, bench_memory, bench_views):
        (row,) = section(True)
        assert "skipped" in row[0] and "chromium" in row[1]


def test_quick_explain_section_times_every_method_against_its_goal(monkeypatch):
    from tools.bench import explain

    monkeypatch.setattr(explain, "_single_threaded_times", lambda quick: explain.time_methods(quick))
    rows = explain.bench_explain(True)
    if rows[0][1] == "missing":
        pytest.skip(rows[0][0])
    names = [row[0].strip() for row in rows]
    assert names[0].startswith("explain: forward pass (trace), 1 input, OPENBLAS_NUM_THREADS=")
    goals = {row[0].strip(): row[4] for row in rows[1:8]}
    assert list(goals.values()) == ["<= 5 ms"] * 4 + ["<= 100 ms", "<= 300 ms", "<= 400 ms"]
    assert all(float(row[1]) > 0 and row[3].endswith("x the forward pass") for row in rows[1:8])
    assert sum("1 BLAS thread" in name for name in names) == 7
    faithful = [row for row in rows if "rank correlation with a randomised network" in row[0]]
    assert [row[0].split(":")[0].strip() for row in faithful] == [
        f"layercam at {explain.CAM_LAYER}", f"gradcam at {explain.CAM_LAYER}", "saliency", "smoothgrad", "ig",
        "occlusion"]
    for row in faithful:
        areas, correlation = row[1].split("; ")
        assert all(0.0 <= float(a) <= 1.0 for a in areas.split(" / ")) and -1.0 <= float(correlation) <= 1.0


def test_quick_channels_section_times_each_computation_against_its_goal(monkeypatch):
    from shapes_viz.config import VisualizeSettings
    from tools.bench import channels

    # the whole layer's job with 3 steps a channel (its figure is information; the real one takes ~20 s)
    monkeypatch.setattr(channels, "LAYER_SETTINGS", VisualizeSettings(steps=3))
    monkeypatch.setattr(channels, "_single_threaded_times", lambda quick: channels.time_channels(quick, False))
    rows = channels.bench_channels(True)
    if rows[0][1] == "missing":
        pytest.skip(rows[0][0])
    names = [row[0].strip() for row in rows]
    assert names[0].startswith("channels: forward pass, 1 input (engine.forward), OPENBLAS_NUM_THREADS=")
    timed = rows[1:6]
    assert [row[4] for row in timed] == ["<= 1500 ms", "<= 1500 ms", "<= 150 ms", "<= 600 ms", "information"]
    assert timed[0][0].strip().startswith("scan of data/: 300 drawings") and "64 channels of 3 steps" in timed[4][0]
    assert all(float(row[1]) > 0 and row[3].endswith("x the forward pass") for row in timed)
    meanwhile = rows[6]
    assert meanwhile[0].strip().startswith("meanwhile, one input's prediction") and meanwhile[2].startswith("idle ")
    assert all(float(v) > 0 for v in meanwhile[1].split(" / "))
    single = [row for row in rows if "1 BLAS thread" in row[0]]
    assert len(single) == 4 and all(row[3].endswith("x faster") for row in single)  # the quick child: no layer


def test_the_section_names_are_the_runs_sections_in_order():
    assert report.SECTION_NAMES == ("engine", "explain", "channels", "training", "browser", "memory", "views") \
        == tuple(SECTIONS)

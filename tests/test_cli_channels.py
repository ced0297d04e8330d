"""`python -m shapes_viz channels | visualize | evaluate --ablate`: what they write and print is the channels core
recomputed directly (scan_images, channel_image / class_image, accuracy_with), checked further against
independent oracles (the trace's pre-activations, the forward pass's outputs); their error contract (one
`error: ...` line, a non-zero exit, nothing written); no TensorFlow for .h5 models."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shapes_viz import cli
from shapes_viz.channels.knockout import accuracy_with
from shapes_viz.channels.report import PNG_SCALE, parse_ablate
from shapes_viz.channels.scan import load_splits, scan_images
from shapes_viz.channels.visualize import channel_image, class_image
from shapes_viz.config import CLASS_NAMES, VisualizeSettings
from shapes_viz.dataset import load_folder
from shapes_viz.engine.gradients import trace
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.preprocessing import preprocess

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / "shapes_cnn.h5"
DATA = ROOT / "data"
TEST_SET = DATA / "test_set"
STEPS = VisualizeSettings(steps=30)

pytestmark = pytest.mark.skipif(not SHIPPED_MODEL.is_file() or not TEST_SET.is_dir(),
                                reason="needs the shipped model and data/")


@pytest.fixture(scope="module")
def engine() -> NumpyEngine:
    return NumpyEngine.from_file(SHIPPED_MODEL)


@pytest.fixture(scope="module")
def data_scan(engine):
    return scan_images(engine, load_splits(DATA), k=5)


@pytest.fixture
def small(tmp_path) -> Path:
    """Two test drawings of each class in class subfolders, and a junk file that must be skipped."""
    for name in CLASS_NAMES:
        (tmp_path / "small" / name).mkdir(parents=True)
        for source in sorted((TEST_SET / name).glob("*.png"))[:2]:
            shutil.copy(source, tmp_path / "small" / name / source.name)
    (tmp_path / "small" / "circles" / "notes.png").write_text("not an image")
    return tmp_path / "small"


def run(*args, capsys) -> tuple[int, list[str], list[str]]:
    code = cli.main([*map(str, args), "--model", str(SHIPPED_MODEL)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out.splitlines(), [line for line in captured.err.splitlines() if line.strip()]


@pytest.mark.parametrize("layer", ["conv2_1", "dense"])
def test_the_json_is_the_scan_recomputed_and_its_values_are_the_traces_maxima(engine, data_scan, tmp_path, capsys, layer):
    out = tmp_path / "scan.json"
    code, printed, errors = run("channels", DATA, "--layer", layer, "--top", 5, "--json", out, capsys=capsys)
    assert code == 0 and errors == []
    report = json.loads(out.read_text())
    expected = data_scan.layer(layer)
    index = engine.layer_names.index(layer)
    vector = layer == "dense"
    assert (report["layer"], report["model"], report["files"], report["skipped"], report["top"]) == (
        layer, "shapes_cnn.h5", 300, [], 5)
    assert report["shape"] == list(engine.output_shapes[index])
    assert len(report["channels"]) == engine.output_shapes[index][-1] == expected.maxima.shape[1]
    relative = [Path(p).relative_to(DATA).as_posix() for p in data_scan.paths]
    outputs = engine.forward(data_scan.images)[index]  # the layer's output on every drawing (after ReLU)
    for entry in report["channels"]:
        c = entry["channel"]
        assert [f["path"] for f in entry["top"]] == [relative[i] for i in expected.top[c]]
        values = np.array([f["value"] for f in entry["top"]], np.float32)
        np.testing.assert_allclose(values, expected.maxima[expected.top[c], c], atol=1e-5)
        assert np.all(np.diff(values) <= 0) and values[0] == pytest.approx(expected.maxima[:, c].max(), abs=1e-5)
        assert [f["class"] for f in entry["top"]] == [CLASS_NAMES[data_scan.labels[i]] for i in expected.top[c]]
        assert entry["dead"] == bool(not (outputs[..., c] > 0).any())  # oracle: never positive on any drawing
        if vector:
            assert all(f["position"] is None for f in entry["top"])
        else:
            assert [f["position"] for f in entry["top"]] == [list(expected.positions[i, c]) for i in expected.top[c]]
    assert report["dead"] == sum(e["dead"] for e in report["channels"]) == int(expected.dead.sum()) > 0
    for entry in report["channels"][:4]:  # oracle: the trace's pre-activation of the best file, max and where
        best = entry["top"][0]
        z = trace(engine, preprocess(DATA / best["path"])).pre_activations[index][0][..., entry["channel"]]
        assert best["value"] == pytest.approx(float(z.max()), abs=1e-5)
        if not vector:
            assert list(np.unravel_index(int(z.argmax()), z.shape)) == best["position"]
    lines = [line for line in printed if line.startswith("  ")]
    unit = "unit" if vector else "channel"
    assert len(lines) == len(report["channels"])
    for line, entry in zip(lines, report["channels"]):
        assert line.startswith(f"  {unit} {entry['channel']}: " + ("dead (never positive), " if entry["dead"] else "best"))
        assert f"in {entry['top'][0]['path']} ({entry['top'][0]['class']})" in line
    dead = [str(e["channel"]) for e in report["channels"] if e["dead"]]
    assert printed[0].endswith(f"{len(dead)} dead on these drawings (never positive): {', '.join(dead)}")
    assert printed[-1] == f"wrote {out}"


def test_a_small_folder_of_class_subfolders_lists_skipped_files_and_caps_top_k(small, tmp_path, capsys):
    out = tmp_path / "deep" / "er" / "scan.json"
    code, printed, errors = run("channels", small, "--layer", "conv1_1", "--json", out, capsys=capsys)
    assert code == 0 and errors == []
    report = json.loads(out.read_text())
    assert report["files"] == 6 and report["top"] == 6
    assert report["skipped"] == [{"path": "circles/notes.png", "reason": report["skipped"][0]["reason"]}]
    assert "Only PNG or JPEG" in report["skipped"][0]["reason"]
    assert printed[0] == f"skipped circles/notes.png: {report['skipped'][0]['reason']}"
    paths = {f["path"] for e in report["channels"] for f in e["top"]}
    assert paths == {p.relative_to(small).as_posix() for p in small.rglob("*_*.png")}
    code, printed, _ = run("channels", small, "--layer", "conv1_1", capsys=capsys)  # no --json: prints only
    assert code == 0 and not printed[-1].startswith("wrote")


def test_visualize_a_channel_writes_channel_image_byte_for_byte(engine, tmp_path, capsys):
    out, png = tmp_path / "c12.npy", tmp_path / "pictures" / "c12.png"
    code, printed, errors = run("visualize", "--layer", "conv2_1", "--channel", 12, "--seed", 3, "--steps", 30,
                                "--out", out, "--png", png, capsys=capsys)
    assert code == 0 and errors == []
    expected = channel_image(engine, "conv2_1", 12, seed=3, settings=STEPS)
    written = np.load(out)
    assert written.dtype == np.float32 and written.shape == (1, 28, 28, 3)
    assert written.tobytes() == expected.image.tobytes()
    assert 0.0 <= written.min() and written.max() <= 1.0
    assert expected.end > expected.start  # conv2_1 channel 12 is live on the data set
    assert printed[0] == (f"mean pre-activation of conv2_1 channel 12: start {expected.start:.4f}, "
                          f"end {expected.end:.4f} (30 steps, seed 3)")
    picture = np.asarray(Image.open(png))
    assert picture.shape == (28 * PNG_SCALE, 28 * PNG_SCALE) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[::PNG_SCALE, ::PNG_SCALE], np.round(written[0, :, :, 0] * 255).astype(np.uint8))
    other = tmp_path / "other.npy"
    assert run("visualize", "--layer", "conv2_1", "--channel", 12, "--seed", 4, "--steps", 30, "--out", other,
               capsys=capsys)[0] == 0
    assert np.load(other).tobytes() != written.tobytes()  # the seed matters


@pytest.mark.parametrize("target", range(3))
def test_visualize_a_class_is_classified_as_that_class(engine, tmp_path, capsys, target):
    out = tmp_path / "class.npy"
    name = CLASS_NAMES[target] if target != 1 else "1"  # by name or by index
    code, printed, errors = run("visualize", "--class", name, "--steps", 30, "--out", out, capsys=capsys)
    assert code == 0 and errors == []
    expected = class_image(engine, target, seed=0, settings=STEPS)
    written = np.load(out)
    assert written.tobytes() == expected.image.tobytes()
    probabilities = engine.probabilities(written)[0]
    assert int(probabilities.argmax()) == target and expected.end > expected.start
    assert printed[0].startswith(f"log-probability of class {target}: start {expected.start:.4f}, end {expected.end:.4f}")
    assert printed[1] == (f"  probability of {CLASS_NAMES[target]}: {probabilities[target]:.4f} "
                          f"(start {np.exp(expected.start):.4f}); classified as {CLASS_NAMES[target]}")


def test_evaluate_ablate_is_accuracy_with_and_a_whole_layer_off_is_chance(engine, capsys):
    data = load_folder(TEST_SET)
    full = accuracy_with(engine, data)
    for args, off in (
        (["--ablate", "conv2_1:3,17", "--ablate", "dense:0-9"], {"conv2_1": [3, 17], "dense": list(range(10))}),
        (["--ablate", "conv2_1:3,17;dense:0-9"], {"conv2_1": [3, 17], "dense": list(range(10))}),
        (["--ablate", "conv3_1:0-40"], {"conv3_1": list(range(41))}),
    ):
        code, printed, errors = run("evaluate", TEST_SET, *args, capsys=capsys)
        assert code == 0 and errors == []
        accuracy = accuracy_with(engine, data, off)
        count = sum(map(len, off.values()))
        assert printed[-1].startswith(f"accuracy: {accuracy:.4f} ({round(accuracy * 90)}/90) with {count} channels off (")
        assert printed[-1].endswith(f"; all on: {full:.4f} ({round(full * 90)}/90)")
    assert "conv2_1: 3, 17 (2 of 64); dense: 0-9 (10 of 512)" in run("evaluate", TEST_SET, "--ablate", "conv2_1:17,3;dense:0-9",
                                                                    capsys=capsys)[1][-1]
    code, printed, _ = run("evaluate", TEST_SET, "--ablate", "conv2_1:" + ",".join(map(str, range(64))), capsys=capsys)
    whole = accuracy_with(engine, data, {"conv2_1": range(64)})
    assert code == 0 and whole == pytest.approx(1 / 3) and full > 0.9  # constant output: one class for all 90
    assert printed[-1].startswith("accuracy: 0.3333 (30/90) with 64 channels off (conv2_1: 0-63 (64 of 64))")


def test_parse_ablate_merges_groups_and_ranges(engine):
    assert parse_ablate(["conv2_1:5,1-3; dense:7", "conv2_1:2 , 9"], engine) == {"conv2_1": [1, 2, 3, 5, 9], "dense": [7]}


LAYERS = r"Layers: conv1_1, conv1_2, .*, predictions\. "


@pytest.mark.parametrize(
    "args, message",
    [
        (["channels", "{data}", "--layer", "conv9"], rf"^error: No such layer\. {LAYERS}Received: layer='conv9'$"),
        (["channels", "{empty}", "--layer", "conv2_1"], r"^error: No usable images in .*empty"),
        (["channels", "{tmp}/missing", "--layer", "conv2_1"], r"^error: Data folder not found: .*missing$"),
        (["channels", "{data}", "--layer", "conv2_1", "--json", "{blocker}/x.json"],
         r"^error: --json's folder cannot be created: a file is in the way\. Received: json='.*blocker/x\.json'$"),
        (["channels", "{data}", "--layer", "conv2_1", "--json", "{tmp}/x.txt"], r"^error: --json must name a \.json file"),
        (["visualize", "--layer", "conv2_1", "--channel", "64", "--out", "{tmp}/a.npy"],
         r"^error: conv2_1 has channels 0\.\.63\. Received: channel=64$"),
        (["visualize", "--layer", "conv2_1", "--channel", "-1", "--out", "{tmp}/a.npy"],
         r"^error: conv2_1 has channels 0\.\.63\. Received: channel=-1$"),
        (["visualize", "--layer", "conv9", "--channel", "1", "--out", "{tmp}/a.npy"], r"^error: No such layer\. .*'conv9'$"),
        (["visualize", "--channel", "1", "--out", "{tmp}/a.npy"], r"^error: --channel needs --layer .*Received: layer=None$"),
        (["visualize", "--class", "cat", "--out", "{tmp}/a.npy"],
         r"^error: Unknown class\. Expected one of circles \(0\), squares \(1\), triangles \(2\)\. Received: class='cat'$"),
        (["visualize", "--class", "3", "--out", "{tmp}/a.npy"], r"^error: Unknown class\. .*Received: class='3'$"),
        (["visualize", "--class", "0", "--layer", "conv2_1", "--out", "{tmp}/a.npy"],
         r"^error: --layer applies only to --channel.*Received: layer='conv2_1'$"),
        (["visualize", "--class", "0", "--out", "{blocker}/a.npy"], r"^error: --out's folder cannot be created"),
        (["visualize", "--class", "0", "--out", "{tmp}"], r"^error: --out must name a \.npy file"),
        (["visualize", "--class", "0", "--out", "{tmp}/folder.npy"], r"^error: --out names a folder, not a file"),
        (["visualize", "--class", "0", "--out", "{tmp}/a.npy", "--png", "{tmp}/a.jpg"], r"^error: --png must name a \.png"),
        (["evaluate", "{data}/test_set", "--ablate", "conv2_1"],
         r"^error: Expected --ablate LAYER:K\[,K\.\.\.\] .*Received: ablate='conv2_1'$"),
        (["evaluate", "{data}/test_set", "--ablate", "conv2_1:x"], r"^error: Expected --ablate .*Received: ablate='conv2_1:x'$"),
        (["evaluate", "{data}/test_set", "--ablate", ";"], r"^error: Expected --ablate .*Received: ablate=';'$"),
        (["evaluate", "{data}/test_set", "--ablate", "conv9:1"], rf"^error: No such layer\. {LAYERS}Received: layer='conv9'$"),
        (["evaluate", "{data}/test_set", "--ablate", "conv2_1:64"],
         r"^error: conv2_1 has channels 0\.\.63\. Received: ablate='conv2_1:64'$"),
        (["evaluate", "{data}/test_set", "--ablate", "conv2_1:5-3"], r"^error: A range of channels goes from low to high"),
        (["evaluate", "{empty}", "--ablate", "conv2_1:1"], r"^error: No usable images in .*empty"),
    ],
    ids=["channels: unknown layer", "channels: empty folder", "channels: missing folder", "channels: unwritable json",
         "channels: not json", "visualize: channel too high", "visualize: negative channel", "visualize: unknown layer",
         "visualize: channel without layer", "visualize: unknown class", "visualize: class index out of range",
         "visualize: layer with class", "visualize: unwritable out", "visualize: out not npy", "visualize: out a folder",
         "visualize: png not png", "ablate: no channels", "ablate: not a number", "ablate: empty", "ablate: unknown layer",
         "ablate: channel too high", "ablate: reversed range", "ablate: empty folder"],
)
def test_bad_input_is_one_error_line_and_nothing_written(tmp_path, capsys, args, message):
    (tmp_path / "empty" / "circles").mkdir(parents=True)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    (tmp_path / "folder.npy").mkdir()
    before = sorted(tmp_path.rglob("*"))
    filled = [a.format(data=DATA, tmp=tmp_path, empty=tmp_path / "empty", blocker=tmp_path / "blocker") for a in args]
    code, printed, errors = run(*filled, capsys=capsys)
    assert code == cli.EXIT_ERROR and printed == []
    assert len(errors) == 1 and re.search(message, errors[0]), errors
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("args", [
    ["channels", "{data}", "--layer", "conv2_1"],
    ["visualize", "--class", "0", "--out", "{tmp}/a.npy"],
    ["evaluate", "{data}/test_set", "--ablate", "conv2_1:1"],
], ids=["channels", "visualize", "evaluate --ablate"])
def test_a_keras_model_is_one_error_line(tmp_path, capsys, args):
    (tmp_path / "model.keras").write_bytes(os.urandom(2000))
    code = cli.main([a.format(data=DATA, tmp=tmp_path) for a in args] + ["--model", str(tmp_path / "model.keras")])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert code == cli.EXIT_ERROR and captured.out == "" and len(errors) == 1
    assert re.match(r"^error: Channel scans, images and knock-outs need an \.h5 model .*Received: model='.*model\.keras'$",
                    errors[0]), errors


@pytest.mark.parametrize("args, message", [
    (["visualize", "--layer", "conv2_1", "--channel", "1", "--class", "0", "--out", "a.npy"],
     r"argument --class: not allowed with argument --channel"),
    (["visualize", "--layer", "conv2_1", "--out", "a.npy"], r"one of the arguments --channel --class is required"),
    (["visualize", "--class", "0"], r"the following arguments are required: --out"),
    (["channels", "data"], r"the following arguments are required: --layer"),
    (["channels", "data", "--layer", "conv2_1", "--top", "0"], r"argument --top: expected a positive integer"),
    (["visualize", "--class", "0", "--steps", "0", "--out", "a.npy"], r"argument --steps: expected a positive integer"),
], ids=["channel and class", "neither", "no out", "no layer", "top 0", "steps 0"])
def test_malformed_arguments_are_usage_errors(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == cli.EXIT_USAGE
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert errors[-1].startswith(f"python -m shapes_viz {args[0]}: error: ") and re.search(message, errors[-1])


def test_the_channel_commands_of_an_h5_model_import_no_tensorflow(tmp_path):
    """In a fresh process: channels, visualize and evaluate --ablate (and a .keras model refused) never import
    TensorFlow or Keras."""
    (tmp_path / "model.keras").write_bytes(os.urandom(2000))
    model = ["--model", str(SHIPPED_MODEL)]
    calls = [
        (["channels", str(TEST_SET), "--layer", "conv2_1", "--json", str(tmp_path / "s.json"), *model], 0),
        (["visualize", "--layer", "conv2_1", "--channel", "3", "--steps", "5", "--out", str(tmp_path / "v.npy"), *model], 0),
        (["visualize", "--class", "triangles", "--steps", "5", "--out", str(tmp_path / "t.npy"), *model], 0),
        (["evaluate", str(TEST_SET), "--ablate", "conv2_1:1,2", *model], 0),
        (["evaluate", str(TEST_SET), "--ablate", "conv2_1:1", "--model", str(tmp_path / "model.keras")], 1),
    ]
    script = "import sys\nfrom shapes_viz import cli\n" + "".join(
        f"assert cli.main({args!r}) == {code}\n" for args, code in calls
    ) + "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert {p.name for p in tmp_path.iterdir()} == {"model.keras", "s.json", "v.npy", "t.npy"}


def test_help_lists_the_channel_verbs():
    done = subprocess.run([sys.executable, "-m", "shapes_viz", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert done.returncode == 0 and "channels" in done.stdout and "visualize" in done.stdout
    text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["evaluate"].format_help().split())
    assert "--ablate LAYER:K[,K...]" in text

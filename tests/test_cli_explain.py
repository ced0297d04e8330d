"""`python -m shapes_viz explain`: the maps it writes are `attribute(...)` recomputed directly, where they go,
what it prints, and its error contract (one `error: ...` line, a non-zero exit, no TensorFlow for .h5)."""

from __future__ import annotations

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
from shapes_viz.config import CLASS_NAMES
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.explain.methods import CAM_METHODS, METHODS, attribute
from shapes_viz.explain.report import DEFAULT_CAM_LAYER, map_path, parse_target
from shapes_viz.preprocessing import preprocess

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / "shapes_cnn.h5"
TEST_SET = ROOT / "data" / "test_set"
LINE = re.compile(r"^(?P<path>\S+): (?P<predicted>circles|squares|triangles) \((?P<p>\d+\.\d)%\)  (?P<method>\w+) for "
                  r"(?P<target>circles|squares|triangles)( \(\d+\.\d%\))?( at (?P<layer>\w+))?(?P<rest>.*)$")

pytestmark = pytest.mark.skipif(not SHIPPED_MODEL.is_file() or not TEST_SET.is_dir(),
                                reason="needs the shipped model and data/test_set")


@pytest.fixture(scope="module")
def engine() -> NumpyEngine:
    return NumpyEngine.from_file(SHIPPED_MODEL)


@pytest.fixture
def drawings(tmp_path) -> list[Path]:
    """One test drawing of each class, copied under folders named after their class (the data set's layout)."""
    files = []
    for name in CLASS_NAMES:
        source = sorted((TEST_SET / name).glob("*.png"))[3]
        (tmp_path / "in" / name).mkdir(parents=True)
        files.append(Path(shutil.copy(source, tmp_path / "in" / name / source.name)))
    return files


def explain(*args, capsys) -> tuple[int, list[str], list[str]]:
    code = cli.main(["explain", *map(str, args), "--model", str(SHIPPED_MODEL)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out.splitlines(), [line for line in captured.err.splitlines() if line.strip()]


@pytest.mark.parametrize("method", METHODS)
def test_each_written_map_is_attribute_recomputed_directly(engine, drawings, tmp_path, capsys, method):
    out = tmp_path / "maps"
    code, printed, errors = explain(*drawings, "--method", method, "--out", out, capsys=capsys)
    assert code == 0 and errors == []
    assert len(printed) == len(drawings)
    for path, line in zip(drawings, printed):
        x = preprocess(path)
        probabilities = engine.probabilities(x)[0]
        predicted = int(probabilities.argmax())
        expected = attribute(engine, x, method, predicted, "pool1" if method in CAM_METHODS else None)
        written = out / path.parent.name / f"{path.stem}.{method}.npy"
        values = np.load(written)
        assert values.dtype == np.float32 and values.shape == (28, 28)
        np.testing.assert_array_equal(values, expected.values)
        match = LINE.match(line)
        assert match, line
        assert match["path"] == str(path) and match["method"] == method
        assert match["predicted"] == match["target"] == CLASS_NAMES[predicted]
        assert float(match["p"]) == pytest.approx(100 * probabilities[predicted], abs=0.051)
        assert match["layer"] == ("pool1" if method in CAM_METHODS else None)
        assert match["rest"].endswith(f"  -> {written}")
        if method == "ig":  # its completeness, as the method computed it
            details = expected.details
            assert f"completeness error {details['completeness_error']:.4f} ({details['relative_error']:.1%})" in line
            assert f"logit difference {details['logit_difference']:.4f}" in line
    assert DEFAULT_CAM_LAYER == "pool1"


def test_target_by_name_or_index_and_a_chosen_layer(engine, drawings, tmp_path, capsys):
    circle = drawings[0]
    x = preprocess(circle)
    for target in ("squares", "1", "Squares"):
        out = tmp_path / target
        code, printed, _ = explain(circle, "--method", "gradcam", "--layer", "conv2_2", "--target", target,
                                   "--out", out, capsys=capsys)
        assert code == 0
        match = LINE.match(printed[0])
        assert match["target"] == "squares" and match["layer"] == "conv2_2"
        probability = engine.probabilities(x)[0][1]
        assert f"gradcam for squares ({probability:.1%})" in printed[0]  # the target's own probability
        expected = attribute(engine, x, "gradcam", 1, "conv2_2").values
        np.testing.assert_array_equal(np.load(out / "circles" / f"{circle.stem}.gradcam.npy"), expected)
    assert [parse_target(t) for t in ("circles", "0", "triangles", "2", " SQUARES ")] == [0, 0, 2, 2, 1]


def test_files_sharing_a_name_go_to_their_folders_and_a_clash_is_refused(drawings, tmp_path, capsys):
    same = []
    for drawing in drawings[:2]:  # a circle and a square saved as the same file name
        target = tmp_path / "other" / drawing.parent.name / "drawing.png"
        target.parent.mkdir(parents=True)
        same.append(Path(shutil.copy(drawing, target)))
    out = tmp_path / "maps"
    code, printed, errors = explain(*same, "--out", out, capsys=capsys)
    assert code == 0 and errors == []
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy")) == [
        "circles/drawing.layercam.npy", "squares/drawing.layercam.npy"]
    clash = tmp_path / "elsewhere" / "circles" / "drawing.png"  # same folder name and stem as same[0]
    clash.parent.mkdir(parents=True)
    shutil.copy(drawings[2], clash)
    before = np.load(out / "circles" / "drawing.layercam.npy")
    code, printed, errors = explain(same[0], clash, "--out", out, capsys=capsys)
    assert code == cli.EXIT_ERROR and len(printed) == 1
    assert len(errors) == 1 and errors[0].startswith(f"{clash}: error: its map would overwrite the one of {same[0]}")
    np.testing.assert_array_equal(np.load(out / "circles" / "drawing.layercam.npy"), before)
    assert map_path(out, Path("drawing.png"), "ig") == out / Path.cwd().name / "drawing.ig.npy"


def test_no_out_writes_nothing(drawings, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, printed, _ = explain(drawings[0], "--method", "saliency", capsys=capsys)
    assert code == 0 and "->" not in printed[0]
    assert not list(tmp_path.rglob("*.npy"))


def test_bad_files_are_reported_and_the_others_explained(drawings, tmp_path, capsys):
    blank, junk = tmp_path / "blank.png", tmp_path / "notes.png"
    Image.new("L", (60, 60), 255).save(blank)
    junk.write_text("not an image")
    out = tmp_path / "maps"
    code, printed, errors = explain(blank, drawings[1], junk, tmp_path / "missing.png", "--out", out, capsys=capsys)
    assert code == cli.EXIT_ERROR
    assert len(printed) == 1 and printed[0].startswith(f"{drawings[1]}: squares")
    assert [e.split(": error: ")[0] for e in errors] == [str(blank), str(junk), str(tmp_path / "missing.png")]
    assert "No shape found" in errors[0] and "Only PNG or JPEG" in errors[1] and "not found" in errors[2]
    assert [p.name for p in out.rglob("*.npy")] == [f"{drawings[1].stem}.layercam.npy"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layer", "conv9"], r"^error: No such layer\. Layers with maps: conv1_1, .*Received: layer='conv9'$"),
        (["--layer", "dense"], r"^error: layercam needs a layer whose output is a \(height, width, channels\) map: "
                               r".*Received: layer='dense'$"),
        (["--method", "gradcam", "--layer", "flatten"], r"^error: gradcam needs a layer .*Received: layer='flatten'$"),
        (["--method", "ig", "--layer", "conv1_1"], r"^error: --layer applies only to the CAM methods \(layercam, "
                                                   r"gradcam\)\. Received: method='ig', layer='conv1_1'$"),
    ],
    ids=["unknown layer", "dense layer", "flatten layer", "layer for a non-CAM method"],
)
def test_a_bad_layer_is_one_error_line_before_any_file(drawings, tmp_path, capsys, args, message):
    code, printed, errors = explain(*drawings, *args, "--out", tmp_path / "maps", capsys=capsys)
    assert code == cli.EXIT_ERROR and printed == []
    assert len(errors) == 1 and re.search(message, errors[0]), errors
    assert not (tmp_path / "maps").exists()


def test_an_unwritable_out_folder_is_one_error_line(drawings, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    code, printed, errors = explain(*drawings, "--out", blocker / "maps", capsys=capsys)
    assert code == cli.EXIT_ERROR and printed == []
    assert len(errors) == 1 and re.match(r"^error: Not a directory: .*file/maps", errors[0]), errors


@pytest.mark.parametrize(
    "model, message",
    [
        ("{tmp}/model.keras", r"^error: Explanations need an \.h5 model .*Received: model='.*model\.keras'$"),
        ("{tmp}/none.h5", r"^error: Model file not found: .*none\.h5$"),
        ("{tmp}/junk.h5", r"^error: Not a valid model file: junk\.h5"),
    ],
    ids=["keras model", "missing model", "junk model"],
)
def test_a_bad_model_is_one_error_line(drawings, tmp_path, capsys, model, message):
    (tmp_path / "model.keras").write_bytes(os.urandom(2000))
    (tmp_path / "junk.h5").write_bytes(os.urandom(2000))
    code = cli.main(["explain", str(drawings[0]), "--model", model.format(tmp=tmp_path)])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.strip()]
    assert code == cli.EXIT_ERROR and captured.out == ""
    assert len(errors) == 1 and re.search(message, errors[0]), errors


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "lime"], r"argument --method: invalid choice: 'lime'"),
        (["--target", "cat"], r"argument --target: expected a class name or index: circles \(0\), squares \(1\), "
                              r"triangles \(2\); received 'cat'"),
        (["--target", "3"], r"argument --target: expected a class name or index: .*received '3'"),
    ],
    ids=["unknown method", "unknown class", "class index out of range"],
)
def test_an_unknown_method_or_class_is_a_usage_error(drawings, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["explain", str(drawings[0]), *args])
    assert exit_.value.code == cli.EXIT_USAGE
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert errors[0].startswith("usage: python -m shapes_viz explain")
    assert errors[-1].startswith("python -m shapes_viz explain: error: ") and re.search(message, errors[-1])


def test_explain_of_an_h5_model_imports_no_tensorflow(drawings, tmp_path):
    """In a fresh process, every method on the shipped model: TensorFlow and Keras are never imported."""
    out = tmp_path / "maps"
    calls = "".join(
        f"assert cli.main(['explain', {str(drawings[0])!r}, '--method', {m!r}, '--out', {str(out)!r}, "
        f"'--model', {str(SHIPPED_MODEL)!r}]) == 0\n"
        for m in METHODS
    )
    script = (
        "import sys\nfrom shapes_viz import cli\n" + calls
        + "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(list(out.rglob("*.npy"))) == len(METHODS)


def test_help_lists_the_explain_verb():
    done = subprocess.run([sys.executable, "-m", "shapes_viz", "explain", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "layercam,gradcam,saliency,smoothgrad,ig,occlusion" in text and "--target" in text and ".npy" in text

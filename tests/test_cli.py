"""`python -m shapes_viz ...` end to end in subprocesses, and its error contract: one `error: ...` line on
stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shapes_viz import cli
from shapes_viz.artifacts import training_lock
from shapes_viz.model import load_model

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "models" / "shapes_cnn.h5"
SUMMARY = re.compile(r"^accuracy: \d\.\d{4} \(\d+/\d+\)$")
# TensorFlow's C++ runtime prints these on import whatever TF_CPP_MIN_LOG_LEVEL says.
TF_NOISE = ("WARNING: All log messages before absl::InitializeLog()", "I0000 ", "W0000 ")


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith(TF_NOISE)]


def run(*args, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "shapes_viz", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )


def assert_one_error_line(done: subprocess.CompletedProcess, pattern: str, code: int = 1) -> str:
    errors = lines(done.stderr)
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert len(errors) == 1, errors
    assert re.search(pattern, errors[0]), errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """generate-data, then train for 1 epoch with --progress, as a user would (run once for the module)."""
    root = tmp_path_factory.mktemp("cli")
    data, model, progress = root / "data", root / "models" / "cli.keras", root / "run" / "progress.jsonl"
    generated = run("generate-data", "--out", data, "--per-class", 6, "--seed", 1)
    trained = run("train", "--data", data, "--out", model, "--epochs", 1, "--recipe", "tutorial",
                  "--batch-size", 8, "--quiet", "--progress", progress)
    return {"root": root, "data": data, "model": model, "progress": progress,
            "generated": generated, "trained": trained}


@pytest.mark.slow
def test_generate_data(pipeline):
    done, data = pipeline["generated"], pipeline["data"]
    assert done.returncode == 0, done.stderr
    assert lines(done.stdout) == [
        "training_set: circles 4, squares 4, triangles 4",
        "test_set: circles 2, squares 2, triangles 2",
        f"wrote 18 images to {data}",
    ]
    assert len(list((data / "training_set").rglob("*.png"))) == 12
    assert len(list((data / "test_set" / "squares").glob("*.png"))) == 2


@pytest.mark.slow
def test_train_publishes_and_writes_progress_lines(pipeline):
    done, model = pipeline["trained"], pipeline["model"]
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert re.fullmatch(rf"published {re.escape(str(model))}: best epoch 1/1, val_accuracy \d\.\d{{4}}, [\d.]+ s",
                        lines(done.stdout)[-1])
    assert not [l for l in lines(done.stdout) if "step" in l], "--quiet: no Keras progress bars"
    assert re.fullmatch(r"publish gate: no current model: published \(new \d+\.\d% on 6 validation images\)",
                        lines(done.stdout)[-2])
    assert load_model(model).count_params() == 174_243
    assert (model.parent / "cli.history.json").is_file()
    events = [json.loads(line) for line in pipeline["progress"].read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "done"]
    assert events[0]["train_count"] == 12 and events[0]["val_count"] == 6 and events[0]["epochs"] == 1
    assert set(events[1]) >= {"epoch", "epochs", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert events[2]["model_path"] == str(model)


@pytest.mark.slow
def test_evaluate_prints_the_confusion_matrix_and_the_summary_last(pipeline):
    done = run("evaluate", pipeline["data"] / "test_set", "--model", pipeline["model"])
    assert done.returncode == 0, done.stderr
    out = lines(done.stdout)
    assert SUMMARY.match(out[-1]), out[-1]
    assert out[-1].endswith("/6)")
    assert "per-class accuracy:" in out and "confusion matrix (rows: true, columns: predicted):" in out
    matrix = out[out.index("confusion matrix (rows: true, columns: predicted):") + 2 :][:3]
    assert [row.split()[0] for row in matrix] == ["circles", "squares", "triangles"]
    assert [sum(map(int, row.split()[1:])) for row in matrix] == [2, 2, 2]  # rows sum to the images per class


@pytest.mark.slow
def test_predict_good_and_bad_files(pipeline, tmp_path):
    image = sorted((pipeline["data"] / "test_set" / "circles").glob("*.png"))[0]
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    done = run("predict", image, bad, "--model", pipeline["model"])
    out = lines(done.stdout)
    assert len(out) == 1
    assert re.fullmatch(
        rf"{re.escape(str(image))}: (circles|squares|triangles) \(\d+\.\d%\)  "
        r"\[circles \d\.\d{4}  squares \d\.\d{4}  triangles \d\.\d{4}\]",
        out[0],
    ), out[0]
    assert_one_error_line(done, rf"^{re.escape(str(bad))}: error: Only PNG or JPEG images", code=1)


@pytest.mark.slow
def test_evaluate_with_a_corrupt_model_file(pipeline, tmp_path):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(pipeline["model"].read_bytes()[:5000])
    done = run("evaluate", pipeline["data"] / "test_set", "--model", broken)
    assert_one_error_line(done, r"^error: Not a valid model file: broken\.h5")


@pytest.mark.slow
def test_train_while_another_training_holds_the_lock(pipeline):
    model = pipeline["model"]
    before = model.read_bytes()
    with training_lock(model):
        done = run("train", "--data", pipeline["data"], "--out", model, "--epochs", 1, "--quiet")
    assert_one_error_line(done, r"^error: Another training is running", code=cli.EXIT_BUSY)
    assert model.read_bytes() == before


@pytest.mark.slow
def test_train_stops_when_the_stop_file_appears(pipeline, tmp_path):
    stop, progress, out = tmp_path / "stop", tmp_path / "progress.jsonl", tmp_path / "m.h5"
    stop.touch()
    done = run("train", "--data", pipeline["data"], "--out", out, "--epochs", 2, "--recipe", "tutorial",
               "--quiet", "--stop-file", stop, "--progress", progress)
    assert_one_error_line(done, r"^cancelled: Training cancelled", code=cli.EXIT_CANCELLED)
    assert not out.exists()
    assert [json.loads(l)["event"] for l in progress.read_text().splitlines()] == ["start", "cancelled"]


@pytest.fixture
def better_model(tmp_path) -> Path:
    """A copy of the shipped model (99.8%) with its history: a current model a 1-epoch run cannot beat."""
    if not SHIPPED_MODEL.is_file():
        pytest.skip(f"needs the shipped model {SHIPPED_MODEL}")
    model = tmp_path / "models" / "shapes_cnn.h5"
    model.parent.mkdir()
    shutil.copyfile(SHIPPED_MODEL, model)
    shutil.copyfile(SHIPPED_MODEL.with_name("shapes_cnn.history.json"), model.with_name("shapes_cnn.history.json"))
    return model


@pytest.mark.slow
def test_train_keeps_a_better_current_model_with_one_line_and_exit_status_5(pipeline, better_model, tmp_path):
    before = better_model.read_bytes(), better_model.with_name("shapes_cnn.history.json").read_bytes()
    progress = tmp_path / "progress.jsonl"
    done = run("train", "--data", pipeline["data"], "--out", better_model, "--epochs", 1, "--recipe", "tutorial",
               "--batch-size", 8, "--quiet", "--progress", progress)
    line = assert_one_error_line(
        done,
        r"^kept: Not published: the new model reached \d+\.\d% on the 6 validation images, the current model "
        r"\d+\.\d% on the same images; the current model stays\. Pass --publish-if-worse to replace it anyway\.$",
        code=cli.EXIT_KEPT,
    )
    assert cli.EXIT_KEPT == 5 and "published" not in done.stdout
    assert (better_model.read_bytes(), better_model.with_name("shapes_cnn.history.json").read_bytes()) == before
    events = [json.loads(l) for l in progress.read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch", "kept"]
    kept = events[-1]
    assert kept["val_count"] == 6 and kept["current_accuracy"] - kept["new_accuracy"] > 0.01
    assert line == f"kept: {kept['message']} Pass --publish-if-worse to replace it anyway."


@pytest.mark.slow
def test_train_with_publish_if_worse_replaces_a_better_current_model(pipeline, better_model):
    before = better_model.read_bytes()
    done = run("train", "--data", pipeline["data"], "--out", better_model, "--epochs", 1, "--recipe", "tutorial",
               "--batch-size", 8, "--quiet", "--publish-if-worse")
    assert done.returncode == 0, done.stderr
    out = lines(done.stdout)
    assert re.fullmatch(r"publish gate: worse than the current model, published as asked \(publish_if_worse\) "
                        r"\(new \d+\.\d%, current \d+\.\d% on 6 validation images\)", out[-2]), out
    assert out[-1].startswith(f"published {better_model}: best epoch 1/1")
    assert better_model.read_bytes() != before
    load_model(better_model)


def test_train_help_documents_the_flag_and_the_exit_statuses():
    done = run("train", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--publish-if-worse" in text and "exit status 5" in text
    assert "5 kept" in " ".join(run("--help").stdout.split())


# --------------------------------------------------------------------------- bad arguments (no TensorFlow needed)

USAGE_ERRORS = [
    ([], r"the following arguments are required: COMMAND"),
    (["fly"], r"invalid choice: 'fly'"),
    (["generate-data"], r"the following arguments are required: --out"),
    (["generate-data", "--out", "{tmp}/d", "--per-class", "1"], r"expected at least 2 images per class, received '1'"),
    (["generate-data", "--out", "{tmp}/d", "--per-class", "ten"], r"expected a positive integer, received 'ten'"),
    (["generate-data", "--out", "{tmp}/d", "--seed", "-1"], r"argument --seed: expected an integer from 0 to 4294967295"),
    (["generate-data", "--out", "{tmp}/d", "--test-fraction", "1.5"], r"expected a number between 0 and 1"),
    (["generate-data", "--out", "{tmp}/d", "--style", "oil"], r"invalid choice: 'oil'"),
    (["train"], r"one of the arguments --data --generate is required"),
    (["train", "--data", "{tmp}", "--generate", "5"], r"not allowed with argument"),
    (["train", "--generate", "1"], r"expected at least 2 images per class, received '1'"),
    (["train", "--data", "{tmp}", "--epochs", "0"], r"expected a positive integer, received '0'"),
    (["train", "--data", "{tmp}", "--batch-size", "x"], r"expected a positive integer, received 'x'"),
    (["train", "--data", "{tmp}", "--seed", "99999999999"], r"expected an integer from 0 to 4294967295"),
    (["train", "--data", "{tmp}", "--recipe", "turbo"], r"invalid choice: 'turbo'"),
    (["evaluate"], r"the following arguments are required: folder"),
    (["predict"], r"the following arguments are required: files"),
]


@pytest.mark.parametrize("args, message", USAGE_ERRORS, ids=[" ".join(a) or "nothing" for a, _ in USAGE_ERRORS])
def test_bad_arguments_give_a_usage_error(tmp_path, args, message):
    done = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert done.returncode == cli.EXIT_USAGE
    assert "Traceback" not in done.stderr
    errors = lines(done.stderr)
    assert errors[0].startswith("usage: python -m shapes_viz")
    assert re.search(r"error: (argument [^:]+: )?" + message, errors[-1]), errors[-1]
    assert not (tmp_path / "d").exists()


def test_generate_data_into_a_file_is_an_error(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    done = run("generate-data", "--out", target, "--per-class", 3)
    assert_one_error_line(done, r"^error: cannot write to .*file\.txt: Not a directory")


def test_train_with_a_bad_out_suffix_fails_before_training(tmp_path):
    done = run("train", "--generate", 3, "--out", tmp_path / "model.pt", "--epochs", 1)
    assert_one_error_line(done, r"^error: The model file must end in \.h5 or \.keras\. Received: .*model\.pt")
    assert "generating" not in done.stdout


# --------------------------------------------------------------------------- more failures, in-process (fast)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "{tmp}/missing", "--model", "{model}"], r"^error: Data folder not found: .*missing$"),
        (["evaluate", "{tmp}", "--model", "{model}"], r"^error: No class folders in "),
        (["evaluate", "{data}", "--model", "{tmp}/none.h5"], r"^error: Model file not found: .*none\.h5$"),
        (["evaluate", "{data}", "--model", "{tmp}/junk.keras"], r"^error: Not a valid model file: junk\.keras"),
        (["predict", "{tmp}/missing.png", "--model", "{model}"], r"missing\.png: error: Image file not found"),
        (["predict", "{tmp}/junk.keras", "--model", "{model}"], r"junk\.keras: error: Only PNG or JPEG"),
        (["train", "--data", "{tmp}/missing", "--out", "{tmp}/m.h5", "--quiet"], r"^error: Data folder not found"),
        (["train", "--data", "{data}", "--out", "/proc/shapes_viz/m.h5", "--quiet"], r"^error: .*/proc/shapes_viz"),
        (["train", "--data", "{data}", "--out", "{tmp}/m.h5", "--progress", "/proc/x/p.jsonl"], r"^error: .*/proc/x"),
    ],
    ids=["missing folder", "no class folders", "missing model", "junk model", "missing image", "not an image",
         "train: missing data", "train: unwritable --out", "train: unwritable --progress"],
)
def test_failures_are_one_error_line(tmp_path, tiny_data, trained, capsys, argv, message):
    (tmp_path / "junk.keras").write_bytes(os.urandom(2000))
    values = {"tmp": str(tmp_path), "data": str(tiny_data / "test_set"), "model": str(trained[0])}
    code = cli.main([a.format(**values) for a in argv])
    captured = capsys.readouterr()
    errors = lines(captured.err)
    assert code == cli.EXIT_ERROR
    assert len(errors) == 1 and re.search(message, errors[0]), errors
    assert not (tmp_path / "m.h5").exists()


def test_evaluate_in_process_matches_the_evaluation_module(tiny_data, trained, capsys):
    from shapes_viz.engine.keras_engine import KerasEngine
    from shapes_viz.evaluation import evaluate

    assert cli.main(["evaluate", str(tiny_data / "test_set"), "--model", str(trained[0])]) == 0
    last = lines(capsys.readouterr().out)[-1]
    assert last == evaluate(KerasEngine(load_model(trained[0]), warm_up=False), tiny_data / "test_set").summary_line()
    assert SUMMARY.match(last)


def test_predict_and_evaluate_of_an_h5_model_import_no_tensorflow(tiny_data, trained):
    """The numpy engine serves them: a predict of one file does not pay for TensorFlow's import."""
    image = sorted((tiny_data / "test_set" / "circles").glob("*.png"))[0]
    script = (
        "import sys\n"
        "from shapes_viz import cli\n"
        f"assert cli.main(['predict', {str(image)!r}, '--model', {str(trained[0])!r}]) == 0\n"
        f"assert cli.main(['evaluate', {str(tiny_data / 'test_set')!r}, '--model', {str(trained[0])!r}]) == 0\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_default_model_is_the_configured_one_not_the_repositorys(tiny_data, trained, capsys, monkeypatch):
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(trained[0]))
    assert cli.main(["evaluate", str(tiny_data / "test_set")]) == 0
    assert SUMMARY.match(lines(capsys.readouterr().out)[-1])
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(tiny_data / "nothing.h5"))
    assert cli.main(["evaluate", str(tiny_data / "test_set")]) == cli.EXIT_ERROR
    assert "nothing.h5" in capsys.readouterr().err

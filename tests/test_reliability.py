"""The reliability checklist (docs/reliability.md) where the core suites stop: each row's exact input or
fault fed through the app (AppTest, the real app.py), the CLI, or the real trainer subprocess.

Rows already proven on the core functions (test_preprocessing, test_model_files, test_model, test_training,
test_dataset, test_training_jobs) are listed in docs/reliability.md and not repeated here. Browser-only rows
(13, 15 in Chromium, the deployed server settings) are in test_reliability_browser.py; row 23 in
test_loadtest.py.

Faults are real where the operating system allows it without privileges: SIGKILL, RLIMIT_FSIZE (a write past
the limit fails with EFBIG exactly as a full disk fails with ENOSPC), a folder that cannot be created, two
threads racing, a real training diverging. Every test uses its own copy of a model (never models/).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tomllib
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_helpers import PROJECT_ROOT, copy_model, decode_array, figure_spec, shape_image, shape_png
from shapes_viz import config
from shapes_viz.config import IMAGE_FORMATS, MAX_IMAGE_BYTES, history_path
from shapes_viz.errors import ModelFileError, TrainingBusyError, TrainingError
from shapes_viz.training_jobs import (
    CANCELLED,
    FAILED,
    PROGRESS_FILE,
    RUNNING,
    TrainingJobs,
    TrainRequest,
    parse_progress,
)

pytest.importorskip("tensorflow")

APP = str(PROJECT_ROOT / "app.py")
WAIT_TRAINER_S = 240  # generous: a trainer imports TensorFlow (~3 s) and may share 2 cores with the suite


# --------------------------------------------------------------------------- helpers


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=120)


def messages(at) -> str:
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "success") for e in getattr(at, kind))


def assert_clean(at) -> None:
    """No exception element, no traceback text, no generic 'Something went wrong' (that means an unexpected error)."""
    assert not at.exception, [e.value for e in at.exception]
    text = messages(at)
    assert "Traceback" not in text and "Something went wrong" not in text, text


def upload(at, data: bytes, name: str, mime: str = "image/png"):
    at.session_state["input_tab"] = "Upload"
    at.run()
    at.file_uploader(key="upload_file").upload(name, data, mime)
    return at.run()


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def probabilities(at) -> np.ndarray:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith("-probabilities"):
            return decode_array(figure_spec(element)["data"][0]["y"])
    raise AssertionError(f"no probability chart; messages: {messages(at)}")


def own_model(tmp_path: Path, trained) -> Path:
    """A copy of the session's 1-epoch model with its history, in a models folder of its own."""
    return copy_model(Path(trained[0]), tmp_path / "models")


def point_app_at(monkeypatch, model: Path, data: Path) -> None:
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(data))


def snapshot(model: Path) -> tuple[bytes, bytes | None]:
    history = history_path(model)
    return model.read_bytes(), history.read_bytes() if history.exists() else None


def assert_unchanged(model: Path, before: tuple[bytes, bytes | None]) -> None:
    from shapes_viz.model import load_model

    assert snapshot(model) == before, "the published model or its history changed"
    load_model(model)  # and it still loads through the safe loader
    temps = sorted(p.name for p in model.parent.glob(f".{model.stem}.*"))
    assert not [name for name in temps if not name.endswith(".tmp" + model.suffix)], temps


def trainer_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_until(at, done, what: str, timeout: float = WAIT_TRAINER_S, every: float = 1.0):
    """Rerun the app (as its polling fragments would) until `done(at)`; fail with the page's messages."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        if done(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; page says: {messages(at)}")
        time.sleep(every)


# --------------------------------------------------------------------------- rows 1-5: model files


def _config_of(model) -> tuple[dict, bytes]:
    """The config.json and the weights of `model` as a .keras file carries them."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.keras"
        model.save(path)
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json")), archive.read("model.weights.h5")


def _write_keras(path: Path, config_json: dict, weights: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config_json))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("model.weights.h5", weights)


def _dense_config(config_json: dict) -> dict:
    return next(layer["config"] for layer in config_json["config"]["layers"] if layer["config"].get("name") == "dense")


def make_model_file(kind: str, folder: Path, marker: Path) -> Path:
    """A model file an attacker or a mistake could put where the app or the CLI loads its model."""
    import keras

    from shapes_viz.model import build_model

    if kind.startswith("lambda"):
        suffix = ".keras" if kind.endswith("keras") else ".h5"
        touch = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")  # noqa: S307
        model = keras.Sequential(
            [keras.Input(shape=(28, 28, 3)), keras.layers.Lambda(touch, name="payload"), keras.layers.Flatten(),
             keras.layers.Dense(3, activation="softmax")]
        )
        marker.unlink(missing_ok=True)  # building ran the lambda once; loading must not run it again
        path = folder / f"shapes_cnn{suffix}"
        model.save(path)
        return path
    if kind in ("code in config", "huge layer"):
        config_json, weights = _config_of(build_model(seed=0))
        if kind == "code in config":
            _dense_config(config_json)["activation"] = {"module": "os", "class_name": "function", "config": "system"}
        else:
            _dense_config(config_json)["units"] = 50_000_000
        path = folder / "shapes_cnn.keras"
        _write_keras(path, config_json, weights)
        return path
    path = folder / "shapes_cnn.h5"
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated":
        build_model(seed=0).save(folder / "full.h5")
        data = (folder / "full.h5").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "png renamed":
        path.write_bytes(shape_png())
    elif kind == "10 classes":
        keras.Sequential([keras.Input(shape=(28, 28, 3)), keras.layers.Flatten(),
                          keras.layers.Dense(10, activation="softmax")]).save(path)
    elif kind == "64x64 input":
        keras.Sequential([keras.Input(shape=(64, 64, 3)), keras.layers.Flatten(),
                          keras.layers.Dense(3, activation="softmax")]).save(path)
    else:
        raise ValueError(kind)
    return path


# (kind, checklist row, what the message must say)
BAD_MODEL_FILES = [
    ("lambda .h5", 1, "Lambda"),
    ("lambda .keras", 1, "Lambda"),
    ("code in config", 2, "module 'os'"),
    ("huge layer", 3, "more than 5,000,000 parameters (layer 'dense')"),
    ("random bytes", 4, "Not a valid model file"),
    ("truncated", 4, "Not a valid model file"),
    ("png renamed", 4, "Not a valid model file"),
    ("10 classes", 5, "does not fit"),
    ("64x64 input", 5, "does not fit"),
]


@pytest.fixture
def keras_load_spy(monkeypatch) -> list:
    """Record every call of keras.saving.load_model (the real one still runs)."""
    import keras

    calls = []
    real = keras.saving.load_model

    def spy(*args, **kwargs):
        calls.append(args[0] if args else kwargs.get("filepath"))
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    return calls


@pytest.mark.parametrize("kind, row, message", BAD_MODEL_FILES, ids=[k for k, _, _ in BAD_MODEL_FILES])
def test_a_bad_model_file_at_the_published_path_is_refused_and_the_app_keeps_serving(
    tmp_path, monkeypatch, tiny_data, keras_load_spy, kind, row, message
):
    """Rows 1-5 through the app: the file an operator (or an attacker with write access) put at SHAPES_VIZ_MODEL."""
    marker = tmp_path / "payload_ran"
    model = make_model_file(kind, tmp_path, marker)
    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png(), "triangle.png")
    assert_clean(at)
    text = messages(at)
    assert message in text and "cannot be used" in text, text
    assert not at.main.metric, "no prediction from a refused model"
    assert not at.button(key="train_start").disabled  # the way out: train a new model
    assert not marker.exists(), "the Lambda's code ran"
    if row <= 3:  # unsafe files are refused before Keras builds anything
        assert str(model) not in map(str, keras_load_spy)


@pytest.mark.parametrize("kind, row, message", BAD_MODEL_FILES, ids=[k for k, _, _ in BAD_MODEL_FILES])
def test_a_bad_model_file_given_to_the_cli_is_one_error_line(tmp_path, capsys, keras_load_spy, kind, row, message):
    """Rows 1-5 through `python -m shapes_viz predict --model` (in process: the same main())."""
    from shapes_viz import cli

    marker = tmp_path / "payload_ran"
    model = make_model_file(kind, tmp_path, marker)
    image = tmp_path / "triangle.png"
    image.write_bytes(shape_png())
    capsys.readouterr()
    assert cli.main(["predict", str(image), "--model", str(model)]) == cli.EXIT_ERROR
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert "Traceback" not in out + err and out == ""
    assert not marker.exists()
    if row <= 3:
        assert str(model) not in map(str, keras_load_spy)


def test_an_unsafe_model_is_never_published_over_the_current_one(tmp_path, trained):
    """Row 1, 'the current model stays': publishing reloads the file through the same checks first."""
    import keras

    from shapes_viz.model import save_model_atomic

    model = own_model(tmp_path, trained)
    before = snapshot(model)
    unsafe = keras.Sequential(
        [keras.Input(shape=(28, 28, 3)), keras.layers.Lambda(lambda x: x, name="payload"), keras.layers.Flatten(),
         keras.layers.Dense(3, activation="softmax")]
    )
    with pytest.raises(ModelFileError, match="Lambda"):
        save_model_atomic(unsafe, model)
    assert_unchanged(model, before)
    assert not list(model.parent.glob(f".{model.stem}.*"))


def test_a_model_file_replaced_while_the_app_serves_is_refused_then_a_good_one_is_used_again(
    tmp_path, monkeypatch, trained, tiny_data
):
    """Rows 1 and 4 over time: good -> Lambda file copied over it -> good again, in one session."""
    model = own_model(tmp_path, trained)
    good = model.read_bytes()
    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png("squares"), "square.png")
    assert_clean(at)
    first = probabilities(at)

    marker = tmp_path / "payload_ran"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bad = make_model_file("lambda .h5", elsewhere, marker)
    shutil.copyfile(bad, model)
    at.run()
    assert_clean(at)
    assert "Lambda" in messages(at) and not at.main.metric and not marker.exists()

    tmp = model.with_name("incoming.h5")
    tmp.write_bytes(good)
    os.replace(tmp, model)
    at.run()
    assert_clean(at)
    np.testing.assert_allclose(probabilities(at), first, atol=1e-6)


# --------------------------------------------------------------------------- rows 6-8, 12: uploads through the app


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (the header alone is the attack)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def psd_bytes() -> bytes:
    import struct

    return b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 1, 64, 64, 8, 1) + b"\x00" * 200


# (id, row, file name, bytes factory, expected message, is it refused as not PNG/JPEG)
BAD_UPLOADS = [
    ("20000x20000 png", 6, "huge.png", lambda: png_declaring(20000, 20000), "Image too large", False),
    ("tiff named .png", 7, "drawing.png", lambda: encode(shape_image(), "TIFF"), "Only PNG or JPEG", True),
    ("psd named .png", 7, "drawing.png", psd_bytes, "Only PNG or JPEG", True),
    ("webp named .png", 7, "drawing.png", lambda: encode(shape_image(), "WEBP"), "Only PNG or JPEG", True),
    ("exe named .png", 7, "setup.png", lambda: b"MZ\x90\x00\x03\x00\x00\x00" + bytes(500), "Only PNG or JPEG", True),
    ("broken jpeg", 8, "photo.jpg", lambda: encode(shape_image(), "JPEG")[:300], "Corrupt image", False),
    ("0-byte file", 8, "empty.png", lambda: b"", "Corrupt image", False),
    ("1x1 png", 12, "dot.png", lambda: encode(Image.new("L", (1, 1), 0)), "draw or upload a shape first", False),
    ("1x4000 png", 12, "line.png", lambda: encode(Image.new("L", (1, 4000), 0)), "draw or upload a shape first", False),
    ("all-black png", 12, "black.png", lambda: encode(Image.new("RGB", (64, 64), "black")),
     "draw or upload a shape first", False),
]


@pytest.fixture
def other_decoders(monkeypatch) -> list[tuple[str, bytes]]:
    """Record (format, first 16 bytes) whenever a Pillow decoder other than PNG/JPEG sniffs or opens something
    (the real ones still run). The page's example thumbnails (st.image) are sniffed too: filter by the bytes."""
    Image.init()
    calls: list[tuple[str, bytes]] = []
    for fmt, (factory, accept) in list(Image.OPEN.items()):
        if fmt in IMAGE_FORMATS:
            continue

        def open_spy(fp, *args, _factory=factory, _fmt=fmt, **kwargs):
            position = fp.tell()
            calls.append((_fmt, fp.read(16)))
            fp.seek(position)
            return _factory(fp, *args, **kwargs)

        def accept_spy(prefix, _accept=accept, _fmt=fmt):
            calls.append((_fmt, bytes(prefix[:16])))
            return _accept(prefix)

        monkeypatch.setitem(Image.OPEN, fmt, (open_spy, accept_spy if accept else None))
    return calls


def looked_at(calls: list[tuple[str, bytes]], data: bytes) -> list[str]:
    return sorted({fmt for fmt, head in calls if data[:16] == head[: len(data[:16])] and data})


@pytest.mark.parametrize(
    "row, name, make, expected, foreign", [pytest.param(*case[1:], id=case[0]) for case in BAD_UPLOADS]
)
def test_a_bad_upload_is_a_clear_message_and_the_app_keeps_serving(
    monkeypatch, tmp_path, trained, tiny_data, other_decoders, row, name, make, expected, foreign
):
    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = make()
    at = upload(new_app(), data, name)
    assert_clean(at)
    assert expected in messages(at), messages(at)
    assert not at.main.metric
    if foreign:
        assert looked_at(other_decoders, data) == [], "a decoder other than PNG/JPEG looked at the upload"
    # the same session goes on: a good upload is predicted
    at.file_uploader(key="upload_file").upload("triangle.png", shape_png(), "image/png")
    at.run()
    assert_clean(at)
    assert len(at.main.metric) == 1


def canvas_report(data: bytes) -> dict:
    """A live-canvas report as any client can send it over the WebSocket, carrying `data` as its "PNG"."""
    return {"drawing": {"seq": 1, "pen": "up", "png": base64.b64encode(data).decode(), "strokes": 1}}


# (id, row, the report's bytes, expected message, is it refused as not PNG/JPEG)
BAD_CANVAS_REPORTS = [
    ("tiff bytes", 7, lambda: encode(shape_image(), "TIFF"), "Only PNG or JPEG", True),
    ("webp bytes", 7, lambda: encode(shape_image(), "WEBP"), "Only PNG or JPEG", True),
    ("png declaring 20000x20000", 6, lambda: png_declaring(20000, 20000), "Image too large", False),
    ("a real 12000x12000 png (170 kB)", 6, lambda: encode(Image.new("L", (12000, 12000), 255), optimize=True),
     "Image too large", False),
    ("truncated png", 8, lambda: shape_png()[:150], "Corrupt image", False),
    ("blank canvas", 12, lambda: encode(Image.new("RGB", (280, 280), "white")), "draw or upload a shape first", False),
]


@pytest.mark.parametrize(
    "row, make, expected, foreign", [pytest.param(*case[1:], id=case[0]) for case in BAD_CANVAS_REPORTS]
)
def test_a_crafted_canvas_report_is_checked_like_an_upload(
    monkeypatch, tmp_path, trained, tiny_data, other_decoders, row, make, expected, foreign
):
    """Rows 6-8 and 12 through the drawing component: its report reaches preprocess() as bytes, so the same
    format and size checks apply (the old st_canvas decoded its data URL with any Pillow decoder, unbounded)."""
    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = make()
    at = new_app()
    at.session_state["canvas_0"] = canvas_report(data)
    tracemalloc.start()
    try:
        at.run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_clean(at)
    assert expected in messages(at), messages(at)
    assert not at.main.metric
    assert peak < 64 * 1024 * 1024, f"{peak / 2**20:.0f} MB allocated while refusing it"
    if foreign:
        assert looked_at(other_decoders, data) == []


def test_a_canvas_report_larger_than_any_real_one_is_refused_before_decoding(monkeypatch, tmp_path, trained, tiny_data):
    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    at = new_app()
    at.session_state["canvas_0"] = canvas_report(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).bytes(2 * 2**20))
    at.run()
    assert_clean(at)
    assert "too large" in messages(at) and not at.main.metric


# --------------------------------------------------------------------------- row 16: kill the trainer while it publishes


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["temp file created", "temp file fully written"])
def test_killing_the_cli_trainer_while_it_publishes_keeps_the_published_model(tmp_path, tiny_data, trained, moment):
    """SIGKILL the real trainer the moment its temp model file appears, or once it is as large as the old model
    (the reload check is running): the published model and its history are untouched and load."""
    from shapes_viz.model import save_model_atomic
    from shapes_viz.training import is_training

    model = own_model(tmp_path, trained)
    before = snapshot(model)
    full_size = model.stat().st_size
    trainer = subprocess.Popen(
        [sys.executable, "-m", "shapes_viz", "train", "--data", str(tiny_data), "--out", str(model),
         "--epochs", "1", "--recipe", "tutorial", "--quiet", "--publish-if-worse"],  # it must reach the publish
        cwd=PROJECT_ROOT, env=trainer_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    killed_at = None
    try:
        deadline = time.monotonic() + WAIT_TRAINER_S
        while trainer.poll() is None and time.monotonic() < deadline and killed_at is None:
            for temp in model.parent.glob(f".{model.stem}.*.tmp.h5"):
                try:
                    size = temp.stat().st_size
                except FileNotFoundError:
                    continue
                if moment == "temp file created" or size >= 0.9 * full_size:
                    trainer.send_signal(signal.SIGKILL)
                    killed_at = size
                    break
            time.sleep(0.001)
    finally:
        if trainer.poll() is None:
            trainer.kill()
        trainer.wait(timeout=30)
    assert killed_at is not None, f"the trainer ended ({trainer.returncode}) before it was caught publishing"
    assert trainer.returncode == -signal.SIGKILL
    assert snapshot(model) == before
    assert list(model.parent.glob(f".{model.stem}.*.tmp.h5")), "the kill landed inside the publish"
    assert not is_training(model), "the kernel released the trainer's lock"
    from shapes_viz.model import load_model

    save_model_atomic(load_model(model), model)  # the next publish is not blocked by the leftover


# --------------------------------------------------------------------------- rows 17, 18, 22: the trainer fails, the app says why


def custom_trainer(prelude: str) -> list[str]:
    """The real CLI trainer (`python -m shapes_viz train`) after `prelude` ran in its interpreter."""
    program = textwrap.dedent(prelude) + "\nimport sys\nfrom shapes_viz.cli import main\nsys.exit(main(['train', *sys.argv[1:]]))\n"
    return [sys.executable, "-c", program]


ABSURD = 'import dataclasses\nfrom shapes_viz import config\nconfig.RECIPES["absurd"] = dataclasses.replace(config.RECIPES["tutorial"], name="absurd", learning_rate=1e12, batch_size=4)\n'


def progress_text(at) -> str:
    """The labels of the sidebar's progress bars ("Epoch k of n")."""
    return "\n".join(str(element.proto.text) for element in at.sidebar.get("progress"))


def sidebar_text(at) -> str:
    parts = [str(e.value) for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in getattr(at.sidebar, kind)]
    return "\n".join(parts)


@pytest.mark.slow
def test_a_diverging_real_training_publishes_nothing_and_the_app_says_why(tmp_path, monkeypatch, trained, tiny_data):
    """Row 17: the real trainer with an absurd learning rate (1e12)."""
    monkeypatch.setitem(config.RECIPES, "absurd", dataclasses.replace(config.RECIPES["tutorial"], name="absurd"))
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    jobs = TrainingJobs(model, trainer=custom_trainer(ABSURD), env=trainer_env(), nice=0)
    jobs.start(TrainRequest(data_dir=tiny_data, recipe="absurd", epochs=5))
    status = jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == FAILED and "diverged" in status.message, status
    assert_unchanged(model, before)

    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png(), "triangle.png")
    assert_clean(at)
    text = sidebar_text(at)
    assert "training failed, the previous model stays" in text and "diverged" in text, text
    assert len(at.main.metric) == 1  # the old model still predicts


@pytest.mark.slow
def test_a_data_folder_problem_is_reported_in_the_app_and_corrupt_files_are_listed(tmp_path, monkeypatch, trained, tiny_data):
    """Row 18 through the Retrain form: an empty class refuses the folder; then a corrupt image and a stray
    file are skipped, listed, and the model is trained on the rest."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    data = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    squares = data / "training_set" / "squares"
    kept = tmp_path / "squares_kept"
    shutil.move(squares, kept)
    squares.mkdir()
    point_app_at(monkeypatch, model, data)

    def start(at):
        at.radio(key="train_source").set_value("project data folder")
        at.selectbox(key="train_recipe").select("tutorial")
        at.number_input(key="train_epochs").set_value(1)
        at.checkbox(key="train_publish_if_worse").check()  # about the skipped files, not about the publish gate
        return at.button(key="train_start").click().run()

    at = start(new_app().run())
    assert_clean(at)
    run_until(at, lambda a: "training failed" in sidebar_text(a), "the refused folder")
    assert "Class folder missing or empty" in sidebar_text(at) and "squares" in sidebar_text(at)
    assert_unchanged(model, before)

    shutil.rmtree(squares)
    shutil.move(kept, squares)
    (squares / "broken.png").write_bytes(shape_png()[:120])
    (data / "training_set" / "circles" / "notes.txt").write_text("not an image")
    at = start(new_app().run())
    run_until(at, lambda a: "New model published" in sidebar_text(a) or "training failed" in sidebar_text(a),
              "the second training")
    assert_clean(at)
    assert "New model published" in sidebar_text(at), sidebar_text(at)
    (expander,) = [e for e in at.sidebar.expander if "files skipped" in e.label]
    assert expander.label == "2 files skipped"
    listed = "\n".join(str(m.value) for m in expander.markdown)
    assert "broken.png" in listed and "notes.txt" in listed


FSIZE_LIMIT = 256 * 1024  # the model file is ~2 MB; progress lines and the lock are far below this
FULL_DISK = f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, ({FSIZE_LIMIT}, {FSIZE_LIMIT}))\n"


@pytest.mark.slow
def test_a_full_disk_at_publish_keeps_the_old_model_and_the_app_says_why(tmp_path, monkeypatch, trained, tiny_data):
    """Row 22: the real trainer may not write files over 256 KB (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the
    write fails with EFBIG as it would with ENOSPC on a full disk). It trains, fails to publish, says so."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    jobs = TrainingJobs(model, trainer=custom_trainer(FULL_DISK), env=trainer_env(), nice=0)
    jobs.start(TrainRequest(data_dir=tiny_data, recipe="tutorial", epochs=1, publish_if_worse=True))  # reach the publish
    status = jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == FAILED and status.epoch == 1, status  # it trained, then could not publish
    assert "Could not save the model" in status.message and "File too large" in status.message, status.message
    assert_unchanged(model, before)
    assert not list(model.parent.glob(f".{model.stem}.*")), "a temp file was left behind"

    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png(), "triangle.png")
    assert_clean(at)
    text = sidebar_text(at)
    assert "training failed, the previous model stays" in text and "File too large" in text, text
    assert len(at.main.metric) == 1


def test_a_models_folder_that_cannot_be_written_is_a_clear_message_when_retrain_is_pressed(
    tmp_path, monkeypatch, trained, tiny_data
):
    """Row 22, unwritable folder: the run folder cannot be created (`.runs` is a file; a read-only mount fails the
    same call with EROFS). Before the fix this was an OSError and the generic 'Something went wrong'."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    (model.parent / ".runs").write_text("in the way")
    with pytest.raises(TrainingError, match=r"^Cannot write to the models folder .*; the current model stays\."):
        TrainingJobs(model).start(TrainRequest(data_dir=tiny_data, recipe="tutorial", epochs=1))

    point_app_at(monkeypatch, model, tiny_data)
    at = upload(new_app(), shape_png(), "triangle.png")
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_start").click().run()
    assert_clean(at)
    assert "Cannot write to the models folder" in sidebar_text(at), sidebar_text(at)
    assert len(at.main.metric) == 1 and not at.button(key="train_start").disabled
    assert_unchanged(model, before)


def test_a_full_disk_while_writing_the_history_publishes_neither_file(tmp_path, monkeypatch, trained, tiny_data):
    """Row 22, the pair: before the fix the model was replaced first and a full disk at the history left the
    new model beside the old history, while the job reported 'failed, the previous model stays'."""
    from shapes_viz import training

    model = own_model(tmp_path, trained)
    before = snapshot(model)
    real_stage = training._stage_json

    def disk_full(path, data):
        if path.name.endswith(".history.json"):
            raise OSError(28, "No space left on device")
        return real_stage(path, data)

    monkeypatch.setattr(training, "_stage_json", disk_full)
    with pytest.raises(TrainingError, match=r"Could not write the training history .*No space left on device.*nothing was published"):
        training.train(tiny_data, model, recipe="tutorial", epochs=1, publish_if_worse=True)
    assert_unchanged(model, before)


def test_a_folder_that_cannot_be_created_is_a_model_file_error(tmp_path, fresh_model):
    from shapes_viz.model import save_model_atomic

    blocker = tmp_path / "models"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(ModelFileError, match=r"^Could not save the model to .*models/shapes_cnn\.h5"):
        save_model_atomic(fresh_model, blocker / "shapes_cnn.h5")


# --------------------------------------------------------------------------- rows 19 and 21: two presses, cancel


def wait_for(condition, what: str, timeout: float = WAIT_TRAINER_S, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


@pytest.mark.slow
def test_two_presses_at_the_same_moment_start_exactly_one_training(tmp_path, trained, tiny_data):
    """Row 19, one server: two session threads call start() through a barrier; the real trainer."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    jobs = TrainingJobs(model, env=trainer_env(), nice=0)
    barrier = threading.Barrier(2)
    results: list[tuple[str, object]] = []

    def press():
        barrier.wait()
        try:
            results.append(("started", jobs.start(TrainRequest(data_dir=tiny_data, epochs=50))))
        except TrainingBusyError as exc:
            results.append(("busy", str(exc)))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert sorted(kind for kind, _ in results) == ["busy", "started"], results
        started = next(value for kind, value in results if kind == "started")
        busy = next(value for kind, value in results if kind == "busy")
        assert "Another training is already running" in busy
        assert jobs.status().run_dir == started.run_dir and jobs.status().active  # the loser sees the winner
        assert len(list((model.parent / ".runs").iterdir())) == 1
    finally:
        jobs.cancel()
        status = jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == CANCELLED, status
    assert_unchanged(model, before)


@pytest.mark.slow
def test_two_servers_starting_together_train_once_the_other_trainer_reports_busy(tmp_path, trained, tiny_data):
    """Row 19, two server processes on one model (two TrainingJobs, no shared memory): both may spawn a trainer;
    the trainers' flock lets exactly one train, the other ends with the busy message."""
    model = own_model(tmp_path, trained)
    before = snapshot(model)
    servers = [TrainingJobs(model, env=trainer_env(), nice=0) for _ in range(2)]
    barrier = threading.Barrier(2)
    runs: list[str] = []
    refused: list[str] = []

    def press(jobs):
        barrier.wait()
        try:
            runs.append(jobs.start(TrainRequest(data_dir=tiny_data, epochs=50)).run_dir)
        except TrainingBusyError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=press, args=(jobs,)) for jobs in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(runs) + len(refused) == 2 and runs
    try:
        if len(runs) == 2:  # both spawned: one trainer gets the lock and trains, the other reports busy

            def summaries():
                return [parse_progress((Path(run) / PROGRESS_FILE).read_text().splitlines()) for run in runs]

            wait_for(lambda: sorted(str(s["terminal"]) for s in summaries() if s["started"] or s["terminal"])
                     == ["None", "error"], "one trainer training and the other refused")
            trained_runs = [s for s in summaries() if s["started"]]
            refusals = [s for s in summaries() if s["terminal"] == "error"]
            assert len(trained_runs) == 1 and len(refusals) == 1
            assert "Another training is running" in refusals[0]["message"], refusals
        for jobs in servers:  # every session of either server sees the one running job
            wait_for(lambda jobs=jobs: jobs.status().state == RUNNING, "the running job")
    finally:
        servers[0].cancel()
        for jobs in servers:
            jobs.wait(timeout=WAIT_TRAINER_S)
    assert_unchanged(model, before)


@pytest.mark.slow
def test_second_session_pressing_retrain_is_told_sees_progress_and_can_cancel_within_an_epoch(
    tmp_path, monkeypatch, trained, tiny_data
):
    """Rows 19 and 21 through the app: sessions A and B both show an enabled form; A starts, B presses its (stale)
    button, is told, and sees the running job; B cancels; the trainer stops within one epoch; the model stays."""
    from shapes_viz.model import file_identity

    model = own_model(tmp_path, trained)
    before = snapshot(model)
    identity = file_identity(model)
    point_app_at(monkeypatch, model, tiny_data)
    a, b = new_app().run(), new_app().run()
    assert not a.button(key="train_start").disabled and not b.button(key="train_start").disabled
    for at in (a, b):
        at.radio(key="train_source").set_value("project data folder")
        at.number_input(key="train_epochs").set_value(50)  # the stable recipe: seconds per epoch
    jobs = TrainingJobs(model)
    a.button(key="train_start").click().run()
    try:
        assert_clean(a)
        b.button(key="train_start").click().run()  # B's page was drawn before A's job started ...
        assert_clean(b)
        assert "Another training is already running" in sidebar_text(b), sidebar_text(b)  # ... B is told
        assert b.button(key="cancel_training")  # and sees the job
        assert len(list((model.parent / ".runs").iterdir())) == 1, "B's press started a second job"

        run_until(b, lambda s: "Epoch 1 of 50" in progress_text(s), "B sees epoch 1 of 50")
        b.button(key="cancel_training").click().run()
        assert_clean(b)
        assert "Cancelling" in sidebar_text(b), sidebar_text(b)
        epoch_after_cancel = jobs.status().epoch
        status = jobs.wait(timeout=WAIT_TRAINER_S)
    finally:
        if jobs.cancel():
            jobs.wait(timeout=WAIT_TRAINER_S)
    assert status.state == CANCELLED, status
    assert status.epoch <= epoch_after_cancel + 1, (status.epoch, epoch_after_cancel)
    assert file_identity(model) == identity
    assert_unchanged(model, before)
    run_until(a, lambda s: "Training cancelled" in sidebar_text(s), "A sees the cancel", timeout=30)
    assert not a.button(key="train_start").disabled


# --------------------------------------------------------------------------- row 20: a model published while sessions browse


def reference_probabilities(model_path: Path, data: bytes) -> np.ndarray:
    from shapes_viz.activations import ActivationEngine
    from shapes_viz.model import load_model
    from shapes_viz.preprocessing import preprocess

    return ActivationEngine(load_model(model_path), jit_compile=False).predict(preprocess(data))[0]


def test_a_model_published_while_a_session_browses_is_used_at_its_next_interaction(
    tmp_path, monkeypatch, trained, tiny_data
):
    from shapes_viz.model import build_model, save_model_atomic

    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = shape_png("squares")
    at = upload(new_app(), data, "square.png")
    assert_clean(at)
    old = probabilities(at)
    np.testing.assert_allclose(old, reference_probabilities(model, data), atol=1e-4)

    save_model_atomic(build_model(seed=5), model)  # another session's training publishes
    new = reference_probabilities(model, data)
    assert not np.allclose(new, old, atol=1e-3)
    at.number_input(key="explorer_channel_number").set_value(3).run()  # the next interaction
    assert_clean(at)
    np.testing.assert_allclose(probabilities(at), new, atol=1e-4)


def test_sessions_never_error_while_models_are_published_under_them(tmp_path, monkeypatch, trained, tiny_data):
    """Row 20 with a race: a thread publishes four models while two sessions keep interacting."""
    from shapes_viz.model import build_model, save_model_atomic

    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = shape_png("circles")
    sessions = [upload(new_app(), data, "circle.png") for _ in range(2)]
    candidates = [build_model(seed=s) for s in (11, 12)]
    failures: list[BaseException] = []

    def publish():
        try:
            for i in range(4):
                save_model_atomic(candidates[i % 2], model)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    publisher = threading.Thread(target=publish)
    publisher.start()
    step = 0
    while publisher.is_alive() or step < 4:
        for at in sessions:
            at.number_input(key="explorer_channel_number").set_value(step % 8).run()
            assert_clean(at)
            assert len(at.main.metric) == 1
        step += 1
    publisher.join()
    assert not failures, failures
    final = reference_probabilities(model, data)
    for at in sessions:
        at.number_input(key="explorer_channel_number").set_value(9).run()
        assert_clean(at)
        np.testing.assert_allclose(probabilities(at), final, atol=1e-4)


# --------------------------------------------------------------------------- the deployed server settings


def test_the_deployed_streamlit_config_has_every_protection():
    """Item 4 of the issue, rows 13 and 15: the settings the browser tests check on a real server."""
    settings = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    server, client = settings["server"], settings["client"]
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True  # Streamlit's name: true = cross-origin requests are refused
    assert client["showErrorDetails"] == "none"
    assert 1 <= server["maxUploadSize"] <= MAX_IMAGE_BYTES // 2**20  # MB; the decoder's own limit is above it
    assert client["toolbarMode"] == "viewer" and server["runOnSave"] is False
    assert settings["browser"]["gatherUsageStats"] is False


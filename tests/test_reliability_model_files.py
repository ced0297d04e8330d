"""Bad model files where the app or the CLI loads its model (docs/reliability.md, "model files"): a Lambda
layer, code named in the config, a huge layer, bytes that are not a model, a model that does not fit.
Each is refused with a clear message before Keras builds anything unsafe, the app keeps serving, the CLI
prints one error line, and publishing never puts such a file in place of the current model.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.drawings import shape_png
from tests.helpers.reliability import (
    assert_clean,
    assert_unchanged,
    messages,
    new_app,
    own_model,
    point_app_at,
    probabilities,
    snapshot,
    upload,
)
from shapes_viz.errors import ModelFileError

pytest.importorskip("tensorflow")


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


# (kind, unsafe: refused before Keras builds anything, what the message must say)
BAD_MODEL_FILES = [
    ("lambda .h5", True, "Lambda"),
    ("lambda .keras", True, "Lambda"),
    ("code in config", True, "module 'os'"),
    ("huge layer", True, "more than 5,000,000 parameters (layer 'dense')"),
    ("random bytes", False, "Not a valid model file"),
    ("truncated", False, "Not a valid model file"),
    ("png renamed", False, "Not a valid model file"),
    ("10 classes", False, "does not fit"),
    ("64x64 input", False, "does not fit"),
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


@pytest.mark.parametrize("kind, unsafe, message", BAD_MODEL_FILES, ids=[k for k, _, _ in BAD_MODEL_FILES])
def test_a_bad_model_file_at_the_published_path_is_refused_and_the_app_keeps_serving(
    tmp_path, monkeypatch, tiny_data, keras_load_spy, kind, unsafe, message
):
    """Through the app: the file an operator (or an attacker with write access) put at SHAPES_VIZ_MODEL."""
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
    if unsafe:  # refused before Keras builds anything
        assert str(model) not in map(str, keras_load_spy)


@pytest.mark.parametrize("kind, unsafe, message", BAD_MODEL_FILES, ids=[k for k, _, _ in BAD_MODEL_FILES])
def test_a_bad_model_file_given_to_the_cli_is_one_error_line(tmp_path, capsys, keras_load_spy, kind, unsafe, message):
    """Through `python -m shapes_viz predict --model` (in process: the same main())."""
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
    if unsafe:
        assert str(model) not in map(str, keras_load_spy)


def test_an_unsafe_model_is_never_published_over_the_current_one(tmp_path, trained):
    """'The current model stays': publishing reloads the file through the same checks first."""
    import keras

    from shapes_viz.artifacts import save_model_atomic

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
    """Over time: good -> Lambda file copied over it -> good again, in one session."""
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


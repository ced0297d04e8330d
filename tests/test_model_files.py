"""shapes_viz.model_files + model.load_model: a model file is refused before Keras builds anything from it.

Model files are code. Every refusal here must happen before `keras.saving.load_model` runs: the tests that
feed unsafe files replace it with a function that fails the test.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shapes_viz.errors import ModelFileError
from shapes_viz.artifacts import save_model_atomic
from shapes_viz.model import load_model
from shapes_viz.model_files import check_model_config, check_model_file

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL_PARAMS = 174_243


@pytest.fixture
def keras_must_not_load(monkeypatch):
    """Replace keras.saving.load_model: if the project's loader reaches it, the test fails."""
    import keras

    def refuse(*args, **kwargs):
        pytest.fail(f"keras.saving.load_model was called with {args}: the file was not refused first")

    monkeypatch.setattr(keras.saving, "load_model", refuse)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, fresh_model) -> dict[str, Path]:
    """The tutorial network saved once in each format (read-only)."""
    folder = tmp_path_factory.mktemp("saved_models")
    return {suffix: save_model_atomic(fresh_model, folder / f"model{suffix}") for suffix in (".h5", ".keras")}


@pytest.fixture(scope="module")
def keras_config(saved) -> dict:
    with zipfile.ZipFile(saved[".keras"]) as archive:
        return json.loads(archive.read("config.json"))


@pytest.fixture(scope="module")
def h5_config(saved) -> dict:
    with h5py.File(saved[".h5"], "r") as handle:
        return json.loads(handle.attrs["model_config"])


def write_keras(path: Path, config: dict, weights_from: Path | None = None) -> Path:
    """A .keras zip with this config.json (and, optionally, the weights of an existing .keras file)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        if weights_from is not None:
            with zipfile.ZipFile(weights_from) as source:
                archive.writestr("model.weights.h5", source.read("model.weights.h5"))
    return path


def write_h5(path: Path, config: dict) -> Path:
    """An .h5 holding only a model config attribute (what the checker reads)."""
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
    return path


def layer_config(config: dict, name: str) -> dict:
    for layer in config["config"]["layers"]:
        if layer["config"].get("name") == name:
            return layer["config"]
    raise KeyError(name)


# --------------------------------------------------------------------------- accepted


def test_our_own_files_pass_the_check_in_both_formats(saved):
    for path in saved.values():
        spec = check_model_file(path)
        assert spec.params == check_model_config(spec.config).params == TUTORIAL_PARAMS


def test_the_check_counts_parameters_like_keras(keras_config, h5_config, fresh_model):
    assert check_model_config(keras_config).params == fresh_model.count_params() == TUTORIAL_PARAMS
    assert check_model_config(h5_config).params == TUTORIAL_PARAMS


def test_the_layer_specs_give_the_shapes_and_parameters_keras_gives(keras_config, h5_config, fresh_model):
    """The one interpretation of the config that both engines build from agrees with the built model."""
    for config in (keras_config, h5_config):
        specs = check_model_config(config).layers
        assert [s.name for s in specs] == [layer.name for layer in fresh_model.layers]
        assert [s.kind for s in specs] == [type(layer).__name__ for layer in fresh_model.layers]
        assert [s.output_shape for s in specs] == [tuple(layer.output.shape[1:]) for layer in fresh_model.layers]
        assert [s.params for s in specs] == [layer.count_params() for layer in fresh_model.layers]
        for spec, layer in zip(specs, fresh_model.layers):
            assert spec.weight_shapes == tuple(tuple(w.shape) for w in layer.get_weights()), spec.name
            assert spec.activation == getattr(layer, "activation", None).__name__ if hasattr(layer, "activation") else "linear"


def test_a_keras2_style_config_is_accepted(h5_config):
    """Keras 2 .h5 files: no InputLayer, `batch_input_shape` on the first layer, no `module` keys."""
    config = copy.deepcopy(h5_config)
    layers = config["config"]["layers"]
    assert layers[0]["class_name"] == "InputLayer"
    layers.pop(0)
    layers[0]["config"]["batch_input_shape"] = [None, 28, 28, 3]
    for layer in layers:
        layer.pop("module", None)
    assert check_model_config(config).params == TUTORIAL_PARAMS


# --------------------------------------------------------------------------- Lambda layers


def lambda_model(marker: Path):
    """A real Keras model whose Lambda layer creates `marker` whenever its code runs."""
    import keras

    touch = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]")  # noqa: S307
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 3)),
            keras.layers.Lambda(touch, name="payload"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    assert marker.exists(), "the lambda's code runs when the model is built"
    marker.unlink()
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_is_refused_before_keras_deserialises_it(tmp_path, suffix, monkeypatch):
    marker = tmp_path / "lambda_ran"
    path = tmp_path / f"payload{suffix}"
    lambda_model(marker).save(path)  # Keras' own save, not ours: the file an attacker would hand over
    assert not marker.exists()

    import keras

    def refuse(*args, **kwargs):
        pytest.fail("keras.saving.load_model was called on a model with a Lambda layer")

    monkeypatch.setattr(keras.saving, "load_model", refuse)
    with pytest.raises(ModelFileError, match=r"Refused payload.*Lambda"):
        load_model(path)
    with pytest.raises(ModelFileError, match="Lambda"):
        check_model_file(path)
    assert not marker.exists()


# --------------------------------------------------------------------------- configs naming code


def _set_activation(value):
    def mutate(config):
        layer_config(config, "dense")["activation"] = value

    return mutate


def _set_initializer(value):
    def mutate(config):
        layer_config(config, "conv1_1")["kernel_initializer"] = value

    return mutate


def _insert_layer(layer):
    def mutate(config):
        config["config"]["layers"].insert(3, layer)

    return mutate


def _set_class(class_name):
    def mutate(config):
        config["class_name"] = class_name

    return mutate


UNSAFE_CONFIGS = [
    ("module os", _set_activation({"module": "os", "class_name": "function", "config": "system"}), "module 'os'"),
    ("module builtins eval", _set_activation({"module": "builtins", "class_name": "function", "config": "eval"}),
     "module 'builtins'"),
    ("module subprocess in an initializer",
     _set_initializer({"module": "subprocess", "class_name": "Popen", "config": {"args": ["true"]}}),
     "module 'subprocess'"),
    ("keras module, non-activation function",
     _set_activation({"module": "keras.utils", "class_name": "function", "config": "get_file"}), "get_file"),
    ("function without a module", _set_activation({"class_name": "function", "config": "exec"}), "exec"),
    ("function with a non-string name", _set_activation({"class_name": "function", "config": {"code": "x"}}),
     "function"),
    ("a __lambda__ object", _set_activation({"class_name": "__lambda__", "config": {"code": "YWJj"}}), "__lambda__"),
    ("registered custom object",
     _set_initializer({"module": "keras.initializers", "class_name": "Evil", "registered_name": "my_pkg>Evil",
                       "config": {}}), "custom object"),
    ("activation string naming another function", _set_activation("exponential_backdoor"), "activation"),
    ("TFOpLambda layer", _insert_layer({"class_name": "TFOpLambda", "config": {"name": "op"}}), "TFOpLambda"),
    ("custom layer class", _insert_layer({"module": "keras.layers", "class_name": "TFSMLayer",
                                          "config": {"name": "sm", "filepath": "/tmp/x"}}), "TFSMLayer"),
    ("nested model", _set_class("Model2"), "expected a Sequential model"),
]


@pytest.mark.parametrize(
    "mutate, message", [pytest.param(m, msg, id=name) for name, m, msg in UNSAFE_CONFIGS]
)
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_configs_naming_code_are_refused(tmp_path, keras_config, saved, suffix, mutate, message, keras_must_not_load):
    config = copy.deepcopy(keras_config)
    mutate(config)
    if suffix == ".keras":
        path = write_keras(tmp_path / "unsafe.keras", config, weights_from=saved[".keras"])
    else:
        path = write_h5(tmp_path / "unsafe.h5", config)
    with pytest.raises(ModelFileError, match=r"^(Refused|Model) unsafe") as raised:
        load_model(path)
    assert message in str(raised.value)


def test_a_keras_zip_with_unexpected_entries_is_refused(tmp_path, keras_config, keras_must_not_load):
    path = write_keras(tmp_path / "extra.keras", keras_config)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("assets/payload.py", "print('hi')")
    with pytest.raises(ModelFileError, match=r"unexpected entries \['assets/payload.py'\]"):
        load_model(path)


# --------------------------------------------------------------------------- size and parameter budget


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_tiny_file_declaring_a_huge_dense_layer_is_refused_without_a_memory_spike(
    tmp_path, keras_config, suffix, keras_must_not_load
):
    config = copy.deepcopy(keras_config)
    layer_config(config, "dense")["units"] = 50_000_000
    path = (write_keras if suffix == ".keras" else write_h5)(tmp_path / f"huge{suffix}", config)
    assert path.stat().st_size < 64 * 1024  # a tiny file...
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"more than 5,000,000 parameters \(layer 'dense'\)"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # ... that would need 12.8 GB of float32 weights if built


@pytest.mark.parametrize(
    "name, value",
    [("filters", 10**9), ("kernel_size", [1000, 1000]), ("strides", [0, 0]), ("kernel_size", [-3, 3]),
     ("kernel_size", [-3, -3]), ("pool_size", [0, 2]), ("data_format", "channels_first"), ("kernel_size", "3x3")],
)
def test_malformed_or_oversized_layers_are_refused(keras_config, name, value):
    config = copy.deepcopy(keras_config)
    target = "pool1" if name == "pool_size" else "conv1_1"
    layer_config(config, target)[name] = value
    with pytest.raises(ModelFileError, match=r"^Refused model: .*(parameters|malformed)"):
        check_model_config(config)


def test_a_negative_kernel_cannot_buy_parameter_budget_for_a_huge_layer(keras_config):
    """A negative size would count negative parameters and let a later huge layer through."""
    config = copy.deepcopy(keras_config)
    layer_config(config, "conv1_1")["kernel_size"] = [-1000, 1000]
    layer_config(config, "dense")["units"] = 2_000_000
    with pytest.raises(ModelFileError, match="malformed"):
        check_model_config(config)


def test_a_file_over_the_byte_limit_is_refused_unread(tmp_path, monkeypatch, keras_must_not_load):
    from shapes_viz import model_files

    monkeypatch.setattr(model_files, "MAX_MODEL_BYTES", 1024)
    path = tmp_path / "big.h5"
    path.write_bytes(b"\x00" * 2048)
    with pytest.raises(ModelFileError, match=r"^Model file too large: 2,048 bytes"):
        load_model(path)


# --------------------------------------------------------------------------- not model files


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (28, 28), "white").save(buffer, format="PNG")
    return buffer.getvalue()


NOT_MODELS = [
    ("random bytes", lambda saved: np.random.default_rng(0).bytes(4096)),
    ("empty file", lambda saved: b""),
    ("truncated", lambda saved: None),  # half of a real file of the same suffix
    ("a png renamed", lambda saved: _png_bytes()),
    ("a zip of something else", lambda saved: None),
    ("json text", lambda saved: b'{"class_name": "Sequential"}'),
]


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("kind", [name for name, _ in NOT_MODELS])
def test_files_that_are_not_model_files(tmp_path, saved, suffix, kind):
    path = tmp_path / f"upload{suffix}"
    if kind == "truncated":
        data = saved[suffix].read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "a zip of something else":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    else:
        path.write_bytes(dict(NOT_MODELS)[kind](saved))
    with pytest.raises(ModelFileError, match=r"(?i)not a valid model file"):
        load_model(path)


def test_missing_file_and_wrong_suffix(tmp_path, saved):
    with pytest.raises(ModelFileError, match="Model file not found"):
        load_model(tmp_path / "nothing.h5")
    renamed = tmp_path / "model.pt"
    renamed.write_bytes(saved[".h5"].read_bytes())
    with pytest.raises(ModelFileError, match=r"must end in \.h5 or \.keras\. Received: model\.pt"):
        load_model(renamed)


def test_an_h5_with_weights_only_is_refused(tmp_path, fresh_model):
    path = tmp_path / "only.weights.h5"
    fresh_model.save_weights(path)
    with pytest.raises(ModelFileError, match="no model config"):
        load_model(path)


# --------------------------------------------------------------------------- models that do not fit


def variant(input_shape=(28, 28, 3), classes=3):
    """The tutorial's layer stack with another input shape or class count (a real Keras model)."""
    import keras

    from shapes_viz.model import build_model

    layers = [keras.Input(shape=input_shape)] + [
        type(layer).from_config(layer.get_config())
        for layer in build_model(seed=0).layers[:-1]
    ]
    layers.append(keras.layers.Dense(classes, activation="softmax", name="predictions"))
    return keras.Sequential(layers)


@pytest.mark.parametrize(
    "input_shape, classes, received",
    [
        ((32, 32, 3), 3, r"Received: input \(32, 32, 3\), output \(3,\)"),
        ((28, 28, 1), 3, r"Received: input \(28, 28, 1\), output \(3,\)"),
        ((28, 28, 3), 4, r"Received: input \(28, 28, 3\), output \(4,\)"),
        ((28, 28, 3), 10, r"Received: input \(28, 28, 3\), output \(10,\)"),
    ],
)
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_models_with_another_input_or_class_count_are_refused(tmp_path, input_shape, classes, received, suffix):
    path = tmp_path / f"other{suffix}"
    variant(input_shape, classes).save(path)
    with pytest.raises(ModelFileError, match=r"does not fit: expected input \(28, 28, 3\) and 3 classes\. " + received):
        load_model(path)


def test_the_loaded_model_is_checked_again_after_keras_built_it(tmp_path, monkeypatch):
    """Defence in depth: even if the config check were fooled, the built model's shapes are checked."""
    from shapes_viz import model_files

    path = tmp_path / "four.h5"
    variant(classes=4).save(path)
    monkeypatch.setattr(model_files, "check_model_file", lambda path: {})
    with pytest.raises(ModelFileError, match=r"does not fit.*output \(4,\)"):
        load_model(path)


# --------------------------------------------------------------------------- properties and the repo


def json_values():
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                       st.text(max_size=12), st.sampled_from(["function", "Lambda", "keras", "relu", "same"]))
    return st.recursive(
        leaves,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
        max_leaves=12,
    )


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_of_a_config_is_accepted_or_a_model_file_error(keras_config, data):
    config = copy.deepcopy(keras_config)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(config))
        path = data.draw(st.sampled_from(paths[1:]))
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = data.draw(json_values())
    try:
        params = check_model_config(config).params
    except ModelFileError:
        return
    assert isinstance(params, int) and 0 <= params <= 5_000_000


@settings(max_examples=60, deadline=None)
@given(config=json_values())
def test_any_json_is_accepted_or_a_model_file_error(config):
    if not isinstance(config, dict):
        config = {"class_name": "Sequential", "config": config}
    with pytest.raises(ModelFileError):
        check_model_config(config)


def test_no_code_in_the_repository_turns_safe_mode_off():
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    forbidden = re.compile(r"safe_mode\s*=\s*False|enable_unsafe_" + "deserialization")
    offenders = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix not in {".py", ".md", ".toml", ".ini", ".cfg", ".txt", ".sh", ".yml", ".yaml", ""}:
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}: {match.group(0)}" for match in forbidden.finditer(text)]
    assert files and not offenders, offenders

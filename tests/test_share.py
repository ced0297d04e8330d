"""The share link: the codec's round trip and strict validation (a hypothesis fuzz of the parameters), then the
real app through AppTest: a fresh session opened with a link shows the same prediction and view; hostile
parameters give one notice, never an exception."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapes_viz.channels.scan import load_splits
from shapes_viz.compare import link
from shapes_viz.config import PROJECT_ROOT
from shapes_viz.engine.numpy_engine import NumpyEngine
from tests.helpers.apptest import assert_clean, chart, new_app
from tools.harness import copy_model

MODEL = PROJECT_ROOT / "models" / "shapes_cnn.h5"
DATA = PROJECT_ROOT / "data"
CHOICES = {"view": ["explorer", "why", "compare"], "range": ["channel", "layer", "network"],
           "method": ["layercam", "ig"], "lesson": ["blank"]}
needs_model = pytest.mark.skipif(not MODEL.exists() or not (DATA / "test_set").is_dir(),
                                 reason="needs the shipped model and data/")


def test_input_round_trip_is_the_quantised_input():
    rng = np.random.default_rng(0)
    x = np.repeat(rng.random((1, 28, 28, 1), dtype=np.float32), 3, axis=-1)
    for bits, top in ((8, 255), (16, 65535)):
        back = link.decode_input(link.encode_input(x, bits))
        assert back.shape == (1, 28, 28, 3) and back.dtype == np.float32
        np.testing.assert_array_equal(back[0, :, :, 0], (np.round(x[0, :, :, 0].astype(np.float64) * top) / top).astype(np.float32))
        assert np.abs(back - x).max() <= 0.5 / top + 1e-7
    blank = np.ones((1, 28, 28, 3), np.float32)
    assert len(link.encode_input(blank)) < 40
    np.testing.assert_array_equal(link.decode_input(link.encode_input(blank)), blank)


@needs_model
def test_every_drawing_of_the_data_set_survives_its_link_within_1e_3():
    engine = NumpyEngine.from_file(MODEL)
    data = load_splits(DATA)
    texts = [link.encode_input(data.images[i:i + 1], link.choose_bits(engine, data.images[i:i + 1]))
             for i in range(len(data.images))]
    back = np.concatenate([link.decode_input(text) for text in texts])
    assert np.abs(engine.probabilities(back) - engine.probabilities(data.images)).max() < 1e-3
    assert np.median([len(text) for text in texts]) < 800  # a few hundred characters
    assert max(len(text) for text in texts) <= link.MAX_INPUT_CHARS


def test_decode_keeps_valid_parameters_and_names_each_refused_one():
    x = np.ones((1, 28, 28, 3), np.float32)
    shared = link.decode({"view": "compare", "layer": "conv1_1", "ch": "7", "range": "layer", "method": "ig",
                          "x": link.encode_input(x), "t": "10", "lesson": "blank"}, CHOICES)
    assert shared.problems == ()
    assert (shared.view, shared.layer, shared.channel, shared.range, shared.method, shared.t, shared.lesson) == (
        "compare", "conv1_1", 7, "layer", "ig", 10, "blank")
    np.testing.assert_array_equal(shared.x, x)
    bomb = "1." + base64.urlsafe_b64encode(zlib.compress(b"\0" * 10_000_000, 9)).decode().rstrip("=")
    hostile = {"view": "../../etc/passwd", "layer": "conv1_1/../x", "ch": "-1", "range": "whole", "method": "eval()",
               "x": "/etc/passwd", "a": bomb, "t": "1e9", "file": "models/shapes_cnn.h5"}
    refused = link.decode(hostile, CHOICES)
    assert refused.empty and len(refused.problems) == len(hostile)
    assert link.decode({str(i): "1" for i in range(link.MAX_PARAMS + 1)}, CHOICES).problems[0].startswith(
        "the link has too many")
    assert link.decode({"x": "1." + "A" * 5000}, CHOICES).problems == ("'x' is too long",)
    assert link.decode({"x": "1." + base64.urlsafe_b64encode(zlib.compress(b"\1" * 783)).decode()}, CHOICES).x is None
    assert link.decode({"ch": ["1", "2"]}, CHOICES).channel == 2  # repeated: the last one


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(link.KEYS) | st.text(max_size=12),
                       st.text(max_size=120) | st.lists(st.text(max_size=20), max_size=3), max_size=14))
def test_fuzz_text_never_raises_and_every_key_is_kept_or_refused(params):
    shared = link.decode(params, CHOICES)
    kept = sum(getattr(shared, name) is not None for name in ("view", "layer", "channel", "range", "method",
                                                               "lesson", "t", "x", "a"))
    assert kept + len(shared.problems) == len(params) or len(params) > link.MAX_PARAMS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["1.", "2.", ""]), st.booleans())
def test_fuzz_bytes_as_an_input_never_raise_and_decode_only_to_28x28(data, prefix, compress):
    body = zlib.compress(data) if compress else data
    shared = link.decode({"x": prefix + base64.urlsafe_b64encode(body).decode().rstrip("=")}, CHOICES)
    if shared.x is None:
        assert shared.problems
    else:
        assert shared.x.shape == (1, 28, 28, 3) and shared.x.dtype == np.float32
        assert 0.0 <= shared.x.min() and shared.x.max() <= 1.0


# --- the app ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory) -> Path:
    return copy_model(MODEL, tmp_path_factory.mktemp("share_models"))


@pytest.fixture
def env(monkeypatch, model_copy) -> Path:
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model_copy))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(DATA))
    return model_copy


def open_link(params: dict[str, str]):
    at = new_app()
    at.query_params.update(params)
    return at.run()


def shown_probabilities(at) -> np.ndarray:
    from tests.helpers.figures import decode_array

    return decode_array(chart(at, "probabilities")["data"][0]["y"])


@needs_model
def test_a_fresh_app_opened_with_a_link_shows_the_same_prediction_and_view(env):
    data = load_splits(DATA)
    engine = NumpyEngine.from_file(MODEL)
    index = int(np.argmax([len(link.encode_input(data.images[i:i + 1])) for i in range(len(data.images))]))
    x = data.images[index:index + 1]
    params = link.encode(view="explorer", layer="conv2_1", ch=5, range="layer", method="ig",
                         x=(x, link.choose_bits(engine, x)))
    at = open_link(params)
    assert_clean(at)
    np.testing.assert_allclose(shown_probabilities(at), engine.run(x).probabilities, atol=1e-3)
    assert at.session_state["view_tab"] == "Explorer"
    assert at.session_state["explorer_picked_layer"] == "conv2_1" and at.session_state["explorer_channel"] == 5
    assert at.session_state["explorer_range"] == "whole layer"
    assert at.session_state["why_picked_method"] == "ig"
    assert "shared drawing" in at.metric[0].label
    heatmap = chart(at, "channel_heatmap")
    assert heatmap["layout"]["title"]["text"].startswith("conv2_1 · channel 5")
    # the URL now says the same thing (written back, the input unchanged)
    for key in ("layer", "ch", "range", "method", "x"):
        assert at.query_params[key] == [params[key]] or at.query_params[key] == params[key], key
    # ... and survives a rerun (a picked file would too)
    at.run()
    assert "shared drawing" in at.metric[0].label


@needs_model
@pytest.mark.parametrize("params", [
    {"x": "/etc/passwd"},
    {"x": "1." + "A" * 5000, "view": "nope"},
    {"layer": "../../models/shapes_cnn.h5", "ch": "99999", "t": "-3"},
    {"x": "1." + base64.urlsafe_b64encode(zlib.compress(b"\0" * 10_000_000, 9)).decode().rstrip("=")},
    {"view": "compare", "a": "2.!!!!", "lesson": "<script>"},
    {f"k{i}": "v" for i in range(20)},
])
def test_hostile_links_are_ignored_with_a_notice(env, params):
    at = open_link(params)
    assert_clean(at)
    warnings = [str(w.value) for w in at.warning]
    assert any(text.startswith("Parts of this link were ignored") for text in warnings), warnings
    assert at.session_state["shared_input"] is None

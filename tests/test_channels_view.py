"""The Channels view through AppTest, on a copy of the shipped model and the repository's data/ (300 drawings),
checked against the channels core recomputed directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shapes_viz.channels.knockout import accuracy_with
from shapes_viz.channels.scan import load_splits, scan_images
from shapes_viz.config import PROJECT_ROOT
from shapes_viz.dataset import load_folder
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.preprocessing import preprocess
from tests.helpers.apptest import assert_clean, messages, new_app, upload
from tests.helpers.drawings import shape_png
from tools.harness import copy_model

DATA = PROJECT_ROOT / "data"


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory) -> Path:
    return copy_model(PROJECT_ROOT / "models" / "shapes_cnn.h5", tmp_path_factory.mktemp("channels_models"))


@pytest.fixture
def env(monkeypatch, model_copy) -> Path:
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model_copy))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(DATA))
    return model_copy


@pytest.fixture(scope="module")
def scan(model_copy):
    return scan_images(NumpyEngine.from_file(model_copy), load_splits(DATA))


def channels_view(at, layer: str = "conv2_1", channel: int = 3):
    at.session_state["explorer_picked_layer"] = layer
    at.session_state["explorer_channel"] = channel
    at.session_state["view_tab"] = "Channels"
    return at.run()


def text(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "metric") for e in getattr(at, kind))


def test_the_view_shows_the_channels_top_drawings_and_dead_count(env, scan):
    at = channels_view(upload(new_app(), shape_png("squares")))
    assert_clean(at)
    layer = scan.layer("conv2_1")
    assert f"{int(layer.dead.sum())} of 64 channels of conv2_1 are never positive" in text(at)
    top = layer.top[3]
    captions = [str(c.value) for c in at.caption]
    for rank, index in enumerate(top):
        assert f"{layer.maxima[index, 3]:.3f}" in "\n".join(captions), rank
    assert len([b for b in at.button if b.key.startswith("channel_top_drawing_")]) == len(top)


def test_use_makes_a_top_drawing_the_input(env, scan):
    at = channels_view(upload(new_app(), shape_png("squares")))
    best = int(scan.layer("conv2_1").top[3][0])
    at.button(key="channel_top_drawing_0").click().run()
    assert_clean(at)
    assert at.session_state["picked_file"] == scan.paths[best]
    stored = at.session_state["input_choice"]
    np.testing.assert_array_equal(stored["x"], preprocess(Path(scan.paths[best])))
    assert Path(scan.paths[best]).name in "\n".join(str(m.label) for m in at.get("metric"))
    assert "picked from the data set" in text(at)


def test_knocking_channels_out_changes_prediction_and_accuracy_like_the_core(env, model_copy):
    data = shape_png("triangles")
    at = channels_view(upload(new_app(), data), "conv3_1", 0)
    at.multiselect(key="knockout_select").set_value([0, 5, 9]).run()
    assert_clean(at)
    engine = NumpyEngine.from_file(model_copy)
    off = {"conv3_1": [0, 5, 9]}
    test = load_folder(DATA / "test_set")
    assert f"{accuracy_with(engine, test, off):.1%}" in text(at)
    assert f"{accuracy_with(engine, test):.1%}" in text(at)
    assert "Channels switched off: conv3_1 0, 5, 9" in text(at)
    p = engine.run(preprocess(data), off=off).probabilities
    shown = at.get("metric")[0]
    assert f"{float(p.max()):.1%} confidence" in str(shown.proto.delta)
    at.button(key="knockout_clear").click().run()
    assert "Channels switched off" not in text(at)


def test_the_most_harmful_button_switches_five_channels_off(env):
    at = channels_view(upload(new_app(), shape_png("circles")), "conv3_2", 0)
    at.button(key="knockout_harmful").click().run()
    assert_clean(at)
    assert len(at.session_state["knockout"]["conv3_2"]) == 5


def test_a_dataset_dead_channel_says_so_instead_of_an_image(env, scan):
    dead = int(np.flatnonzero(scan.layer("conv2_1").dead)[0])
    at = channels_view(upload(new_app(), shape_png("squares")), "conv2_1", dead)
    assert_clean(at)
    assert "is dead on the data set" in text(at)


def test_the_channel_image_on_demand(env):
    at = channels_view(upload(new_app(), shape_png("squares")), "conv3_1", 7)
    at.toggle(key="channel_image_on").set_value(True).run()
    assert_clean(at)
    assert "mean pre-activation of conv3_1 channel 7" in text(at)


def test_an_empty_data_folder_is_a_message(monkeypatch, model_copy, tmp_path):
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model_copy))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tmp_path))
    at = channels_view(new_app())
    assert_clean(at)
    assert "data folder" in messages(at).lower() or "no usable" in messages(at).lower()


def test_the_explorer_grid_marks_channels_dead_on_the_data_set_once_scanned(env, scan):
    at = channels_view(upload(new_app(), shape_png("squares")), "conv2_1", 0)
    at.session_state["view_tab"] = "Explorer"
    at.run()
    assert_clean(at)
    from tests.helpers.apptest import chart

    grid = chart(at, "explorer_grid")
    dotted = [s for s in grid["layout"]["shapes"] if s.get("line", {}).get("dash") == "dot"]
    assert len(dotted) == int(scan.layer("conv2_1").dead.sum()) > 0


def test_a_published_model_gets_its_own_scan_never_the_old_ones(monkeypatch, tmp_path, trained):
    import os
    import shutil

    model = copy_model(PROJECT_ROOT / "models" / "shapes_cnn.h5", tmp_path / "models")
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(DATA))
    at = channels_view(new_app(), "dense", 0)
    before = scan_images(NumpyEngine.from_file(model), load_splits(DATA)).layer("dense").dead.sum()
    assert f"{int(before)} of 512 units of dense are never positive" in text(at)
    staged = tmp_path / "staged.h5"
    shutil.copyfile(trained[0], staged)
    os.replace(staged, model)  # published the way the trainer publishes: one atomic rename
    after = scan_images(NumpyEngine.from_file(model), load_splits(DATA)).layer("dense").dead.sum()
    assert after != before
    at.run()
    assert_clean(at)
    assert f"{int(after)} of 512 units of dense are never positive" in text(at)

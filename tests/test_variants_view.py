"""The Model tab's variants: the results of a variants run shown, and a variant opened in one session only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shapes_viz.artifacts import write_json_atomic
from shapes_viz.config import PROJECT_ROOT
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.preprocessing import preprocess
from shapes_viz.variants import VARIANTS
from tests.helpers.apptest import assert_clean, new_app, upload
from tests.helpers.drawings import shape_png
from tools.harness import copy_model


def result(name: str, accuracy: float) -> dict:
    return {"title": VARIANTS[name].title, "description": VARIANTS[name].description, "params": VARIANTS[name].params,
            "multiply_adds": 1000, "latency_ms": {"mean": 0.5, "spread": 0.0},
            "test_accuracy": {"mean": accuracy, "spread": 0.02}, "browser_accuracy": {"mean": accuracy - 0.1, "spread": 0.0},
            "dead_share": {"mean": 0.1, "spread": 0.0}, "seconds": {"mean": 3.0, "spread": 0.0},
            "runs": [{"seed": 0, "val_accuracy": [0.5, accuracy]}]}


@pytest.fixture
def env(monkeypatch, tmp_path, tiny_data) -> Path:
    models = tmp_path / "models"
    published = copy_model(PROJECT_ROOT / "models" / "shapes_cnn.h5", models)
    folder = models / "variants"
    folder.mkdir()
    VARIANTS["tiny_vgg"].build(seed=0).save(folder / "tiny_vgg.h5")
    write_json_atomic(folder / "results.json", {"variants": {"tiny_vgg": result("tiny_vgg", 0.9),
                                                              "lenet5": result("lenet5", 0.95)}})
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(published))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tiny_data))
    return folder


def model_tab(at):
    at.session_state["view_tab"] = "Model"
    return at.run()


def test_the_results_are_shown_as_a_table_and_charts(env):
    at = model_tab(upload(new_app(), shape_png("squares")))
    assert_clean(at)
    frame = next(f.value for f in at.dataframe if "parameters" in f.value.columns and "test accuracy" in f.value.columns)
    assert list(frame["parameters"]) == [VARIANTS["tiny_vgg"].params, VARIANTS["lenet5"].params]
    assert list(frame["test accuracy"]) == ["90.0% ± 1.0%", "95.0% ± 1.0%"]
    charts = {element.proto.id.rsplit("-", 1)[-1] for element in at.get("plotly_chart")}
    assert {"variants_scatter", "variants_curves"} <= charts
    keys = [b.key for b in at.button if b.key and b.key.startswith("variant_open_")]
    assert keys == ["variant_open_tiny_vgg"]  # lenet5 has results but no model file here


def test_a_variant_opened_in_one_session_leaves_the_others_on_the_published_model(env):
    data = shape_png("triangles")
    at = model_tab(upload(new_app(), data))
    at.button(key="variant_open_tiny_vgg").click().run()
    assert_clean(at)
    variant = NumpyEngine.from_file(env / "tiny_vgg.h5").run(preprocess(data)).probabilities
    shown = at.get("metric")[0]
    assert f"{float(variant.max()):.1%} confidence" in str(shown.proto.delta)
    assert any("Tiny VGG (CNN Explainer)" in str(m.value) for m in at.info)  # its name, not its key
    other = model_tab(upload(new_app(), data))
    published = NumpyEngine.from_file(Path(env).parent / "shapes_cnn.h5").run(preprocess(data)).probabilities
    assert f"{float(published.max()):.1%} confidence" in str(other.get("metric")[0].proto.delta)
    at.button(key="variant_close").click().run()
    assert f"{float(published.max()):.1%} confidence" in str(at.get("metric")[0].proto.delta)
    assert not np.allclose(variant, published)  # the two sessions really saw two different networks


def test_without_results_the_tab_says_how_to_make_them(monkeypatch, tmp_path, tiny_data):
    published = copy_model(PROJECT_ROOT / "models" / "shapes_cnn.h5", tmp_path / "models")
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(published))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tiny_data))
    at = model_tab(new_app())
    assert_clean(at)
    assert any("python -m shapes_viz variants" in str(c.value) for c in at.caption)


def test_every_variant_has_its_name_and_description_in_both_languages_and_the_english_ones_are_the_cores():
    """The Model tab shows the catalogue's names (French on a French page); the English ones are the titles and
    descriptions `python -m shapes_viz variants` writes, so the page and the results file say the same."""
    from shapes_viz.ui import i18n
    from shapes_viz.variants import VARIANTS

    english, french = i18n.catalogue("en"), i18n.catalogue("fr")
    for name, spec in VARIANTS.items():
        assert english[f"variants.names.{name}"] == spec.title
        assert english[f"variants.descriptions.{name}"] == spec.description
        assert french[f"variants.names.{name}"] and french[f"variants.descriptions.{name}"]

"""shapes_viz.variants: each architecture builds with its documented parameter count, passes the model-file
check, and the numpy engine (forward and gradients) equals Keras on it."""

from __future__ import annotations

import numpy as np
import pytest

from shapes_viz.engine.gradients import logit_gradients, trace
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.model import build_model, model_summary
from shapes_viz.model_files import check_model_file
from shapes_viz.variants import VARIANTS, variant
from tests.helpers.gradient_oracle import keras_gradients


def test_there_are_the_seven_variants_the_issue_asks_for():
    assert set(VARIANTS) == {"tutorial", "one_conv_per_block", "two_blocks_flatten", "two_blocks_gap",
                             "one_block_gap", "lenet5", "tiny_vgg"}
    for v in VARIANTS.values():
        assert v.title and v.description and v.name in VARIANTS
    with pytest.raises(ValueError, match="Received: name='vgg16'"):
        variant("vgg16")


def test_the_tutorial_variant_is_the_shipped_architecture():
    assert model_summary(VARIANTS["tutorial"].build(0)) == model_summary(build_model(0))
    flatten = VARIANTS["two_blocks_flatten"].params / VARIANTS["tutorial"].params
    assert 4.5 < flatten < 5.5  # "five times the parameters: Flatten after less pooling"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_builds_passes_the_checks_and_the_numpy_engine_equals_keras(tmp_path, name):
    model = VARIANTS[name].build(seed=0)
    assert model.count_params() == VARIANTS[name].params
    path = tmp_path / f"{name}.h5"
    model.save(path)
    assert check_model_file(path).params == VARIANTS[name].params
    engine = NumpyEngine.from_file(path)
    images = np.random.default_rng(1).random((3, 28, 28, 3), dtype=np.float32)
    np.testing.assert_allclose(engine.probabilities(images), np.asarray(model(images, training=False)), atol=1e-5)
    expected = keras_gradients(model, images, target=2)
    np.testing.assert_allclose(logit_gradients(engine, trace(engine, images), 2).input, expected["input"],
                               atol=1e-5, rtol=1e-3)

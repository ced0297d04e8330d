"""shapes_viz.training.precision: bfloat16 training where the processor multiplies it natively, a float32
model published whatever the training computed in."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shapes_viz.errors import TrainingError
from shapes_viz.training import precision


def test_the_policy_follows_the_processor_the_gpus_and_the_setting():
    assert precision.choose_policy("auto", {"avx2", "amx_bf16"}, gpus=0) == "mixed_bfloat16"
    assert precision.choose_policy("auto", {"avx512f", "avx512_bf16"}, gpus=0) == "mixed_bfloat16"
    assert precision.choose_policy("auto", {"avx2", "avx512f"}, gpus=0) == "float32"  # it would be emulated
    assert precision.choose_policy("auto", {"amx_bf16"}, gpus=2) == "float32"  # GPUs keep float32
    assert precision.choose_policy("float32", {"amx_bf16"}, gpus=0) == "float32"  # the setting wins
    assert precision.choose_policy("mixed_bfloat16", set(), gpus=0) == "mixed_bfloat16"
    with pytest.raises(TrainingError, match=r"SHAPES_VIZ_TRAINING_PRECISION must be auto.*Received: 'fp8'"):
        precision.choose_policy("fp8", set(), gpus=0)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 amx_bf16\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "amx_bf16"}
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()
    monkeypatch.setenv(precision.ENV_VAR, "float32")
    assert precision.training_policy() == "float32"


def test_a_policy_applies_to_the_layers_built_inside_and_is_restored():
    keras = pytest.importorskip("keras")
    from shapes_viz.model import build_model

    before = keras.config.dtype_policy().name
    with precision.dtype_policy("mixed_bfloat16"):
        mixed = build_model(seed=0)
    assert keras.config.dtype_policy().name == before
    assert mixed.get_layer("conv1_1").dtype_policy.name == "mixed_bfloat16"
    assert all(w.dtype == np.float32 for w in mixed.get_weights())  # the weights stay float32
    copy = precision.as_float32(mixed, build_model)
    assert all(layer.dtype_policy.name == "float32" for layer in copy.layers)
    for a, b in zip(mixed.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_bfloat16_training_publishes_a_float32_model_the_numpy_engine_runs(tmp_path, tiny_data, monkeypatch):
    pytest.importorskip("tensorflow")
    import h5py

    from shapes_viz.engine.numpy_engine import NumpyEngine
    from shapes_viz.model import load_model
    from shapes_viz.training import train

    monkeypatch.setenv(precision.ENV_VAR, "mixed_bfloat16")
    out = tmp_path / "bf16.h5"
    result = train(tiny_data, out, recipe="tutorial", epochs=1, seed=0)
    assert result.history["precision"] == "mixed_bfloat16"
    with h5py.File(out, "r") as handle:
        config = handle.attrs["model_config"]
    assert "bfloat16" not in (config if isinstance(config, str) else config.decode())
    images = np.random.default_rng(0).random((4, 28, 28, 3), dtype=np.float32)
    keras_probabilities = load_model(out).predict(images, verbose=0)
    np.testing.assert_allclose(NumpyEngine.from_file(out).probabilities(images), keras_probabilities, atol=1e-5)
    assert json.loads(json.dumps(result.history))["epoch_seconds"]

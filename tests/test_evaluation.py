"""shapes_viz.evaluation: accuracy, per-class accuracy, confusion matrix, misclassified files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from shapes_viz.config import CLASS_NAMES
from shapes_viz.dataset import load_folder
from shapes_viz.errors import DatasetError
from shapes_viz.evaluation import EvaluationResult, evaluate, evaluate_arrays
from shapes_viz.engine.keras_engine import KerasEngine
from shapes_viz.model import build_model

SUMMARY = re.compile(r"^accuracy: \d\.\d{4} \(\d+/\d+\)$")


def always(class_index: int):
    """A real tutorial network whose output layer is rigged to always pick `class_index`."""
    model = build_model(seed=0)
    layer = model.get_layer("predictions")
    kernel, bias = layer.get_weights()
    bias = np.zeros_like(bias)
    bias[class_index] = 20.0
    layer.set_weights([np.zeros_like(kernel), bias])
    return KerasEngine(model, warm_up=False)


def test_summary_line_format():
    result = EvaluationResult(np.zeros((3, 3), np.int64), {}, 292 / 300, 292, 300, [], [])
    assert result.summary_line() == "accuracy: 0.9733 (292/300)"
    assert EvaluationResult(np.zeros((3, 3)), {}, 1.0, 9, 9, [], []).summary_line() == "accuracy: 1.0000 (9/9)"


def test_a_model_that_always_says_squares(tiny_data):
    result = evaluate(always(1), tiny_data / "test_set")
    np.testing.assert_array_equal(result.confusion, [[0, 3, 0], [0, 3, 0], [0, 3, 0]])
    assert result.confusion.dtype == np.int64
    assert (result.correct, result.total) == (3, 9)
    assert result.accuracy == pytest.approx(1 / 3)
    assert result.per_class_accuracy == {"circles": 0.0, "squares": 1.0, "triangles": 0.0}
    assert result.summary_line() == "accuracy: 0.3333 (3/9)"
    assert len(result.misclassified) == 6
    assert {Path(m.path).parent.name for m in result.misclassified} == {"circles", "triangles"}
    for wrong in result.misclassified:
        assert wrong.predicted_index == 1 and wrong.true_index == CLASS_NAMES.index(Path(wrong.path).parent.name)
        assert wrong.probabilities.shape == (3,) and wrong.probabilities.argmax() == 1


def test_trained_model_confusion_matrix_is_consistent(trained_model, tiny_data):
    data = load_folder(tiny_data / "test_set")
    result = evaluate_arrays(KerasEngine(trained_model, warm_up=False), data)
    predicted = np.asarray(trained_model(data.images, training=False)).argmax(axis=1)
    assert result.confusion.shape == (3, 3)
    assert result.confusion.sum() == result.total == len(data) == 9
    np.testing.assert_array_equal(result.confusion.sum(axis=1), [3, 3, 3])  # rows are the true classes
    np.testing.assert_array_equal(result.confusion.sum(axis=0), np.bincount(predicted, minlength=3))
    assert result.correct == int(np.trace(result.confusion)) == int((predicted == data.labels).sum())
    assert result.accuracy == pytest.approx(result.correct / result.total)
    assert len(result.misclassified) == result.total - result.correct
    for name, accuracy in result.per_class_accuracy.items():
        i = CLASS_NAMES.index(name)
        assert accuracy == pytest.approx(result.confusion[i, i] / 3)
    assert SUMMARY.match(result.summary_line())


def test_the_numpy_engine_evaluates_like_the_keras_engine(trained, trained_model, tiny_data):
    from shapes_viz.engine.numpy_engine import NumpyEngine

    data = load_folder(tiny_data / "test_set")
    by_numpy = evaluate_arrays(NumpyEngine.from_file(trained[0]), data)
    by_keras = evaluate_arrays(KerasEngine(trained_model, warm_up=False), data)
    np.testing.assert_array_equal(by_numpy.confusion, by_keras.confusion)


def test_keras_engine_probabilities_match_one_call_and_handle_batches(trained_model):
    engine = KerasEngine(trained_model, warm_up=False)
    images = np.random.default_rng(0).random((7, 28, 28, 3), dtype=np.float32)
    whole = engine.probabilities(images)
    np.testing.assert_allclose(engine.probabilities(images, batch_size=3), whole, atol=1e-6)
    np.testing.assert_allclose(whole, np.asarray(trained_model(images, training=False)), atol=1e-6)
    assert whole.shape == (7, 3)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, rtol=1e-5)
    assert engine.probabilities(images[:0]).shape == (0, 3)


def test_subset_of_classes_and_skipped_files(tmp_path, tiny_data):
    folder = Path(shutil.copytree(tiny_data / "test_set", tmp_path / "eval"))
    shutil.rmtree(folder / "squares")
    (folder / "circles" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    result = evaluate(always(0), folder)
    assert set(result.per_class_accuracy) == {"circles", "triangles"}
    assert result.summary_line() == "accuracy: 0.5000 (3/6)"
    assert [Path(p).name for p, _ in result.skipped] == ["bad.png"]


def test_unusable_folder_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="Data folder not found"):
        evaluate(always(0), tmp_path / "missing")

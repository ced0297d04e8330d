"""shapes_viz.explain: each attribution map against an independent recomputation, the maps' faithfulness on
test drawings, and the arithmetic of one cell against the engine's own outputs."""

from __future__ import annotations

import numpy as np
import pytest

from shapes_viz.config import EXPLAIN, PAPER, PROJECT_ROOT, ExplainSettings
from shapes_viz.engine.gradients import trace
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.explain.cells import effective_receptive_field, explain_cell, receptive_box
from shapes_viz.explain.faithfulness import curves, faithfulness, randomised, rank_correlation
from shapes_viz.explain.methods import METHODS, attribute, integrated_gradients, map_layers, upsample
from tests.helpers.gradient_oracle import keras_gradients

SHIPPED = PROJECT_ROOT / "models" / "shapes_cnn.h5"
DATA = PROJECT_ROOT / "data" / "test_set"
COARSE = ExplainSettings(curve_steps=15, ig_steps=32)  # cheaper curves and paths for the statistical checks


@pytest.fixture(scope="module")
def engine() -> NumpyEngine:
    return NumpyEngine.from_file(SHIPPED)


@pytest.fixture(scope="module")
def drawings() -> list[np.ndarray]:
    """30 test drawings of the shipped data set, 10 per class, each (1, 28, 28, 3) float32."""
    from shapes_viz.preprocessing import preprocess

    return [preprocess(path) for name in ("circles", "squares", "triangles")
            for path in sorted((DATA / name).glob("*.png"))[:10]]


def predicted(engine: NumpyEngine, x: np.ndarray) -> int:
    return int(trace(engine, x).probabilities[0].argmax())


# --- each method against a recomputation -----------------------------------------------------------------


def test_cam_and_gradient_maps_equal_their_formulas_on_keras_gradients(engine, drawings):
    from shapes_viz.model import load_model

    model = load_model(SHIPPED)
    x = drawings[12]
    target = 2
    oracle = keras_gradients(model, x, target)
    activation = np.asarray(model.get_layer("conv1_2")(model.get_layer("conv1_1")(x)))[0]
    gradient = oracle["conv1_2/out"][0]
    layercam = np.maximum((np.maximum(gradient, 0) * activation).sum(-1), 0)
    gradcam = np.maximum((gradient.mean(axis=(0, 1)) * activation).sum(-1), 0)
    ours = attribute(engine, x, "layercam", target, "conv1_2")
    np.testing.assert_allclose(ours.layer_map, layercam, atol=1e-5)
    np.testing.assert_allclose(attribute(engine, x, "gradcam", target, "conv1_2").layer_map, gradcam, atol=1e-6)
    saliency = np.abs(oracle["input"][0].sum(-1))
    np.testing.assert_allclose(attribute(engine, x, "saliency", target).values, saliency, atol=1e-5)


def test_integrated_gradients_report_their_completeness_honestly(engine, drawings):
    x = drawings[3]
    target = predicted(engine, x)
    result = attribute(engine, x, "ig", target)
    logits = trace(engine, np.concatenate([x, np.full_like(x, PAPER)])).logits[:, target]
    assert result.details["sum"] == pytest.approx(float(result.values.sum()), abs=1e-4)
    assert result.details["logit_difference"] == pytest.approx(float(logits[0] - logits[1]), abs=1e-4)
    assert result.details["completeness_error"] == pytest.approx(abs(result.details["sum"] - result.details["logit_difference"]), abs=1e-5)
    assert result.details["relative_error"] < 0.25  # the midpoint rule is close here, not exact
    assert result.signed and result.values.min() < 0 < result.values.max()


def test_occlusion_equals_covering_each_patch_by_hand(engine, drawings):
    x = drawings[20]
    target = predicted(engine, x)
    result = attribute(engine, x, "occlusion", target)
    size, stride = EXPLAIN.occlusion_patch, EXPLAIN.occlusion_stride
    base = trace(engine, x).logits[0, target]
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    for r in range(0, 28 - size + 1, stride):
        for c in range(0, 28 - size + 1, stride):
            covered = x.copy()
            covered[0, r : r + size, c : c + size] = PAPER
            total[r : r + size, c : c + size] += base - trace(engine, covered).logits[0, target]
            count[r : r + size, c : c + size] += 1
    np.testing.assert_allclose(result.values, total / count, atol=1e-4)


def test_smoothgrad_is_the_mean_saliency_of_its_noisy_copies(engine, drawings):
    x = drawings[5]
    settings = type(EXPLAIN)(smoothgrad_samples=3)
    result = attribute(engine, x, "smoothgrad", 0, settings=settings)
    noise = np.random.default_rng(settings.seed).normal(0.0, settings.smoothgrad_noise, (3, 28, 28, 1))
    noisy = (x + noise).astype(np.float32)
    expected = np.mean([attribute(engine, n[None], "saliency", 0).values for n in noisy], axis=0)
    np.testing.assert_allclose(result.values, expected, atol=1e-6)


def test_every_method_gives_a_finite_28x28_map_and_refuses_bad_arguments(engine, drawings):
    x = drawings[0]
    for method in METHODS:
        result = attribute(engine, x, method, 1, layer="conv2_2")
        assert result.values.shape == (28, 28) and result.values.dtype == np.float32, method
        assert np.isfinite(result.values).all(), method
    with pytest.raises(ValueError, match=r"Received: method='lime'"):
        attribute(engine, x, "lime", 0)
    with pytest.raises(ValueError, match=r"Received: target=3"):
        attribute(engine, x, "saliency", 3)
    with pytest.raises(ValueError, match=r"Received: layer='dense'"):
        attribute(engine, x, "layercam", 0, layer="dense")
    with pytest.raises(ValueError, match=r"Received: x.shape=\(28, 28, 3\)"):
        attribute(engine, x[0], "saliency", 0)
    assert map_layers(engine)[-1] == "drop3" and "dense" not in map_layers(engine)


def test_upsampling_keeps_constants_and_puts_cells_where_they_are():
    np.testing.assert_allclose(upsample(np.full((3, 3), 2.0), (28, 28)), 2.0)
    np.testing.assert_allclose(upsample(np.full((1, 1), 5.0), (28, 28)), 5.0)
    cells = np.zeros((2, 2), np.float32)
    cells[0, 0] = 1.0
    up = upsample(cells, (28, 28))
    assert up[0, 0] == 1.0 and up[27, 27] == 0.0 and up[:14, :14].sum() > up[14:, 14:].sum()


# --- faithfulness -------------------------------------------------------------------------------------------


def test_layercam_and_occlusion_delete_evidence_faster_than_random_maps_on_30_drawings(engine, drawings):
    """Deletion area (lower is better) of LayerCAM at conv1_2 and of occlusion, against random maps."""
    rng = np.random.default_rng(1)
    areas = {"layercam": [], "occlusion": [], "random": []}
    for x in drawings:
        target = predicted(engine, x)
        for method in ("layercam", "occlusion"):
            values = attribute(engine, x, method, target, "conv1_2").values
            areas[method].append(curves(engine, x, values, target, COARSE)[0].area)
        areas["random"].append(curves(engine, x, rng.random((28, 28)), target, COARSE)[0].area)
    means = {name: float(np.mean(values)) for name, values in areas.items()}
    assert means["layercam"] < means["random"] and means["occlusion"] < means["random"], means


def test_a_paper_white_baseline_beats_the_black_one_on_insertion(engine, drawings):
    white, black = [], []
    for x in drawings[::3]:
        target = predicted(engine, x)
        white.append(curves(engine, x, integrated_gradients(engine, x, target, COARSE).values, target, COARSE)[1].area)
        black.append(curves(engine, x, integrated_gradients(engine, x, target, COARSE, 0.0).values, target, COARSE)[1].area)
    assert np.mean(white) > np.mean(black), (np.mean(white), np.mean(black))


def test_curves_recompute_by_hand(engine, drawings):
    """The deletion curve's points: the probability after turning the top k pixels to paper, recomputed."""
    x = drawings[7]
    target = predicted(engine, x)
    values = attribute(engine, x, "saliency", target).values
    deletion, insertion = curves(engine, x, values, target)
    assert deletion.fractions[0] == 0 and deletion.fractions[-1] == 1
    order = np.argsort(-values.ravel(), kind="stable")
    k = int(round(float(deletion.fractions[10]) * 784))
    assert len(set(values.ravel()[order[:k]])) == k  # no ties among them: the order is the map's
    deleted = x.copy().reshape(1, 784, 3)
    deleted[0, order[:k]] = PAPER
    expected = trace(engine, deleted.reshape(1, 28, 28, 3)).probabilities[0, target]
    assert deletion.probabilities[10] == pytest.approx(float(expected), abs=1e-5)
    assert insertion.probabilities[0] == pytest.approx(float(trace(engine, np.full_like(x, PAPER)).probabilities[0, target]), abs=1e-5)
    assert insertion.probabilities[-1] == pytest.approx(float(trace(engine, x).probabilities[0, target]), abs=1e-5)
    assert deletion.area == pytest.approx(float(np.trapezoid(deletion.probabilities, deletion.fractions)), abs=1e-6)


def test_the_report_compares_with_random_and_ink_maps(engine, drawings):
    x = drawings[25]
    target = predicted(engine, x)
    report = faithfulness(engine, x, attribute(engine, x, "occlusion", target).values, target)
    ink = 1.0 - x[0, ..., 0]
    assert report.ink_deletion.area == pytest.approx(curves(engine, x, ink, target)[0].area)
    for curve in (report.deletion, report.insertion, report.random_deletion, report.random_insertion):
        assert 0.0 <= curve.area <= 1.0 and curve.probabilities.shape == (EXPLAIN.curve_steps,)


def test_maps_on_a_randomised_network_differ_from_the_trained_ones(engine, drawings):
    random_engine = randomised(engine)
    assert [l.spec for l in random_engine.layers] == [l.spec for l in engine.layers]
    assert not np.allclose(random_engine.layers[0].weights[0], engine.layers[0].weights[0])
    for method in ("layercam", "saliency", "ig"):
        rhos = [rank_correlation(attribute(engine, x, method, predicted(engine, x), "conv1_2", COARSE).values,
                                 attribute(random_engine, x, method, predicted(engine, x), "conv1_2", COARSE).values)
                for x in drawings[::5]]
        assert np.mean(rhos) < 0.9, (method, rhos)


def test_rank_correlation_equals_a_brute_force_spearman():
    a = np.array([1.0, 2.0, 2.0, 5.0, 3.0])
    b = np.array([2.0, 1.0, 4.0, 5.0, 3.0])
    ranks_a = np.array([0, 1.5, 1.5, 4, 3])  # ties share their mean rank
    ranks_b = np.array([1, 0, 3, 4, 2])
    assert rank_correlation(a, b) == pytest.approx(float(np.corrcoef(ranks_a, ranks_b)[0, 1]))
    assert rank_correlation(a, a) == pytest.approx(1.0) and rank_correlation(a, -a) == pytest.approx(-1.0)
    assert rank_correlation(np.ones(5), a) == 0.0


# --- one cell ----------------------------------------------------------------------------------------------


def test_receptive_boxes_grow_as_the_tutorial_network_says(engine):
    sizes = [receptive_box(engine, name).size[0] for name in
             ("conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2", "pool3")]
    assert sizes == [3, 5, 6, 10, 14, 16, 24, 32, 36]
    centre = receptive_box(engine, "conv1_1", 10, 10)
    assert (centre.top, centre.left, centre.bottom, centre.right) == (9, 9, 11, 11)
    corner = receptive_box(engine, "conv2_1", 0, 0)  # "same" padding reaches outside: clipped to the image
    assert (corner.top, corner.left) == (0, 0) and corner.height < corner.size[0]
    with pytest.raises(ValueError, match=r"Received: row=13, column=0"):
        receptive_box(engine, "pool1", 13, 0)
    with pytest.raises(KeyError, match="Received: layer='conv9'"):
        receptive_box(engine, "conv9")


@pytest.mark.parametrize("layer, unit", [("conv1_1", (0, 0, 3)), ("conv1_2", (12, 9, 5)), ("conv2_1", (4, 7, 12)),
                                         ("conv2_2", (5, 5, 40)), ("conv3_1", (2, 2, 7)), ("conv3_2", (1, 0, 60))])
def test_the_effective_receptive_field_is_zero_outside_the_box(engine, drawings, layer, unit):
    erf = effective_receptive_field(engine, drawings[14], layer, unit)
    box = receptive_box(engine, layer, *unit[:2])
    inside = np.zeros((28, 28), bool)
    inside[box.top : box.bottom + 1, box.left : box.right + 1] = True
    assert erf[~inside].max(initial=0.0) == 0.0
    assert erf.shape == (28, 28)


@pytest.mark.parametrize("layer", ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2"])
def test_a_conv_cell_adds_up_to_the_heatmap_value(engine, drawings, layer):
    x = drawings[9]
    values = engine.run(x).layer(layer).values
    for unit in [(0, 0, 0), tuple(int(i) for i in np.unravel_index(values.argmax(), values.shape))]:
        cell = explain_cell(engine, x, layer, unit)
        assert float(np.sum(cell.contributions)) + cell.bias == pytest.approx(cell.pre_activation, abs=1e-5)
        assert max(cell.pre_activation, 0.0) == pytest.approx(float(values[unit]), abs=1e-5)
        assert cell.value == pytest.approx(float(values[unit]), abs=1e-6)
        assert cell.patch.shape == cell.kernel.shape == (3, 3, cell.contributions.shape[0])


def test_pool_and_dense_cells(engine, drawings):
    x = drawings[21]
    acts = engine.run(x)
    pooled = acts.layer("pool1").values
    unit = tuple(int(i) for i in np.unravel_index(pooled.argmax(), pooled.shape))
    cell = explain_cell(engine, x, "pool1", unit)
    before = acts.layer("conv1_2").values
    r, c = cell.winner["input"]
    assert before[r, c, unit[2]] == pytest.approx(cell.value) == pytest.approx(float(cell.patch.max()))
    dense = explain_cell(engine, x, "dense", (int(acts.layer("dense").values.argmax()),))
    total = sum(term for *_, term in dense.contributions) + dense.rest + dense.bias
    assert total == pytest.approx(dense.pre_activation, abs=1e-4)
    assert dense.value == pytest.approx(float(acts.layer("dense").values.max()), abs=1e-5)
    assert len(dense.contributions) == 8
    with pytest.raises(ValueError, match=r"Received: unit=\(13, 0, 0\)"):
        explain_cell(engine, x, "pool1", (13, 0, 0))

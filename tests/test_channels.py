"""shapes_viz.channels: the dataset scan against a brute-force recomputation, knock-outs, and the images
channels and classes want most."""

from __future__ import annotations

import numpy as np
import pytest

from shapes_viz.channels.knockout import accuracy_with, most_harmful
from shapes_viz.channels.scan import folder_fingerprint, load_splits, scan_images
from shapes_viz.channels.visualize import channel_image, class_image
from shapes_viz.config import PROJECT_ROOT, VisualizeSettings
from shapes_viz.dataset import LabeledImages
from shapes_viz.engine.gradients import logit_gradients, trace
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.errors import DatasetError

SHIPPED = PROJECT_ROOT / "models" / "shapes_cnn.h5"
DATA = PROJECT_ROOT / "data"
QUICK = VisualizeSettings(steps=40)


@pytest.fixture(scope="module")
def engine() -> NumpyEngine:
    return NumpyEngine.from_file(SHIPPED)


@pytest.fixture(scope="module")
def data() -> LabeledImages:
    return load_splits(DATA)


@pytest.fixture(scope="module")
def scan(engine, data):
    return scan_images(engine, data)


def brute_force_maxima(engine: NumpyEngine, images: np.ndarray, layer: str) -> np.ndarray:
    """(N, C) maximum pre-activation per image and channel, one image at a time."""
    index = engine.layer_names.index(layer)
    rows = []
    for image in images:
        z = trace(engine, image[None]).pre_activations[index][0]
        rows.append(z.reshape(-1, z.shape[-1]).max(axis=0))
    return np.array(rows)


def test_the_scan_covers_both_splits_of_the_data_folder(data, scan):
    assert len(scan.paths) == len(data.labels) == 300
    assert any("training_set" in p for p in scan.paths) and any("test_set" in p for p in scan.paths)
    assert list(scan.layers) == list(NumpyEngine.from_file(SHIPPED).layer_names)


@pytest.mark.parametrize("layer", ["conv1_1", "pool1", "conv2_2", "conv3_2", "dense"])
def test_recorded_maxima_and_top_k_equal_a_brute_force_recomputation(engine, data, scan, layer):
    picked = np.arange(0, 300, 7)  # 43 drawings, to keep the brute force cheap
    expected = brute_force_maxima(engine, data.images[picked], layer)
    recorded = scan.layer(layer)
    np.testing.assert_allclose(recorded.maxima[picked], expected, atol=1e-5)
    for channel in range(0, recorded.maxima.shape[1], 7):
        values = recorded.maxima[:, channel]
        top = recorded.top[channel]
        np.testing.assert_allclose(values[top], np.sort(values)[::-1][: len(top)], atol=0)  # the true top-k
        np.testing.assert_allclose(values[recorded.bottom[channel]], np.sort(values)[: len(top)], atol=0)
        best = top[0]
        if recorded.positions.shape[1] and engine.output_shapes[engine.layer_names.index(layer)].__len__() == 3:
            z = trace(engine, data.images[best][None]).pre_activations[engine.layer_names.index(layer)][0]
            row, column = recorded.positions[best, channel]
            assert z[row, column, channel] == pytest.approx(float(values[best]), abs=1e-5)


def test_dead_on_the_dataset_means_never_positive_on_any_drawing(engine, data, scan):
    outputs = engine.forward(data.images)
    for name, output in zip(engine.layer_names, outputs):
        never = ~(output.reshape(output.shape[0], -1, output.shape[-1]) > 0).any(axis=(0, 1))
        np.testing.assert_array_equal(scan.layer(name).dead, never, err_msg=name)
    counts = scan.dead_counts()
    assert counts["conv1_1"][1] == 32 and sum(counts[n][0] for n in counts if n.startswith("conv")) > 0


def test_switching_off_channels_dead_on_the_dataset_changes_nothing_bit_for_bit(engine, data, scan):
    off = {name: np.flatnonzero(scan.layer(name).dead).tolist() for name in ("conv1_2", "conv2_2", "dense")}
    assert all(off.values())
    np.testing.assert_array_equal(engine.probabilities(data.images, off), engine.probabilities(data.images))


def test_switching_off_a_whole_layer_leaves_chance_and_live_channels_matter(engine, data, scan):
    everything = {"conv2_1": range(64)}
    assert accuracy_with(engine, data, everything) == pytest.approx(1 / 3, abs=0.05)  # one class for all
    assert accuracy_with(engine, data) > 0.9
    live = int(np.flatnonzero(~scan.layer("conv2_1").dead)[0])
    assert not np.array_equal(engine.probabilities(data.images, {"conv2_1": [live]}), engine.probabilities(data.images))


def test_the_most_harmful_channels_equal_one_knock_out_at_a_time(engine, data):
    test = LabeledImages(data.images[::10], data.labels[::10], data.paths[::10])  # 30 drawings, all classes
    full = accuracy_with(engine, test)
    brute = sorted(((full - accuracy_with(engine, test, {"conv3_2": [c]}), c) for c in range(64)), key=lambda t: (-t[0], t[1]))
    found = most_harmful(engine, test, "conv3_2", count=5)
    assert [(round(f.drop, 9), f.channel) for f in found] == [(round(d, 9), c) for d, c in brute[:5]]
    assert found[0].accuracy == pytest.approx(full - found[0].drop)


def test_knock_outs_refuse_what_does_not_exist_and_cut_the_gradient(engine, data):
    with pytest.raises(ValueError, match=r"Received: off=\{'conv9'"):
        engine.probabilities(data.images[:1], {"conv9": [0]})
    with pytest.raises(ValueError, match=r"conv1_1 has channels 0..31. Received: off=\{'conv1_1': \[32\]\}"):
        engine.probabilities(data.images[:1], {"conv1_1": [32]})
    with pytest.raises(DatasetError):
        accuracy_with(engine, LabeledImages(data.images[:0], data.labels[:0], []))
    run = trace(engine, data.images[:2], {"conv2_1": [5]})
    grads = logit_gradients(engine, run, 1)
    assert not grads.pre_activation("conv2_1")[..., 5].any()
    assert np.all(run.outputs[engine.layer_names.index("conv2_1")][..., 5] == 0)


def test_a_channel_image_is_byte_reproducible_and_raises_its_objective(engine):
    first = channel_image(engine, "conv2_1", 12, seed=4, settings=QUICK)
    again = channel_image(engine, "conv2_1", 12, seed=4, settings=QUICK)
    assert first.image.tobytes() == again.image.tobytes()
    assert first.image.shape == (1, 28, 28, 3) and first.image.dtype == np.float32
    assert 0.0 <= first.image.min() and first.image.max() <= 1.0
    np.testing.assert_array_equal(first.image[..., 0], first.image[..., 2])
    other = channel_image(engine, "conv2_1", 12, seed=5, settings=QUICK)
    assert other.image.tobytes() != first.image.tobytes()


@pytest.mark.parametrize("layer", ["conv1_2", "conv2_2", "conv3_1", "conv3_2", "dense"])
def test_the_objective_rises_for_channels_that_are_alive_on_the_dataset(engine, scan, layer):
    alive = np.flatnonzero(~scan.layer(layer).dead)
    for channel in alive[:: max(len(alive) // 3, 1)][:3]:
        result = channel_image(engine, layer, int(channel), settings=QUICK)
        assert result.end > result.start, (layer, channel, result.start, result.end)


def test_class_images_are_classified_as_their_class(engine):
    for target in range(3):
        image = class_image(engine, target).image
        assert int(trace(engine, image).probabilities[0].argmax()) == target


def test_visualisation_refuses_what_does_not_exist(engine):
    with pytest.raises(ValueError, match="Received: layer='conv9'"):
        channel_image(engine, "conv9", 0)
    with pytest.raises(ValueError, match="Received: channel=64"):
        channel_image(engine, "conv2_1", 64)
    with pytest.raises(ValueError, match="Received: target=3"):
        class_image(engine, 3)


def test_the_folder_fingerprint_follows_its_files(tmp_path):
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(DATA / "test_set" / "circles", folder / "circles")
    first = folder_fingerprint(folder)
    assert folder_fingerprint(folder) == first
    victim = sorted((folder / "circles").glob("*.png"))[0]
    victim.unlink()
    assert folder_fingerprint(folder) != first
    with pytest.raises(DatasetError):
        scan_images(NumpyEngine.from_file(SHIPPED), LabeledImages(np.zeros((0, 28, 28, 3), np.float32), np.zeros(0, np.int32), []))


@pytest.mark.parametrize("in_process", [True, False], ids=["worker process", "server thread"])
def test_a_layers_images_are_one_shared_job_per_model_layer_and_seed(engine, in_process, caplog):
    """In the worker process (the server's default) or in the job thread: the same bytes as `channel_image`."""
    import logging
    import time

    caplog.set_level(logging.WARNING, logger="shapes_viz.channels.layer_images")
    from shapes_viz.channels.layer_images import LayerImageJobs, mosaic

    jobs = LayerImageJobs(VisualizeSettings(steps=3), in_process=in_process)
    first = jobs.start(engine, "model-a", "conv3_2", seed=0)
    assert jobs.start(engine, "model-a", "conv3_2", seed=0) is first  # a second session joins the same job
    assert jobs.get("model-b", "conv3_2", 0) is None  # another model file version never sees it
    deadline = time.monotonic() + 120
    while not first.done and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.done and not first.error and len(first.images) == 64 and first.progress == 1.0
    assert "computing them in a thread" not in caplog.text  # the worker process did the work
    expected = channel_image(engine, "conv3_2", 10, seed=0, settings=VisualizeSettings(steps=3))
    assert first.images[10].image.tobytes() == expected.image.tobytes()
    with pytest.raises(ValueError, match="Received: layer='conv9'"):
        jobs.start(engine, "model-a", "conv9")
    tiles = mosaic([first.images[c].image[0, ..., 0] for c in range(3)] + [None], columns=2, gap=2, scale=1)
    assert tiles.shape == (58, 58) and tiles.dtype == np.uint8
    np.testing.assert_array_equal(tiles[:28, :28], np.round(first.images[0].image[0, ..., 0] * 255).astype(np.uint8))
    assert (tiles[30:, 30:] == 160).all()  # a tile not computed yet is mid-grey


def test_a_thumbnail_is_the_crop_around_the_box_with_the_box_drawn():
    from shapes_viz.channels.thumbnails import BOX_RGB, thumbnail

    x = np.linspace(0, 1, 28 * 28, dtype=np.float32).reshape(1, 28, 28, 1).repeat(3, axis=-1)
    image = thumbnail(x, (10, 12, 14, 16), margin=2, side=90)
    assert image.shape == (9 * 10, 9 * 10, 3)  # rows 8..16 and columns 10..18, 10 screen pixels each
    assert tuple(image[20, 20]) == BOX_RGB and tuple(image[0, 0]) != BOX_RGB
    assert image[5, 5, 0] == round(float(x[0, 8, 10, 0]) * 255)
    with pytest.raises(ValueError, match=r"Received: box=\(0, 0, 28, 5\)"):
        thumbnail(x, (0, 0, 28, 5))

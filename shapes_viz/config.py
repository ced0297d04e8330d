"""All configuration in one typed place: classes, image geometry, limits, paths and training recipes.

Environment variables (read once, by `settings()`):
    SHAPES_VIZ_MODEL  path of the published model file (default: models/shapes_cnn.h5)
    SHAPES_VIZ_DATA   the data folder used by the app (default: data/)
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

# Classes in Keras' `image_dataset_from_directory` order (sorted folder names): circles 0, squares 1, triangles 2.
CLASS_NAMES: tuple[str, ...] = ("circles", "squares", "triangles")
NUM_CLASSES: int = len(CLASS_NAMES)

# The tutorial's input: 28x28 RGB, pixels rescaled by 1/255.
IMAGE_SIZE: int = 28
CHANNELS: int = 3
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)

# Image safety limits, checked before any pixel is decoded.
MAX_IMAGE_BYTES: int = 8 * 1024 * 1024  # an upload or data file larger than this is refused
MAX_IMAGE_PIXELS: int = 16_000_000  # width * height above this is "image too large" (4000 x 4000)
MIN_IMAGE_SIDE: int = 4  # an image narrower than this cannot hold a shape
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG")  # decoders allowed, chosen by content, not by name

# Model-file safety limits (see shapes_viz.model_files).
MAX_MODEL_BYTES: int = 64 * 1024 * 1024
MAX_MODEL_PARAMS: int = 5_000_000

# The publish gate (shapes_viz.training.train): a retrained model whose accuracy on the run's validation images is
# lower than the current model's on the same images by more than this is not published, unless the caller asks
# (publish_if_worse / --publish-if-worse / "Publish even if worse"). 0.01 = one percentage point: enough to let
# a tie or a one-image difference on a small split through, never a drop to chance.
PUBLISH_MARGIN: float = 0.01

PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent

# Threads of numpy's BLAS (OpenBLAS) in the app and CLI processes. The numpy engine's products are small and
# a server on 2 cores runs several sessions at once: with OpenBLAS's default threads, batched calls (SmoothGrad,
# integrated gradients, occlusion) were 3-10x slower than on one thread, idle or loaded (docs/benchmarks.md).
BLAS_THREADS: int = 1

# How often the app server's interpreter offers its lock to another thread (Python's default: 5 ms). Each
# session's script runs in its own thread, and the event loop that reads the browsers' messages and uploads
# is one more: with 20 sessions, a thread waiting for the lock behind several others waited 5 ms a turn.
# At 1 ms, 20 sessions x 50 interactions with a layer job running (back to back, 2 runs each): uploads p95
# while the job ran 210 and 239 ms against 241-503; all kinds 174-179 ms against 194-274; server CPU an
# interaction 41 ms against 42-48 (docs/benchmarks.md).
INTERPRETER_SWITCH_INTERVAL_S: float = 0.001

# Paper and ink in the model's input: 1.0 is white paper, 0.0 is black ink. Explanations remove evidence by
# turning pixels to paper (never to black: black is ink here).
PAPER: float = 1.0


@dataclass(frozen=True)
class ExplainSettings:
    """How the attribution maps and their checks are computed (shapes_viz.explain).

    Attributes:
        smoothgrad_samples, smoothgrad_noise: SmoothGrad's noisy copies and their noise's standard deviation
            (in input units: the input spans [0, 1]).
        ig_steps: integrated gradients' steps (midpoint rule) from the paper-white baseline.
        occlusion_patch, occlusion_stride: the paper patch's side and step, in model pixels.
        curve_steps: points of the deletion and insertion curves (0% to 100% of the pixels).
        random_maps: random maps averaged for the "random" reference scores.
        seed: seeds SmoothGrad's noise, the random maps and the randomised network.
    """

    smoothgrad_samples: int = 25
    smoothgrad_noise: float = 0.15
    ig_steps: int = 64
    occlusion_patch: int = 6
    occlusion_stride: int = 2
    curve_steps: int = 29
    random_maps: int = 4
    seed: int = 0


EXPLAIN = ExplainSettings()


@dataclass(frozen=True)
class VisualizeSettings:
    """The image a channel (or a class) wants most: gradient ascent on the input (shapes_viz.channels.visualize).

    Chollet's recipe (30 steps of lr 10 from grey noise) is stuck from the first step on many channels here:
    the start activates them nowhere, so the gradient is zero. This one starts from paper, optimises one grey
    channel (the data's three channels are equal) with Adam on the mean pre-ReLU activation, and keeps the
    image plausible with jitter, a light blur and a small pull towards paper.

    Attributes:
        steps, learning_rate: Adam's steps and step size (input units: the image spans [0, 1]).
        start_noise: standard deviation of the seeded noise on the paper-white start.
        jitter: the image is shifted by up to this many pixels (paper fills the gap) before each step.
        blur_every, blur: every `blur_every` steps the image moves this far towards its 3x3 average.
        paper_pull: each step moves the image this far towards paper.
    """

    steps: int = 150
    learning_rate: float = 0.05
    start_noise: float = 0.02
    jitter: int = 1
    blur_every: int = 4
    blur: float = 0.3
    paper_pull: float = 0.002


VISUALIZE = VisualizeSettings()


@dataclass(frozen=True)
class Recipe:
    """How to train the network. The architecture never changes; only the way it is fitted.

    Attributes:
        name: key in RECIPES.
        description: one line for the UI and the history file.
        optimizer: "adam" or "rmsprop".
        learning_rate: the optimizer's learning rate.
        epochs: passes over the (possibly augmented and repeated) training data.
        batch_size: images per gradient step.
        augment: random rotation, flips, shift and zoom on the fly (train split only).
        min_samples_per_epoch: an epoch sees at least this many (augmented) samples, so small data sets
            (210 drawings) still get enough gradient steps; 0 means one pass over the data.
        label_smoothing: softens the one-hot targets; guards against over-confident saturation.
        patience: stop when validation has not improved for this many epochs (0: never stop early); the
            history says at which epoch and why (`training.stopping`).
        min_loss_improvement: a fall of the validation loss by this share of its lowest value also counts as
            an improvement (0: only a new maximum of the validation accuracy counts).
        ema_momentum: validate, stop and publish with an exponential moving average of the weights (Polyak
            averaging: after each step, average = m * average + (1 - m) * weights); 0: the weights themselves.
    """

    name: str
    description: str
    optimizer: str
    learning_rate: float
    epochs: int
    batch_size: int
    augment: bool
    min_samples_per_epoch: int = 0
    label_smoothing: float = 0.0
    patience: int = 0
    min_loss_improvement: float = 0.0
    ema_momentum: float = 0.0


_STABLE = Recipe(
    name="stable",
    description="Adam 1e-3, augmentation (any rotation, flips, shift, zoom), >= 4096 samples per epoch, "
                "weights averaged (EMA 0.99), stops 5 epochs after validation last improved (accuracy up, or "
                "loss down by 2%)",
    optimizer="adam",
    learning_rate=1e-3,
    epochs=30,
    batch_size=64,
    augment=True,
    min_samples_per_epoch=4096,
    label_smoothing=0.05,
    # Measured on data/ (210 drawings), seeds 0-2, 300 held-out drawings of each generated look: every one of
    # 30 epochs ("thorough") reached 100.0% browser-style and 99.9% mixed. Stopping 5 epochs after the
    # validation accuracy last rose ended at epoch 12-13 but reached only 99.8% and 99.2%: on 90 validation
    # drawings the accuracy is 100% long before the network handles drawings unlike its training set.
    # Counting a 2% fall of the validation loss as an improvement too ended at epoch 22-25 with 100.0% and
    # 99.9%, as "thorough" (in bfloat16 too, see `training.precision`).
    # Longer patience was measured and not kept: on data/ with seeds 0-5, each model scored on 3,000 held-out
    # drawings of each generated look (browser-style / mixed), mean drawings wrong a seed:
    #   averaged weights, patience 5 (this):  epochs 15-21 (mean 18.0),  3.8 / 11.0   (99.87% / 99.63%)
    #   averaged weights, patience 7:         epochs 18-25 (mean 22.0),  2.0 /  8.5
    #   averaged weights, patience 8:         epochs 18-26 (mean 22.2),  2.0 /  6.8
    #   "thorough" (30 epochs, no average):                              3.0 /  9.0   (99.90% / 99.70%)
    # but on the benchmark's generated data set (3 seeds) patience 8 got 9.0 / 17.7 against 6.3 / 19.3 with
    # patience 5 and 5.3-5.7 / 15.3-16.0 for "thorough", in 3.05x the tutorial's time (patience 5: 2.18x).
    # Also worse: 3,072 samples an epoch with patience 8 (4.0 / 9.6), EMA momentum 0.995 (15 / 18, 6 / 9).
    patience=5,
    min_loss_improvement=0.02,
    # Validating (and stopping, and publishing) with the average of the weights instead of the last step's,
    # measured in bfloat16 on seeds 0-5, 300 held-out drawings of each look (browser-style / mixed):
    #   no average, every one of 30 epochs ("thorough"):     100.00% / 99.72%
    #   no average, the stop above:   epochs 18-27 (mean 20.8), 99.83% / 99.61%
    #   average, the stop above:      epochs 15-21 (mean 18.5), 99.94% / 99.89%
    # The averaged weights' validation loss is steadier, so the stop comes earlier and lands nearer the best.
    # Its cost: one average update per step, 8-11% longer epochs (1.25-1.32 s against 1.11-1.19 s on 2 cores).
    ema_momentum=0.99,
)
RECIPES: dict[str, Recipe] = {
    "stable": _STABLE,
    # The default before early stopping and averaged weights: every epoch runs (benchmark, 2 cores, bfloat16,
    # means of 3 seeds: 35.4 s against 25.6 s for "stable"; see "stable" for the accuracy of each).
    "thorough": dataclasses.replace(
        _STABLE, name="thorough", patience=0, min_loss_improvement=0.0, ema_momentum=0.0,
        description="The previous default: like 'stable', but every one of the 30 epochs runs and the weights are not "
                    "averaged: slower, and slightly more accurate on drawings unlike the training set",
    ),
    "tutorial": Recipe(
        name="tutorial",
        description="The tutorial's recipe: RMSprop 1e-3, batch 16, no augmentation (often stays at chance)",
        optimizer="rmsprop",
        learning_rate=1e-3,
        epochs=30,
        batch_size=16,
        augment=False,
    ),
}
DEFAULT_RECIPE: str = "stable"


@dataclass(frozen=True)
class Settings:
    """Paths the app and CLI use; built by `settings()` from the environment."""

    model_path: Path = field(default_factory=lambda: PROJECT_ROOT / "models" / "shapes_cnn.h5")
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "data")

    @property
    def models_dir(self) -> Path:
        return self.model_path.parent


def settings() -> Settings:
    """Settings from the environment (SHAPES_VIZ_MODEL, SHAPES_VIZ_DATA), defaults otherwise."""
    return _settings_for(os.environ.get("SHAPES_VIZ_MODEL") or "", os.environ.get("SHAPES_VIZ_DATA") or "")


@functools.lru_cache(maxsize=16)
def _settings_for(model: str, data: str) -> Settings:
    """The settings of these environment values, resolved once: a page calls `settings()` dozens of times,
    and resolving a path asks the file system each time (6% of the server's time under load)."""
    kwargs = {}
    if model:
        kwargs["model_path"] = Path(model).expanduser().resolve()
    if data:
        kwargs["data_dir"] = Path(data).expanduser().resolve()
    return Settings(**kwargs)

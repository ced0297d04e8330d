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
        min_epochs: with patience, no run stops before this epoch (0: any epoch).
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
    min_epochs: int = 0
    min_loss_improvement: float = 0.0
    ema_momentum: float = 0.0


_STABLE = Recipe(
    name="stable",
    description="Adam 1e-3, augmentation (any rotation, flips, shift, zoom), >= 4096 samples per epoch, "
                "weights averaged (EMA 0.99), stops 5 epochs after validation last improved (accuracy up, or "
                "loss down by 2%) but not before epoch 28",
    optimizer="adam",
    learning_rate=1e-3,
    epochs=30,
    batch_size=64,
    augment=True,
    min_samples_per_epoch=4096,
    label_smoothing=0.05,
    # How the stop was chosen: one 30-epoch training per seed and data set, every epoch's weights and their
    # average scored on 3,000 held-out drawings of each generated look (browser-style / mixed), the stopping
    # rules replayed on the validation curves (`tools/recipe_study.py`; a seed trains the same weights every
    # time, so the curves of the average are what this recipe keeps). Mean drawings wrong per seed on data/
    # (seeds 0-3) | on the benchmark's generated set (seeds 0-5), measured twice: with Keras' Dropout and
    # weight swap, then with the trainer's own (`training.coin_dropout`, `training.averaging`: the same
    # distribution, another random stream). Epochs run in brackets:
    #   "thorough": 30 epochs, no average, best epoch by validation  2.2 / 9.5,  10.8 / 14.2 |  8.7 / 17.2,  8.0 / 14.7
    #   average, patience 5, no floor (15-27)                        3.8 / 9.5,   7.0 / 11.8 | 12.5 / 22.8,  7.5 / 16.8
    #   average, patience 5, not before epoch 22 (22-27)             1.8 / 5.5,   2.2 / 7.8  | 12.3 / 22.2,  6.5 / 14.5
    #   average, patience 5, not before epoch 26 (26-27)             1.0 / 5.8,   2.5 / 7.0  |  9.2 / 19.3,  6.5 / 15.0
    #   average, patience 5, not before epoch 28 (28; this)          0.2 / 4.8,   1.8 / 6.0  |  7.5 / 16.8,  5.5 / 12.3
    #   average, every one of 30 epochs                              0.2 / 4.0,   1.5 / 5.8  |  6.8 / 15.2,  4.7 / 11.2
    # On 90 validation drawings the accuracy is 100% and the loss flat from epoch 14-17 on, while the averaged
    # weights keep improving on drawings unlike the training set until epoch 30: the floor is the fewest
    # epochs at which the average is at least as accurate as "thorough" on both sets in both measurements (the
    # second alone would have allowed 22: from one random stream to the next the means move by a few drawings).
    # Also measured and worse at equal epochs: EMA momentum 0.995 and 0.998 (they lag), learning rate 2e-3 (4
    # epochs at chance, then 20 / 31 wrong at epoch 22, one seed), a cosine decay of the learning rate over 20
    # epochs (12-26 / 23-38), a linear fall of the learning rate to 2% over epochs 15-24 (10.0 / 20.7 at epoch
    # 24, seeds 0-2, against 5.3 / 12.7 for the average at 30), a uniform average of the epochs' weights from
    # epoch 8-18 on (worse than the moving average at every end, seed 0).
    patience=5,
    min_epochs=28,
    min_loss_improvement=0.02,
    # Validating, stopping and publishing with the average of the weights (Polyak averaging), the latest epoch
    # of the best validation accuracy (`watcher`, prefer_later): the averaged weights keep improving after
    # the validation loss stops telling the epochs apart, while the last step's weights jump from epoch to
    # epoch (e.g. 36, 9, 5, 7, 14 browser-style drawings wrong in epochs 26-30 of one run). Keras keeps the
    # average (eight small operations a variable a step); an update in three operations measured no faster
    # (epochs of 1.31-1.39 s against 1.34-1.37 s) once 16 steps run in one graph call.
    ema_momentum=0.99,
)
RECIPES: dict[str, Recipe] = {
    "stable": _STABLE,
    # The default before early stopping and averaged weights: every epoch runs (benchmark, 2 cores, bfloat16,
    # means of 6 seeds: 31.8 s for 30 epochs against 31.3 s for 28 of "stable", the tutorial's recipe 12.6 s, in
    # the run of 09:10 UTC; see "stable" for the accuracy).
    "thorough": dataclasses.replace(
        _STABLE, name="thorough", patience=0, min_loss_improvement=0.0, ema_momentum=0.0,
        description="The previous default: like 'stable', but every one of the 30 epochs runs and the weights are not "
                    "averaged: slower",
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

# Training steps run by one call into TensorFlow's graph (Keras' `steps_per_execution`); callbacks, the stop
# request and the NaN check then look in every 16 steps (0.3 s) instead of after each one. Measured on the
# project's 2-core machine with the default recipe (64 steps of 64 augmented drawings, bfloat16): an epoch takes
# 1.23-1.33 s against 1.35-1.43 s one step a call (the steps alone, without augmentation: 1.00-1.02 s against
# 1.15-1.28 s). The steps are the same; the graph takes about 0.5 s longer to trace.
TRAINING_STEPS_PER_EXECUTION: int = 16
# The training stream's fixed shape (tf.data's autotuning is off: `training.pipeline` says why): batches
# augmented one at a time, two batches ready ahead. Epochs of the default recipe, medians of 3 trainings each
# on 2 cores: 1.14-1.17 s (1 call, 2 batches), 1.16-1.18 s (1 call, 4 batches), 1.18-1.22 s (2 calls, 2
# batches), against 1.10-1.18 s autotuned.
TRAINING_AUGMENT_CALLS: int = 1
TRAINING_PREFETCH_BATCHES: int = 2


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

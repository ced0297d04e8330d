"""The tf.data pipelines of a training run: the training stream (cached, shuffled, augmented) and the
validation batches. TensorFlow is imported when a pipeline is built, not with this module.

Neither pipeline lets tf.data autotune itself: with autotuning, each iterator runs a model thread that its
destructor joins, and when `fit` ended that join took 3-19 s in about one training in three (measured on
2 cores: a py-spy dump showed `~RootDataset::Iterator` waiting on the thread; the default recipe took 44 s
instead of 26-29 s). A fixed pipeline (`config.TRAINING_AUGMENT_CALLS`, `config.TRAINING_PREFETCH_BATCHES`)
has no such thread and ran as fast an epoch.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from shapes_viz.config import (
    NUM_CLASSES,
    TRAINING_AUGMENT_CALLS,
    TRAINING_PREFETCH_BATCHES,
    TRAINING_STEPS_PER_EXECUTION,
    Recipe,
)


def _batches(recipe: Recipe, train_count: int) -> int:
    """Batches that cover max(train_count, recipe.min_samples_per_epoch)."""
    return math.ceil(max(int(train_count), recipe.min_samples_per_epoch, 1) / recipe.batch_size)


def steps_per_execution(recipe: Recipe, train_count: int) -> int:
    """Training steps one graph call runs (Keras' `steps_per_execution`): TRAINING_STEPS_PER_EXECUTION, or all
    of an epoch's batches when it has fewer."""
    return max(1, min(TRAINING_STEPS_PER_EXECUTION, _batches(recipe, train_count)))


def steps_per_epoch(recipe: Recipe, train_count: int) -> int:
    """Gradient steps in one epoch: the batches that cover max(train_count, recipe.min_samples_per_epoch),
    rounded up to whole graph calls (`steps_per_execution`), as Keras runs them."""
    per_call = steps_per_execution(recipe, train_count)
    return math.ceil(_batches(recipe, train_count) / per_call) * per_call


def make_train_dataset(images: np.ndarray, labels: np.ndarray, recipe: Recipe, seed: int):
    """tf.data pipeline for training: cache, shuffle, repeat, batch, augment, prefetch.

    Args:
        images: (N, 28, 28, 3) float32 in [0, 1] (preprocessed).
        labels: (N,) int class indices.

    Returns:
        (dataset of (batch, 28, 28, 3) float32 and (batch, 3) one-hot float32, steps per epoch).
    """
    import tensorflow as tf

    count = len(labels)
    steps = steps_per_epoch(recipe, count)
    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    ds = tf.data.Dataset.from_tensor_slices((images, onehot)).cache()
    ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(recipe.batch_size, drop_remainder=False)
    if recipe.augment:
        augment = make_augmenter(seed)
        ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=TRAINING_AUGMENT_CALLS)
    return ds.prefetch(TRAINING_PREFETCH_BATCHES).with_options(_without_autotune(tf)), steps


def make_eval_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int = 256):
    """tf.data pipeline for validation: one-hot labels, cached, batched, prefetched."""
    import tensorflow as tf

    onehot = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    ds = tf.data.Dataset.from_tensor_slices((images, onehot)).cache().batch(batch_size)
    return ds.prefetch(TRAINING_PREFETCH_BATCHES).with_options(_without_autotune(tf))


def _without_autotune(tf):
    """tf.data options that switch autotuning off (see the module's docstring)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def make_augmenter(seed: int) -> Callable:
    """Random label-preserving changes to a batch of preprocessed images (dark ink on white).

    Works on ink (1 - image) so that everything moved in from outside is paper: quarter turns and
    mirror images (a rotated triangle is a triangle), small rotations, zoom and shifts that keep the
    drawing inside the 3-pixel margin that `preprocess` leaves, and stroke thickening or thinning.
    """
    import keras
    import tensorflow as tf

    small_changes = keras.Sequential(
        [
            keras.layers.RandomRotation(0.04, fill_mode="constant", fill_value=0.0, seed=seed),
            keras.layers.RandomZoom((-0.05, 0.2), fill_mode="constant", fill_value=0.0, seed=seed + 1),
            keras.layers.RandomTranslation(0.07, 0.07, fill_mode="constant", fill_value=0.0, seed=seed + 2),
        ]
    )
    generator = tf.random.Generator.from_seed(seed)

    def augment(batch):
        ink = 1.0 - batch[..., :1]
        quarter_turns = generator.uniform((), 0, 4, dtype=tf.int32)
        ink = tf.image.rot90(ink, quarter_turns)
        ink = tf.where(generator.uniform(()) < 0.5, tf.reverse(ink, axis=[2]), ink)
        ink = small_changes(ink, training=True)
        choice = generator.uniform(())
        thicker = tf.nn.max_pool2d(ink, 2, 1, "SAME")
        thinner = -tf.nn.max_pool2d(-ink, 2, 1, "SAME")
        ink = tf.where(choice < 0.15, thicker, tf.where(choice > 0.9, tf.maximum(thinner, 0.5 * ink), ink))
        ink = tf.clip_by_value(ink, 0.0, 1.0)
        return tf.repeat(1.0 - ink, 3, axis=-1)

    return augment

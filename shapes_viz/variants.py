"""Architecture variants of the tutorial's network: could fewer layers do as well?

Each variant is a name, a one-line description and a builder; all take (28, 28, 3) to 3 classes with the
layer kinds the model-file check and the numpy engine know, so any of them can be published and explored.

    VARIANTS["one_conv_per_block"].build(seed=0)   # an uncompiled keras.Sequential
    VARIANTS["one_conv_per_block"].params          # its parameter count (checked against Keras in the tests)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shapes_viz.config import INPUT_SHAPE, NUM_CLASSES


@dataclass(frozen=True)
class Variant:
    """One architecture.

    Attributes:
        name: its key in VARIANTS (also its folder name in a `variants` run).
        title, description: a readable name and one line on what differs from the tutorial's network.
        params: its parameter count.
        layers: a function building its layers from `keras.layers` (the module).
    """

    name: str
    title: str
    description: str
    params: int
    layers: Callable

    def build(self, seed: int | None = None):
        """The variant, uncompiled: a keras.Sequential named after it (weights seeded when `seed` is given)."""
        import keras

        if seed is not None:
            keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [keras.Input(shape=INPUT_SHAPE, name="image"), *self.layers(keras.layers)], name=self.name
        )


def _conv(L, filters: int, padding: str, name: str, kernel: int = 3):
    return L.Conv2D(filters, (kernel, kernel), padding=padding, activation="relu", name=name)


def _block(L, index: int, filters: int, both: bool = True) -> list:
    """The tutorial's block: a padded and (optionally) an unpadded 3x3 convolution, pooling, dropout."""
    convs = [_conv(L, filters, "same", f"conv{index}_1")]
    if both:
        convs.append(_conv(L, filters, "valid", f"conv{index}_2"))
    return [*convs, L.MaxPooling2D((2, 2), name=f"pool{index}"), L.Dropout(0.5, name=f"drop{index}")]


def _head(L, hidden: int = 512) -> list:
    return [L.Flatten(name="flatten"), L.Dense(hidden, activation="relu", name="dense"),
            L.Dropout(0.5, name="drop4"), L.Dense(NUM_CLASSES, activation="softmax", name="predictions")]


def _gap_head(L) -> list:
    return [L.GlobalAveragePooling2D(name="gap"), L.Dense(NUM_CLASSES, activation="softmax", name="predictions")]


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("tutorial", "The tutorial's network", "Three blocks of two 3x3 convolutions (32-32, 64-64, 64-64), "
            "each pooled and dropped out, then Dense 512", 174_243,
            lambda L: [*_block(L, 1, 32), *_block(L, 2, 64), *_block(L, 3, 64), *_head(L)]),
    Variant("one_conv_per_block", "One convolution per block", "Only the padded convolution of each block (the "
            "reader's question): three 3x3 convolutions instead of six", 353_283,
            lambda L: [*_block(L, 1, 32, False), *_block(L, 2, 64, False), *_block(L, 3, 64, False), *_head(L)]),
    Variant("two_blocks_flatten", "Two blocks, Flatten", "The first two blocks, then Flatten and Dense 512: about "
            "five times the parameters, because Flatten comes after less pooling", 886_819,
            lambda L: [*_block(L, 1, 32), *_block(L, 2, 64), *_head(L)]),
    Variant("two_blocks_gap", "Two blocks, global average pooling", "The first two blocks, then each channel's "
            "mean (global average pooling) straight into the 3 classes", 65_763,
            lambda L: [*_block(L, 1, 32), *_block(L, 2, 64), *_gap_head(L)]),
    Variant("one_block_gap", "One block, global average pooling", "The first block only, then global average "
            "pooling into the 3 classes: about 10,000 weights", 10_243,
            lambda L: [*_block(L, 1, 32), *_gap_head(L)]),
    Variant("lenet5", "LeNet-5 style", "LeCun's layout: 5x5 convolutions of 6 and 16 filters, each pooled, then "
            "Dense 120 and 84", 61_411,
            lambda L: [_conv(L, 6, "same", "conv1", 5), L.MaxPooling2D((2, 2), name="pool1"),
                       _conv(L, 16, "valid", "conv2", 5), L.MaxPooling2D((2, 2), name="pool2"),
                       L.Flatten(name="flatten"), L.Dense(120, activation="relu", name="dense1"),
                       L.Dense(84, activation="relu", name="dense2"),
                       L.Dense(NUM_CLASSES, activation="softmax", name="predictions")]),
    Variant("tiny_vgg", "Tiny VGG (CNN Explainer)", "CNN Explainer's network: two blocks of two 3x3 convolutions "
            "with 10 filters, pooled, then the 3 classes", 3_493,
            lambda L: [_conv(L, 10, "valid", "conv1_1"), _conv(L, 10, "valid", "conv1_2"),
                       L.MaxPooling2D((2, 2), name="pool1"), _conv(L, 10, "valid", "conv2_1"),
                       _conv(L, 10, "valid", "conv2_2"), L.MaxPooling2D((2, 2), name="pool2"),
                       L.Flatten(name="flatten"), L.Dense(NUM_CLASSES, activation="softmax", name="predictions")]),
)}


def variant(name: str) -> Variant:
    """The variant called `name`. Raises ValueError naming the variants there are."""
    if name not in VARIANTS:
        raise ValueError(f"Unknown variant. Expected one of {', '.join(VARIANTS)}. Received: name={name!r}")
    return VARIANTS[name]

"""The tutorial's network: build it, load it (checked, safe mode), describe it as data.

Saving and publishing a model file is `shapes_viz.artifacts`' job.

Layers (all convolutions 3x3 with ReLU), with the names the dashboard shows:

    conv1_1 Conv2D 32 same  -> (28, 28, 32)      conv2_1 Conv2D 64 same  -> (13, 13, 64)
    conv1_2 Conv2D 32 valid -> (26, 26, 32)      conv2_2 Conv2D 64 valid -> (11, 11, 64)
    pool1   MaxPooling2D    -> (13, 13, 32)      pool2   MaxPooling2D    -> (5, 5, 64)
    drop1   Dropout 0.5                          drop2   Dropout 0.5
    conv3_1 Conv2D 64 same  -> (5, 5, 64)        flatten Flatten         -> (64,)
    conv3_2 Conv2D 64 valid -> (3, 3, 64)        dense   Dense 512 relu  -> (512,)
    pool3   MaxPooling2D    -> (1, 1, 64)        drop4   Dropout 0.5
    drop3   Dropout 0.5                          predictions Dense 3 softmax -> (3,)

174,243 parameters in all, as in the tutorial's summary.
"""

from __future__ import annotations

from pathlib import Path

from shapes_viz.config import INPUT_SHAPE, NUM_CLASSES
from shapes_viz.engine.results import LayerInfo
from shapes_viz.errors import ModelFileError


def build_model(seed: int | None = None):
    """The tutorial's CNN, uncompiled. Returns a keras.Sequential named "shapes_cnn".

    Args:
        seed: seeds the weight initialisers (None: Keras' global seed state).
    """
    import keras
    from keras import layers

    if seed is not None:
        keras.utils.set_random_seed(seed)

    def conv(filters: int, padding: str, name: str):
        return layers.Conv2D(filters, (3, 3), padding=padding, activation="relu", name=name)

    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="image"),
            conv(32, "same", "conv1_1"),
            conv(32, "valid", "conv1_2"),
            layers.MaxPooling2D(pool_size=(2, 2), name="pool1"),
            layers.Dropout(0.5, name="drop1"),
            conv(64, "same", "conv2_1"),
            conv(64, "valid", "conv2_2"),
            layers.MaxPooling2D(pool_size=(2, 2), name="pool2"),
            layers.Dropout(0.5, name="drop2"),
            conv(64, "same", "conv3_1"),
            conv(64, "valid", "conv3_2"),
            layers.MaxPooling2D(pool_size=(2, 2), name="pool3"),
            layers.Dropout(0.5, name="drop3"),
            layers.Flatten(name="flatten"),
            layers.Dense(512, activation="relu", name="dense"),
            layers.Dropout(0.5, name="drop4"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="predictions"),
        ],
        name="shapes_cnn",
    )


def model_summary(model) -> list[LayerInfo]:
    """The model's layers as data: name, type, output shape (no batch axis), parameter count."""
    rows = []
    for layer in model.layers:
        shape = tuple(int(d) for d in layer.output.shape[1:])
        rows.append(LayerInfo(layer.name, type(layer).__name__, shape, int(layer.count_params())))
    return rows


def load_model(path: str | Path):
    """Load a model file (.h5 or .keras) with safe mode on, after checking it is one of ours.

    The file is inspected before Keras builds anything (see `shapes_viz.model_files`): allowed layer
    types, parameter budget, input shape and class count. Returned uncompiled.

    Raises:
        ModelFileError: missing, corrupt, unsafe, or not fitting (28, 28, 3) -> 3 classes.
    """
    import keras

    from shapes_viz.model_files import check_model_file

    path = Path(path)
    check_model_file(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files; all mean the same to a user
        raise ModelFileError(f"Not a valid model file: {path.name} ({type(exc).__name__}: {exc})",
                             code="model_file_invalid", name=path.name, detail=f"{type(exc).__name__}: {exc}") from None
    _check_io(model, path)
    return model


def _check_io(model, path: Path) -> None:
    input_shape = tuple(model.inputs[0].shape[1:])
    output_shape = tuple(model.outputs[0].shape[1:])
    if input_shape != INPUT_SHAPE or output_shape != (NUM_CLASSES,):
        raise ModelFileError(
            f"Model {path.name} does not fit: expected input {INPUT_SHAPE} and {NUM_CLASSES} classes. "
            f"Received: input {input_shape}, output {output_shape}",
            code="model_file_misfit", name=path.name, expected=INPUT_SHAPE, classes=NUM_CLASSES, input=input_shape,
            output=output_shape,
        )

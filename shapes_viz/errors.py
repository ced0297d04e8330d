"""The project's own exceptions: every expected failure is one of these, with a message fit for a user.

The message (`str(exc)`) is English: the CLI prints it and the logs keep it. An exception may also carry a
stable `code` and the plain `values` its message was built from, so that the app can show the same message in
the page's language (`ui.i18n.error_text` looks up "errors.<code>" in the catalogues; the English catalogue's
text, filled with `values`, is the message itself):

    raise ImageError(f"Image too large: {size:,} bytes (limit {limit:,}).", code="image_too_large_bytes",
                     size=size, limit=limit)

An exception raised without a code (`raise ImageError("message")`) is shown as its English message.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from types import MappingProxyType

CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def plain_value(value: object) -> str | int | float | bool | None:
    """`value` as plain data that JSON, session state and str.format all take: str, int, float, bool and None stay;
    other integers (numpy's) become int, other reals float, anything else (a Path, a list) its str()."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def plain_values(values: Mapping[str, object]) -> dict[str, str | int | float | bool | None]:
    """{name: plain_value(value)} of a mapping of message values."""
    return {str(name): plain_value(value) for name, value in values.items()}


class ShapesVizError(Exception):
    """Base class: a failure the app or CLI reports as one clear line.

    Args:
        *args: as for Exception; the first is the English message.
        code: optional stable id of the message ("image_too_large_bytes", lowercase letters, digits and "_"),
            the key "errors.<code>" of the UI catalogues; None: the message has no translation.
        **values: the values the message was built from (made plain with `plain_value`), which fill the
            catalogue's {placeholders}.

    Attributes:
        code (str | None), values (Mapping[str, str | int | float | bool | None]): as given.

    Raises:
        ValueError: `code` is not a lowercase identifier.
    """

    code: str | None = None
    values: Mapping[str, str | int | float | bool | None] = MappingProxyType({})

    def __init__(self, *args: object, code: str | None = None, **values: object):
        super().__init__(*args)
        if code is not None and not (isinstance(code, str) and CODE_PATTERN.fullmatch(code)):
            raise ValueError(f"An error code is a lowercase identifier (a-z, 0-9, _). Received: code={code!r}")
        if values and code is None:
            raise ValueError(f"Message values need a code. Received: values={sorted(values)} without a code")
        self.code = code
        self.values = plain_values(values)


class ImageError(ShapesVizError):
    """An image could not be used: wrong format, corrupt, too large."""


class EmptyImageError(ImageError):
    """The image holds no drawing (blank, uniform, or too small to hold a shape)."""


class DatasetError(ShapesVizError):
    """A data folder cannot be used for training or evaluation."""


class ModelFileError(ShapesVizError):
    """A model file is missing, corrupt, unsafe, or does not fit this project."""


class TrainingError(ShapesVizError):
    """Training failed (diverged, cancelled, or its result could not be published)."""


class TrainingCancelled(TrainingError):
    """Training was stopped on request; nothing was published."""


class ModelNotPublished(TrainingError):
    """The publish gate kept the current model: the new one was worse on the same validation images.

    Attributes:
        new_accuracy, current_accuracy (float): accuracies in [0, 1] of the new and the current model.
        val_count (int): how many validation images both were measured on.
        summary (str): the message without the "how to publish anyway" hint (each caller words its own).
        code (str), values (dict): "model_not_published" and {new_accuracy, current_accuracy, val_count}: they
            describe `summary` (the hint is the caller's, and stays English).
    """

    def __init__(self, new_accuracy: float, current_accuracy: float, val_count: int, hint: str = ""):
        self.new_accuracy = float(new_accuracy)
        self.current_accuracy = float(current_accuracy)
        self.val_count = int(val_count)
        self.summary = (
            f"Not published: the new model reached {self.new_accuracy:.1%} on the {self.val_count} validation "
            f"images, the current model {self.current_accuracy:.1%} on the same images; the current model stays."
        )
        super().__init__(f"{self.summary} {hint}".strip(), code="model_not_published",
                         new_accuracy=self.new_accuracy, current_accuracy=self.current_accuracy,
                         val_count=self.val_count)


class TrainingBusyError(TrainingError):
    """Another training is already running on this server."""

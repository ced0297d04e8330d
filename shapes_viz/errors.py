"""The project's own exceptions: every expected failure is one of these, with a message fit for a user."""


class ShapesVizError(Exception):
    """Base class: a failure the app or CLI reports as one clear line."""


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
        new_accuracy, current_accuracy: accuracies in [0, 1] of the new and the current model.
        val_count: how many validation images both were measured on.
        summary: the message without the "how to publish anyway" hint (each caller words its own).
    """

    def __init__(self, new_accuracy: float, current_accuracy: float, val_count: int, hint: str = ""):
        self.new_accuracy = float(new_accuracy)
        self.current_accuracy = float(current_accuracy)
        self.val_count = int(val_count)
        self.summary = (
            f"Not published: the new model reached {self.new_accuracy:.1%} on the {self.val_count} validation "
            f"images, the current model {self.current_accuracy:.1%} on the same images; the current model stays."
        )
        super().__init__(f"{self.summary} {hint}".strip())


class TrainingBusyError(TrainingError):
    """Another training is already running on this server."""

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


class TrainingBusyError(TrainingError):
    """Another training is already running on this server."""

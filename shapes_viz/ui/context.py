"""What the page hands every view: the data folder and the published model, decided once per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shapes_viz.ui.resources import Identity, LoadedModel


@dataclass(frozen=True)
class PageContext:
    """What every view may need; views receive it instead of rediscovering it.

    Attributes:
        data_dir: the app's data folder (training_set/ and test_set/).
        identity: (path, mtime_ns, size) of the published model file, or None without one.
        loaded: the loaded model and its engine, or None when there is none or it is unusable.
    """

    data_dir: Path
    identity: Identity | None
    loaded: LoadedModel | None

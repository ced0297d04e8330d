"""What the page hands every view: the data folder and the published model, decided once per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.ui.i18n import t
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


def numpy_engine_or_say(ctx: PageContext, needs_h5_key: str, no_model_key: str = "common.no_model") -> NumpyEngine | None:
    """The page's numpy engine for a view that needs its gradients or knock-outs; otherwise the view's message
    (`no_model_key` without a usable model, `needs_h5_key` for a model only Keras reads) and None."""
    if ctx.loaded is None or ctx.identity is None:
        st.info(t(no_model_key))
        return None
    if not isinstance(ctx.loaded.engine, NumpyEngine):
        st.info(t(needs_h5_key))
        return None
    return ctx.loaded.engine

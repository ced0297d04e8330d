"""The Channels view's cached computations, shared by every session, keyed by model file version and data.

    model identity + data folder fingerprint -> dataset scan (st.cache_resource, 2 kept: ~4 MB each)
    model identity + knock-out               -> test-set accuracy (st.cache_data)
    model identity + layer + channel + seed  -> the channel's image (st.cache_data, 512 kept: ~10 kB each)
    one LayerImageJobs for the server        -> whole layers' images in the background (8 jobs kept)

A new model file has a new identity: nothing computed for the old one is shown as the new one's.
"""

from __future__ import annotations

import streamlit as st

from shapes_viz.channels.knockout import ChannelLoss, accuracy_with, most_harmful
from shapes_viz.channels.layer_images import LayerImageJobs
from shapes_viz.channels.scan import DatasetScan, folder_fingerprint, load_splits, scan_images
from shapes_viz.channels.visualize import Visualization, channel_image, class_image
from shapes_viz.dataset import LabeledImages
from shapes_viz.ui.resources import Identity, Off, load_engine

_SCANNED: set[tuple[Identity, str, str]] = set()  # the scans computed so far (the explorer only reads those)


def fingerprint(data_dir: str) -> str:
    """The data folder's fingerprint (file names, sizes and times): a scan is redone when it changes."""
    return folder_fingerprint(data_dir)


@st.cache_resource(max_entries=2, show_spinner=False)  # callers show a spinner in the session's language
def dataset_scan(identity: Identity, data_dir: str, fingerprint: str) -> DatasetScan:
    """Every channel's top and bottom drawings over both splits of `data_dir` (about a second).

    Raises:
        DatasetError: the folder is missing or holds no usable drawing.
    """
    scan = scan_images(load_engine(identity).engine, load_splits(data_dir))
    _SCANNED.add((identity, data_dir, fingerprint))
    return scan


def scanned(identity: Identity, data_dir: str) -> bool:
    """Whether any scan of this model and data folder was computed (cheap: no look at the folder's files)."""
    return any(key[:2] == (identity, data_dir) for key in _SCANNED)


def scan_if_done(identity: Identity, data_dir: str, fingerprint: str) -> DatasetScan | None:
    """The scan if the Channels view already computed it for this model and data, else None (never scans)."""
    if (identity, data_dir, fingerprint) not in _SCANNED:
        return None
    return dataset_scan(identity, data_dir, fingerprint)


@st.cache_resource(max_entries=2, show_spinner=False)
def test_images(data_dir: str, fingerprint: str) -> LabeledImages:
    """The test split (or the whole folder) the knock-out accuracy is measured on."""
    from pathlib import Path

    from shapes_viz.dataset import load_folder

    folder = Path(data_dir) / "test_set"
    return load_folder(folder if folder.is_dir() else data_dir)


@st.cache_data(max_entries=256, show_spinner=False)
def accuracy_off(identity: Identity, data_dir: str, fingerprint: str, off: Off) -> float:
    """Test-set accuracy with the `off` channels switched off."""
    return accuracy_with(load_engine(identity).engine, test_images(data_dir, fingerprint), dict(off))


@st.cache_data(max_entries=64, show_spinner=False)  # callers show a spinner in the session's language
def harmful(identity: Identity, data_dir: str, fingerprint: str, layer: str, off: Off, count: int = 5) -> list[ChannelLoss]:
    """The `count` channels of `layer` whose loss (on top of `off`) hurts test-set accuracy most."""
    return most_harmful(load_engine(identity).engine, test_images(data_dir, fingerprint), layer, count, dict(off))


@st.cache_data(max_entries=512, show_spinner=False)  # callers show a spinner in the session's language
def channel_visual(identity: Identity, layer: str, channel: int, seed: int) -> Visualization:
    return channel_image(load_engine(identity).engine, layer, channel, seed=seed)


@st.cache_data(max_entries=16, show_spinner=False)  # callers show a spinner in the session's language
def class_visual(identity: Identity, target: int, seed: int) -> Visualization:
    return class_image(load_engine(identity).engine, target, seed=seed)


@st.cache_resource
def layer_jobs() -> LayerImageJobs:
    """The server's one background runner of whole-layer images."""
    return LayerImageJobs()

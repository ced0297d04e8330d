"""Shared fixtures of the test suite.

Nothing here touches the real `models/` or `data/` folders: SHAPES_VIZ_MODEL and SHAPES_VIZ_DATA point to a
session temp folder before any test runs. Expensive things (a generated data set, a model trained for one
epoch) are made once per session and must be treated as read-only by the tests that use them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Before anything imports shapes_viz.config: no test may read or overwrite the real published model.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="shapes_viz_tests_"))
os.environ["SHAPES_VIZ_MODEL"] = str(_SESSION_DIR / "models" / "shapes_cnn.h5")
os.environ["SHAPES_VIZ_DATA"] = str(_SESSION_DIR / "data")

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the real app in Chromium through Playwright (slow)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds (subprocesses, kill loops)")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A generated data set in the tutorial's layout: training_set/ 7 + test_set/ 3 images per class.

    Read-only: copy it (shutil.copytree) before changing anything in it.
    """
    from shapes_viz.generator import generate_dataset

    root = tmp_path_factory.mktemp("tiny_data")
    generate_dataset(root, per_class=10, seed=0)
    return root


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_data):
    """(model path, TrainingResult, progress events) of one epoch of the tutorial recipe on `tiny_data`.

    Read-only: copy the model file before publishing over it.
    """
    from shapes_viz.training import train

    out = tmp_path_factory.mktemp("trained") / "tiny.h5"
    events: list[dict] = []
    result = train(tiny_data, out, recipe="tutorial", epochs=1, seed=0, on_event=events.append)
    return out, result, events


@pytest.fixture(scope="session")
def trained_model(trained):
    """The session's trained model, loaded through the project's safe loader. Read-only: never fit it."""
    from shapes_viz.model import load_model

    return load_model(trained[0])


@pytest.fixture(scope="session")
def fresh_model():
    """An untrained tutorial network with seeded weights. Read-only: never fit it."""
    from shapes_viz.model import build_model

    return build_model(seed=0)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one per test module (the browser tests skip without it)."""
    from playwright.sync_api import sync_playwright

    from browser_helpers import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

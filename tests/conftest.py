"""Shared fixtures of the test suite.

Nothing here touches the real `models/` or `data/` folders: SHAPES_VIZ_MODEL and SHAPES_VIZ_DATA point to a
session temp folder before any test runs. Expensive things (a generated data set, a model trained for one
epoch) are made once per session and must be treated as read-only by the tests that use them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Before anything imports shapes_viz.config: no test may read or overwrite the real published model.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="shapes_viz_tests_"))
os.environ["SHAPES_VIZ_MODEL"] = str(_SESSION_DIR / "models" / "shapes_cnn.h5")
os.environ["SHAPES_VIZ_DATA"] = str(_SESSION_DIR / "data")

import pytest  # noqa: E402

from shapes_viz.figures import base as _figure_base  # noqa: E402

# The app builds its figures without Plotly's validation (figures.base.figure); in every test, each figure is
# also validated and must serialise to the same JSON.
_figure_base.CHECK_AGAINST_VALIDATED = True


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
    from tools.harness import chromium

    with chromium() as launched:
        yield launched


@dataclass(frozen=True)
class RunningApp:
    """A `streamlit run app.py` server of the browser tests: its address, its log, the model copy it serves."""

    url: str
    log: Path
    model: Path


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Extra environment of the module's app server (a module overrides this fixture to inject faults)."""
    return {}


@pytest.fixture(scope="module")
def app_server(request, tmp_path_factory, server_env) -> Iterator[RunningApp]:
    """The real app for one browser test module, on a COPY of the shipped model (models/ is never written) and
    the project's data folder (a generated one where the checkout has none). Trainers the module started are
    cancelled afterwards (they outlive the server by design). Its log: artifacts/<module>_server.log."""
    from tools.harness import PROJECT_ROOT, SHIPPED_MODEL, copy_model, streamlit_server

    if not SHIPPED_MODEL.exists():
        pytest.skip(f"the trained model {SHIPPED_MODEL} is not in this checkout")
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    folder = tmp_path_factory.mktemp(name)
    model = copy_model(SHIPPED_MODEL, folder / "models")
    data = PROJECT_ROOT / "data"
    if not (data / "test_set").is_dir():
        from shapes_viz.generator import generate_dataset

        data = folder / "data"
        generate_dataset(data, per_class=10, seed=0)
    env = {"SHAPES_VIZ_MODEL": str(model), "SHAPES_VIZ_DATA": str(data), **server_env}
    log = PROJECT_ROOT / "artifacts" / f"{name}_server.log"
    try:
        with streamlit_server(env, log) as url:
            yield RunningApp(url, log, model)
    finally:
        from shapes_viz.training import TrainingJobs

        jobs = TrainingJobs(model)
        if jobs.cancel():
            jobs.wait(timeout=60)


@pytest.fixture
def open_page(browser, app_server):
    """open_page(height=1100, init_script=None) -> a fresh browser session on the app, its content loaded.

    `init_script` runs in the page before the app loads (a recorder of what the page shows)."""
    from tests.helpers.browser import wait_for_app

    contexts = []

    def open_one(height: int = 1100, init_script: str | None = None):
        context = browser.new_context(viewport={"width": 1500, "height": height})
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app_server.url)
        wait_for_app(page)
        return page

    yield open_one
    for context in contexts:
        context.close()

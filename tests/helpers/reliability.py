"""Shared verbs of the reliability tests (tests/test_reliability_*.py): an AppTest of the real app.py, its
messages, a private copy of the session's model, snapshots of the published files, and the real trainer.

Every test uses its own copy of a model (never models/).
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers.apptest import upload  # noqa: F401 - one upload verb for every AppTest
from tests.helpers.figures import decode_array, figure_spec
from tools.harness import PROJECT_ROOT, copy_model
from shapes_viz.artifacts import history_path

APP = str(PROJECT_ROOT / "app.py")
WAIT_TRAINER_S = 240  # generous: a trainer imports TensorFlow (~3 s) and may share 2 cores with the suite


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=120)


def messages(at) -> str:
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "success") for e in getattr(at, kind))


def assert_clean(at) -> None:
    """No exception element, no traceback text, no generic 'Something went wrong' (that means an unexpected error)."""
    assert not at.exception, [e.value for e in at.exception]
    text = messages(at)
    assert "Traceback" not in text and "Something went wrong" not in text, text


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def probabilities(at) -> np.ndarray:
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith("-probabilities"):
            return decode_array(figure_spec(element)["data"][0]["y"])
    raise AssertionError(f"no probability chart; messages: {messages(at)}")


def own_model(tmp_path: Path, trained) -> Path:
    """A copy of the session's 1-epoch model with its history, in a models folder of its own."""
    return copy_model(Path(trained[0]), tmp_path / "models")


def point_app_at(monkeypatch, model: Path, data: Path) -> None:
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(model))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(data))


def snapshot(model: Path) -> tuple[bytes, bytes | None]:
    history = history_path(model)
    return model.read_bytes(), history.read_bytes() if history.exists() else None


def assert_unchanged(model: Path, before: tuple[bytes, bytes | None]) -> None:
    from shapes_viz.model import load_model

    assert snapshot(model) == before, "the published model or its history changed"
    load_model(model)  # and it still loads through the safe loader
    temps = sorted(p.name for p in model.parent.glob(f".{model.stem}.*"))
    assert not [name for name in temps if not name.endswith(".tmp" + model.suffix)], temps


def trainer_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_until(at, done, what: str, timeout: float = WAIT_TRAINER_S, every: float = 1.0):
    """Rerun the app (as its polling fragments would) until `done(at)`; fail with the page's messages."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        if done(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; page says: {messages(at)}")
        time.sleep(every)


def custom_trainer(prelude: str) -> list[str]:
    """The real CLI trainer (`python -m shapes_viz train`) after `prelude` ran in its interpreter."""
    program = textwrap.dedent(prelude) + "\nimport sys\nfrom shapes_viz.cli import main\nsys.exit(main(['train', *sys.argv[1:]]))\n"
    return [sys.executable, "-c", program]


ABSURD = 'import dataclasses\nfrom shapes_viz import config\nconfig.RECIPES["absurd"] = dataclasses.replace(config.RECIPES["tutorial"], name="absurd", learning_rate=1e12, batch_size=4)\n'


def progress_text(at) -> str:
    """The labels of the sidebar's progress bars ("Epoch k of n")."""
    return "\n".join(str(element.proto.text) for element in at.sidebar.get("progress"))


def sidebar_text(at) -> str:
    parts = [str(e.value) for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in getattr(at.sidebar, kind)]
    return "\n".join(parts)


def wait_for(condition, what: str, timeout: float = WAIT_TRAINER_S, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)

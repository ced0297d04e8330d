"""What the AppTest modules share: the app's fixtures (a model COPY, the tiny data set) and verbs to drive and read
the real app.py script in-process.

Fixtures are imported by the test modules that use them (`from tests.helpers.apptest import app_env,
shared_model`); pytest finds them in the module's namespace.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.helpers.figures import figure_spec
from tools.harness import PROJECT_ROOT, copy_model

APP = str(PROJECT_ROOT / "app.py")


@pytest.fixture(scope="module")
def shared_model(tmp_path_factory, trained) -> Path:
    """One copy of the session's 1-epoch model (with its history) for a module's read-only tests."""
    return copy_model(Path(trained[0]), tmp_path_factory.mktemp("app_models"))


@pytest.fixture
def app_env(monkeypatch, shared_model, tiny_data) -> Path:
    """The app reads the shared model copy and the tiny data set (never models/ or data/)."""
    monkeypatch.setenv("SHAPES_VIZ_MODEL", str(shared_model))
    monkeypatch.setenv("SHAPES_VIZ_DATA", str(tiny_data))
    return shared_model


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=60)


def chart(at, key: str):
    """The figure JSON of the plotly_chart element with `key` (its element id ends with the key), or None."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return figure_spec(element)
    return None


def dataframe_with(at, column: str):
    """The first dataframe of the page that has `column` (dataframes are not widgets: no key lookup)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def messages(at) -> str:
    return "\n".join(str(e.value) for kind in ("error", "warning", "info", "success") for e in getattr(at, kind))


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert "Traceback" not in messages(at)


def upload(at, data: bytes, name: str = "shape.png", mime: str = "image/png"):
    """Open the Upload tab, upload `data`, and return the whole page as the browser then shows it.

    An upload reruns only the Upload tab and what shows the input (`inputs._upload_changed`), and AppTest's
    element tree then holds only those fragments; the browser keeps the rest of the page, which a further
    full run (no widget changed, so the same input) gives back here.
    """
    at.session_state["input_tab"] = "Upload"
    at.run()
    at.file_uploader(key="upload_file").upload(name, data, mime)
    at.run()
    return at.run()


def canvas_report(seq: int = 1, pen: str = "up", size: tuple[int, int] = (200, 190)) -> dict:
    """What the live canvas reports: the ink's bounding region as a PNG, black strokes on white."""
    width, height = size
    pil = Image.new("RGB", size, "white")
    ImageDraw.Draw(pil).polygon([(width / 2, 10), (width - 10, height - 10), (10, height - 10)], outline="black", width=18)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return {"seq": seq, "pen": pen, "png": base64.b64encode(buffer.getvalue()).decode(), "strokes": 1}

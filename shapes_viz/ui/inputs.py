"""The input, three ways (Draw, Upload, Examples), and "what the model sees".

Every source goes through the one `preprocess` function; the open tab decides which source the model
gets. `render_input` returns a plain `InputChoice`; nothing here touches the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from shapes_viz import figures
from shapes_viz.config import CLASS_NAMES
from shapes_viz.errors import EmptyImageError, ImageError
from shapes_viz.preprocessing import EMPTY_MESSAGE, preprocess
from shapes_viz.ui import resources, state
from shapes_viz.ui.safety import guarded

CANVAS_SIZE = 280
STROKE_WIDTH = 18  # ~1.8 model pixels after the 10x downscale: thin enough for shapes, thick enough to survive
SOURCES = ("Draw", "Upload", "Examples")


@dataclass(frozen=True)
class InputChoice:
    """What the open input tab holds.

    Attributes:
        source: "Draw", "Upload" or "Examples".
        x: (1, 28, 28, 3) float32 model input, or None when there is nothing usable.
        message: why `x` is None (shown instead of a prediction), "" otherwise.
        level: "info" (nothing yet) or "warning" (the input was refused).
        label: a short description of the input ("your drawing", a file name).
    """

    source: str
    x: np.ndarray | None
    message: str = ""
    level: str = "info"
    label: str = ""


def render_input(data_dir: Path) -> InputChoice:
    """Draw the three input tabs; return the open tab's input."""
    tabs = st.tabs(list(SOURCES), key=state.INPUT_TAB, on_change="rerun")
    choices: dict[str, InputChoice] = {}
    with tabs[0]:
        choices["Draw"] = _draw()
    with tabs[1]:
        choices["Upload"] = _upload()
    with tabs[2]:
        choices["Examples"] = _examples(data_dir)
    for name, tab in zip(SOURCES, tabs):
        if tab.open:
            return choices[name]
    return choices["Draw"]


def _from(source: str, label: str, image) -> InputChoice:
    try:
        return InputChoice(source, preprocess(image), label=label)
    except ImageError as exc:
        level = "info" if isinstance(exc, EmptyImageError) else "warning"
        return InputChoice(source, None, str(exc), level, label)


def _draw() -> InputChoice:
    with st.container(key="draw_canvas"):
        result = st_canvas(
            stroke_width=STROKE_WIDTH,
            stroke_color="#000000",
            background_color="#FFFFFF",
            width=CANVAS_SIZE,
            height=CANVAS_SIZE,
            drawing_mode="freedraw",
            update_streamlit=True,
            return_image_data=True,
            key=state.canvas_key(),
        )
    st.button("Clear", key=state.CLEAR_CANVAS, on_click=state.clear_canvas, icon=":material/delete:")
    st.caption("Draw a circle, a square or a triangle with the mouse; the prediction follows each stroke.")
    image = result.image_data
    if image is None or not (result.json_data or {}).get("objects"):
        return InputChoice("Draw", None, EMPTY_MESSAGE, "info", "your drawing")
    return _from("Draw", "your drawing", np.ascontiguousarray(image, dtype=np.uint8))


def _upload() -> InputChoice:
    uploaded = st.file_uploader(
        "One PNG or JPEG image of a shape",
        type=["png", "jpg", "jpeg"],
        accept_multiple_files=False,
        key=state.UPLOAD,
        help="Dark shape on a light background or the other way round; any size up to the upload limit.",
    )
    if uploaded is None:
        return InputChoice("Upload", None, "Upload a PNG or JPEG image of a shape.", "info")
    choice = _from("Upload", uploaded.name, uploaded.getvalue())
    if choice.x is not None:
        st.image(uploaded.getvalue(), caption=uploaded.name, width=140)
    return choice


def _examples(data_dir: Path) -> InputChoice:
    folder = resources.test_folder(data_dir)
    files = resources.class_images(str(folder)) if folder else {}
    if not any(files.values()):
        return InputChoice(
            "Examples", None, f"No example images: {data_dir} has no test_set/ with class folders.", "info"
        )
    classes = [name for name in CLASS_NAMES if files.get(name)]
    name = st.radio("Class", classes, horizontal=True, key=state.EXAMPLE_CLASS)
    paths = files[name]
    if len(paths) > 1:
        index = st.slider("Image", 1, len(paths), 1, key=state.EXAMPLE_INDEX) - 1
    else:
        index = 0
    path = paths[min(index, len(paths) - 1)]
    label = f"{name}/{Path(path).name}"
    st.caption(f"{label} from {folder}")
    with guarded("examples"):
        st.image(path, width=140)
    return _from("Examples", label, Path(path))


def render_model_view(choice: InputChoice) -> None:
    """'What the model sees': the exact 28x28 array the model gets, enlarged nearest-neighbour."""
    if choice.x is None:
        st.caption("What the model sees appears here.")
        return
    st.plotly_chart(
        figures.input_image(choice.x, height=300), key="model_view", width="stretch",
        config={"displayModeBar": False},
    )
    st.caption("The exact 28x28 array the model gets (hover for pixel values: 0 black, 1 white).")

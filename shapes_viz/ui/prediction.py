"""The prediction: predicted class, confidence, and every softmax probability as bars.

Two fragments: the class (a canvas report reruns it while the pen moves, without the page) and the bar
chart (rerun when the stroke ends). The model runs once per (model file, input); the bars and the
explorer reuse the cached result.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from shapes_viz import figures
from shapes_viz.ui import resources, state
from shapes_viz.ui.i18n import class_name, class_names, shown, t
from shapes_viz.ui.inputs import InputChoice, current_choice
from shapes_viz.ui.safety import guarded


def prediction_section(model: resources.CurrentModel) -> None:
    """The predicted class and the probability bars, each a fragment of its own."""
    predicted_class_view(model)
    probabilities_view(model)


@st.fragment(key=state.PREDICTION_FRAGMENT)
def predicted_class_view(model: resources.CurrentModel) -> None:
    """Run the model on the current input (once per input, cached) and show the class and confidence.

    While the pen is down a canvas report reruns this (cheap: text) but not the bar chart below, which the
    browser would have to redraw for every report.
    """
    with guarded("prediction"):
        choice = current_choice()
        activations = resources.run_model(model, choice.x, choice.digest, state.knockout())
        render_predicted_class(choice, activations.probabilities if activations else None, model.error)
        off = state.knockout()
        if off and activations is not None:
            listed = "; ".join(f"{layer} {', '.join(map(str, channels))}" for layer, channels in off)
            st.caption(t("prediction.switched_off", listed=listed))


@st.fragment(key=state.PROBABILITIES_FRAGMENT)
def probabilities_view(model: resources.CurrentModel) -> None:
    """Every softmax probability as a bar (the activations are cached: the model does not run again)."""
    with guarded("prediction"):
        choice = current_choice()
        if model.error or choice.x is None:
            return
        activations = resources.run_model(model, choice.x, choice.digest, state.knockout())
        if activations is not None:
            bars = figures.probability_bars(activations.probabilities, class_names())
            bars.update_layout(title=dict(text=t("prediction.bars_title")))
            st.plotly_chart(
                bars, key="probabilities",
                width="stretch", config={"displayModeBar": False},
            )


def render_predicted_class(choice: InputChoice, probabilities: np.ndarray | None, model_error: str | None = None) -> None:
    """Predicted class and confidence, in `.st-key-predicted_class` (or why there is none)."""
    with st.container(key="predicted_class"):
        if model_error and choice.x is not None:
            st.warning(model_error)
        elif choice.x is None or probabilities is None:
            (st.warning if choice.level == "warning" else st.info)(choice.shown_message() or t("prediction.nothing"))
        else:
            winner = int(np.argmax(probabilities))
            st.metric(
                t("prediction.for", label=shown(choice.label)) if choice.label else t("prediction.label"),
                class_name(winner),
                t("prediction.confidence", p=float(probabilities[winner]), index=winner),
                delta_color="off",
                delta_arrow="off",
            )

"""The prediction: predicted class, confidence, and every softmax probability as bars.

`prediction_section` is a fragment: a canvas report reruns it (with what the model sees and the
explorer) without rerunning the page. The model runs once per (model file, input); the explorer reuses
the cached result.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from shapes_viz import figures
from shapes_viz.config import CLASS_NAMES
from shapes_viz.ui import resources
from shapes_viz.ui.inputs import PREDICTION_FRAGMENT, InputChoice, current_choice
from shapes_viz.ui.safety import guarded


@st.fragment(key=PREDICTION_FRAGMENT)
def prediction_section(model: resources.CurrentModel) -> None:
    """Run the model on the current input (cached) and show the result."""
    with guarded("prediction"):
        choice = current_choice()
        activations = resources.run_model(model, choice.x, choice.source)
        render_prediction(choice, activations.probabilities if activations else None, model.error)


def render_prediction(choice: InputChoice, probabilities: np.ndarray | None, model_error: str | None = None) -> None:
    """Predicted class and confidence (in `.st-key-predicted_class`) and the probability bar chart."""
    if model_error and choice.x is not None:
        with st.container(key="predicted_class"):
            st.warning(model_error)
        return
    if choice.x is None or probabilities is None:
        with st.container(key="predicted_class"):
            (st.warning if choice.level == "warning" else st.info)(choice.message or "Nothing to predict yet.")
        return
    winner = int(np.argmax(probabilities))
    with st.container(key="predicted_class"):
        st.metric(
            f"Prediction for {choice.label}" if choice.label else "Prediction",
            f"{CLASS_NAMES[winner]}",
            f"{float(probabilities[winner]):.1%} confidence (class {winner})",
            delta_color="off",
            delta_arrow="off",
        )
    st.plotly_chart(
        figures.probability_bars(probabilities, CLASS_NAMES), key="probabilities", width="stretch",
        config={"displayModeBar": False},
    )

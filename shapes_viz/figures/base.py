"""What every figure builder shares: colours, rounding, margins, image axes, one-step figure construction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go

COLORSCALE = "Viridis"
DEAD_COLOR = "#d62728"
SELECTED_COLOR = "#ff7f0e"
DATA_DEAD_COLOR = "#9e9e9e"  # never positive on any drawing of the data set (dotted)
OFF_COLOR = "#111111"  # switched off by the user (crossed out)
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
DECIMALS = 4  # activations are shown to 4 decimals; rounding keeps hover text short
MARGIN = dict(l=10, r=10, t=40, b=10)
# Axes of the charts that a canvas report redraws have `automargin` off (Plotly's default template turns it
# on): automargin measures the tick labels and lays the chart out again, which makes a fresh draw in the
# browser 3-4x slower (a 28x28 heatmap: ~45 ms instead of ~13 ms). Fixed margins leave room for the labels.
IMAGE_MARGIN = dict(l=34, r=10, t=40, b=26)  # tick labels: row numbers left, column numbers below
BARS_MARGIN = dict(l=62, r=10, t=40, b=54)  # tick labels and an axis title on both axes


def rounded(values: np.ndarray) -> np.ndarray:
    """float32 copy rounded to `DECIMALS` (NaN kept), for compact, readable figure data."""
    return np.round(np.asarray(values, dtype=np.float32), DECIMALS).astype(np.float32)


def require_ndim(name: str, values: np.ndarray, ndims: Sequence[int]) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim not in ndims:
        wanted = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"`{name}` must be a {wanted} array. Received: {name}.shape={values.shape}")
    return values


def class_labels(class_names: Sequence[str]) -> list[str]:
    """'circles (0)', 'squares (1)', ...: the class names with their output index."""
    return [f"{name} ({index})" for index, name in enumerate(class_names)]


def image_axes() -> dict[str, Any]:
    """Layout for one image-like subplot: row 0 at the top, square pixels, no tick clutter."""
    return {
        "xaxis": dict(constrain="domain", showgrid=False, zeroline=False, automargin=False),
        "yaxis": dict(autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain",
                      showgrid=False, zeroline=False, automargin=False),
    }


# The tests set this (tests/conftest.py): every figure is then also built through Plotly's validation, and
# the two must serialise to the same JSON (`check_against_validated`).
CHECK_AGAINST_VALIDATED = False


def figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """One Figure from plain trace and layout dicts, without Plotly's validation.

    Building a figure step by step (add_trace, update_layout, update_xaxes, ...) validates and copies the
    whole figure at every step: ~8 ms for a small heatmap, ~25 ms for a layer grid. Built in one go it
    takes about a tenth of that, and without validation a tenth again (layer grid of 64 channels: 9.0 ->
    0.9 ms). Under 20 sessions, validation was the largest part of the server's interpreter time after
    Streamlit's own (py-spy), and the builders here are fixed code: the tests check that every figure they
    build equals Plotly's validated copy (`CHECK_AGAINST_VALIDATED`). Named colour scales are expanded here
    as validation would (Plotly.js's own tables differ slightly).
    """
    data = [dict(trace, colorscale=[list(stop) for stop in plotly.colors.get_colorscale(trace["colorscale"])])
            if isinstance(trace.get("colorscale"), str) else trace for trace in data]  # the caller's dicts untouched
    built = go.Figure({"data": data, "layout": layout}, _validate=False)
    if CHECK_AGAINST_VALIDATED:
        check_against_validated(built)
    return built


def check_against_validated(built: go.Figure) -> None:
    """Raise AssertionError when Plotly's validation rejects `built` or would send the browser other JSON."""
    import json

    import plotly.io as pio

    sent = _without_empty(json.loads(pio.to_json(built.to_dict(), validate=False)))  # what st.plotly_chart sends
    validated = _without_empty(json.loads(pio.to_json(go.Figure(built.to_dict()).to_dict(), validate=False)))
    if sent != validated:
        raise AssertionError(f"The figure differs from Plotly's validated copy: {_first_difference(sent, validated)}")


def _without_empty(value: Any) -> Any:
    """`value` without empty lists and dicts under a key (validation drops them; Plotly.js ignores them)."""
    if isinstance(value, dict):
        kept = {key: _without_empty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ([], {})}
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the validated copy' if key in b else 'the figure'}"
            if a[key] != b[key]:
                return _first_difference(a[key], b[key], f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {str(a)[:120]} != {str(b)[:120]}"

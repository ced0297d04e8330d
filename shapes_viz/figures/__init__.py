"""Numpy in, Plotly figure out: every chart the dashboard shows (`base`, `prediction`, `layer`, `training`).

No Keras, no Streamlit: each function takes plain arrays (activations, probabilities, histories,
confusion matrices) and returns a `plotly.graph_objects.Figure`, so the module is tested without
TensorFlow. Arrays go into figures as rounded float32 (Plotly encodes numpy arrays as base64 typed
arrays), and hover text comes from `hovertemplate`, never from per-cell text arrays, to keep the
payload each rerun sends to the browser small.

Conventions:
    * image-like arrays are indexed [row, column] and drawn like an image: row 0 at the top, square pixels
      (`yaxis.scaleanchor="x"`), nearest-neighbour (heatmap cells, no smoothing);
    * a "dead" channel is one that is never positive for the current input (marked in red);
    * the selected channel is outlined in orange.
"""

from shapes_viz.figures.base import COLORSCALE, DEAD_COLOR, SELECTED_COLOR, TRAIN_COLOR, VAL_COLOR, class_labels
from shapes_viz.figures.layer import grid_columns, layer_grid, selected_channel, vector_bars
from shapes_viz.figures.prediction import channel_heatmap, input_image, probability_bars, selected_cell_of
from shapes_viz.figures.training import confusion_matrix, training_curves

__all__ = [
    "COLORSCALE", "DEAD_COLOR", "SELECTED_COLOR", "TRAIN_COLOR", "VAL_COLOR", "channel_heatmap", "class_labels",
    "confusion_matrix", "grid_columns", "input_image", "layer_grid", "probability_bars", "selected_channel",
    "selected_cell_of", "training_curves", "vector_bars",
]

"""shapes_viz: see what a small convolutional network does with a shape you draw.

Core modules (config, errors, generator, preprocessing, dataset, model, training,
activations, evaluation) import neither streamlit nor plotly. `figures` turns numpy
arrays into Plotly figures; only `app.py` and `shapes_viz.ui` import streamlit.
"""

__version__ = "0.1.0"

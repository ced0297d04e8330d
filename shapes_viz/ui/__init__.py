"""The Streamlit dashboard, one module per section; the only package (with app.py) importing streamlit.

    state       the declared session-state keys (plain data only)
    resources   cached, shared objects: the model + activation engine per file identity, activations per
                input, test-set evaluation, the training-job manager
    safety      `guarded(section)`: expected errors as friendly messages, unexpected ones logged
    inputs      Draw / Upload / Examples, and "what the model sees"
    prediction  predicted class, confidence, probability bars
    explorer    the layer/channel explorer (a fragment: reruns alone, never recomputes the model)
    sidebar     current model, Retrain form, live training progress
    views       the tabs beside the explorer (Model, Training, Dataset); add a View to add a tab
"""

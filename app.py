"""shapes_viz dashboard: draw a shape and see what each layer of the network makes of it.

    streamlit run app.py        (model: SHAPES_VIZ_MODEL or models/shapes_cnn.h5; data: SHAPES_VIZ_DATA or data/)

Reads like a table of contents; every section lives in shapes_viz.ui and fails on its own (see ui.safety).
"""

import streamlit as st

from shapes_viz.config import settings
from shapes_viz.ui import inputs, lessons, prediction, resources, share, sidebar, state, views
from shapes_viz.ui.context import PageContext
from shapes_viz.ui.i18n import t
from shapes_viz.ui.safety import guarded

resources.tune_interpreter()  # the server's thread switch interval (config.INTERPRETER_SWITCH_INTERVAL_S)
state.init()
share.apply_link()  # once per session: a shared link's view (tab, layer, channel, range, method, input, language)
st.set_page_config(page_title=t("app.page_title"), page_icon=":material/change_history:", layout="wide")
config = settings()

# The published model, loaded once per file version for the whole server.
model = resources.current_model()

# Sidebar: the language (the browser's until one is picked), which model, retraining and its live progress.
with st.sidebar:
    sidebar.render_language()
    sidebar.render_model_info(model.identity, model.error)
    sidebar.render_training(config.data_dir)

st.title(t("app.title"))
st.caption(t("app.subtitle"))
share.render_notice()
ctx = PageContext(config.data_dir, model.identity, model.loaded)
lessons.render_banner(ctx)

# 1. The input (Draw / Upload / Examples), kept in session state; the canvas updates it while the pen moves.
input_column, seen_column, prediction_column = st.columns([1.1, 1, 1.1], gap="medium")
with input_column, guarded("input"):
    inputs.render_input(config.data_dir)

# 2. What the model sees and 3. the prediction: fragments that a canvas report reruns without the page.
# The model runs once per new input; the explorer reuses the result.
with seen_column:
    inputs.render_model_view()
with prediction_column, st.container(key="prediction"):
    prediction.prediction_section(model)

# 4. Explorer and the other views, as tabs.
views.render_views(ctx)

# 5. The URL follows the view (a link to it reproduces it; see ui/share.py).
share.write_link()

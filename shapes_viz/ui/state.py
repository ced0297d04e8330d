"""Every session-state key and fragment key the app uses, declared in one place. Values are plain data only
(numbers, strings, lists, dicts, small numpy arrays): models and engines live in `resources`."""

from __future__ import annotations

from typing import Any

import streamlit as st

# Widget keys (also the CSS classes `.st-key-<key>` the browser tests use).
INPUT_TAB = "input_tab"
VIEW_TAB = "view_tab"
UPLOAD = "upload_file"
EXAMPLE_CLASS = "example_class"
EXAMPLE_INDEX = "example_index"
CLEAR_CANVAS = "clear_canvas"
UNPICK = "unpick_file"  # "Back to the test-set examples" after a drawing was picked in the Channels or Where? view
LAYER = "explorer_layer"
CHANNEL_SLIDER = "explorer_channel_slider"
CHANNEL_NUMBER = "explorer_channel_number"
COLOR_RANGE = "explorer_range"
GRID = "explorer_grid"
HEATMAP = "channel_heatmap"  # the selected channel's heatmap (clickable cells)
VECTOR_BARS = "vector_bars"  # the selected vector layer's bars (clickable units)
STATS_OPEN = "explorer_stats_open"
EXPORT_OPEN = "explorer_export_open"  # the explorer's Export expander (lazy: built only while open)
CAPTION_OPEN = "explorer_caption_open"  # its "What am I looking at?" expander (lazy too)
DATASET_SPLIT = "dataset_split"
CANCEL_TRAINING = "cancel_training"
# The Channels view's widgets.
TOP_DRAWING = "channel_top_drawing"  # "Use" buttons under the top drawings: channel_top_drawing_<rank>
BOTTOM_DRAWING = "channel_bottom_drawing"
CLASS_DRAWING = "class_top_drawing"  # ... under a class's top drawings: class_top_drawing_<class>_<rank>
KNOCKOUT_SELECT = "knockout_select"
KNOCKOUT_TOGGLE = "knockout_toggle"
KNOCKOUT_CLEAR = "knockout_clear"
KNOCKOUT_HARMFUL = "knockout_harmful"
CHANNEL_IMAGE_ON = "channel_image_on"
LAYER_IMAGES = "layer_images_start"
CLASS_IMAGES_ON = "class_images_on"

# The language: the session's choice ("en"/"fr"; None: the browser's) and the sidebar's selector (see ui/i18n.py).
LANGUAGE = "language"
LANGUAGE_SELECT = "language_select"

# Plain state.
CANVAS_GENERATION = "canvas_generation"  # bumped by Clear: a new canvas key is a really empty canvas
CHANNEL = "explorer_channel"  # the selected channel/unit, shared by slider, number input and grid
PICKED_LAYER = "explorer_picked_layer"  # the layer picked last; outlives runs in which the picker is not drawn
CELL = "explorer_cell"  # the clicked cell: {"layer", "channel", "row", "column"} (a map) or {"layer", "unit"}
EXPLORER_READY = "explorer_ready"  # True while the explorer shows its pickers (its nested heatmap fragment exists)
# The one input record: the open input tab's input, {"source", "x" ((1, 28, 28, 3) float32 or None),
# "digest" (the cache key of x's activations), "message", "level", "label", "ref"}; see inputs.InputChoice.
INPUT = "input_choice"
PICKED_FILE = "picked_file"  # a data-set drawing picked in the Channels or Where? view (Examples shows it)
HARMFUL_NOTE = "knockout_harmful_note"  # what "the five most harmful" switched off, for its caption (or None)
VARIANT_OPEN = "variant_open"  # the Model tab's buttons: variant_open_<name>
VARIANT_CLOSE = "variant_close"
VARIANT = "model_variant"  # an architecture variant this session opened instead of the published model (or None)
KNOCKOUT = "knockout"  # channels switched off: {layer name: [channels]}, applied to every view's activations
TRAIN_NOTICE = "train_notice"  # {"level": "warning" | "error" | "success", "text": str} after Start/Cancel
# What the canvas' in-browser network was last given: {"identity", "layer", "channel", "range", "off"}
# (see inputs.draw_tab); a pen-up report reruns the draw fragment when the page's differ (issue 14).
CANVAS_SENT = "canvas_sent"

_DEFAULTS: dict[str, Any] = {
    CANVAS_GENERATION: 0, CELL: None, CHANNEL: 0, INPUT: None, KNOCKOUT: None, PICKED_FILE: None,
    PICKED_LAYER: None, TRAIN_NOTICE: None,
}

# Fragment keys (st.rerun targets). SELECTED_FRAGMENT (the selected channel's heatmap) is nested in the
# explorer's fragment; both exist only while the Explorer tab is open.
DRAW_FRAGMENT = "draw_fragment"
UPLOAD_FRAGMENT = "upload_fragment"  # the Upload tab: a new file reruns it and what shows the input, not the page
MODEL_VIEW_FRAGMENT = "model_view_fragment"
PREDICTION_FRAGMENT = "prediction_fragment"
PROBABILITIES_FRAGMENT = "probabilities_fragment"
EXPLORER_FRAGMENT = "explorer_fragment"
SELECTED_FRAGMENT = "selected_fragment"
# What a canvas report reruns while the pen is down: the predicted class and the selected channel's heatmap.
# Every Plotly chart a rerun redraws costs the browser time, so what the model sees, the probability bars
# and the explorer's layer grid follow when the pen lifts. Before the explorer shows anything (no input
# yet), a pen-down report reruns all of it once. The explorer's key is last (see `inputs.rerun_fragments`).
# Fragments run in the order given, and the browser draws each as its messages arrive: the predicted class
# comes first, so it shows before the charts are built (the heaviest part, the explorer, is last).
PEN_DOWN_FRAGMENTS = (PREDICTION_FRAGMENT, SELECTED_FRAGMENT)
PEN_UP_FRAGMENTS = (PREDICTION_FRAGMENT, MODEL_VIEW_FRAGMENT, PROBABILITIES_FRAGMENT, EXPLORER_FRAGMENT)

# The "Why?" view (ui/why.py): its tab label (the value of VIEW_TAB while it is open), its widgets, its plain
# state and its fragments. WHY_FRAGMENT holds the pickers; WHY_MAP_FRAGMENT (the map and its captions) and
# WHY_TRUST_FRAGMENT (the on-demand checks) are nested in it and exist only while the Why tab is open.
WHY_VIEW = "Why?"
WHY_METHOD = "why_method"
WHY_TARGET = "why_target"
WHY_LAYER = "why_layer"
WHY_TRUST = "why_trust"  # the "Can you trust this map?" toggle
WHY_PICKED_METHOD = "why_picked_method"  # plain copies of the pickers: outlive runs that do not draw them
WHY_PICKED_TARGET = "why_picked_target"  # "predicted" or a class name
WHY_READY = "why_ready"  # True while the Why view shows its map fragment
WHY_FOLLOWS_PEN = "why_follows_pen"  # True while that map's method is cheap enough to follow the pen
_DEFAULTS.update({WHY_PICKED_METHOD: "layercam", WHY_PICKED_TARGET: "predicted", WHY_READY: False,
                  WHY_FOLLOWS_PEN: False})
WHY_FRAGMENT = "why_fragment"
WHY_MAP_FRAGMENT = "why_map_fragment"
WHY_TRUST_FRAGMENT = "why_trust_fragment"
# With the Why tab open, a canvas report reruns its map (cheap methods only) instead of the explorer's heatmap;
# expensive methods, the checks and the rest follow when the pen lifts (see `inputs.canvas_fragments`).
WHY_PEN_DOWN_FRAGMENTS = (PREDICTION_FRAGMENT, WHY_MAP_FRAGMENT)
WHY_PEN_UP_FRAGMENTS = (PREDICTION_FRAGMENT, MODEL_VIEW_FRAGMENT, PROBABILITIES_FRAGMENT, WHY_FRAGMENT)

# The Compare, "Where?" and Lessons views (ui/compare_view.py, where_view.py, lessons.py) and the share link
# (ui/share.py). COMPARE_A and SHARED_INPUT hold {"x": (1, 28, 28, 3) float32, "digest": str, "label": str}.
COMPARE_VIEW = "Compare"
WHERE_VIEW = "Where?"
LESSONS_VIEW = "Lessons"
COMPARE_A = "compare_a"  # the pinned input A (or None)
PIN_A = "compare_pin_a"  # "Pin the current input as A" buttons: compare_pin_a_<place>
UNPIN_A = "compare_unpin_a"
COMPARE_LAYER = "compare_layer"  # the Compare view's own layer and channel pickers (they set PICKED_LAYER, CHANNEL)
COMPARE_CHANNEL = "compare_channel"
MORPH_FRAGMENT = "morph_fragment"  # the morph (nested in the Compare fragment): its slider reruns only it
MORPH_STEP = "morph_step"  # the morph slider's step, 0 (A) .. 20 (B)
WHERE_LAYER = "where_layer"  # "dense" or "pool3"
WHERE_SCATTER = "where_scatter"
EXPORT_NPZ = "export_npz"
EXPORT_HEATMAP = "export_heatmap_png"
EXPORT_GRID = "export_grid_png"
SHARED_INPUT = "shared_input"  # the input a share link carried: the Examples tab shows it (source "Link")
SHARE_READ = "share_read"  # True once this session read its URL (read once, when the session starts)
SHARE_NOTICE = "share_notice"  # the link's refused parameters, shown once (list of str or None)
SHARE_WRITTEN = "share_written"  # the query parameters written last (dict)
LESSON = "lesson"  # the open lesson's id (or None)
_DEFAULTS.update({COMPARE_A: None, SHARED_INPUT: None, SHARE_READ: False, SHARE_NOTICE: None,
                  SHARE_WRITTEN: None, LESSON: None})
COMPARE_FRAGMENT = "compare_fragment"
WHERE_FRAGMENT = "where_fragment"
# The Channels view's knock-out controls (ui/channels_view.py): a switch reruns the prediction and them, not the
# page (nothing else the Channels tab shows depends on the channels switched off). Its key is last (see
# `inputs.rerun_fragments`).
KNOCKOUT_FRAGMENT = "knockout_fragment"
KNOCKOUT_RERUNS = (PREDICTION_FRAGMENT, PROBABILITIES_FRAGMENT, KNOCKOUT_FRAGMENT)
# With one of these views open, what a canvas report reruns: (pen down, pen up) fragments; the view's own is last.
VIEW_CANVAS_FRAGMENTS = {
    COMPARE_VIEW: ((PREDICTION_FRAGMENT,), (PREDICTION_FRAGMENT, MODEL_VIEW_FRAGMENT, PROBABILITIES_FRAGMENT,
                                             COMPARE_FRAGMENT)),
    WHERE_VIEW: ((PREDICTION_FRAGMENT, WHERE_FRAGMENT), (PREDICTION_FRAGMENT, MODEL_VIEW_FRAGMENT,
                                                         PROBABILITIES_FRAGMENT, WHERE_FRAGMENT)),
}


def init() -> None:
    """Give every plain key its default once per session."""
    for key, value in _DEFAULTS.items():
        st.session_state.setdefault(key, value)


def canvas_key() -> str:
    return f"canvas_{st.session_state[CANVAS_GENERATION]}"


def clear_canvas() -> None:
    """Callback of the Clear button: forget the old drawing and mount a fresh canvas."""
    old = canvas_key()
    st.session_state.pop(old, None)
    st.session_state[CANVAS_GENERATION] += 1


def set_input(choice: dict[str, Any]) -> None:
    """Remember the open tab's input (see `inputs.InputChoice.as_state`); the fragments that show it read it."""
    st.session_state[INPUT] = choice


def input_state() -> dict[str, Any] | None:
    return st.session_state.get(INPUT)


def set_channel(channel: int) -> None:
    """Select a channel in every picker (call from callbacks or before the pickers are drawn)."""
    st.session_state[CHANNEL] = int(channel)
    st.session_state[CHANNEL_SLIDER] = int(channel)
    st.session_state[CHANNEL_NUMBER] = int(channel)


def notice(level: str, text: str) -> None:
    st.session_state[TRAIN_NOTICE] = {"level": level, "text": text}


def knockout() -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The channels switched off, as a sorted hashable tuple (a cache key): (("conv2_1", (3, 17)), ...)."""
    chosen = st.session_state.get(KNOCKOUT) or {}
    return tuple(sorted(
        (layer, tuple(sorted(int(c) for c in channels))) for layer, channels in chosen.items() if channels
    ))

"""The Channels view: what does the explorer's channel look for, does it matter, what would it most like to see?

On the explorer's layer and channel (`state.PICKED_LAYER`, `state.CHANNEL`):
    1. its top drawings in the data set, cropped to the unit's receptive field with the spot boxed ("Use"
       makes one the input), and how many channels of the layer are dead on the whole data set;
    2. knock-out: switch channels of the layer off; the prediction and every heatmap follow (the knock-out is
       part of the activations' cache key), with the test-set accuracy with and without them;
    3. the image the channel wants most, on demand, and the whole layer's in the background;
    4. the image each class wants most beside its class's top drawings.
Everything runs on the numpy engine; see `channels_data` for what is cached and for how long.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from shapes_viz.channels.scan import DatasetScan
from shapes_viz.channels.thumbnails import thumbnail
from shapes_viz.channels.layer_images import mosaic
from shapes_viz.config import CLASS_NAMES
from shapes_viz.engine.numpy_engine import NumpyEngine
from shapes_viz.errors import DatasetError
from shapes_viz.explain.cells import receptive_box
from shapes_viz.ui import channels_data, resources, state
from shapes_viz.ui.context import PageContext
from shapes_viz.ui.inputs import pick_file
from shapes_viz.ui.safety import guarded, guarded_callback

SEED = 0
NEEDS_H5 = "The Channels view runs on the numpy engine, which reads .h5 model files only."


def channels(ctx: PageContext) -> None:
    """The view (a tab of `views.VIEWS`)."""
    if ctx.loaded is None or ctx.identity is None:
        st.info("No model loaded.")
        return
    engine = ctx.loaded.engine
    if not isinstance(engine, NumpyEngine):
        st.info(NEEDS_H5)
        return
    data_dir = str(ctx.data_dir)
    try:
        fingerprint = channels_data.fingerprint(data_dir)
        scan = channels_data.dataset_scan(ctx.identity, data_dir, fingerprint)
    except DatasetError as exc:
        st.info(f"{exc} The Channels view ranks the drawings of the data folder ({resources.shown_path(data_dir)}).")
        return
    names = list(engine.layer_names)
    layer = st.session_state.get(state.PICKED_LAYER)
    layer = layer if layer in names else names[0]
    count = engine.output_shapes[names.index(layer)][-1]
    channel = min(max(int(st.session_state.get(state.CHANNEL, 0) or 0), 0), count - 1)
    unit = "channel" if len(engine.output_shapes[names.index(layer)]) == 3 else "unit"
    layer_scan = scan.layer(layer)
    dead = int(layer_scan.dead.sum())
    st.markdown(f"#### `{layer}` {unit} {channel} (pick them in the Explorer)")
    st.caption(f"Dead on the data set: {dead} of {count} {unit}s of {layer} are never positive on any of the "
               f"{len(scan.paths)} drawings of {resources.shown_path(data_dir)} (the explorer's red outline is "
               "'dead for this input', a different thing).")
    if scan.skipped:
        st.caption(f"{len(scan.skipped)} files of the data folder could not be read and were left out: "
                   + ", ".join(resources.shown_path(path) for path, _ in scan.skipped[:5])
                   + (" ..." if len(scan.skipped) > 5 else ""))
    with guarded("top drawings"):
        _top_drawings(engine, scan, layer, channel, unit)
    with guarded("knock-out"):
        _knockout(ctx, engine, layer, channel, count, unit, data_dir, fingerprint)
    with guarded("channel image"):
        _channel_image(ctx, engine, scan, layer, channel, unit)
    with guarded("class images"):
        _class_images(ctx, engine, scan)


def _thumbnails(engine: NumpyEngine, scan: DatasetScan, layer: str, channel: int, indices: np.ndarray, key: str) -> None:
    layer_scan = scan.layer(layer)
    is_map = len(engine.output_shapes[engine.layer_names.index(layer)]) == 3
    columns = st.columns(len(indices))
    for rank, (column, index) in enumerate(zip(columns, indices)):
        index = int(index)
        row, col = (int(v) for v in layer_scan.positions[index, channel])
        box = receptive_box(engine, layer, row, col) if is_map else receptive_box(engine, layer)
        image = thumbnail(scan.images[index], (box.top, box.left, box.bottom, box.right))
        with column:
            st.image(image, width="content")
            st.caption(f"{layer_scan.maxima[index, channel]:.3f} · {CLASS_NAMES[int(scan.labels[index])]}")
            st.button("Use", key=f"{key}_{rank}", on_click=pick_file, args=(scan.paths[index],),
                      help=f"Make {resources.shown_path(scan.paths[index])} the input")


def _top_drawings(engine: NumpyEngine, scan: DatasetScan, layer: str, channel: int, unit: str) -> None:
    layer_scan = scan.layer(layer)
    st.markdown(f"**The drawings that excite it most** (maximum pre-activation over the map; the box is the "
                f"receptive field of the strongest {unit} position, with 2 pixels around it)")
    _thumbnails(engine, scan, layer, channel, layer_scan.top[channel], state.TOP_DRAWING)
    with st.expander("... and the least", expanded=False):
        _thumbnails(engine, scan, layer, channel, layer_scan.bottom[channel], state.BOTTOM_DRAWING)


def _knockout(ctx: PageContext, engine: NumpyEngine, layer: str, channel: int, count: int, unit: str,
              data_dir: str, fingerprint: str) -> None:
    st.markdown(f"**Knock-out**: switch {unit}s of `{layer}` off (their output set to 0); the prediction above "
                "and every heatmap follow.")
    chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
    st.session_state[state.KNOCKOUT_SELECT] = [c for c in chosen.get(layer, []) if c < count]
    left, middle, right = st.columns([3, 1.2, 1.2], vertical_alignment="bottom")
    with left:
        st.multiselect(f"{unit.capitalize()}s off", list(range(count)), key=state.KNOCKOUT_SELECT,
                       on_change=_knockout_changed, args=(layer,))
    with middle:
        off_now = channel in chosen.get(layer, [])
        st.button(f"Switch {unit} {channel} {'on' if off_now else 'off'}", key=state.KNOCKOUT_TOGGLE,
                  on_click=_toggle, args=(layer, channel), help="The channel picked in the Explorer (or its grid)")
    with right:
        st.button("All back on", key=state.KNOCKOUT_CLEAR, on_click=_clear_knockout)
    off = state.knockout()
    full = channels_data.accuracy_off(ctx.identity, data_dir, fingerprint, ())
    now = channels_data.accuracy_off(ctx.identity, data_dir, fingerprint, off)
    a, b = st.columns(2)
    a.metric("Test-set accuracy, every channel on", f"{full:.1%}")
    b.metric("With the channels off" if off else "With nothing off", f"{now:.1%}", f"{(now - full) * 100:+.1f} points",
             delta_color="normal" if now >= full else "inverse")
    if st.button(f"Find the five {unit}s of {layer} whose loss hurts accuracy most", key=state.KNOCKOUT_HARMFUL):
        losses = channels_data.harmful(ctx.identity, data_dir, fingerprint, layer, off)
        worst = [loss.channel for loss in losses]
        chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
        chosen[layer] = sorted(set(chosen.get(layer, [])) | set(worst))
        st.session_state[state.KNOCKOUT] = chosen
        st.session_state[state.HARMFUL_NOTE] = ", ".join(f"{l.channel} ({-l.drop * 100:+.1f} points alone)" for l in losses)
        st.rerun()
    if st.session_state.get(state.HARMFUL_NOTE):
        st.caption(f"Switched off: {st.session_state[state.HARMFUL_NOTE]}.")


@guarded_callback("knock-out")
def _knockout_changed(layer: str) -> None:
    chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
    chosen[layer] = sorted(int(c) for c in st.session_state.get(state.KNOCKOUT_SELECT) or [])
    st.session_state[state.KNOCKOUT] = {k: v for k, v in chosen.items() if v}
    st.session_state[state.HARMFUL_NOTE] = None


@guarded_callback("knock-out")
def _toggle(layer: str, channel: int) -> None:
    chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
    current = set(chosen.get(layer, []))
    current ^= {int(channel)}
    chosen[layer] = sorted(current)
    st.session_state[state.KNOCKOUT] = {k: v for k, v in chosen.items() if v}


@guarded_callback("knock-out")
def _clear_knockout() -> None:
    st.session_state[state.KNOCKOUT] = None
    st.session_state[state.HARMFUL_NOTE] = None


def _channel_image(ctx: PageContext, engine: NumpyEngine, scan: DatasetScan, layer: str, channel: int, unit: str) -> None:
    st.markdown(f"**The image {unit} {channel} wants most** (gradient ascent on the input from blank paper, "
                f"seed {SEED})")
    if scan.layer(layer).dead[channel]:
        st.info(f"{layer} {unit} {channel} is dead on the data set: never positive on any drawing, so there is no "
                "image it 'wants': from paper its gradient is zero, and no drawing of the data set wakes it.")
    elif st.toggle("Show it (about half a second)", key=state.CHANNEL_IMAGE_ON):
        result = channels_data.channel_visual(ctx.identity, layer, channel, SEED)
        st.image(_grey(result.image), width=168)
        st.caption(f"{result.objective}: {result.start:.3f} on paper -> {result.end:.3f}.")
    _layer_job(ctx, engine, scan, layer)


def _layer_job_progress(identity: resources.Identity, layer: str, dead: tuple[bool, ...]) -> None:
    """The layer's images so far; while the job runs, a fragment that redraws itself every second."""
    job = channels_data.layer_jobs().get(str(identity), layer, SEED)
    if job is None:
        return
    if job.done:
        _job_images(job, layer, dead)
    else:
        st.fragment(run_every=1.0)(_watch_job)(identity, layer, dead)


def _watch_job(identity: resources.Identity, layer: str, dead: tuple[bool, ...]) -> None:
    job = channels_data.layer_jobs().get(str(identity), layer, SEED)
    if job is None or job.done:
        st.rerun()  # the whole page: the finished images are drawn without a ticking fragment
    _job_images(job, layer, dead)


def _job_images(job, layer: str, dead: tuple[bool, ...]) -> None:
    images = [None if dead[c] else (job.images[c].image[0, ..., 0] if c in job.images else None)
              for c in range(job.channels)]
    st.image(mosaic(images), caption=f"{layer}: {len(job.images)} of {job.channels} images; grey tiles: not yet "
             "computed or dead on the data set", width="content")
    if job.error:
        st.warning(f"The job stopped: {job.error}")
    elif not job.done:
        st.progress(job.progress, text="Computing in the background: other pages are not held up.")


def _layer_job(ctx: PageContext, engine: NumpyEngine, scan: DatasetScan, layer: str) -> None:
    if len(engine.output_shapes[engine.layer_names.index(layer)]) != 3:
        return
    jobs = channels_data.layer_jobs()
    key = str(ctx.identity)
    if jobs.get(key, layer, SEED) is None:
        if st.button(f"Compute every channel of {layer} in the background", key=state.LAYER_IMAGES):
            jobs.start(engine, key, layer, SEED)
        else:
            return
    _layer_job_progress(ctx.identity, layer, tuple(bool(d) for d in scan.layer(layer).dead))


def _class_images(ctx: PageContext, engine: NumpyEngine, scan: DatasetScan) -> None:
    st.markdown("**The image each class wants most** (its log-probability maximised), beside the class's top "
                "drawings (by its logit)")
    if not st.toggle("Show the class images (about a second)", key=state.CLASS_IMAGES_ON):
        return
    last = engine.layer_names[-1]
    for target, name in enumerate(CLASS_NAMES):
        result = channels_data.class_visual(ctx.identity, target, SEED)
        probability = float(engine.probabilities(result.image)[0, target])
        left, right = st.columns([1, 6])
        with left:
            st.image(_grey(result.image), width=112)
            st.caption(f"{name}: {probability:.0%}")
        with right:
            _thumbnails(engine, scan, last, target, scan.layer(last).top[target], f"{state.CLASS_DRAWING}_{target}")


def _grey(image: np.ndarray) -> np.ndarray:
    return resources.enlarged(np.round(np.clip(image[0, ..., 0], 0, 1) * 255).astype(np.uint8))


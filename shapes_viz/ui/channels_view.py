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
from shapes_viz.ui.context import PageContext, numpy_engine_or_say
from shapes_viz.ui.i18n import class_name, t
from shapes_viz.ui.inputs import pick_file, rerun_fragments
from shapes_viz.ui.safety import guarded, guarded_callback

SEED = 0


def channels(ctx: PageContext) -> None:
    """The view (a tab of `views.VIEWS`)."""
    engine = numpy_engine_or_say(ctx, "channels.needs_h5")
    if engine is None:
        return
    data_dir = str(ctx.data_dir)
    try:
        fingerprint = channels_data.fingerprint(data_dir)
        with st.spinner(t("spinner.scanning")):
            scan = channels_data.dataset_scan(ctx.identity, data_dir, fingerprint)
    except DatasetError as exc:
        st.info(t("channels.no_data", error=exc, folder=resources.shown_path(data_dir)))
        return
    names = list(engine.layer_names)
    layer = st.session_state.get(state.PICKED_LAYER)
    layer = layer if layer in names else names[0]
    count = engine.output_shapes[names.index(layer)][-1]
    channel = min(max(int(st.session_state.get(state.CHANNEL, 0) or 0), 0), count - 1)
    unit = t("explorer.channel") if len(engine.output_shapes[names.index(layer)]) == 3 else t("explorer.unit")
    units = t("explorer.channels") if len(engine.output_shapes[names.index(layer)]) == 3 else t("explorer.units")
    layer_scan = scan.layer(layer)
    dead = int(layer_scan.dead.sum())
    st.markdown(t("channels.heading", layer=layer, unit=unit, channel=channel))
    st.caption(t("channels.dead_on_data", dead=dead, count=count, units=units, layer=layer, drawings=len(scan.paths),
                 folder=resources.shown_path(data_dir)))
    if scan.skipped:
        st.caption(t("channels.skipped", count=len(scan.skipped),
                     files=", ".join(resources.shown_path(path) for path, _ in scan.skipped[:5])
                     + (" ..." if len(scan.skipped) > 5 else "")))
    with guarded("top drawings"):
        _top_drawings(engine, scan, layer, channel, unit)
    _knockout_fragment(ctx, engine, layer, channel, count, (unit, units), data_dir, fingerprint)
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
            st.caption(f"{layer_scan.maxima[index, channel]:.3f} · {class_name(int(scan.labels[index]))}")
            st.button(t("channels.use"), key=f"{key}_{rank}", on_click=pick_file, args=(scan.paths[index],),
                      help=t("channels.use_help", file=resources.shown_path(scan.paths[index])))


def _top_drawings(engine: NumpyEngine, scan: DatasetScan, layer: str, channel: int, unit: str) -> None:
    layer_scan = scan.layer(layer)
    st.markdown(t("channels.top", unit=unit))
    _thumbnails(engine, scan, layer, channel, layer_scan.top[channel], state.TOP_DRAWING)
    with st.expander(t("channels.bottom"), expanded=False):
        _thumbnails(engine, scan, layer, channel, layer_scan.bottom[channel], state.BOTTOM_DRAWING)


@st.fragment(key=state.KNOCKOUT_FRAGMENT)
def _knockout_fragment(ctx: PageContext, engine: NumpyEngine, layer: str, channel: int, count: int,
                       words: tuple[str, str], data_dir: str, fingerprint: str) -> None:
    """The knock-out controls and accuracies, a fragment: a switch reruns it with the prediction's fragments
    (`KNOCKOUT_RERUNS`), not the page. Its arguments are the last full run's: the page reruns when the model,
    the layer or the channel changes."""
    with guarded("knock-out"):
        _knockout(ctx, engine, layer, channel, count, words, data_dir, fingerprint)


def _knockout(ctx: PageContext, engine: NumpyEngine, layer: str, channel: int, count: int, words: tuple[str, str],
              data_dir: str, fingerprint: str) -> None:
    unit, units = words  # "channel", "channels" (or "unit", "units") in the session's language
    st.markdown(t("channels.knockout", units=units, layer=layer))
    chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
    st.session_state[state.KNOCKOUT_SELECT] = [c for c in chosen.get(layer, []) if c < count]
    left, middle, right = st.columns([3, 1.2, 1.2], vertical_alignment="bottom")
    with left:
        st.multiselect(t("channels.off", units=units.capitalize()), list(range(count)), key=state.KNOCKOUT_SELECT,
                       on_change=_knockout_changed, args=(layer,))
    with middle:
        off_now = channel in chosen.get(layer, [])
        st.button(t("channels.switch_on" if off_now else "channels.switch_off", unit=unit, channel=channel),
                  key=state.KNOCKOUT_TOGGLE, on_click=_toggle, args=(layer, channel), help=t("channels.switch_help"))
    with right:
        st.button(t("channels.all_on"), key=state.KNOCKOUT_CLEAR, on_click=_clear_knockout)
    off = state.knockout()
    full = channels_data.accuracy_off(ctx.identity, data_dir, fingerprint, ())
    now = channels_data.accuracy_off(ctx.identity, data_dir, fingerprint, off)
    a, b = st.columns(2)
    a.metric(t("channels.accuracy_all"), f"{full:.1%}")
    b.metric(t("channels.accuracy_off") if off else t("channels.accuracy_none"), f"{now:.1%}",
             t("channels.points", points=(now - full) * 100), delta_color="normal" if now >= full else "inverse")
    if st.button(t("channels.harmful", units=units, layer=layer), key=state.KNOCKOUT_HARMFUL):
        with st.spinner(t("spinner.harmful")):
            losses = channels_data.harmful(ctx.identity, data_dir, fingerprint, layer, off)
        worst = [loss.channel for loss in losses]
        chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
        chosen[layer] = sorted(set(chosen.get(layer, [])) | set(worst))
        st.session_state[state.KNOCKOUT] = chosen
        st.session_state[state.HARMFUL_NOTE] = [[int(l.channel), float(-l.drop * 100)] for l in losses]
        st.rerun()
    note = st.session_state.get(state.HARMFUL_NOTE)
    if note:  # [[channel, points], ...]: formatted here, in the session's language
        listed = ", ".join(t("channels.harmful_item", channel=c, points=p) for c, p in note) if isinstance(note, list) else note
        st.caption(t("channels.switched_off", listed=listed))


@guarded_callback("knock-out")
def _knockout_changed(layer: str) -> None:
    chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
    chosen[layer] = sorted(int(c) for c in st.session_state.get(state.KNOCKOUT_SELECT) or [])
    st.session_state[state.KNOCKOUT] = {k: v for k, v in chosen.items() if v}
    st.session_state[state.HARMFUL_NOTE] = None
    rerun_fragments(state.KNOCKOUT_RERUNS)


@guarded_callback("knock-out")
def _toggle(layer: str, channel: int) -> None:
    chosen = dict(st.session_state.get(state.KNOCKOUT) or {})
    current = set(chosen.get(layer, []))
    current ^= {int(channel)}
    chosen[layer] = sorted(current)
    st.session_state[state.KNOCKOUT] = {k: v for k, v in chosen.items() if v}
    rerun_fragments(state.KNOCKOUT_RERUNS)


@guarded_callback("knock-out")
def _clear_knockout() -> None:
    st.session_state[state.KNOCKOUT] = None
    st.session_state[state.HARMFUL_NOTE] = None
    rerun_fragments(state.KNOCKOUT_RERUNS)


def _channel_image(ctx: PageContext, engine: NumpyEngine, scan: DatasetScan, layer: str, channel: int, unit: str) -> None:
    st.markdown(t("channels.wants", unit=unit, channel=channel, seed=SEED))
    if scan.layer(layer).dead[channel]:
        st.info(t("channels.dead_wants", layer=layer, unit=unit, channel=channel))
    elif st.toggle(t("channels.show_it"), key=state.CHANNEL_IMAGE_ON):
        with st.spinner(t("spinner.channel_image")):
            result = channels_data.channel_visual(ctx.identity, layer, channel, SEED)
        st.image(_grey(result.image), width=168)
        st.caption(t("channels.objective", objective=result.objective, start=result.start, end=result.end))
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
    st.image(mosaic(images), caption=t("channels.mosaic", layer=layer, done=len(job.images), count=job.channels),
             width="content")
    if job.error:
        st.warning(t("channels.job_stopped", error=job.error))
    elif not job.done:
        st.progress(job.progress, text=t("channels.job_running"))


def _layer_job(ctx: PageContext, engine: NumpyEngine, scan: DatasetScan, layer: str) -> None:
    if len(engine.output_shapes[engine.layer_names.index(layer)]) != 3:
        return
    jobs = channels_data.layer_jobs()
    key = str(ctx.identity)
    if jobs.get(key, layer, SEED) is None:
        if st.button(t("channels.layer_job", layer=layer), key=state.LAYER_IMAGES):
            jobs.start(engine, key, layer, SEED)
        else:
            return
    _layer_job_progress(ctx.identity, layer, tuple(bool(d) for d in scan.layer(layer).dead))


def _class_images(ctx: PageContext, engine: NumpyEngine, scan: DatasetScan) -> None:
    st.markdown(t("channels.class_images"))
    if not st.toggle(t("channels.show_classes"), key=state.CLASS_IMAGES_ON):
        return
    last = engine.layer_names[-1]
    for target in range(len(CLASS_NAMES)):
        with st.spinner(t("spinner.class_images")):
            result = channels_data.class_visual(ctx.identity, target, SEED)
        probability = float(engine.probabilities(result.image)[0, target])
        left, right = st.columns([1, 6])
        with left:
            st.image(_grey(result.image), width=112)
            st.caption(f"{class_name(target)}: {probability:.0%}")
        with right:
            _thumbnails(engine, scan, last, target, scan.layer(last).top[target], f"{state.CLASS_DRAWING}_{target}")


def _grey(image: np.ndarray) -> np.ndarray:
    return resources.enlarged(np.round(np.clip(image[0, ..., 0], 0, 1) * 255).astype(np.uint8))


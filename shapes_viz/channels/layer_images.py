"""A whole layer's channel images computed in the background, one job per (model digest, layer, seed).

The server keeps one `LayerImageJobs` (the UI caches it for every session): asking twice for the same layer
joins the running job, so two sessions never compute it twice. Jobs run one at a time; each channel's image
(about 0.3 s of numpy) is computed in a worker process at low priority (nice 10, one BLAS thread), and a
thread of the server only hands out the channels and collects the images. In a thread of the server itself
the 64 ascents of a layer held the interpreter lock often enough to double the other sessions' latencies
(WebSocket load test, 20 sessions: p50 of a channel change 29 -> 68 ms); in a process of its own, the
operating system gives the sessions' work precedence. Where no process can be started, the images are
computed in the thread as before. A job of an older model is never shown as the new one's: the key holds
the model file's digest.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from shapes_viz.channels.visualize import Visualization, channel_image
from shapes_viz.config import VISUALIZE, VisualizeSettings
from shapes_viz.engine.numpy_engine import NumpyEngine

MAX_JOBS = 8  # finished jobs kept (64 images of 28x28x3 float32 each: ~1.2 MB a job), oldest dropped first
WORKER_NICENESS = 10  # the worker process yields the CPU to the server's sessions

log = logging.getLogger(__name__)


@dataclass
class LayerImageJob:
    """One layer's images: filled channel by channel; `error` says why it stopped early."""

    key: tuple[str, str, int]
    channels: int
    images: dict[int, Visualization] = field(default_factory=dict)
    done: bool = False
    error: str = ""

    @property
    def progress(self) -> float:
        return len(self.images) / max(self.channels, 1)


class LayerImageJobs:
    """Background jobs of channel images, shared by every session of the server (thread-safe)."""

    def __init__(self, settings: VisualizeSettings = VISUALIZE, in_process: bool = True) -> None:
        """`in_process`: compute the images in a worker process (else in this process' job thread)."""
        self.settings = settings
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, int], LayerImageJob] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layer-images")
        self._in_process = in_process
        self._pool: ProcessPoolExecutor | None = None

    def start(self, engine: NumpyEngine, digest: str, layer: str, seed: int = 0) -> LayerImageJob:
        """The job of (model digest, layer, seed): the running or finished one, or a new one started now.

        Raises:
            ValueError: no such layer.
        """
        if layer not in engine.layer_names:
            raise ValueError(f"No layer named {layer!r}. Received: layer={layer!r}")
        key = (digest, layer, int(seed))
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                return job
            job = LayerImageJob(key, engine.output_shapes[engine.layer_names.index(layer)][-1])
            self._jobs[key] = job
            while len(self._jobs) > MAX_JOBS:
                oldest = next(k for k, j in self._jobs.items() if j.done or k != key)
                del self._jobs[oldest]
        self._executor.submit(self._run, engine, job)
        return job

    def get(self, digest: str, layer: str, seed: int = 0) -> LayerImageJob | None:
        with self._lock:
            return self._jobs.get((digest, layer, int(seed)))

    def _run(self, engine: NumpyEngine, job: LayerImageJob) -> None:
        digest, layer, seed = job.key
        try:
            pool = self._worker_pool()
            for channel in range(job.channels):
                image = None
                if pool is not None:
                    image = self._in_worker(pool, engine, digest, layer, channel, seed, first=channel == 0)
                    if image is None:  # the worker is gone: the rest in this thread
                        pool = None
                if image is None:
                    image = channel_image(engine, layer, channel, seed=seed, settings=self.settings)
                job.images[channel] = image
        except Exception as exc:  # noqa: BLE001 - a job must end with a reason, never silently
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.done = True

    def _worker_pool(self) -> ProcessPoolExecutor | None:
        """The worker process' pool (started once, spawned, never forked), or None where none can start."""
        if not self._in_process:
            return None
        if self._pool is None:
            try:
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker)
            except (OSError, ValueError) as exc:
                log.warning("no worker process for layer images (%s): computing them in a thread", exc)
                self._in_process = False
                return None
        return self._pool

    def _in_worker(self, pool: ProcessPoolExecutor, engine: NumpyEngine, digest: str, layer: str, channel: int,
                   seed: int, first: bool) -> Visualization | None:
        """One channel's image from the worker (the engine goes with a job's first channel, or when the worker
        has another one); None when the worker cannot be used (it died, or could not start)."""
        try:
            image = pool.submit(_worker_image, digest, engine if first else None, layer, channel, seed,
                                self.settings).result()
            if image is None:
                image = pool.submit(_worker_image, digest, engine, layer, channel, seed, self.settings).result()
            return image
        except (OSError, RuntimeError) as exc:  # BrokenProcessPool is a RuntimeError
            log.warning("layer images: the worker process failed (%s); computing them in a thread", exc)
            self._pool = None
            self._in_process = False
            return None


_WORKER_ENGINES: dict[str, NumpyEngine] = {}  # in the worker process: the engine of the job it serves


def _start_worker() -> None:
    """The worker process: low priority, one BLAS thread (the server's sessions come first)."""
    from shapes_viz.engine.threads import limit_blas_threads

    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # no nice() here: normal priority
        pass
    limit_blas_threads(1)


def _worker_image(digest: str, engine: NumpyEngine | None, layer: str, channel: int, seed: int,
                  settings: VisualizeSettings) -> Visualization | None:
    """In the worker: `channel_image` with the engine sent, or the one kept for `digest`; None if it has none."""
    if engine is not None:
        _WORKER_ENGINES.clear()
        _WORKER_ENGINES[digest] = engine
    kept = _WORKER_ENGINES.get(digest)
    if kept is None:
        return None
    return channel_image(kept, layer, channel, seed=seed, settings=settings)


def mosaic(images: list[np.ndarray | None], columns: int = 8, gap: int = 2, scale: int = 3) -> np.ndarray:
    """Grey (28, 28) images (None: a mid-grey tile) laid out in a grid, as one (H, W) uint8 image, enlarged
    nearest-neighbour by `scale`."""
    if not images:
        raise ValueError("Expected at least one image. Received: images=[]")
    size = next((np.asarray(i).shape[-2:] for i in images if i is not None), (28, 28))
    rows = -(-len(images) // columns)
    canvas = np.full((rows * (size[0] + gap) - gap, columns * (size[1] + gap) - gap), 96, np.uint8)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        tile = np.full(size, 160, np.uint8) if image is None else np.round(
            np.clip(np.asarray(image, np.float32).reshape(size), 0, 1) * 255).astype(np.uint8)
        top, left = r * (size[0] + gap), c * (size[1] + gap)
        canvas[top : top + size[0], left : left + size[1]] = tile
    return np.repeat(np.repeat(canvas, scale, axis=0), scale, axis=1)

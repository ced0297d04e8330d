"""A whole layer's channel images computed in the background, one job per (model digest, layer, seed).

The server keeps one `LayerImageJobs` (the UI caches it for every session): asking twice for the same layer
joins the running job, so two sessions never compute it twice. Jobs run one at a time on one thread, each
channel a short step (about 0.4 s of numpy, which releases the interpreter lock in its matrix products), so
other sessions keep being served. A job of an older model is never shown as the new one's: the key holds
the model file's digest.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from shapes_viz.channels.visualize import Visualization, channel_image
from shapes_viz.config import VISUALIZE, VisualizeSettings
from shapes_viz.engine.numpy_engine import NumpyEngine

MAX_JOBS = 8  # finished jobs kept (64 images of 28x28x3 float32 each: ~1.2 MB a job), oldest dropped first


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

    def __init__(self, settings: VisualizeSettings = VISUALIZE) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, int], LayerImageJob] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layer-images")

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
        _, layer, seed = job.key
        try:
            for channel in range(job.channels):
                job.images[channel] = channel_image(engine, layer, channel, seed=seed, settings=self.settings)
        except Exception as exc:  # noqa: BLE001 - a job must end with a reason, never silently
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.done = True


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

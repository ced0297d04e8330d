"""Thumbnails of drawings for the channel pages: the part of the drawing a unit saw, its spot boxed.

    thumbnail(x, box)     # (H, W, 3) uint8: the receptive field plus a margin, enlarged nearest-neighbour,
                          # the receptive field outlined in orange
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOX_RGB = (255, 127, 14)  # the figures' "selected" orange
SIDE = 96  # px of a thumbnail's longer side (about)


def thumbnail(x: np.ndarray, box: Sequence[int], margin: int = 2, side: int = SIDE) -> np.ndarray:
    """The drawing around `box` with the box outlined, as an (H, W, 3) uint8 image enlarged nearest-neighbour.

    Args:
        x: the model input, (1, 28, 28, 3) or (28, 28, 3) or (28, 28) floats in [0, 1].
        box: (top, left, bottom, right), inclusive rows and columns of the model input.
        margin: model pixels of context around the box (clipped to the image).
        side: the thumbnail's longer side is the largest multiple of the crop's that fits in `side`.

    Raises:
        ValueError: a box outside the image (the message says what was received).
    """
    grey = np.asarray(x, dtype=np.float32)
    grey = grey.reshape(grey.shape[-3:]) if grey.ndim == 4 else grey
    grey = grey[..., 0] if grey.ndim == 3 else grey
    top, left, bottom, right = (int(v) for v in box)
    height, width = grey.shape
    if not (0 <= top <= bottom < height and 0 <= left <= right < width):
        raise ValueError(f"Expected a box inside the {height}x{width} image. Received: box={tuple(box)}")
    r0, c0 = max(top - margin, 0), max(left - margin, 0)
    r1, c1 = min(bottom + margin, height - 1), min(right + margin, width - 1)
    crop = np.round(np.clip(grey[r0 : r1 + 1, c0 : c1 + 1], 0, 1) * 255).astype(np.uint8)
    scale = max(1, side // max(crop.shape))
    rgb = np.repeat(np.repeat(np.repeat(crop[:, :, None], 3, axis=2), scale, axis=0), scale, axis=1)
    y0, x0 = (top - r0) * scale, (left - c0) * scale
    y1, x1 = (bottom - r0 + 1) * scale - 1, (right - c0 + 1) * scale - 1
    line = max(1, scale // 4)
    for rows, cols in (((y0, y0 + line), (x0, x1 + 1)), ((y1 - line + 1, y1 + 1), (x0, x1 + 1)),
                       ((y0, y1 + 1), (x0, x0 + line)), ((y0, y1 + 1), (x1 - line + 1, x1 + 1))):
        rgb[rows[0] : rows[1], cols[0] : cols[1]] = BOX_RGB
    return rgb

"""Exports: a channel heatmap and a layer grid as PNG (the colours the page shows, byte for byte reproducible),
and everything about one input as an .npz archive.

PNGs are rendered here, in numpy, not by a browser or kaleido: the value -> colour map is Plotly's own
"Viridis" colour scale (17 stops, linear between them, as plotly.js interpolates), each model cell becomes a
`scale` x `scale` block (nearest neighbour), and PIL writes the file with fixed settings and no metadata.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from shapes_viz.engine.results import Activations

# plotly.js' "Viridis" colour scale (src/components/colorscale/scales.js): position, hex colour.
VIRIDIS = (
    (0.0, "#440154"), (0.06274509803921569, "#48186a"), (0.12549019607843137, "#472d7b"),
    (0.18823529411764706, "#424086"), (0.25098039215686274, "#3b528b"), (0.3137254901960784, "#33638d"),
    (0.3764705882352941, "#2c728e"), (0.4392156862745098, "#26828e"), (0.5019607843137255, "#21918c"),
    (0.5647058823529412, "#1fa088"), (0.6274509803921569, "#28ae80"), (0.6901960784313725, "#3fbc73"),
    (0.7529411764705882, "#5ec962"), (0.8156862745098039, "#84d44b"), (0.8784313725490196, "#addc30"),
    (0.9411764705882353, "#d8e219"), (1.0, "#fde725"),
)
GAP_COLOR = (255, 255, 255)  # the one-pixel gaps between a grid's tiles (transparent on a white page)
DECIMALS = 4  # the figures round values to 4 decimals before drawing: so does the export
MAX_SIDE = 4096  # px: larger exports are refused


def _stops() -> tuple[np.ndarray, np.ndarray]:
    positions = np.array([p for p, _ in VIRIDIS], dtype=np.float64)
    colours = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in VIRIDIS], dtype=np.float64)
    return positions, colours


def colorize(values: np.ndarray, zmin: float, zmax: float) -> np.ndarray:
    """(H, W, 3) uint8 viridis colours of (H, W) values on the range [zmin, zmax] (clipped); NaN -> white.

    A range of zero width (zmax <= zmin) is widened by 1e-6, as the figures do.
    """
    values = np.round(np.asarray(values, dtype=np.float32), DECIMALS).astype(np.float64)
    zmin, zmax = float(zmin), float(zmax)
    if not zmax > zmin:
        zmax = zmin + 1e-6
    fraction = np.clip((values - zmin) / (zmax - zmin), 0.0, 1.0)
    positions, colours = _stops()
    nan = np.isnan(fraction)
    fraction = np.where(nan, 0.0, fraction)
    rgb = np.stack([np.interp(fraction, positions, colours[:, i]) for i in range(3)], axis=-1)
    rgb = np.round(rgb).astype(np.uint8)
    rgb[nan] = GAP_COLOR
    return rgb


def enlarge(rgb: np.ndarray, scale: int) -> np.ndarray:
    """(H * scale, W * scale, 3) uint8: each pixel of (H, W, 3) `rgb` repeated as a scale x scale block."""
    scale = int(scale)
    if scale < 1 or max(rgb.shape[:2]) * scale > MAX_SIDE:
        raise ValueError(f"The image would be {rgb.shape[1] * scale}x{rgb.shape[0] * scale} px (1 to {MAX_SIDE} "
                         f"per side). Received: scale={scale}")
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG file bytes of an (H, W, 3) uint8 image: fixed settings, no metadata, the same bytes every time."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB").save(
        buffer, format="PNG", optimize=False, compress_level=6
    )
    return buffer.getvalue()


def heatmap_png(values: np.ndarray, zmin: float | None = None, zmax: float | None = None, scale: int = 16) -> bytes:
    """One channel's (H, W) activations as a PNG, coloured as `figures.channel_heatmap` draws them.

    Args:
        values: (H, W) float activations.
        zmin, zmax: the colour range; both None uses the channel's own min..max (the "this channel" range).
        scale: screen pixels per cell (nearest neighbour).
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"`values` must be a 2-D array. Received: values.shape={values.shape}")
    if (zmin is None) != (zmax is None):
        raise ValueError(f"Pass both `zmin` and `zmax` or neither. Received: zmin={zmin}, zmax={zmax}")
    if zmin is None:
        shown = np.round(values, DECIMALS)
        zmin, zmax = float(shown.min()), float(shown.max())
    return png_bytes(enlarge(colorize(values, zmin, zmax), scale))


def grid_mosaic(values: np.ndarray, columns: int, per_channel: bool) -> np.ndarray:
    """(rows * (H + 1) - 1, columns * (W + 1) - 1) float32: the tiles of `figures.layer_grid`, NaN between them.

    Args:
        values: (H, W, C) activations of one layer.
        columns: tiles per row.
        per_channel: scale each tile to its own min..max (0..1), as the "this channel" range does.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 3 or values.shape[-1] == 0:
        raise ValueError(f"`values` must be an (H, W, C) array. Received: values.shape={values.shape}")
    height, width, channels = values.shape
    rows = -(-channels // columns)
    mosaic = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan, dtype=np.float32)
    lows, highs = values.min(axis=(0, 1)), values.max(axis=(0, 1))
    for c in range(channels):
        tile = values[:, :, c]
        if per_channel:
            span = highs[c] - lows[c]
            tile = (tile - lows[c]) / span if span > 0 else np.zeros_like(tile)
        r0, c0 = (c // columns) * (height + 1), (c % columns) * (width + 1)
        mosaic[r0:r0 + height, c0:c0 + width] = tile
    return mosaic


def grid_png(values: np.ndarray, columns: int, *, per_channel: bool = False, zmin: float | None = None,
             zmax: float | None = None, scale: int = 4) -> bytes:
    """Every channel of a layer as one PNG, the tiles laid out and coloured as `figures.layer_grid` draws them
    (without its outlines): per channel 0..1, or one range (`zmin`..`zmax`, else the layer's min..max)."""
    values = np.asarray(values, dtype=np.float32)
    mosaic = grid_mosaic(values, int(columns), per_channel)
    if per_channel:
        zmin, zmax = 0.0, 1.0
    elif zmin is None or zmax is None:
        zmin, zmax = float(values.min()), float(values.max())
    return png_bytes(enlarge(colorize(mosaic, zmin, zmax), scale))


def npz_bytes(x: np.ndarray, activations: Activations, *, model_sha256: str, app_version: str,
              class_names: Sequence[str]) -> bytes:
    """Everything about one input as an .npz archive (compressed), as bytes.

    Keys: "input" (1, 28, 28, 3) float32; "probabilities" (classes,) float32; "layer_names" (L,) str;
    "layer/<name>" each layer's output (without the batch axis) float32; "class_names" (classes,) str;
    "model_sha256" and "app_version" 0-d str arrays.
    """
    arrays: dict[str, np.ndarray] = {
        "input": np.asarray(x, dtype=np.float32),
        "probabilities": np.asarray(activations.probabilities, dtype=np.float32),
        "layer_names": np.array([layer.name for layer in activations.layers]),
        "class_names": np.array(list(class_names)),
        "model_sha256": np.array(str(model_sha256)),
        "app_version": np.array(str(app_version)),
    }
    for layer in activations.layers:
        arrays[f"layer/{layer.name}"] = np.asarray(layer.values, dtype=np.float32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()

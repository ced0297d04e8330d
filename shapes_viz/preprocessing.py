"""The one preprocessing function: every image that enters the model goes through `preprocess`.

File paths (CLI, data folders), uploaded bytes, the browser canvas' RGBA array and PIL images all
take the same path, so the (1, 28, 28, 3) array the UI shows as "what the model sees" is exactly
what the model gets, in training and in inference:

1. safe decoding: PNG or JPEG only (decided by the bytes, not the name), byte and pixel limits
   checked before any pixel is decoded, truncated files refused, first frame of animations;
2. EXIF orientation applied; transparency composited onto a background that contrasts with the
   strokes; any mode (1, L, LA, P, I;16, RGB, RGBA, CMYK) reduced to luminance in [0, 1];
3. polarity from the border's median (unless the border is itself a stroke: a shape filling the frame):
   light strokes on a dark background are inverted;
4. normalisation: paper level subtracted, ink stretched to full contrast, the drawing cropped to
   its bounding box, centred in a square with a margin, resized to 28x28 with antialiasing;
5. dark ink on white paper (the tutorial's polarity), three equal channels, scaled to [0, 1].
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shapes_viz.config import (
    IMAGE_FORMATS,
    IMAGE_SIZE,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MIN_IMAGE_SIDE,
)
from shapes_viz.errors import EmptyImageError, ImageError

ImageSource = Union[str, Path, bytes, bytearray, memoryview, np.ndarray, Image.Image]

# Fraction of the 28x28 frame the drawing's longer side fills after normalisation (3 px margin).
CONTENT_FRACTION: float = 22 / 28
# Ink below this (after stretching to full contrast) is paper when finding the drawing's extent.
INK_THRESHOLD: float = 0.25
# A drawing whose strongest ink is below this contrast with the paper is "no drawing".
MIN_CONTRAST: float = 0.08
# A drawing smaller than this fraction of the image's longer side is a speck, not a shape.
MIN_DRAWING_FRACTION: float = 0.02

# Images larger than this (longer side, pixels) are box-reduced by an integer factor before conversion.
WORKING_SIDE: int = 1024

EMPTY_MESSAGE = "No shape found: draw or upload a shape first."
EMPTY_CODE = "image_empty"  # EMPTY_MESSAGE's code (`errors.ShapesVizError`): the UI shows it in the page's language

# How PNG and JPEG files start: such a file that Pillow cannot identify is corrupt, not of another format.
SIGNATURES: tuple[bytes, ...] = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def preprocess(source: ImageSource) -> np.ndarray:
    """Turn any supported image into exactly the array the model gets.

    Args:
        source: a file path (str or Path); the bytes of a PNG or JPEG file; a PIL image; or a uint8
            numpy array of shape (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA (the canvas).

    Returns:
        (1, 28, 28, 3) float32 array in [0, 1]: dark strokes (near 0) on white paper (1.0), the
        drawing centred and scaled to fill 22 of the 28 pixels, three equal channels.

    Raises:
        ImageError: not PNG/JPEG, corrupt, too large, or an unsupported array.
        EmptyImageError: blank, uniform or tiny images ("draw or upload a shape first").
    """
    image = _open(source)
    luminance = _luminance(image)
    ink = _ink(luminance)
    square = _crop_to_square(ink)
    small = _resize(square, IMAGE_SIZE)
    paper = 1.0 - small
    return np.repeat(paper[None, :, :, None], 3, axis=-1).astype(np.float32)


# --------------------------------------------------------------------------- decoding


def _open(source: ImageSource) -> Image.Image:
    """Decode `source` into a fully loaded, upright PIL image (checks limits first)."""
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, Image.Image):
        _check_pixels(source.size)
        return _upright(source)
    if isinstance(source, (str, Path)):
        data = _read_file(Path(source))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise ImageError(
            "Unsupported image source: expected a file path, PNG/JPEG bytes, a PIL image or a uint8 "
            f"array. Received: {type(source).__name__}",
            code="image_source_unsupported", kind=type(source).__name__,
        )
    return _decode(data)


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except OSError:
        raise ImageError(f"Image file not found or unreadable: {path}", code="image_file_missing", path=path) from None
    if size > MAX_IMAGE_BYTES:
        raise ImageError(
            f"Image too large: {path.name} has {size:,} bytes (limit {MAX_IMAGE_BYTES:,}).",
            code="image_too_large_file", name=path.name, size=size, limit=MAX_IMAGE_BYTES,
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"Image file unreadable: {path} ({exc.strerror})", code="image_file_unreadable", path=path,
                         reason=exc.strerror) from None


def _decode(data: bytes) -> Image.Image:
    if len(data) == 0:
        raise ImageError("Corrupt image: the file is empty (0 bytes).", code="image_empty_file")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"Image too large: {len(data):,} bytes (limit {MAX_IMAGE_BYTES:,}).",
                         code="image_too_large_bytes", size=len(data), limit=MAX_IMAGE_BYTES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS))
    except Image.DecompressionBombError:  # Pillow's own limit (> 179 MP) fires before ours when opening
        raise _over_pixel_limit() from None
    except UnidentifiedImageError:
        if data.startswith(SIGNATURES):  # a PNG or JPEG cut short inside its header
            raise ImageError("Corrupt image: the file is truncated or damaged.", code="image_truncated") from None
        raise ImageError("Only PNG or JPEG images are supported; this file is neither.",
                         code="image_not_png_jpeg") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"Corrupt image: {exc}", code="image_corrupt", detail=str(exc)) from None
    _check_pixels(image.size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)  # animated PNG: the first frame is the image
            image.load()
    except Image.DecompressionBombError:
        raise _over_pixel_limit() from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"Corrupt image: could not decode it ({exc}).", code="image_undecodable",
                         detail=str(exc)) from None
    return _upright(image)


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (a no-op without one), so a PIL image and its file's bytes agree."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not lose the image: keep it as stored
        return image


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"Image too large: {width}x{height} pixels (limit {MAX_IMAGE_PIXELS:,} pixels).",
            code="image_too_large_pixels", width=width, height=height, limit=MAX_IMAGE_PIXELS,
        )


def _over_pixel_limit() -> ImageError:
    """The error of an image Pillow refuses to open: more pixels than its decompression-bomb limit."""
    return ImageError(f"Image too large: over {MAX_IMAGE_PIXELS:,} pixels.", code="image_over_pixel_limit",
                      limit=MAX_IMAGE_PIXELS)


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        raise ImageError(
            f"Image arrays must be uint8. Received: dtype={array.dtype}, shape={array.shape}",
            code="image_array_dtype", dtype=array.dtype, shape=array.shape,
        )
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        mode = "L"
    else:  # channels -> mode; (H, W, 2) and anything not 2-D or 3-D are refused below
        mode = {3: "RGB", 4: "RGBA"}.get(array.shape[-1]) if array.ndim == 3 else None
    if mode is None:
        raise ImageError(
            f"Image arrays must be (H, W), (H, W, 3) or (H, W, 4). Received: shape={array.shape}",
            code="image_array_shape", shape=array.shape,
        )
    _check_pixels((array.shape[1], array.shape[0]))
    return Image.fromarray(np.ascontiguousarray(array), mode=mode)


# --------------------------------------------------------------------------- luminance


def _luminance(image: Image.Image) -> np.ndarray:
    """(H, W) float32 luminance in [0, 1] with any transparency composited away."""
    width, height = image.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise EmptyImageError(f"{EMPTY_MESSAGE} (The image is only {width}x{height} pixels.)", code="image_tiny",
                              width=width, height=height)
    image = _shrink(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        scale = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        return np.clip(values / scale, 0.0, 1.0).astype(np.float32)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    rgba = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    rgb = rgba[..., :3]
    gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if not has_alpha:
        return gray
    alpha = rgba[..., 3]
    opaque = alpha > 0.5
    # Composite onto a background that contrasts with the strokes: the canvas draws dark strokes on a
    # transparent background (-> white), a few apps draw light strokes on transparency (-> black).
    strokes_are_light = opaque.any() and (~opaque).any() and float(np.median(gray[opaque])) > 0.5
    background = 0.0 if strokes_are_light else 1.0
    return (alpha * gray + (1.0 - alpha) * background).astype(np.float32)


def _shrink(image: Image.Image) -> Image.Image:
    """Box-average a large image by an integer factor so its longer side is at most WORKING_SIDE.

    The result is only ever reduced to 28x28, so this loses nothing visible and keeps a 4000x4000
    upload from costing hundreds of MB of float arrays. Modes Pillow cannot reduce stay as they are.
    """
    factor = max(image.size) // WORKING_SIDE
    if factor < 2:
        return image
    try:
        return image.reduce(factor)
    except (ValueError, OSError):
        return image


# --------------------------------------------------------------------------- normalisation


def border_median(values: np.ndarray) -> float:
    """Median of the outermost ring of pixels of an (H, W) array: the paper's level."""
    ring = np.concatenate([values[0, :], values[-1, :], values[1:-1, 0], values[1:-1, -1]])
    return float(np.median(ring))


def paper_level(luminance: np.ndarray) -> float:
    """The paper's luminance in an (H, W) array: the border's median, unless the border is a stroke.

    A shape drawn along the edges (filling the frame) makes the border ink. When the border's level and
    the image's overall median disagree, the border's level is taken for ink if it only forms thin bands
    (strokes, which vanish when eroded by 1/16 of the shorter side), and the overall median for paper.
    """
    border = border_median(luminance)
    overall = float(np.median(luminance))
    if (border < 0.5) == (overall < 0.5):
        return border
    threshold = (border + overall) / 2.0
    border_like = luminance < threshold if border < threshold else luminance >= threshold
    return overall if _only_thin_bands(border_like) else border


def _only_thin_bands(mask: np.ndarray) -> bool:
    """True if no part of the boolean (H, W) mask is thicker than about 1/8 of the shorter side."""
    step = max(1, int(np.ceil(max(mask.shape) / 64)))  # at most ~64x64 is plenty to judge thickness
    small = mask[::step, ::step]
    radius = max(1, round(min(small.shape) / 16))
    padded = np.pad(small, radius, constant_values=False)  # outside the image counts as not the mask
    height, width = small.shape
    window = range(2 * radius + 1)
    rows = np.logical_and.reduce([padded[dy : dy + height, :] for dy in window])
    eroded = np.logical_and.reduce([rows[:, dx : dx + width] for dx in window])
    return not eroded.any()


def _ink(luminance: np.ndarray) -> np.ndarray:
    """(H, W) float32 ink in [0, 1] (0 paper, 1 strongest stroke), whatever the polarity."""
    paper = paper_level(luminance)
    if paper < 0.5:  # light strokes on a dark background: bring to dark on light
        luminance = 1.0 - luminance
        paper = 1.0 - paper
    ink = np.clip(paper - luminance, 0.0, None)
    peak = float(np.percentile(ink, 99.9)) if ink.size > 1000 else float(ink.max())
    peak = max(peak, float(ink.max()) * 0.5)
    if peak < MIN_CONTRAST:
        raise EmptyImageError(EMPTY_MESSAGE, code=EMPTY_CODE)
    return np.clip(ink / peak, 0.0, 1.0).astype(np.float32)


def _crop_to_square(ink: np.ndarray) -> np.ndarray:
    """Crop to the drawing's bounding box and centre it in a square with a margin (ink = 0 outside)."""
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise EmptyImageError(EMPTY_MESSAGE, code=EMPTY_CODE)
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    extent = max(bottom - top, right - left)
    if extent < max(2, MIN_DRAWING_FRACTION * max(ink.shape)):
        raise EmptyImageError(f"{EMPTY_MESSAGE} (Only a speck of ink was found.)", code="image_speck")
    side = int(np.ceil(extent / CONTENT_FRACTION))
    square = np.zeros((side, side), dtype=np.float32)
    drawing = ink[top:bottom, left:right]
    y0 = (side - drawing.shape[0]) // 2
    x0 = (side - drawing.shape[1]) // 2
    square[y0 : y0 + drawing.shape[0], x0 : x0 + drawing.shape[1]] = drawing
    return square


def _resize(square: np.ndarray, size: int) -> np.ndarray:
    """Resize a square float32 ink map to (size, size) with antialiasing; stretch ink to full contrast."""
    image = Image.fromarray(square, mode="F")
    resample = Image.Resampling.BOX if square.shape[0] >= 2 * size else Image.Resampling.BILINEAR
    small = np.asarray(image.resize((size, size), resample=resample), dtype=np.float32)
    small = np.clip(small, 0.0, 1.0)
    peak = float(small.max())
    if peak <= 0.0:
        raise EmptyImageError(EMPTY_MESSAGE, code=EMPTY_CODE)
    return np.clip(small / min(peak, 1.0), 0.0, 1.0)


def to_uint8_image(model_input: np.ndarray) -> np.ndarray:
    """The model's input as an (28, 28) uint8 grayscale image, for display or saving.

    Args:
        model_input: (1, 28, 28, 3) or (28, 28, 3) float32 in [0, 1], as returned by `preprocess`.
    """
    array = np.asarray(model_input)
    if array.ndim == 4:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"Expected (1, 28, 28, 3) or (28, 28, 3). Received: shape={array.shape}")
    return np.round(array[..., 0] * 255.0).astype(np.uint8)

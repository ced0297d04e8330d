"""shapes_viz.preprocessing: every image that enters the model goes through `preprocess`.

A table of inputs (the reliability checklist's rows 6-12 and 14) with the expected result or error, the same
array for every form of one image, and property tests: any bytes or any small image give a valid array or the
project's ImageError, nothing else. No TensorFlow needed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image, ImageDraw

from shapes_viz.errors import EmptyImageError, ImageError
from shapes_viz.preprocessing import preprocess, to_uint8_image

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (1, 28, 28, 3)

# --------------------------------------------------------------------------- building inputs


def triangle(size: int = 120, width: int = 6, margin: int = 18) -> np.ndarray:
    """(size, size) uint8: a dark, asymmetric triangle outline on white (the reference drawing)."""
    image = Image.new("L", (size, size), 255)
    points = [(margin, size - margin), (size - margin, size - margin), (margin + size // 5, margin)]
    ImageDraw.Draw(image).line(points + points[:1], fill=0, width=width, joint="curve")
    return np.asarray(image).copy()


def square_outline(size: int, margin: int, width: int) -> np.ndarray:
    """(size, size) uint8: a dark square outline `margin` px from the edges (0: it runs along the edges)."""
    image = np.full((size, size), 255, np.uint8)
    lo, hi = margin, size - margin
    image[lo:hi, lo : lo + width] = 0
    image[lo:hi, hi - width : hi] = 0
    image[lo : lo + width, lo:hi] = 0
    image[hi - width : hi, lo:hi] = 0
    return image


def encode(image: Image.Image | np.ndarray, fmt: str = "PNG", **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def canvas_rgba(gray: np.ndarray, antialiased: bool = False) -> np.ndarray:
    """The browser canvas' form: black strokes whose alpha is the ink, on a fully transparent background."""
    ink = 255 - gray
    rgba = np.zeros((*gray.shape, 4), np.uint8)
    rgba[..., 3] = ink if antialiased else np.where(ink > 127, 255, 0)
    return rgba


def palette_png(gray: np.ndarray, transparent_rgb: tuple[int, int, int]) -> bytes:
    """Palette PNG: index 0 is the (transparent) background of colour `transparent_rgb`, index 1 black ink."""
    image = Image.fromarray((gray < 128).astype(np.uint8), mode="L").convert("P")
    image.putpalette([*transparent_rgb, 0, 0, 0] + [0] * 762)
    image.putdata(list((gray < 128).astype(np.uint8).ravel()))
    return encode(image, transparency=0)


def la_png(gray: np.ndarray) -> bytes:
    ink = 255 - gray
    luminance = Image.fromarray(np.zeros_like(gray))
    return encode(Image.merge("LA", [luminance, Image.fromarray(ink)]))


def png16(gray: np.ndarray, paper: int, ink: int) -> bytes:
    """16-bit grayscale PNG ("I;16"): paper and ink levels out of 65535."""
    values = np.where(gray < 128, ink, paper).astype(np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    return encode(image)


def cmyk_jpeg(gray: np.ndarray) -> bytes:
    data = encode(Image.fromarray(gray).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    return data


def exif_jpeg(upright: np.ndarray, orientation: int) -> bytes:
    """A JPEG stored sideways with the EXIF orientation that brings it upright (6: rotate 90 CW to view)."""
    stored = np.rot90(upright, 1 if orientation == 6 else -1)  # np.rot90 k=1 turns counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(np.ascontiguousarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def animated_png(first: np.ndarray) -> bytes:
    other = np.full_like(first, 255)
    other[30:90, 30:90] = 0  # a filled square: clearly not the first frame
    frames = [Image.fromarray(first), Image.fromarray(other)]
    data = encode(frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    return data


def mpo(first: np.ndarray) -> bytes:
    image = Image.fromarray(first).convert("RGB")
    data = encode(image, "MPO", save_all=True, append_images=[image.rotate(90)], quality=95)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    return data


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, real_rows: bool = False) -> bytes:
    """A small PNG whose IHDR declares width x height 8-bit grayscale pixels.

    real_rows: the IDAT really holds height zero rows (a decompression bomb a decoder would inflate);
    otherwise a token IDAT (the header alone is the attack).
    """
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if real_rows:
        compressor = zlib.compressobj(9)
        row = b"\x00" * (width + 1)
        body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    else:
        body = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def noisy_png() -> bytes:
    """A PNG with incompressible content, so truncating it cuts into the pixel data."""
    image = np.full((120, 120), 255, np.uint8)
    image[20:100, 20:100] = np.random.default_rng(0).integers(0, 120, (80, 80), dtype=np.uint8)
    return encode(image)


def jpeg_with_garbage() -> bytes:
    data = encode(triangle(), "JPEG", quality=90)
    return data[:400] + bytes(range(256)) * 2 + data[912:]


def psd_bytes() -> bytes:
    """The start of a Photoshop file (Pillow can read PSD, so a .png named PSD must be refused by name)."""
    return b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 1, 64, 64, 8, 1) + b"\x00" * 200


def speck() -> np.ndarray:
    image = np.full((400, 400), 255, np.uint8)
    image[200:203, 200:203] = 0
    return image


# --------------------------------------------------------------------------- the table

REFERENCES = {
    "triangle": triangle,
    "square": lambda: square_outline(140, 20, 8),  # the frame-filling square with a paper margin
    "thick square": lambda: square_outline(140, 20, 11),
}

TOO_LARGE = (ImageError, r"^Image too large")
CORRUPT = (ImageError, r"^Corrupt image")
NOT_PNG_JPEG = (ImageError, r"^Only PNG or JPEG")
EMPTY = (EmptyImageError, r"draw or upload a shape first")

# (id, source factory, expected reference name or None, (error type, message regex) or None)
CASES = [
    ("rgb png", lambda: encode(np.repeat(triangle()[..., None], 3, axis=2)), "triangle", None),
    ("grayscale png", lambda: encode(triangle()), "triangle", None),
    ("grayscale jpeg", lambda: encode(triangle(), "JPEG", quality=95), "triangle", None),
    ("bilevel (mode 1) png", lambda: encode(Image.fromarray(triangle()).convert("1")), "triangle", None),
    ("16-bit png, full range", lambda: png16(triangle(), 65535, 0), "triangle", None),
    # if 16-bit values were divided by 255 and clipped, both levels would be 1.0: an "empty" image
    ("16-bit png, grey ink on grey paper", lambda: png16(triangle(), 60000, 20000), "triangle", None),
    ("canvas rgba array, transparent background", lambda: canvas_rgba(triangle()), "triangle", None),
    ("canvas rgba array, antialiased alpha", lambda: canvas_rgba(triangle(), antialiased=True), "triangle", None),
    ("canvas rgba png", lambda: encode(canvas_rgba(triangle())), "triangle", None),
    ("palette png, transparent white", lambda: palette_png(triangle(), (255, 255, 255)), "triangle", None),
    ("palette png, transparent black", lambda: palette_png(triangle(), (0, 0, 0)), "triangle", None),
    ("LA png", lambda: la_png(triangle()), "triangle", None),
    ("cmyk jpeg", lambda: cmyk_jpeg(triangle()), "triangle", None),
    ("inverted: light on dark array", lambda: 255 - triangle(), "triangle", None),
    ("inverted: light on dark jpeg", lambda: encode(255 - triangle(), "JPEG", quality=95), "triangle", None),
    ("grey ink on grey paper", lambda: np.where(triangle() < 128, 90, 170).astype(np.uint8), "triangle", None),
    ("exif orientation 6 jpeg", lambda: exif_jpeg(triangle(), 6), "triangle", None),
    ("exif orientation 8 jpeg", lambda: exif_jpeg(triangle(), 8), "triangle", None),
    ("animated png: first frame", lambda: animated_png(triangle()), "triangle", None),
    ("mpo (a phone camera's multi-picture jpeg)", lambda: mpo(triangle()), "triangle", None),
    ("frame-filling square", lambda: square_outline(100, 0, 8), "square", None),
    ("frame-filling square, light on dark", lambda: 255 - square_outline(100, 0, 8), "square", None),
    ("frame-filling thick square", lambda: square_outline(100, 0, 11), "thick square", None),
    ("huge: png declaring 20000x20000", lambda: png_declaring(20000, 20000), None, TOO_LARGE),
    ("huge: png bomb of 5000x5000 zero rows", lambda: png_declaring(5000, 5000, real_rows=True), None, TOO_LARGE),
    ("huge: array of 5000x4000", lambda: np.zeros((5000, 4000), np.uint8), None, TOO_LARGE),
    ("truncated png: half the pixel data", lambda: noisy_png()[: len(noisy_png()) // 2], None, CORRUPT),
    ("truncated png: inside the header", lambda: noisy_png()[:30], None, CORRUPT),
    ("truncated png: signature only", lambda: noisy_png()[:8], None, CORRUPT),
    ("0-byte file", lambda: b"", None, CORRUPT),
    ("broken jpeg: truncated", lambda: encode(triangle(), "JPEG")[:300], None, CORRUPT),
    ("broken jpeg: garbage inside", jpeg_with_garbage, None, CORRUPT),
    ("tiff bytes", lambda: encode(triangle(), "TIFF"), None, NOT_PNG_JPEG),
    ("webp bytes", lambda: encode(triangle(), "WEBP"), None, NOT_PNG_JPEG),
    ("gif bytes", lambda: encode(triangle(), "GIF"), None, NOT_PNG_JPEG),
    ("bmp bytes", lambda: encode(triangle(), "BMP"), None, NOT_PNG_JPEG),
    ("psd bytes", psd_bytes, None, NOT_PNG_JPEG),
    ("exe bytes", lambda: b"MZ\x90\x00\x03\x00\x00\x00" + bytes(500), None, NOT_PNG_JPEG),
    ("text", lambda: b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", None, NOT_PNG_JPEG),
    ("1x1 image", lambda: encode(np.zeros((1, 1), np.uint8)), None, EMPTY),
    ("1x4000 image", lambda: np.zeros((1, 4000), np.uint8), None, EMPTY),
    ("4000x1 image", lambda: encode(np.zeros((4000, 1), np.uint8)), None, EMPTY),
    ("all white", lambda: encode(np.full((64, 64), 255, np.uint8)), None, EMPTY),
    ("all black", lambda: np.zeros((64, 64, 3), np.uint8), None, EMPTY),
    ("uniform grey jpeg", lambda: encode(np.full((64, 64), 128, np.uint8), "JPEG"), None, EMPTY),
    ("empty canvas (all transparent)", lambda: np.zeros((280, 280, 4), np.uint8), None, EMPTY),
    ("a speck of ink", speck, None, EMPTY),
]


@pytest.fixture(scope="module")
def references() -> dict[str, np.ndarray]:
    return {name: preprocess(make()) for name, make in REFERENCES.items()}


def assert_model_input(array: np.ndarray) -> None:
    assert isinstance(array, np.ndarray)
    assert array.shape == SHAPE
    assert array.dtype == np.float32
    assert np.isfinite(array).all()
    assert array.min() >= 0.0 and array.max() <= 1.0
    np.testing.assert_array_equal(array[..., 0], array[..., 1])
    np.testing.assert_array_equal(array[..., 0], array[..., 2])


def test_reference_is_dark_ink_on_white_paper_centred(references):
    image = references["triangle"][0, :, :, 0]
    assert_model_input(references["triangle"])
    assert image.min() == 0.0 and image.max() == 1.0
    ink = image < 0.5
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 22  # the drawing fills 22 of 28 pixels
    assert rows[0] >= 2 and cols[0] >= 2 and rows[-1] <= 25 and cols[-1] <= 25  # with a margin
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    assert (border == 1.0).all()  # paper is white
    assert 0.05 < ink.mean() < 0.5  # strokes, not a filled blob


@pytest.mark.parametrize(
    "source, expected, error",
    [pytest.param(make, expected, error, id=name) for name, make, expected, error in CASES],
)
def test_preprocessing_table(source, expected, error, references):
    made = source()
    if error is not None:
        kind, message = error
        with pytest.raises(kind, match=message) as raised:
            preprocess(made)
        if kind is ImageError:
            assert not isinstance(raised.value, EmptyImageError), "a broken file is not an 'empty drawing'"
        return
    result = preprocess(made)
    assert_model_input(result)
    reference = references[expected]
    difference = np.abs(result - reference)
    assert difference.mean() < 0.02, f"mean difference {difference.mean():.4f}"
    assert np.mean(difference > 0.5) < 0.02, "more than 2% of the pixels changed polarity or moved"


def test_huge_png_is_refused_without_decoding_it():
    """A fresh interpreter measures its own peak memory around preprocess() of the two huge PNGs."""
    script = r"""
import json, resource, sys, tracemalloc
sys.path.insert(0, sys.argv[1])
from test_preprocessing import png_declaring
from shapes_viz.errors import ImageError
from shapes_viz.preprocessing import preprocess
files = [png_declaring(20000, 20000), png_declaring(5000, 5000, real_rows=True)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
messages = []
for data in files:
    try:
        preprocess(data)
    except ImageError as exc:
        messages.append(str(exc))
peak = tracemalloc.get_traced_memory()[1]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"messages": messages, "rss_growth_kb": after - before, "traced_peak": peak}))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["messages"]) == 2
    assert all(message.startswith("Image too large") for message in report["messages"]), report
    # Decoding would need 400 MB and 25 MB (and float copies of them): the process grew by less than 16 MB.
    assert report["rss_growth_kb"] < 16 * 1024, report
    assert report["traced_peak"] < 4 * 1024 * 1024, report


def test_file_larger_than_the_byte_limit_is_refused_before_reading(tmp_path, monkeypatch):
    from shapes_viz import preprocessing

    monkeypatch.setattr(preprocessing, "MAX_IMAGE_BYTES", 1000)
    path = tmp_path / "big.png"
    path.write_bytes(noisy_png())
    assert path.stat().st_size > 1000
    with pytest.raises(ImageError, match=r"^Image too large: big\.png"):
        preprocess(path)
    with pytest.raises(ImageError, match=r"^Image too large"):
        preprocess(path.read_bytes())


def test_path_bytes_pil_and_array_forms_give_the_same_array(tmp_path):
    rgb = np.repeat(triangle()[..., None], 3, axis=2)
    path = tmp_path / "drawing.png"
    Image.fromarray(rgb).save(path)
    forms = {
        "str path": str(path),
        "Path": path,
        "bytes": path.read_bytes(),
        "bytearray": bytearray(path.read_bytes()),
        "memoryview": memoryview(path.read_bytes()),
        "PIL from file": Image.open(path),
        "PIL in memory": Image.fromarray(rgb),
        "RGB array": rgb,
        "RGBA array, opaque": np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2),
        "L array": rgb[..., 0].copy(),
        "(H, W, 1) array": rgb[..., :1].copy(),
    }
    results = {name: preprocess(source) for name, source in forms.items()}
    expected = results["Path"]
    assert_model_input(expected)
    for name, result in results.items():
        np.testing.assert_array_equal(result, expected, err_msg=name)


def test_exif_orientation_applies_to_a_pil_image_too():
    data = exif_jpeg(triangle(), 6)
    np.testing.assert_array_equal(preprocess(Image.open(io.BytesIO(data))), preprocess(data))


def test_preprocess_does_not_change_its_input():
    rgba = canvas_rgba(triangle())
    before = rgba.copy()
    preprocess(rgba)
    np.testing.assert_array_equal(rgba, before)


def test_jpeg_named_png_and_png_named_jpg_are_read_by_content(tmp_path):
    (tmp_path / "really_a_jpeg.png").write_bytes(encode(triangle(), "JPEG", quality=95))
    (tmp_path / "really_a_png.jpg").write_bytes(encode(triangle()))
    assert_model_input(preprocess(tmp_path / "really_a_jpeg.png"))
    assert_model_input(preprocess(tmp_path / "really_a_png.jpg"))


@pytest.mark.parametrize(
    "source, error",
    [
        (np.zeros((32, 32), np.float32), r"must be uint8\. Received: dtype=float32"),
        (np.zeros((32, 32), bool), r"must be uint8\. Received: dtype=bool"),
        (np.zeros((32, 32, 2), np.uint8), r"Received: shape=\(32, 32, 2\)"),
        (np.zeros((2, 32, 32, 3), np.uint8), r"Received: shape=\(2, 32, 32, 3\)"),
        (np.zeros(32, np.uint8), r"Received: shape=\(32,\)"),
        (12, r"Unsupported image source.*Received: int"),
        ([[0, 255]], r"Unsupported image source.*Received: list"),
        ("/nonexistent/drawing.png", r"not found or unreadable"),
    ],
    ids=["float array", "bool array", "2 channels", "a batch", "1-D", "int", "list", "missing file"],
)
def test_unsupported_sources_are_image_errors_naming_what_was_received(source, error):
    with pytest.raises(ImageError, match=error):
        preprocess(source)


def test_a_directory_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="unreadable"):
        preprocess(tmp_path)


def test_to_uint8_image_round_trips_the_model_input():
    x = preprocess(triangle())
    image = to_uint8_image(x)
    assert image.shape == (28, 28) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.round(x[0, :, :, 0] * 255).astype(np.uint8))
    np.testing.assert_array_equal(to_uint8_image(x[0]), image)
    with pytest.raises(ValueError, match=r"Received: shape=\(28, 28\)"):
        to_uint8_image(x[0, :, :, 0])


# --------------------------------------------------------------------------- properties


def check_valid_or_image_error(source) -> None:
    try:
        result = preprocess(source)
    except ImageError:
        return
    assert_model_input(result)


PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PREFIXES = st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"II*\x00", b"RIFF"])


@PROPERTY_SETTINGS
@given(prefix=PREFIXES, body=st.binary(max_size=3000))
def test_any_bytes_give_a_valid_array_or_an_image_error(prefix, body):
    check_valid_or_image_error(prefix + body)


VALID_FILES = {
    "png": encode(triangle(64, 4, 8)),
    "jpeg": encode(triangle(64, 4, 8), "JPEG"),
    "rgba png": encode(canvas_rgba(triangle(64, 4, 8), antialiased=True)),
    "16-bit png": png16(triangle(64, 4, 8), 65535, 0),
}


@PROPERTY_SETTINGS
@given(
    name=st.sampled_from(sorted(VALID_FILES)),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_damaged_files_give_a_valid_array_or_an_image_error(name, edits, cut):
    data = bytearray(VALID_FILES[name])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    check_valid_or_image_error(bytes(data))


@st.composite
def small_images(draw):
    height = draw(st.integers(1, 48))
    width = draw(st.integers(1, 48))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "1", "I;16", "CMYK"]))
    style = draw(st.sampled_from(["noise", "blocks", "uniform"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "1": 1, "P": 1, "I;16": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
    if style == "noise":
        pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    elif style == "uniform":
        pixels = np.full((height, width, channels), rng.integers(0, 256), np.uint8)
    else:
        pixels = np.full((height, width, channels), rng.integers(0, 256), np.uint8)
        y, x = rng.integers(0, height), rng.integers(0, width)
        pixels[y : y + rng.integers(1, height + 1), x : x + rng.integers(1, width + 1)] = rng.integers(0, 256)
    if mode == "I;16":
        image = Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
    elif mode in ("L", "1", "P"):
        image = Image.fromarray(pixels[..., 0]).convert(mode)
    elif mode == "LA":
        image = Image.merge("LA", [Image.fromarray(pixels[..., i]) for i in range(2)])
    elif mode == "CMYK":
        image = Image.fromarray(pixels[..., :3]).convert("CMYK")
    else:
        image = Image.fromarray(pixels if channels > 1 else pixels[..., 0], mode=mode)
    form = draw(st.sampled_from(["png", "jpeg", "pil", "array"]))
    if form == "png" and mode != "CMYK":
        return encode(image)
    if form == "jpeg" and mode in ("L", "RGB", "CMYK", "1"):
        return encode(image, "JPEG", quality=draw(st.integers(5, 95)))
    if form == "array" and mode in ("L", "RGB", "RGBA"):
        return np.asarray(image)
    return image


@PROPERTY_SETTINGS
@given(source=small_images())
def test_any_small_valid_image_gives_a_valid_array_or_an_image_error(source):
    check_valid_or_image_error(source)


SIDES = st.integers(0, 40)
ANY_ARRAY = st.one_of(
    arrays(np.uint8, st.tuples(SIDES, SIDES, st.integers(1, 5))),  # images with 1 to 5 channels
    arrays(np.uint8, st.tuples(SIDES, SIDES)),
    arrays(st.sampled_from([np.uint8, np.float32, np.int64, np.bool_]),
           array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=12)),
)


@PROPERTY_SETTINGS
@given(array=ANY_ARRAY)
def test_any_array_gives_a_valid_array_or_an_image_error(array):
    check_valid_or_image_error(array)

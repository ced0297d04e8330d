"""Bad images through the app (docs/reliability.md, "inputs"): huge declared sizes, foreign formats named
.png, corrupt files, blank images, uploaded or sent as a crafted live-canvas report. Each is a clear message,
no decoder other than PNG/JPEG sees the bytes, and the same session goes on.
"""

from __future__ import annotations

import base64
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from tests.helpers.drawings import shape_image, shape_png
from tests.helpers.reliability import assert_clean, encode, messages, new_app, own_model, point_app_at, upload
from shapes_viz.config import IMAGE_FORMATS

pytest.importorskip("tensorflow")


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (the header alone is the attack)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def psd_bytes() -> bytes:
    import struct

    return b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 1, 64, 64, 8, 1) + b"\x00" * 200


# (id, file name, bytes factory, expected message, is it refused as not PNG/JPEG)
BAD_UPLOADS = [
    ("20000x20000 png", "huge.png", lambda: png_declaring(20000, 20000), "Image too large", False),
    ("tiff named .png", "drawing.png", lambda: encode(shape_image(), "TIFF"), "Only PNG or JPEG", True),
    ("psd named .png", "drawing.png", psd_bytes, "Only PNG or JPEG", True),
    ("webp named .png", "drawing.png", lambda: encode(shape_image(), "WEBP"), "Only PNG or JPEG", True),
    ("exe named .png", "setup.png", lambda: b"MZ\x90\x00\x03\x00\x00\x00" + bytes(500), "Only PNG or JPEG", True),
    ("broken jpeg", "photo.jpg", lambda: encode(shape_image(), "JPEG")[:300], "Corrupt image", False),
    ("0-byte file", "empty.png", lambda: b"", "Corrupt image", False),
    ("1x1 png", "dot.png", lambda: encode(Image.new("L", (1, 1), 0)), "draw or upload a shape first", False),
    ("1x4000 png", "line.png", lambda: encode(Image.new("L", (1, 4000), 0)), "draw or upload a shape first", False),
    ("all-black png", "black.png", lambda: encode(Image.new("RGB", (64, 64), "black")),
     "draw or upload a shape first", False),
]


@pytest.fixture
def other_decoders(monkeypatch) -> list[tuple[str, bytes]]:
    """Record (format, first 16 bytes) whenever a Pillow decoder other than PNG/JPEG sniffs or opens something
    (the real ones still run). The page's example thumbnails (st.image) are sniffed too: filter by the bytes."""
    Image.init()
    calls: list[tuple[str, bytes]] = []
    for fmt, (factory, accept) in list(Image.OPEN.items()):
        if fmt in IMAGE_FORMATS:
            continue

        def open_spy(fp, *args, _factory=factory, _fmt=fmt, **kwargs):
            position = fp.tell()
            calls.append((_fmt, fp.read(16)))
            fp.seek(position)
            return _factory(fp, *args, **kwargs)

        def accept_spy(prefix, _accept=accept, _fmt=fmt):
            calls.append((_fmt, bytes(prefix[:16])))
            return _accept(prefix)

        monkeypatch.setitem(Image.OPEN, fmt, (open_spy, accept_spy if accept else None))
    return calls


def looked_at(calls: list[tuple[str, bytes]], data: bytes) -> list[str]:
    return sorted({fmt for fmt, head in calls if data[:16] == head[: len(data[:16])] and data})


@pytest.mark.parametrize(
    "name, make, expected, foreign", [pytest.param(*case[1:], id=case[0]) for case in BAD_UPLOADS]
)
def test_a_bad_upload_is_a_clear_message_and_the_app_keeps_serving(
    monkeypatch, tmp_path, trained, tiny_data, other_decoders, name, make, expected, foreign
):
    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = make()
    at = upload(new_app(), data, name)
    assert_clean(at)
    assert expected in messages(at), messages(at)
    assert not at.main.metric
    if foreign:
        assert looked_at(other_decoders, data) == [], "a decoder other than PNG/JPEG looked at the upload"
    # the same session goes on: a good upload is predicted
    at.file_uploader(key="upload_file").upload("triangle.png", shape_png(), "image/png")
    at.run()
    assert_clean(at)
    assert len(at.main.metric) == 1


def canvas_report(data: bytes) -> dict:
    """A live-canvas report as any client can send it over the WebSocket, carrying `data` as its "PNG"."""
    return {"drawing": {"seq": 1, "pen": "up", "png": base64.b64encode(data).decode(), "strokes": 1}}


# (id, the report's bytes, expected message, is it refused as not PNG/JPEG)
BAD_CANVAS_REPORTS = [
    ("tiff bytes", lambda: encode(shape_image(), "TIFF"), "Only PNG or JPEG", True),
    ("webp bytes", lambda: encode(shape_image(), "WEBP"), "Only PNG or JPEG", True),
    ("png declaring 20000x20000", lambda: png_declaring(20000, 20000), "Image too large", False),
    ("a real 12000x12000 png (170 kB)", lambda: encode(Image.new("L", (12000, 12000), 255), optimize=True),
     "Image too large", False),
    ("truncated png", lambda: shape_png()[:150], "Corrupt image", False),
    ("blank canvas", lambda: encode(Image.new("RGB", (280, 280), "white")), "draw or upload a shape first", False),
]


@pytest.mark.parametrize(
    "make, expected, foreign", [pytest.param(*case[1:], id=case[0]) for case in BAD_CANVAS_REPORTS]
)
def test_a_crafted_canvas_report_is_checked_like_an_upload(
    monkeypatch, tmp_path, trained, tiny_data, other_decoders, make, expected, foreign
):
    """Through the drawing component: its report reaches preprocess() as bytes, so the same
    format and size checks apply (the old st_canvas decoded its data URL with any Pillow decoder, unbounded)."""
    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    data = make()
    at = new_app()
    at.session_state["canvas_0"] = canvas_report(data)
    tracemalloc.start()
    try:
        at.run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_clean(at)
    assert expected in messages(at), messages(at)
    assert not at.main.metric
    assert peak < 64 * 1024 * 1024, f"{peak / 2**20:.0f} MB allocated while refusing it"
    if foreign:
        assert looked_at(other_decoders, data) == []


def test_a_canvas_report_larger_than_any_real_one_is_refused_before_decoding(monkeypatch, tmp_path, trained, tiny_data):
    model = own_model(tmp_path, trained)
    point_app_at(monkeypatch, model, tiny_data)
    at = new_app()
    at.session_state["canvas_0"] = canvas_report(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).bytes(2 * 2**20))
    at.run()
    assert_clean(at)
    assert "too large" in messages(at) and not at.main.metric


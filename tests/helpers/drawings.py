"""Clean drawings of the three shapes, for uploads in the app and reliability tests."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def shape_image(shape: str = "triangles", size: int = 200) -> Image.Image:
    """A clean drawing of `shape` ("circles", "squares" or "triangles"): black 10-px outline on white, RGB."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    if shape == "triangles":
        draw.polygon([(size / 2, 20), (size - 20, size - 20), (20, size - 20)], outline="black", width=10)
    elif shape == "squares":
        draw.rectangle([30, 30, size - 30, size - 30], outline="black", width=10)
    else:
        draw.ellipse([30, 30, size - 30, size - 30], outline="black", width=10)
    return image


def shape_png(shape: str = "triangles", size: int = 200) -> bytes:
    """`shape_image` as PNG bytes, as an upload sends them."""
    buffer = io.BytesIO()
    shape_image(shape, size).save(buffer, format="PNG")
    return buffer.getvalue()

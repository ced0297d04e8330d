"""The share link: what the URL's query parameters carry, encoded, and decoded with strict validation.

    ?view=explorer&layer=conv1_1&ch=3&range=layer&method=layercam&x=1.eJz...

The input travels as the 28x28 model input quantised to uint8 (one grey channel: the three are equal),
zlib-compressed and base64url-encoded (a drawing: a few hundred characters); `choose_bits` falls back to 16
bits for the rare input whose probabilities the rounding would move by more than TOLERANCE. `decode` never raises: every
parameter that is unknown, malformed, oversized or out of range is dropped with a problem message, and no
parameter can name a file: an input is only ever pixels.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

SIDE = 28
VERSIONS = {8: "1", 16: "2"}  # the input encoding's version by bits per pixel: "x" = "1.<base64url>"
LEVELS = {8: (255, np.uint8), 16: (65535, np.uint16)}
MAX_PARAMS = 12  # a link with more parameters is ignored as a whole
MAX_INPUT_CHARS = 4200  # an encoded input longer than this is refused (a drawing: a few hundred; 16 bits ~2000)
MAX_TEXT_CHARS = 64  # any other value longer than this is refused
MAX_CHANNEL = 4095
TOLERANCE = 1e-4  # the largest change of a probability that 8-bit rounding may cause (else 16 bits)
NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
INPUT_KEYS = ("x", "a")  # the current input and the pinned input A of the Compare view
CHOICE_KEYS = ("view", "range", "method", "lesson")  # values from a fixed list the app passes to `decode`
KEYS = ("view", "layer", "ch", "range", "method", "x", "a", "t", "lesson")

# What a refused parameter says (short texts, one place: the UI shows them in one notice).
PROBLEMS = {
    "too_many": "the link has too many parameters ({count})",
    "unknown": "unknown parameter '{key}'",
    "too_long": "'{key}' is too long",
    "bad_value": "'{key}' has a value this app does not know",
    "bad_number": "'{key}' is not a number in range",
    "bad_input": "'{key}' is not a valid drawing",
}


@dataclass(frozen=True)
class SharedView:
    """What a share link asks for; None where it says nothing (or said something invalid).

    Attributes:
        view, range, method, lesson: values from the lists passed to `decode`.
        layer: a layer name (letters, digits, underscores; the UI checks that the model has it).
        channel: int in 0..MAX_CHANNEL (the UI clamps it to the layer).
        t: the Compare view's morph step, int in 0..100.
        x, a: (1, 28, 28, 3) float32 inputs in [0, 1] (multiples of 1/255).
        problems: one short text per refused parameter.
    """

    view: str | None = None
    layer: str | None = None
    channel: int | None = None
    range: str | None = None
    method: str | None = None
    lesson: str | None = None
    t: int | None = None
    x: np.ndarray | None = None
    a: np.ndarray | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in ("view", "layer", "channel", "range", "method",
                                                             "lesson", "t", "x", "a"))


def quantize(x: np.ndarray, bits: int = 8) -> np.ndarray:
    """(28, 28) uint8 (bits 8) or uint16 (bits 16): a (1, 28, 28, 3) float32 model input's first channel,
    rounded to steps of 1/255 or 1/65535."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape != (1, SIDE, SIDE, 3):
        raise ValueError(f"Expected a (1, {SIDE}, {SIDE}, 3) input. Received: x.shape={x.shape}")
    if bits not in LEVELS:
        raise ValueError(f"Inputs are encoded with 8 or 16 bits. Received: bits={bits}")
    top, dtype = LEVELS[bits]
    return np.round(np.clip(x[0, :, :, 0], 0.0, 1.0).astype(np.float64) * top).astype(dtype)


def dequantize(grey: np.ndarray) -> np.ndarray:
    """(1, 28, 28, 3) float32 model input from (28, 28) uint8 or uint16 grey levels."""
    grey = np.asarray(grey)
    top = LEVELS[8 if grey.dtype == np.uint8 else 16][0]
    return np.repeat((grey.astype(np.float64) / top).astype(np.float32)[None, :, :, None], 3, axis=-1)


def encode_input(x: np.ndarray, bits: int = 8) -> str:
    """The link text of an input: "1." (8 bits) or "2." (16 bits, big-endian) + base64url (no padding) of the
    zlib-compressed pixels. 8 bits keep a drawing to a few hundred characters; 16 bits (about twice as long)
    are for the rare input whose probabilities move by more than the app tolerates (see `ui.share`)."""
    grey = quantize(x, bits)
    packed = zlib.compress(grey.astype(">u2").tobytes() if bits == 16 else grey.tobytes(), 9)
    return VERSIONS[bits] + "." + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode_input(text: str) -> np.ndarray:
    """The (1, 28, 28, 3) float32 input of a link text.

    Raises:
        ValueError: anything but a valid encoded 28x28 input (never inflates more than the expected size + 1).
    """
    if not isinstance(text, str) or len(text) > MAX_INPUT_CHARS:
        raise ValueError(f"Not an encoded input. Received: len(text)={len(text) if isinstance(text, str) else None}")
    version, _, body = text.partition(".")
    bits = {v: b for b, v in VERSIONS.items()}.get(version)
    if bits is None or not BASE64URL.fullmatch(body) or len(body) % 4 == 1:
        raise ValueError(f"Not an encoded input. Received: text={text[:16]!r}...")
    size = SIDE * SIDE * bits // 8
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, size + 1)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise ValueError(f"Not an encoded input. Received: error={type(exc).__name__}") from None
    if len(raw) != size or not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise ValueError(f"Not an encoded {SIDE}x{SIDE} input. Received: {len(raw)} bytes")
    grey = np.frombuffer(raw, dtype=np.uint8 if bits == 8 else ">u2").reshape(SIDE, SIDE)
    return dequantize(grey.astype(np.uint8 if bits == 8 else np.uint16))


def choose_bits(engine, x: np.ndarray, tolerance: float = TOLERANCE) -> int:
    """8 when the 8-bit rounded input gives every probability within `tolerance` of `x`'s, else 16.

    Args:
        engine: anything with `probabilities((N, 28, 28, 3) float32) -> (N, classes)`.
        x: (1, 28, 28, 3) float32 model input.
    """
    both = np.concatenate([np.asarray(x, dtype=np.float32), dequantize(quantize(x, 8))])
    probabilities = np.asarray(engine.probabilities(both))
    return 8 if float(np.abs(probabilities[0] - probabilities[1]).max()) <= tolerance else 16


def encode(**values: object) -> dict[str, str]:
    """Query parameters for the given values (None values left out): view, layer, ch, range, method, lesson,
    t (str or int), x and a ((1, 28, 28, 3) inputs, or (input, bits) pairs).

    Raises:
        ValueError: an unknown key.
    """
    params: dict[str, str] = {}
    for key, value in values.items():
        if key not in KEYS:
            raise ValueError(f"Unknown share parameter. Received: key={key!r}")
        if value is None:
            continue
        if key in INPUT_KEYS:
            x, bits = value if isinstance(value, tuple) else (value, 8)
            params[key] = encode_input(x, bits)
        else:
            params[key] = str(value)
    return params


def _text(value: object) -> str | None:
    """The parameter's one value (the last when repeated), or None when it is not text."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return value if isinstance(value, str) else None


def decode(params: Mapping[str, object], choices: Mapping[str, Collection[str]]) -> SharedView:
    """The view a link's query parameters ask for; never raises.

    Args:
        params: the query parameters: {key: str or list of str}.
        choices: the allowed values of "view", "range", "method" and "lesson" (a key left out: none allowed).
    Returns:
        The valid parameters, and one problem text per refused one (unknown keys, values too long, not in
        `choices`, numbers out of range, undecodable inputs).
    """
    problems: list[str] = []
    try:
        items = list(params.items())
    except Exception:  # noqa: BLE001 - a hostile mapping is refused, never raised
        return SharedView(problems=(PROBLEMS["bad_value"].format(key="?"),))
    if len(items) > MAX_PARAMS:
        return SharedView(problems=(PROBLEMS["too_many"].format(count=len(items)),))
    found: dict[str, object] = {}
    for key, raw in items:
        shown = str(key)[:20]
        value = _text(raw)
        if key not in KEYS:
            problems.append(PROBLEMS["unknown"].format(key=shown))
            continue
        if value is None:
            problems.append(PROBLEMS["bad_value"].format(key=key))
            continue
        limit = MAX_INPUT_CHARS if key in INPUT_KEYS else MAX_TEXT_CHARS
        if len(value) > limit:
            problems.append(PROBLEMS["too_long"].format(key=key))
            continue
        if key in INPUT_KEYS:
            try:
                found[key] = decode_input(value)
            except ValueError:
                problems.append(PROBLEMS["bad_input"].format(key=key))
        elif key in CHOICE_KEYS:
            if value in choices.get(key, ()):
                found[key] = value
            else:
                problems.append(PROBLEMS["bad_value"].format(key=key))
        elif key == "layer":
            if NAME.fullmatch(value):
                found[key] = value
            else:
                problems.append(PROBLEMS["bad_value"].format(key=key))
        else:  # "ch", "t": small non-negative integers
            top = MAX_CHANNEL if key == "ch" else 100
            if value.isascii() and value.isdigit() and int(value) <= top:
                found["channel" if key == "ch" else key] = int(value)
            else:
                problems.append(PROBLEMS["bad_number"].format(key=key))
    return SharedView(**found, problems=tuple(problems))

"""Plotly figure specs as the tests read them: the JSON of a figure, its arrays as numpy."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

_DTYPES = {
    "f4": np.float32, "f8": np.float64, "i1": np.int8, "u1": np.uint8, "i2": np.int16, "u2": np.uint16,
    "i4": np.int32, "u4": np.uint32, "i8": np.int64, "u8": np.uint64,
}


def decode_array(value: Any) -> np.ndarray:
    """A Plotly JSON array (a plain list or a base64 typed array `{dtype, bdata, shape}`) as numpy."""
    if isinstance(value, Mapping) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=_DTYPES[value["dtype"]])
        shape = value.get("shape")
        if shape:
            dims = [int(s) for s in str(shape).split(",")] if isinstance(shape, str) else list(shape)
            array = array.reshape(dims)
        return array
    return np.asarray(value, dtype=float)


def figure_spec(chart: Any) -> dict[str, Any]:
    """The figure JSON of an AppTest plotly_chart element, or of a Plotly figure."""
    if hasattr(chart, "proto"):
        return json.loads(chart.proto.spec)
    return json.loads(chart.to_json())

"""A minimal PNG encoder (8-bit RGB, no interlace) for raster layers embedded in SVG."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_rgb(pixels: np.ndarray) -> bytes:
    """PNG bytes of an `(height, width, 3)` uint8 array (row 0 at the top)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("pixels must be a (height, width, 3) uint8 array")
    height, width, _ = pixels.shape
    if height == 0 or width == 0:
        raise ValueError("an image needs at least one pixel")
    rows = np.concatenate(
        [np.zeros((height, 1), dtype=np.uint8), pixels.reshape(height, width * 3)], axis=1
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def data_uri(pixels: np.ndarray) -> str:
    """`data:image/png;base64,...` of an RGB array."""
    return "data:image/png;base64," + base64.b64encode(encode_rgb(pixels)).decode("ascii")

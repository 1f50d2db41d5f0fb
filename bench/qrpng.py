"""The picture every benchmark publish carries: a real PNG, made at start-up.

A QR-code-like 1-bit picture (three finder patterns, timing lines, pseudo-random
modules; 73 × 73 modules at 4 px plus a 4-module quiet zone, 324 × 324 px, grayscale
bit depth 1) of about 1.3 KB, the size of a small payment QR, as a
``data:image/png;base64,…`` URI of about 1.7 KB. Made with ``zlib`` and ``struct``
only; :func:`check_png` verifies a PNG's chunks, CRCs and pixel data the same way.
"""

from __future__ import annotations

import base64
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _modules(n: int, seed: int) -> list[list[int]]:
    x = seed & 0xFFFFFFFF

    def bit() -> int:  # a linear congruential generator: the same picture every run
        nonlocal x
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        return (x >> 16) & 1

    dark = [[bit() for _ in range(n)] for _ in range(n)]
    for r0, c0 in ((0, 0), (0, n - 7), (n - 7, 0)):  # finder patterns and their separators
        for r in range(-1, 8):
            for c in range(-1, 8):
                rr, cc = r0 + r, c0 + c
                if 0 <= rr < n and 0 <= cc < n:
                    ring = max(abs(r - 3), abs(c - 3))
                    dark[rr][cc] = 0 if ring in (2, 4) else 1
    for i in range(8, n - 8):  # timing lines
        dark[6][i] = dark[i][6] = (i + 1) & 1
    return dark


def qr_png(n: int = 73, scale: int = 4, quiet: int = 4, seed: int = 20240601) -> bytes:
    """A 1-bit grayscale PNG of a QR-like picture; 1 bits are white."""
    dark = _modules(n, seed)
    size = (n + 2 * quiet) * scale
    row_bytes = (size + 7) // 8
    raw = bytearray()
    for y in range(size):
        r = y // scale - quiet
        row = bytearray(row_bytes)
        for x in range(size):
            c = x // scale - quiet
            if not (0 <= r < n and 0 <= c < n and dark[r][c]):
                row[x >> 3] |= 0x80 >> (x & 7)
        raw += b"\x00" + row  # filter type 0 (None) on every row
    ihdr = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def check_png(png: bytes) -> tuple[int, int]:
    """Raise ValueError unless ``png`` is a well-formed 1-bit grayscale PNG; return its size."""
    if not png.startswith(SIGNATURE):
        raise ValueError("no PNG signature")
    pos, chunks, idat = len(SIGNATURE), [], b""
    width = height = 0
    while pos < len(png):
        if pos + 12 > len(png):
            raise ValueError("truncated chunk")
        (length,) = struct.unpack_from(">I", png, pos)
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", png, pos + 8 + length)
        if zlib.crc32(kind + data) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {kind!r}")
        chunks.append(kind)
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data)
            if (depth, color, interlace) != (1, 0, 0):
                raise ValueError("not 1-bit grayscale, non-interlaced")
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    if chunks[0] != b"IHDR" or chunks[-1] != b"IEND" or b"IDAT" not in chunks:
        raise ValueError(f"chunk order {chunks}")
    raw = zlib.decompress(idat)
    row_bytes = (width + 7) // 8
    if len(raw) != (row_bytes + 1) * height:
        raise ValueError("pixel data has the wrong length")
    if any(raw[y * (row_bytes + 1)] != 0 for y in range(height)):
        raise ValueError("unexpected row filter")
    return width, height


QR_PNG = qr_png()
QR_DATA_URI = data_uri(QR_PNG)

if __name__ == "__main__":
    print(QR_DATA_URI)

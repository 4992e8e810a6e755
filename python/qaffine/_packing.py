"""Sub-byte packing: 1-, 2- and 4-bit fields, first code in the lowest bits (ONNX uint4/int4 order)."""

from __future__ import annotations

import numpy as np

__all__ = ["container_bits", "pack", "packed_size", "unpack"]


def container_bits(bits: int) -> int:
    """Field width a code of ``bits`` bits (1 to 4: a packed Mode) is stored in: 1, 2 or 4 (3-bit codes use
    4-bit fields)."""
    assert 1 <= bits <= 4, "packing needs a packed qaffine Mode (bits <= 4), validated by Mode"
    return 1 if bits == 1 else 2 if bits == 2 else 4


def packed_size(count: int, bits: int) -> int:
    """Bytes needed for ``count`` codes."""
    per = 8 // container_bits(bits)
    return -(-count // per)


def pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Packs uint8/int8 codes (any shape, C order) into a 1-D uint8 array; the last byte is zero-padded."""
    w = container_bits(bits)
    per = 8 // w
    flat = np.ascontiguousarray(codes).reshape(-1).view(np.uint8) & np.uint8((1 << w) - 1)
    pad = (-flat.size) % per
    if pad:
        flat = np.concatenate([flat, np.zeros(pad, dtype=np.uint8)])
    fields = flat.reshape(-1, per)
    out = np.zeros(fields.shape[0], dtype=np.uint8)
    for j in range(per):
        out |= fields[:, j] << np.uint8(w * j)
    return out


def unpack(packed: np.ndarray, bits: int, signed: bool, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`pack`: codes of ``shape`` as uint8, or sign-extended int8 if ``signed``."""
    w = container_bits(bits)
    per = 8 // w
    count = int(np.prod(shape, dtype=np.int64))
    if packed.size != packed_size(count, bits):
        raise ValueError(f"{packed.size} packed bytes cannot hold {count} {bits}-bit codes")
    shifts = (np.arange(per, dtype=np.uint8) * np.uint8(w))
    fields = (packed.reshape(-1, 1) >> shifts) & np.uint8((1 << w) - 1)
    codes = fields.reshape(-1)[:count]
    if signed:
        wide = codes.astype(np.int16)
        wide[wide >= (1 << (w - 1))] -= 1 << w
        signed_codes: np.ndarray = wide.astype(np.int8).reshape(shape)
        return signed_codes
    unsigned_codes: np.ndarray = codes.reshape(shape).copy()
    return unsigned_codes

"""Packed codes (1-, 2-, 3- and 4-bit, ``packed=True``) as the kernels write and read them directly: the bytes
equal the unpacked codes packed by the NumPy reference (tests/reference.py), and dequantize of the bytes equals
dequantize of the unpacked codes, at every SIMD level and thread count, for every granularity and scheme."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

import qaffine as qa
import reference as R
from conftest import SIMD_LEVELS, simd

Mode = Dict[str, Any]

# Granularities over arrays of shape (rows, n) / (n, rows): per tensor, per channel along each axis, blocks
# along the last axis (B dividing n or not, B = 1, B > n), blocks along a leading axis.
GRANULARITIES: List[Tuple[str, Mode, bool]] = [
    ("tensor", {}, False),
    ("axis0", {"axis": 0}, False),
    ("axis-1", {"axis": -1}, False),
    ("block1", {"block_size": 1}, False),
    ("block3", {"block_size": 3}, False),
    ("block16", {"block_size": 16}, False),
    ("block32", {"block_size": 32}, False),
    ("block2-lead", {"block_size": 2, "axis": 0}, True),
]
SCHEMES: List[Tuple[str, Mode]] = [
    ("default", {}),
    ("symmetric", {"symmetric": True}),
    ("tight", {"include_zero": False}),
    ("torch", {"compat": "torch"}),
]


def _check(x: np.ndarray, what: str, **kw: Any) -> None:
    bits = kw["bits"]
    plain = qa.quantize(x, **kw)
    packed = qa.quantize(x, packed=True, **kw)
    small = plain.values.size <= 4096
    expected = R.pack_codes(plain.values, bits) if small else R.pack_codes_bits(plain.values, bits)
    assert packed.values.dtype == np.uint8 and packed.values.shape == expected.shape, what
    assert np.array_equal(packed.values, expected), what
    assert packed.params == plain.params, what
    # static: the same parameters given
    compat = {"compat": kw["compat"]} if "compat" in kw else {}
    again = qa.quantize(x, plain.params, packed=True, **compat)
    assert np.array_equal(again.values, expected), what
    # dequantize reads the fields: equal to dequantize of the unpacked codes, float32 and float64
    for dt in (np.float32, np.float64):
        assert R.same_bits(packed.dequantize(dtype=dt), plain.dequantize(dtype=dt)), f"{what} dequantize {dt}"
    ref = R.mode_dequantize(plain.values, plain.scale, plain.zero_point, **_dq_mode(kw))
    assert R.same_bits(packed.dequantize(), ref), f"{what} dequantize vs reference"


def _dq_mode(kw: Mode) -> Mode:
    out = {k: kw[k] for k in ("axis", "block_size") if k in kw}
    if "block_size" in out:
        out.setdefault("axis", -1)
    return out


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
def test_packed_bytes_every_row_length(level: str, bits: int, signed: bool) -> None:
    """Rows of 1..130 floats (every phase of a row start within a byte and of a register), every granularity,
    float32; the schemes rotate with the row length."""
    rng = np.random.default_rng(bits * 2 + signed)
    with simd(level):
        for n in range(1, 131):
            name, scheme = SCHEMES[n % len(SCHEMES)]
            for gname, gran, lead in GRANULARITIES:
                if "block_size" in gran and gran["block_size"] > (3 if lead else n) and gran["block_size"] != 32:
                    continue
                shape = (n, 3) if lead else (3, n)
                x = (rng.standard_normal(shape) * 2 + 0.3).astype(np.float32)
                _check(x, f"{level} bits={bits} signed={signed} {shape} {gname} {name}",
                       bits=bits, signed=signed, **gran, **scheme)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float16], ids=["f64", "f16"])
def test_packed_bytes_other_float_types(level: str, dtype: Any) -> None:
    rng = np.random.default_rng(5)
    with simd(level):
        for bits in (1, 2, 3, 4):
            for n in (1, 7, 33, 130):
                for gname, gran, lead in GRANULARITIES[:5]:
                    x = (rng.standard_normal((3, n)) * 2).astype(dtype)
                    _check(x, f"{level} {dtype} bits={bits} {n} {gname}", bits=bits, signed=bits % 2 == 0, **gran)


def test_packed_strided_input_per_tensor() -> None:
    """Views with strides (and negative strides) are walked in chunks; the packed bytes follow C order."""
    rng = np.random.default_rng(8)
    base = rng.standard_normal((67, 301)).astype(np.float32)
    for view in (base[::2, 1::3], base[::-1, ::-2], base.T):
        for bits in (1, 3):
            _check(view, f"strided {view.strides} bits={bits}", bits=bits, signed=True)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_packed_large_odd_shapes_threads(threads: int) -> None:
    """Arrays above the parallel grain, with rows that do not end on a byte boundary (odd lengths, blocks
    straddling bytes; blocks of 32 and 64 read from inside a byte in every other row): the same bytes for any
    thread count and level."""
    rng = np.random.default_rng(threads)
    shapes = [((1021, 523), {"block_size": 32}), ((517, 1031), {"block_size": 3}), ((263_001,), {}),
              ((4099, 65), {"axis": 0}), ((65, 4099), {"axis": -1}), ((1023, 259), {"block_size": 5, "axis": 0}),
              ((257, 1029), {"block_size": 64})]
    qa.set_num_threads(threads)
    try:
        for shape, gran in shapes:
            x = rng.standard_normal(shape).astype(np.float32)
            for bits, signed in ((4, True), (3, False), (1, False), (2, True)):
                for level in SIMD_LEVELS:
                    with simd(level):
                        _check(x, f"threads={threads} {level} {shape} {gran} bits={bits}", bits=bits, signed=signed,
                               **gran)
    finally:
        qa.set_num_threads(None)


@pytest.mark.slow
@pytest.mark.parametrize("shape,gran", [((4096, 4095), {"block_size": 32}), ((3001, 4097), {"block_size": 64}),
                                        ((4_000_037,), {}), ((4097, 1023), {"block_size": 7, "axis": 0})])
def test_packed_big_arrays(shape: Tuple[int, ...], gran: Mode) -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(np.float32)
    for threads in (1, 2):
        qa.set_num_threads(threads)
        try:
            for bits, signed in ((4, False), (4, True), (2, False), (1, True)):
                _check(x, f"{shape} {gran} bits={bits} threads={threads}", bits=bits, signed=signed, **gran)
        finally:
            qa.set_num_threads(None)


def test_packed_nan_and_inf() -> None:
    """NaN and Inf are reported as for unpacked codes; static packed codes of ±Inf saturate."""
    x = np.float32([0.5, np.nan, 1.0, 2.0, -1.0])
    for kw in ({}, {"block_size": 2}, {"axis": 0}):
        with pytest.raises(ValueError, match="NaN"):
            qa.quantize(x.reshape(1, 5) if kw else x, bits=4, packed=True, **kw)
    p = qa.choose_qparams(np.float32(-1), np.float32(1), bits=4)
    y = np.float32([np.inf, -np.inf, 0.0, 1e30, -1e30])
    got = qa.quantize(y, p, packed=True)
    assert np.array_equal(got.values, R.pack_codes(qa.quantize(y, p).values, 4))
    with pytest.raises(ValueError, match="NaN"):
        qa.quantize(x, p, packed=True)


def test_packed_empty_and_zero_d() -> None:
    p = qa.choose_qparams(np.float32(-1), np.float32(1), bits=2, signed=True)
    e = qa.quantize(np.zeros((0, 3), np.float32), p, packed=True)
    assert e.values.size == 0 and e.dequantize().shape == (0, 3)
    z = qa.quantize(np.float32(0.75), bits=1, packed=True)
    assert z.values.shape == (1,) and z.values[0] == R.pack_codes(qa.quantize(np.float32(0.75), bits=1).values, 1)[0]


@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_per_block_every_scheme_against_reference(level: str) -> None:
    """Per block along the last axis for rows of aligned and odd lengths (the sixteen-block AVX-512 loop and
    its packed, shifted and one-by-one forms), every scheme, against the NumPy reference's codes and params;
    the 16 blocks of a run include an all-zero block and one with a huge range."""
    rng = np.random.default_rng(21)
    for shape, block in (((5, 512), 32), ((7, 1023), 32), ((3, 4099), 64), ((4, 2048), 16), ((3, 300), 32)):
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        x[0, :block] = 0.0
        x[1, block:2 * block] *= 1e30
        for bits, signed, scheme in ((4, True, {"symmetric": True}), (4, False, {"symmetric": True}),
                                     (8, True, {"symmetric": True}), (1, False, {"symmetric": True}),
                                     (4, False, {}), (3, True, {"include_zero": False}), (2, False, {})):
            what = f"{level} {shape} B={block} bits={bits} signed={signed} {scheme}"
            codes, scale, zp = R.mode_quantize(x, block_size=block, bits=bits, signed=signed, **scheme)
            with simd(level):
                q = qa.quantize(x, block_size=block, bits=bits, signed=signed, **scheme)
                assert np.array_equal(q.values, codes), what
                assert R.same_bits(q.scale, scale) and np.array_equal(q.zero_point, zp), what
                if bits <= 4:
                    p = qa.quantize(x, block_size=block, bits=bits, signed=signed, packed=True, **scheme)
                    assert np.array_equal(p.values, R.pack_codes_bits(codes, bits)), what

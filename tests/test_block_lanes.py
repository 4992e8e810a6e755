"""Dynamic per-block quantization along the last axis, sixteen blocks at a time (granular.hpp's block16 and
block_lanes): every SIMD level writes the scalar level's codes, packed bytes, scales and zero points, and
raises the scalar level's error, for batches of blocks that mix rows, full and short blocks, block sizes that
are no multiple of 16, rows that start inside a byte of packed fields, all three schemes and thread counts 1-3."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import numpy as np
import pytest

import qaffine as qa
import reference as R
from conftest import SIMD_LEVELS, outcome, simd

FAST = [lv for lv in SIMD_LEVELS if lv != "scalar"]
SCHEMES: List[Dict[str, Any]] = [{}, {"symmetric": True, "signed": True}, {"include_zero": False}]
CODES: List[Dict[str, Any]] = [{}, {"bits": 4, "packed": True}, {"bits": 2, "packed": True, "signed": True},
                               {"bits": 1, "packed": True}, {"bits": 3, "signed": True}, {"bits": 12}]


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    qa.set_num_threads(None)


def _same_at_every_level(x: np.ndarray, what: str, **kw: Any) -> None:
    with simd("scalar"):
        want = outcome(lambda: qa.quantize(x, **kw))
    for level in FAST:
        with simd(level):
            got = outcome(lambda: qa.quantize(x, **kw))
        assert got == want, f"{level} {what} {kw}"


def _data(rng: np.random.Generator, shape: Any) -> np.ndarray:
    x = (rng.standard_normal(shape) * 3 + 0.5).astype(np.float32)
    x[..., ::7] = np.abs(x[..., ::7])  # some blocks all positive
    return x


@pytest.mark.parametrize("block", [16, 32, 64])
def test_short_last_block_of_every_length(block: int) -> None:
    """Rows of k * B + r floats for every r: the short last block in every phase of a register, batched with
    the next rows' blocks."""
    rng = np.random.default_rng(block)
    for r in range(block):
        n = 2 * block + r
        kw = CODES[r % len(CODES)]
        x = _data(rng, (5, n))
        _same_at_every_level(x, f"r={r}", block_size=block, **{**SCHEMES[r % 3], **kw})


@pytest.mark.parametrize("block", [1, 3, 5, 8, 17, 24, 48, 100, 1024, 1025])
def test_block_sizes_not_multiple_of_16(block: int) -> None:
    rng = np.random.default_rng(block + 1000)
    for k, n in enumerate([1, 15, 16, 17, block - 1, block, block + 1, 3 * block + 5, 47 * block + 2]):
        if n < 1:
            continue
        rows = max(1, min(40, 4000 // n))
        x = _data(rng, (rows, n))
        _same_at_every_level(x, f"n={n}", block_size=block, **{**SCHEMES[k % 3], **CODES[k % len(CODES)]})


@pytest.mark.parametrize("n", [4095, 4097, 300, 1000, 255, 257, 33, 31])
def test_rows_around_multiples_of_16_and_b(n: int) -> None:
    """Rows whose full blocks leave 1..15 leftovers (4095 = 63 * 64 + 63), rows of fewer than 16 blocks, rows of
    odd length (packed rows that start inside a byte); each bytes equal to the NumPy reference too."""
    rng = np.random.default_rng(n)
    x = _data(rng, (9, n))
    for b in (32, 64):
        for scheme in SCHEMES:
            for kw in CODES[:3]:
                _same_at_every_level(x, f"n={n} B={b}", block_size=b, **{**scheme, **kw})
        q = qa.quantize(x, block_size=b, bits=4, packed=True)
        plain = qa.quantize(x, block_size=b, bits=4)
        assert np.array_equal(q.values, R.pack_codes_bits(plain.values, 4)), f"n={n} B={b}"


def test_dynamic_qparams_match_reference() -> None:
    """Each block's (scale, zero point) from block16's lanes equals the NumPy reference's, for every scheme."""
    rng = np.random.default_rng(5)
    x = _data(rng, (7, 4095))
    x[2, 64:128] = 0.0  # an all-zero block
    x[3, 128:192] = 2.5  # a constant block
    x[4, 192:256] = -0.0
    for mode in ({}, {"symmetric": True}, {"include_zero": False}):
        for level in SIMD_LEVELS:
            with simd(level):
                q = qa.quantize(x, block_size=64, **mode)
            s, z = R.mode_group_qparams(x, block_size=64, axis=-1, **mode)
            assert np.array_equal(np.asarray(q.scale), s) and np.array_equal(np.asarray(q.zero_point), z), (level, mode)


@pytest.mark.parametrize("where", ["first", "leftover", "short"])
def test_tight_zero_point_past_2_23_raises_as_scalar(where: str) -> None:
    """include_zero=False: a block far from 0 for its width has |z| > 2^23 and must raise; batched with good
    blocks, in a batch's first block, a row's leftover full blocks or its short last block."""
    x = _data(np.random.default_rng(3), (6, 4095))
    col = {"first": 0, "leftover": 63 * 64 - 64, "short": 63 * 64 + 3}[where]
    start = col - col % 64
    x[4, start:start + 64] = 1e6
    x[4, col] = np.float32(1e6) + np.float32(0.0625)
    with simd("scalar"):
        with pytest.raises(ValueError, match="2\\^23"):
            qa.quantize(x, block_size=64, include_zero=False)
    _same_at_every_level(x, where, block_size=64, include_zero=False)
    _same_at_every_level(x, where, block_size=64, include_zero=False, bits=4, packed=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["first", "leftover", "short", "short-row"])
def test_nan_inf_in_leftover_or_short_block_as_scalar(bad: float, where: str) -> None:
    """NaN / ±Inf in a batch's first block, a leftover full block or a short last block (rows of 4095 and of
    40 floats): the same error at every level; a NaN later in the array than an Inf still wins."""
    n = 40 if where == "short-row" else 4095
    x = _data(np.random.default_rng(4), (6, n))
    col = {"first": 0, "leftover": 63 * 64 - 5, "short": 4090, "short-row": 35}[where]
    x[3, col] = bad
    for scheme in SCHEMES:
        _same_at_every_level(x, where, block_size=32, **scheme)
        _same_at_every_level(x, where, **{**scheme, "block_size": 64, "bits": 4, "packed": True})
    if bad == np.inf:
        x[5, -1] = np.nan
        _same_at_every_level(x, where + " nan after inf", block_size=64)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_counts_large_arrays(threads: int, restore_threads: None) -> None:
    """Arrays past the prefetch / non-temporal threshold (2 Mi floats), split between threads: the scalar
    level's single-thread bytes for every level and thread count."""
    rng = np.random.default_rng(threads)
    cases = [((520, 4095), 64), ((7000, 300), 32), ((2100, 1024), 64), ((2100, 1001), 24)]
    for shape, b in cases:
        x = _data(rng, shape)
        for kw in ({}, {"bits": 4, "packed": True}, {"include_zero": False, "bits": 4, "packed": True}):
            qa.set_num_threads(1)
            with simd("scalar"):
                want = outcome(lambda: qa.quantize(x, block_size=b, **kw))
            qa.set_num_threads(threads)
            for level in FAST:
                with simd(level):
                    assert outcome(lambda: qa.quantize(x, block_size=b, **kw)) == want, (shape, b, kw, level)


@pytest.mark.parametrize("block", [128, 256, 1000])
def test_codes_next_to_rounding_boundaries_long_blocks(block: int) -> None:
    """Blocks of 128 floats or more take the bracketed multiplication (two FMAs) for their codes: values at
    and one float step around every tie k + 1/2 of x / s (a scale that is a power of two makes the ties exact)
    still get true division's codes at every level, in every scheme."""
    s0 = np.float32(2.0 ** -4)
    k = np.arange(255, dtype=np.float32)  # ties up to 254.5: every value inside [0, 255 s0]
    ties = (k + np.float32(0.5)) * s0
    vals = np.concatenate([ties, np.nextafter(ties, np.float32(0)), np.nextafter(ties, np.float32(1e9)), k * s0])
    rows = -(-vals.size // block) + 3
    x = np.resize(vals, (rows, block)).astype(np.float32)
    x[:, 0] = 0.0
    x[:, 1] = np.float32(255) * s0  # range [0, 255 s0]: s = s0 exactly
    for scheme in ({}, {"include_zero": False}, {"symmetric": True}):
        _same_at_every_level(x, f"B={block}", block_size=block, **scheme)
        _same_at_every_level(x, f"B={block} packed", block_size=block, bits=4, packed=True, **scheme)
        _same_at_every_level(-x, f"B={block} negated", block_size=block, signed=True, **scheme)
    with simd("scalar"):
        q = qa.quantize(x, block_size=block)
    assert np.all(np.asarray(q.scale) == s0)
    want = np.clip(np.rint(x / s0), 0, 255).astype(np.uint8)
    assert np.array_equal(q.values, want)

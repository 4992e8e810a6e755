"""qaffine's modes — per-axis, per-block, 1-8 bit, signed, symmetric, tight range, compat='torch', packed —
against oracles.

The oracles: real ONNX QuantizeLinear / DequantizeLinear nodes (onnx.reference.ReferenceEvaluator, opset
21, with ``axis`` and ``block_size``), PyTorch's ``quantize_per_tensor`` / ``quantize_per_channel``, and
the NumPy statement of the parameter formulas in ``tests/reference.py`` (``mode_*`` functions, which
compute every slice's and block's parameters on their own, never by calling qaffine). Expected values
always come from one of these or from a rule stated in the test, never from qaffine itself.

Codes are compared with ``np.array_equal``, scales by their float32 bits, zero points as integers.
Tests marked with the ``simd_level`` fixture run at every SIMD level; the others that matter for the
kernels loop over ``SIMD_LEVELS`` in their body.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qaffine as qa
import reference as R
from conftest import SIMD_LEVELS, simd

pytest.importorskip("onnx")

SCHEMES: Dict[str, Dict[str, bool]] = {
    "default": {},
    "symmetric": {"symmetric": True},
    "tight": {"include_zero": False},
}

# The notebook's ten values (the seed example): its tight range gives zero point -24.
NOTEBOOK_VALUES = [0.28301402, 0.77873235, 1.12233709, 1.39843439, 1.6999251, 1.74000648, 2.00392207,
                   3.13781879, 3.16970945, 3.34183501]

# Round trip: |x - dequantize(quantize(x))| <= s / 2 in exact arithmetic. The float steps add: x / s off by
# at most 2**-24 |x / s| (in units of s), the scale's own rounding (<= 2**-24 relative over <= 255 steps),
# and the float32 product of dequantize (2**-24 |result|). So the slack is s * 2**-12 plus 2**-22 |x|
# (the tight range may put the zero point far from 0, making |x / s| large).
ROUND_TRIP_SLACK_STEPS = 2.0**-12
ROUND_TRIP_SLACK_REL = 2.0**-22


# ------------------------------------------------------------------------------------------- helpers


def _mode_kw(bits: int = 8, signed: bool = False, scheme: str = "default") -> Dict[str, Any]:
    return dict(bits=bits, signed=signed, **SCHEMES[scheme])


def _ref_mode(kw: Dict[str, Any]) -> Dict[str, Any]:
    """The mode keywords the NumPy reference takes (no granularity)."""
    return {k: kw[k] for k in ("bits", "signed", "symmetric", "include_zero") if k in kw}


def _f32_bits(a: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32)).view(np.uint32)


def _assert_codes(got: np.ndarray, expected: np.ndarray, x: np.ndarray, what: str = "") -> None:
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    if not np.array_equal(got, expected):
        i = tuple(int(k) for k in np.argwhere(got != expected)[0])
        raise AssertionError(
            f"{what}: {int(np.sum(got != expected))} codes differ, first at {i}: x={x[i]!r} got {got[i]} "
            f"expected {expected[i]}"
        )


def _assert_params(scale: Any, zero_point: Any, ref_scale: Any, ref_zp: Any, what: str = "") -> None:
    assert np.shape(scale) == np.shape(ref_scale), f"{what}: params shape {np.shape(scale)} != {np.shape(ref_scale)}"
    bad = _f32_bits(scale) != _f32_bits(ref_scale)
    if np.any(bad):
        i = tuple(int(k) for k in np.argwhere(np.atleast_1d(bad))[0])
        raise AssertionError(
            f"{what}: scale differs at {i}: got {np.atleast_1d(scale)[i]!r} expected {np.atleast_1d(ref_scale)[i]!r}"
        )
    zbad = np.asarray(zero_point, dtype=np.int64) != np.asarray(ref_zp, dtype=np.int64)
    if np.any(zbad):
        i = tuple(int(k) for k in np.argwhere(np.atleast_1d(zbad))[0])
        raise AssertionError(
            f"{what}: zero point differs at {i}: got {np.atleast_1d(zero_point)[i]} expected {np.atleast_1d(ref_zp)[i]}"
        )


def _varied(shape: Tuple[int, ...], axis: int, seed: int, dtype: Any = np.float32) -> np.ndarray:
    """Normal data whose slices along `axis` differ in magnitude (1e-3 .. 1e3) and sign (mixed, all positive,
    all negative), with a constant slice and an all-zero slice when there are enough slices."""
    rng = np.random.default_rng(seed)
    axis %= len(shape)
    n = shape[axis]
    dims = [1] * len(shape)
    dims[axis] = n
    mag = 10.0 ** rng.uniform(-3.0, 3.0, n)
    shift = rng.choice([0.0, 0.0, 4.0, -4.0, 1.5], n)
    x = (rng.standard_normal(shape) + shift.reshape(dims)) * mag.reshape(dims)
    if n >= 3:
        idx = [slice(None)] * len(shape)
        idx[axis] = n // 2
        x[tuple(idx)] = -2.75 * mag[n // 2]
    if n >= 5:
        idx = [slice(None)] * len(shape)
        idx[axis] = 1
        x[tuple(idx)] = 0.0
    return x.astype(dtype)


def _blocky(shape: Tuple[int, ...], seed: int, dtype: Any = np.float32) -> np.ndarray:
    """Heavy-tailed data (normal times lognormal) with a positive-only region and a negative-only region, so
    blocks see mixed, one-sided and small ranges."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp(rng.normal(0.0, 1.0, shape))
    flat = x.reshape(-1)
    third = flat.size // 3
    flat[:third] = np.abs(flat[:third]) + 0.5
    flat[third : 2 * third] = -np.abs(flat[third : 2 * third]) - 2.0
    return x.astype(dtype)


def _round_trip_bound(x: np.ndarray, s_elem: np.ndarray) -> np.ndarray:
    s = s_elem.astype(np.float64)
    return s / 2 + s * ROUND_TRIP_SLACK_STEPS + np.abs(x.astype(np.float64)) * ROUND_TRIP_SLACK_REL


# ---------------------------------------------------------------------------------------- torch helpers
def _torch() -> Any:
    return pytest.importorskip("torch")


def _torch_per_tensor(x: np.ndarray, scale: Any, zp: int, signed: bool) -> np.ndarray:
    torch = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's deprecation notice for quantized tensors
        t = torch.quantize_per_tensor(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), float(scale),
                                      int(zp), torch.qint8 if signed else torch.quint8)
        return t.int_repr().numpy()


def _torch_per_channel(x: np.ndarray, scales: Any, zps: Any, axis: int, signed: bool) -> np.ndarray:
    torch = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = torch.quantize_per_channel(
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            torch.from_numpy(np.asarray(scales, dtype=np.float64)),
            torch.from_numpy(np.asarray(zps, dtype=np.int64)),
            axis % x.ndim,
            torch.qint8 if signed else torch.quint8,
        )
        return t.int_repr().numpy()


def _ties(shape: Tuple[int, ...], scale_elem: np.ndarray, seed: int, lo: int = -70, hi: int = 70) -> np.ndarray:
    """float32((k + 1/2) * s): quotients x / s on or next to a half-way point."""
    rng = np.random.default_rng(seed)
    k = rng.integers(lo, hi, shape)
    return ((k + 0.5) * scale_elem.astype(np.float64)).astype(np.float32)


# ====================================================================================================
# 1. Per axis and blocked, against ONNX QuantizeLinear / DequantizeLinear (opset 21) and the reference
# ====================================================================================================
AXIS_CASES = [((37, 300), 0), ((37, 300), 1), ((37, 300), -1), ((4, 33, 70), 0), ((4, 33, 70), 1),
              ((4, 33, 70), -1)]


@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
@pytest.mark.parametrize("shape,axis", AXIS_CASES, ids=[f"{s}-axis{a}" for s, a in AXIS_CASES])
def test_per_axis_matches_onnx_quantize_and_dequantize_linear(
    simd_level: str, shape: Tuple[int, ...], axis: int, signed: bool
) -> None:
    x = _varied(shape, axis, seed=sum(shape) + axis)
    for bits, scheme in itertools.product((8, 4), ("default", "symmetric")):
        kw = _mode_kw(bits, signed, scheme)
        what = f"{shape} axis={axis} {kw}"
        q = qa.quantize(x, axis=axis, **kw)
        assert q.params.axis == axis % x.ndim and q.params.block_size is None
        assert q.values.dtype == (np.int8 if signed else np.uint8)
        # each slice's params are those of per-tensor quantization of that slice (NumPy formulas)
        ref_s, ref_z = R.mode_group_qparams(x, axis=axis, **_ref_mode(kw))
        _assert_params(q.scale, q.zero_point, ref_s, ref_z, what)
        # ONNX QuantizeLinear(axis) with these params gives the same codes ...
        expected = R.onnx_mode_quantize_linear(x, q.scale, q.zero_point, axis=axis, bits=bits, signed=signed)
        _assert_codes(q.values, expected, x, what)
        # ... and DequantizeLinear(axis) the same floats
        floats = R.onnx_mode_dequantize_linear(q.values, q.scale, q.zero_point, axis=axis, bits=bits, signed=signed)
        assert R.same_bits(qa.dequantize(q), floats), what
        assert R.same_bits(qa.dequantize(q.values, q.params), floats), what


BLOCK_CASES = [((3, 300), None), ((4, 2, 300), -1), ((300, 5), 0), ((2, 300, 3), 1)]


@pytest.mark.parametrize("block_size", [16, 32, 64, 128])
@pytest.mark.parametrize("shape,axis", BLOCK_CASES, ids=[f"{s}-axis{a}" for s, a in BLOCK_CASES])
def test_blocked_matches_onnx_quantize_and_dequantize_linear(
    simd_level: str, shape: Tuple[int, ...], axis: Optional[int], block_size: int
) -> None:
    # 300 is not a multiple of any block size here: the last block along the axis is short
    x = _blocky(shape, seed=block_size + len(shape))
    onnx_axis = len(shape) - 1 if axis is None else axis
    n = shape[onnx_axis]
    assert n % block_size != 0
    for bits, signed, scheme in itertools.product((8, 4), (False, True), ("default", "symmetric")):
        kw = _mode_kw(bits, signed, scheme)
        what = f"{shape} axis={axis} block_size={block_size} {kw}"
        q = qa.quantize(x, axis=axis, block_size=block_size, **kw)
        params_shape = list(shape)
        params_shape[onnx_axis] = -(-n // block_size)
        assert q.scale.shape == tuple(params_shape) == q.zero_point.shape, what
        assert q.params.block_size == block_size and q.params.axis == onnx_axis % len(shape)
        ref_s, ref_z = R.mode_group_qparams(x, axis=onnx_axis, block_size=block_size, **_ref_mode(kw))
        _assert_params(q.scale, q.zero_point, ref_s, ref_z, what)
        expected = R.onnx_mode_quantize_linear(x, q.scale, q.zero_point, axis=onnx_axis, block_size=block_size,
                                               bits=bits, signed=signed)
        _assert_codes(q.values, expected, x, what)
        floats = R.onnx_mode_dequantize_linear(q.values, q.scale, q.zero_point, axis=onnx_axis,
                                               block_size=block_size, bits=bits, signed=signed)
        assert R.same_bits(qa.dequantize(q), floats), what


def test_per_tensor_4_bit_codes_match_onnx_int4_quantize_linear(simd_level: str) -> None:
    x = _blocky((5, 77), seed=4)
    for signed, scheme in itertools.product((False, True), ("default", "symmetric")):
        q = qa.quantize(x, **_mode_kw(4, signed, scheme))
        ref_s, ref_z = R.mode_dynamic_qparams(x, **_ref_mode(_mode_kw(4, signed, scheme)))
        _assert_params(q.scale, q.zero_point, ref_s, ref_z, f"signed={signed} {scheme}")
        expected = R.onnx_mode_quantize_linear(x, q.scale, q.zero_point, bits=4, signed=signed)
        _assert_codes(q.values, expected, x, f"signed={signed} {scheme}")


@pytest.mark.parametrize("bits", [8, 5, 3, 1])
@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_choose_qparams_on_minmax_arrays_equals_per_slice_reference(bits: int, signed: bool, scheme: str) -> None:
    kw = _mode_kw(bits, signed, scheme)
    x = _varied((6, 45), 0, seed=bits)
    for axis, block_size in [(0, None), (None, 7), (-1, 7), (0, 4)]:
        lo, hi = qa.minmax(x, axis=axis, block_size=block_size)
        if axis is None:
            axis = -1
        ref_shape = R.mode_params_shape(x.shape, axis, block_size)
        assert lo.shape == hi.shape == ref_shape and lo.dtype == hi.dtype == np.float32
        # minmax per slice / block, against NumPy on each slice
        ref_lo = np.empty(ref_shape, np.float32)
        ref_hi = np.empty(ref_shape, np.float32)
        if block_size is None:
            for k in range(x.shape[axis]):
                ref_lo[k], ref_hi[k] = np.take(x, k, axis).min(), np.take(x, k, axis).max()
        else:
            moved, mlo, mhi = np.moveaxis(x, axis, -1), np.moveaxis(ref_lo, axis, -1), np.moveaxis(ref_hi, axis, -1)
            for pos in np.ndindex(moved.shape[:-1]):
                for b in range(mlo.shape[-1]):
                    seg = moved[pos][b * block_size : (b + 1) * block_size]
                    mlo[pos + (b,)], mhi[pos + (b,)] = seg.min(), seg.max()
        assert np.array_equal(lo, ref_lo) and np.array_equal(hi, ref_hi)
        p = qa.choose_qparams(lo, hi, axis=axis, block_size=block_size, **kw)
        ref_s, ref_z = R.mode_group_qparams(x, axis=axis, block_size=block_size, **_ref_mode(kw))
        _assert_params(p.scale, p.zero_point, ref_s, ref_z, f"axis={axis} block_size={block_size} {kw}")
        # and per tensor, choose_qparams on one slice's bounds is that slice's entry
        k = x.shape[axis] // 2
        if block_size is None:
            one = qa.choose_qparams(lo[k], hi[k], **kw)
            assert R.same_float32(one.scale, ref_s[k]) and one.zero_point == ref_z[k]


CHOOSE_AXIS_CASES = [((4, 4), -1), ((6, 45), 1), ((3, 5, 7), 1), ((3, 5, 7), -1), ((3, 5, 7), -2)]


@pytest.mark.parametrize("shape,axis", CHOOSE_AXIS_CASES, ids=[f"{s}-axis{a}" for s, a in CHOOSE_AXIS_CASES])
def test_choose_qparams_on_per_channel_bounds_quantizes_along_the_given_axis(shape: Tuple[int, ...], axis: int) -> None:
    # README: "qa.minmax(x, axis=k) ... return the per-slice ranges, and qa.choose_qparams takes such arrays";
    # the params must then quantize x along axis k, as qa.quantize(x, axis=k) does.
    x = _varied(shape, axis, seed=len(shape) + axis)
    lo, hi = qa.minmax(x, axis=axis)
    ref_s, ref_z = R.mode_group_qparams(x, axis=axis)
    p = qa.choose_qparams(lo, hi, axis=axis)
    _assert_params(p.scale, p.zero_point, ref_s, ref_z, f"{shape} axis={axis}")
    codes = R.mode_quantize_codes(x, R.mode_expand(ref_s, shape, axis), R.mode_expand(ref_z, shape, axis), 0, 255,
                                  signed=False)
    _assert_codes(qa.quantize(x, p).values, codes, x, f"{shape} axis={axis}")


# ====================================================================================================
# 2. compat='torch' against PyTorch
# ====================================================================================================
TORCH_CHANNEL_CASES = [((9, 70), 0), ((9, 70), 1), ((3, 20, 40), 0), ((3, 20, 40), 1)]


@pytest.mark.parametrize("signed", [False, True], ids=["quint8", "qint8"])
def test_torch_per_tensor_random_data_matches_quantize_per_tensor(simd_level: str, signed: bool) -> None:
    rng = np.random.default_rng(11)
    for n in list(range(1, 70)) + [255, 1000, 4099]:  # every tail length of the vector loops
        for scheme in ("default", "symmetric"):
            x = (rng.standard_normal(n) * 3 + rng.choice([0.0, 2.0])).astype(np.float32)
            q = qa.quantize(x, compat="torch", **_mode_kw(8, signed, scheme))
            expected = _torch_per_tensor(x, q.scale, q.zero_point, signed)
            _assert_codes(q.values, expected, x, f"n={n} {scheme}")


@pytest.mark.parametrize("signed", [False, True], ids=["quint8", "qint8"])
def test_torch_per_tensor_ties_match_quantize_per_tensor(simd_level: str, signed: bool) -> None:
    rng = np.random.default_rng(12)
    for n in [1, 7, 8, 9, 31, 33, 64, 65, 1001]:
        x = rng.standard_normal(n).astype(np.float32)
        p = qa.quantize(x, compat="torch", signed=signed).params
        xt = _ties((n,), np.full(n, p.scale), seed=n)  # near-ties with the dynamic scale
        q = qa.quantize(xt, p, compat="torch")
        _assert_codes(q.values, _torch_per_tensor(xt, p.scale, p.zero_point, signed), xt, f"n={n}")
    # exact ties: a power-of-two scale makes x / s, x * (1 / s) and fma(x, 1 / s, z) exact
    for zp in ([0, 1, 3, 127, -5] if signed else [0, 1, 3, 128, 201]):
        p = qa.QParams(np.float32(0.125), zp, signed=signed)
        xt = _ties((257,), np.full(257, np.float32(0.125)), seed=zp + 500)
        q = qa.quantize(xt, p, compat="torch")
        _assert_codes(q.values, _torch_per_tensor(xt, p.scale, zp, signed), xt, f"zero point {zp}")


@pytest.mark.parametrize("signed", [False, True], ids=["quint8", "qint8"])
@pytest.mark.parametrize("shape,axis", TORCH_CHANNEL_CASES, ids=[f"{s}-axis{a}" for s, a in TORCH_CHANNEL_CASES])
def test_torch_per_channel_random_data_matches_quantize_per_channel(
    simd_level: str, shape: Tuple[int, ...], axis: int, signed: bool
) -> None:
    for scheme in ("default", "symmetric"):
        x = _varied(shape, axis, seed=len(shape) * 10 + axis)
        q = qa.quantize(x, axis=axis, compat="torch", **_mode_kw(8, signed, scheme))
        expected = _torch_per_channel(x, q.scale, q.zero_point, axis, signed)
        _assert_codes(q.values, expected, x, f"{shape} axis={axis} {scheme}")


@pytest.mark.parametrize("signed", [False, True], ids=["quint8", "qint8"])
@pytest.mark.parametrize("shape,axis", TORCH_CHANNEL_CASES, ids=[f"{s}-axis{a}" for s, a in TORCH_CHANNEL_CASES])
def test_torch_per_channel_ties_match_quantize_per_channel(
    simd_level: str, shape: Tuple[int, ...], axis: int, signed: bool
) -> None:
    x = _varied(shape, axis, seed=len(shape) * 10 + axis + 1)
    p = qa.quantize(x, axis=axis, compat="torch", signed=signed).params
    s_elem = R.mode_expand(p.scale, shape, axis)
    xt = _ties(shape, s_elem, seed=axis + 3)
    q = qa.quantize(xt, p, compat="torch")
    expected = _torch_per_channel(xt, p.scale, p.zero_point, axis, signed)
    _assert_codes(q.values, expected, xt, f"{shape} axis={axis} zero points {p.zero_point[:6]}...")


def test_torch_per_channel_exact_ties_with_odd_zero_point() -> None:
    # The smallest case: scale 0.25 (power of two, so x * (1 / s) = x / s exactly), zero point 1, x / s = +-0.5
    x = np.float32([[0.125, 0.375, -0.125, 0.625]])
    p = qa.QParams(np.float32([0.25]), np.int32([1]), axis=0)
    expected = _torch_per_channel(x, p.scale, p.zero_point, 0, False)
    # PyTorch agrees with itself: quantize_per_tensor with the same (scale, zero point) gives the same codes
    assert np.array_equal(expected, _torch_per_tensor(x, 0.25, 1, False))
    _assert_codes(qa.quantize(x, p, compat="torch").values, expected, x, "per-channel compat='torch'")


@pytest.mark.parametrize("kind", ["random", "ties"])
def test_torch_per_block_matches_quantize_per_channel_of_the_blocks(simd_level: str, kind: str) -> None:
    # Blocks of B along a 1-D array are the rows of x.reshape(-1, B): per-channel quantization along axis 0.
    B, nb = 32, 24
    x = _blocky((nb * B,), seed=77)
    for signed in (False, True):
        p = qa.quantize(x, block_size=B, compat="torch", signed=signed).params
        xs = x if kind == "random" else _ties(x.shape, R.mode_expand(p.scale, x.shape, 0, B), seed=78)
        q = qa.quantize(xs, p, compat="torch")
        expected = _torch_per_channel(xs.reshape(nb, B), p.scale, p.zero_point, 0, signed).reshape(-1)
        _assert_codes(q.values, expected, xs, f"{kind} signed={signed}")


def test_compat_onnx_and_torch_differ_on_ties() -> None:
    # Exact ties x / s = k + 1/2 with an odd zero point: ONNX rounds x / s then adds z, PyTorch's per-tensor
    # kernel rounds x / s + z. Both compat settings must each match their own oracle, and differ.
    p = qa.QParams(np.float32(0.125), 1)
    x = ((np.arange(-10, 60) + 0.5) * 0.125).astype(np.float32)
    onnx_codes = qa.quantize(x, p).values
    torch_codes = qa.quantize(x, p, compat="torch").values
    _assert_codes(onnx_codes, R.onnx_mode_quantize_linear(x, p.scale, 1), x, "compat='onnx'")
    _assert_codes(torch_codes, _torch_per_tensor(x, p.scale, 1, False), x, "compat='torch'")
    assert np.sum(onnx_codes != torch_codes) >= 30
    # per channel, with scales that are not powers of two, x * float32(1 / s) and x / s round apart
    x = _varied((16, 200), 0, seed=5)
    pa = qa.quantize(x, axis=0).params
    xt = _ties(x.shape, R.mode_expand(pa.scale, x.shape, 0), seed=6)
    onnx_a = qa.quantize(xt, pa).values
    _assert_codes(onnx_a, R.onnx_mode_quantize_linear(xt, pa.scale, pa.zero_point, axis=0), xt, "axis=0 onnx")
    assert np.any(onnx_a != qa.quantize(xt, pa, compat="torch").values)


# ====================================================================================================
# 3. Every bit width, signed and unsigned, every scheme and granularity, against the NumPy reference
# ====================================================================================================
def _granularities(ndim: int) -> List[Dict[str, Any]]:
    g: List[Dict[str, Any]] = [{}, {"axis": 0}, {"axis": -1}, {"block_size": 16}, {"axis": 0, "block_size": 4}]
    if ndim == 3:
        g += [{"axis": 1}, {"axis": 1, "block_size": 2}]
    return g


def _reference_of(x: np.ndarray, gran: Dict[str, Any], kw: Dict[str, Any], rounding: str = "divide") -> Any:
    return R.mode_quantize(x, axis=gran.get("axis"), block_size=gran.get("block_size"), rounding=rounding,
                           **_ref_mode(kw))


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_modes_match_numpy_reference(bits: int, signed: bool, scheme: str) -> None:
    kw = _mode_kw(bits, signed, scheme)
    qmin, qmax = R.mode_code_range(bits, signed)
    for shape, dtype in itertools.product([(6, 45), (3, 5, 37)], [np.float32, np.float64]):
        x = _varied(shape, 0, seed=bits * 7 + len(shape), dtype=dtype)
        for gran in _granularities(len(shape)):
            what = f"{shape} {np.dtype(dtype)} {gran} {kw}"
            codes, s, z = _reference_of(x, gran, kw)
            assert codes.min() >= qmin and codes.max() <= qmax
            for level in SIMD_LEVELS:
                with simd(level):
                    q = qa.quantize(x, **gran, **kw)
                _assert_params(q.scale, q.zero_point, s, z, f"{level} {what}")
                _assert_codes(q.values, codes, x, f"{level} {what}")
            assert q.params.bits == bits and q.params.signed == signed
            assert (q.params.qmin, q.params.qmax) == (qmin, qmax)
            # dequantize is dtype(q - z) * dtype(s) with the slice's / block's parameters
            axis = gran.get("axis", len(shape) - 1 if "block_size" in gran else None)
            ref_f = R.mode_dequantize(codes, s, z, axis, gran.get("block_size"))
            assert R.same_bits(qa.dequantize(q), ref_f), what


@pytest.mark.parametrize("bits", range(1, 9))
def test_multiply_rounding_per_axis_and_block_matches_numpy_reference(bits: int) -> None:
    # compat='torch' per axis / per block rounds x * float32(1 / s) (the stated rule), then adds z
    for signed, scheme in itertools.product((False, True), SCHEMES):
        kw = _mode_kw(bits, signed, scheme)
        for dtype in (np.float32, np.float64):
            x = _varied((6, 45), 1, seed=bits, dtype=dtype)
            for gran in [{"axis": 0}, {"axis": 1}, {"block_size": 8}, {"axis": 0, "block_size": 4}]:
                codes, s, z = _reference_of(x, gran, kw, rounding="multiply")
                for level in SIMD_LEVELS:
                    with simd(level):
                        q = qa.quantize(x, compat="torch", **gran, **kw)
                    what = f"{level} {np.dtype(dtype)} {gran} {kw}"
                    _assert_params(q.scale, q.zero_point, s, z, what)
                    _assert_codes(q.values, codes, x, what)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_notebook_seed_values_tight_range(simd_level: str, dtype: Any) -> None:
    x = np.array(NOTEBOOK_VALUES, dtype=dtype)
    q = qa.quantize(x, include_zero=False)
    ref_s, ref_z = R.mode_dynamic_qparams(x, include_zero=False)
    assert ref_z == -24
    assert q.zero_point == -24
    assert R.same_float32(q.scale, ref_s), (q.scale, ref_s)
    # the notebook's own scale, (max - min) / 255 in float64, within float32 rounding
    notebook_scale = (max(NOTEBOOK_VALUES) - min(NOTEBOOK_VALUES)) / 255
    assert abs(float(q.scale) - notebook_scale) <= 2.0**-23 * notebook_scale
    assert abs(float(q.scale) - 0.011995376) <= 2.0**-22 * 0.011995376
    codes, _, _ = R.mode_quantize(x, include_zero=False)
    _assert_codes(q.values, codes, x, "notebook values")
    # tight range: the smallest value lands on the lowest code, the largest on the highest
    assert q.values[0] == 0 and q.values[-1] == 255
    # per axis over a stack of the same row, every row gets the same params
    stacked = np.stack([x, x[::-1]])
    qa_rows = qa.quantize(stacked, axis=0, include_zero=False)
    _assert_params(qa_rows.scale, qa_rows.zero_point, [ref_s, ref_s], [-24, -24], "rows")


# ====================================================================================================
# 4. Round trip and packing
# ====================================================================================================
@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_round_trip_error_at_most_half_a_step(bits: int, signed: bool, scheme: str) -> None:
    kw = _mode_kw(bits, signed, scheme)
    for shape, dtype in itertools.product([(6, 45), (3, 5, 37)], [np.float32, np.float64]):
        x = _varied(shape, 0, seed=bits + 100, dtype=dtype)
        for gran in _granularities(len(shape)):
            for compat in ("onnx", "torch"):
                q = qa.quantize(x, compat=compat, **gran, **kw)
                _, s, _ = _reference_of(x, gran, kw)
                axis = gran.get("axis", len(shape) - 1 if "block_size" in gran else None)
                s_elem = R.mode_expand(s, shape, axis, gran.get("block_size"))
                back = qa.dequantize(q, dtype=np.float64)
                err = np.abs(back - x.astype(np.float64))
                bound = _round_trip_bound(x, s_elem)
                if np.any(err > bound):
                    i = tuple(int(k) for k in np.argwhere(err > bound)[0])
                    raise AssertionError(
                        f"{shape} {np.dtype(dtype)} {gran} {kw} {compat}: |x - x'| = {err[i]!r} > s/2 = "
                        f"{s_elem[i] / 2!r} at {i} (x={x[i]!r}, code {q.values[i]})"
                    )


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
def test_packing_round_trip_and_byte_layout(bits: int, signed: bool) -> None:
    rng = np.random.default_rng(bits)
    for n in [1, 2, 3, 5, 7, 9, 15, 17, 31, 63, 101]:
        for shape, gran in [((n,), {}), ((3, n), {"axis": 1}), ((n, 3), {"block_size": 2}), ((3, n), {"axis": 0})]:
            x = (rng.standard_normal(shape) * 2 + 0.3).astype(np.float32)
            kw = _mode_kw(bits, signed, "default")
            plain = qa.quantize(x, **gran, **kw)
            packed = qa.quantize(x, packed=True, **gran, **kw)
            what = f"{shape} {gran} bits={bits} signed={signed}"
            assert packed.packed and not plain.packed
            assert packed.shape == x.shape == plain.shape
            assert packed.params == plain.params, what
            assert packed.values.dtype == np.uint8 and packed.values.ndim == 1
            # unpacking gives back the codes (sign-extended for signed codes)
            _assert_codes(packed.codes(), plain.values, x, what)
            # the bytes follow the stated rule (first code in the lowest bits) ...
            expected_bytes = R.pack_codes(plain.values, bits)
            assert np.array_equal(packed.values, expected_bytes), what
            # ... which is ONNX's own uint4/int4 (bits 3-4) and uint2/int2 (bits 2) packing
            onnx_bytes = R.onnx_pack_codes(plain.values, bits, signed)
            if onnx_bytes is not None:
                assert np.array_equal(packed.values, onnx_bytes), what
            # dequantize unpacks
            assert R.same_bits(qa.dequantize(packed), qa.dequantize(plain)), what
            rebuilt = qa.QuantizedArray(packed.values, packed.params, shape=shape, packed=True)
            _assert_codes(rebuilt.codes(), plain.values, x, what)


def test_packed_byte_layout_hand_derived() -> None:
    # Codes set by static params with scale 1, zero point 0, so the codes are the input values.
    def packed(values: List[float], bits: int, signed: bool = False) -> List[int]:
        p = qa.QParams(np.float32(1.0), 0, bits=bits, signed=signed)
        return qa.quantize(np.float32(values), p, packed=True).values.tolist()

    assert packed([1, 2, 3], 4) == [0x21, 0x03]
    assert packed([15, 0, 7, 9], 4) == [0x0F, 0x97]
    assert packed([-1, -8, 7], 4, signed=True) == [0x8F, 0x07]
    assert packed([5, 2, 7], 3) == [0x25, 0x07]
    assert packed([-4, 3], 3, signed=True) == [0x3C]
    assert packed([1, 2, 3, 0, 1], 2) == [0b00111001, 0b01]
    assert packed([-2, 1, -1, 0], 2, signed=True) == [0b00110110]
    assert packed([1, 0, 1, 1, 0, 0, 0, 1, 1], 1) == [0b10001101, 0b1]
    assert packed([-1, 0, -1], 1, signed=True) == [0b101]


# ====================================================================================================
# 5. Every SIMD level gives the same codes and parameters in every mode
# ====================================================================================================
def test_every_simd_level_gives_identical_results_in_every_mode() -> None:
    rng = np.random.default_rng(2024)
    base = _blocky((7, 531), seed=1)
    ties = ((rng.integers(-300, 300, (7, 531)) + 0.5) * 2.0**-3).astype(np.float32)
    arrays = {"f32": base, "f64": base.astype(np.float64) * 1.0001, "f16": base.astype(np.float16), "ties": ties}
    grans = [{}, {"axis": 0}, {"axis": -1}, {"block_size": 64}, {"axis": 0, "block_size": 3}]
    checked = 0
    for (name, x), bits, signed, scheme, gran, compat in itertools.product(
        arrays.items(), (1, 2, 3, 4, 5, 7, 8), (False, True), SCHEMES, grans, ("onnx", "torch")
    ):
        kw = dict(_mode_kw(bits, signed, scheme), compat=compat, packed=bits <= 4, **gran)
        results = {}
        for level in SIMD_LEVELS:
            with simd(level):
                q = qa.quantize(x, **kw)
            results[level] = (q.values.tobytes(), _f32_bits(q.scale).tobytes(),
                              np.asarray(q.zero_point, dtype=np.int64).tobytes())
        first = SIMD_LEVELS[0]
        for level in SIMD_LEVELS[1:]:
            assert results[level] == results[first], f"{level} differs from {first}: {name} {kw}"
        checked += 1
    assert checked == 4 * 7 * 2 * 3 * 5 * 2


def test_every_simd_level_dequantizes_every_granularity_identically() -> None:
    x = _blocky((5, 300), seed=9)
    for gran in [{"axis": 0}, {"axis": 1}, {"block_size": 32}, {"axis": 0, "block_size": 2}]:
        for signed in (False, True):
            q = qa.quantize(x, signed=signed, **gran)
            axis = gran.get("axis", 1)
            for dtype in (np.float32, np.float64):
                expected = R.mode_dequantize(q.values, q.scale, q.zero_point, axis, gran.get("block_size"), dtype)
                for level in SIMD_LEVELS:
                    with simd(level):
                        got = qa.dequantize(q, dtype=dtype)
                    assert R.same_bits(got, expected), f"{level} {gran} signed={signed} {np.dtype(dtype)}"


# ====================================================================================================
# 6. Bad options, bad data, dtypes, layouts, out=, reprs
# ====================================================================================================
X2 = _varied((4, 6), 0, seed=3)


@pytest.mark.parametrize("axis", [2, -3, 10])
def test_axis_out_of_range_is_a_value_error(axis: int) -> None:
    with pytest.raises(ValueError, match=rf"axis {axis} is out of range"):
        qa.quantize(X2, axis=axis)
    with pytest.raises(ValueError, match=r"axis"):
        qa.quantize(X2, axis=axis, block_size=2)
    with pytest.raises(ValueError, match=r"axis"):
        qa.minmax(X2, axis=axis)


@pytest.mark.parametrize("block_size", [0, -1, -64])
def test_block_size_below_one_is_a_value_error(block_size: int) -> None:
    with pytest.raises(ValueError, match=r"block_size must be >= 1"):
        qa.quantize(X2, block_size=block_size)
    with pytest.raises(ValueError, match=r"block_size"):
        qa.minmax(X2, block_size=block_size)
    with pytest.raises(ValueError, match=r"block_size"):
        qa.QParams(np.ones((4, 1), np.float32), np.zeros((4, 1), np.int32), block_size=block_size)


@pytest.mark.parametrize("bits", [0, 17, -1, 32])
def test_bits_outside_1_to_16_is_a_value_error(bits: int) -> None:
    with pytest.raises(ValueError, match=r"bits must be between 1 and 16"):
        qa.quantize(X2, bits=bits)
    with pytest.raises(ValueError, match=r"bits"):
        qa.choose_qparams(np.float32(-1), np.float32(1), bits=bits)
    with pytest.raises(ValueError, match=r"bits"):
        qa.QParams(np.float32(0.1), 0, bits=bits)


def test_symmetric_with_include_zero_false_is_a_value_error() -> None:
    for call in (
        lambda: qa.quantize(X2, symmetric=True, include_zero=False),
        lambda: qa.quantize(X2, axis=0, symmetric=True, include_zero=False),
        lambda: qa.choose_qparams(np.float32(-1), np.float32(1), symmetric=True, include_zero=False),
        lambda: qa.QParams(np.float32(0.1), 0, symmetric=True, include_zero=False),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert "symmetric" in str(info.value) and "include_zero" in str(info.value)


@pytest.mark.parametrize(
    "option,value",
    [("bits", 8), ("signed", False), ("axis", 1), ("block_size", 2), ("symmetric", True), ("include_zero", False)],
)
def test_params_with_disagreeing_mode_keyword_is_a_value_error(option: str, value: Any) -> None:
    p = qa.quantize(X2, axis=0, bits=4, signed=True).params
    with pytest.raises(ValueError, match=rf"{option}={value!r} disagrees with params\.{option}"):
        qa.quantize(X2, p, **{option: value})


def test_params_with_agreeing_mode_keywords_are_accepted() -> None:
    p = qa.quantize(X2, axis=0, bits=4, signed=True).params
    expected = R.mode_quantize_codes(X2, R.mode_expand(p.scale, X2.shape, 0), R.mode_expand(p.zero_point, X2.shape, 0),
                                     -8, 7, signed=True)
    for kw in [{}, {"bits": 4}, {"signed": True}, {"axis": 0}, {"axis": -2}, {"symmetric": False},
               {"include_zero": True}, {"axis": 0, "bits": 4, "signed": True}]:
        _assert_codes(qa.quantize(X2, p, **kw).values, expected, X2, str(kw))


@pytest.mark.parametrize("bits", [5, 6, 7, 8, 9, 16])
def test_packed_with_more_than_4_bits_is_a_value_error(bits: int) -> None:
    with pytest.raises(ValueError, match=rf"packed=True needs bits <= 4, got bits={bits}"):
        qa.quantize(X2, bits=bits, packed=True)
    with pytest.raises(ValueError, match=r"packed"):
        qa.quantize(X2, axis=0, bits=bits, packed=True)


@pytest.mark.parametrize("compat", ["tf", "ONNX", "", "pytorch"])
def test_unknown_compat_is_a_value_error(compat: str) -> None:
    with pytest.raises(ValueError, match=r"compat must be 'onnx' or 'torch'"):
        qa.quantize(X2, compat=compat)
    with pytest.raises(ValueError, match=r"compat"):
        qa.quantize(X2, axis=1, compat=compat)


def test_params_of_the_wrong_shape_are_a_value_error() -> None:
    per_axis = qa.QParams(np.full(3, 0.1, np.float32), np.zeros(3, np.int32), axis=0)  # X2 has 4 rows
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(4,\)"):
        qa.quantize(X2, per_axis)
    with pytest.raises(ValueError, match=r"shape"):
        qa.dequantize(np.zeros(X2.shape, np.uint8), per_axis)
    per_block = qa.QParams(np.full((4, 2), 0.1, np.float32), np.zeros((4, 2), np.int32), block_size=2)  # needs (4, 3)
    with pytest.raises(ValueError, match=r"shape \(4, 2\).*\(4, 3\)"):
        qa.quantize(X2, per_block)
    with pytest.raises(ValueError, match=r"shape"):
        qa.dequantize(np.zeros(X2.shape, np.uint8), per_block)


@pytest.mark.parametrize("gran", [{"axis": 0}, {"axis": 1}, {"block_size": 4}, {"axis": 0, "block_size": 3}])
def test_nan_per_axis_and_per_block_names_the_index(gran: Dict[str, Any]) -> None:
    for at in [(2, 5), (0, 0), (6, 10)]:
        x = _varied((7, 11), 0, seed=1)
        x[at] = np.nan
        with pytest.raises(ValueError, match=rf"NaN at index \({at[0]}, {at[1]}\)"):
            qa.quantize(x, **gran)
        with pytest.raises(ValueError, match=rf"NaN at index \({at[0]}, {at[1]}\)"):
            qa.minmax(x, **gran)
        p = qa.quantize(np.nan_to_num(x), **gran).params
        with pytest.raises(ValueError, match=r"NaN"):  # static too
            qa.quantize(x, p)
    y = _varied((20,), 0, seed=2)
    y[13] = np.nan
    with pytest.raises(ValueError, match=r"NaN at index 13\b"):
        qa.quantize(y, block_size=4)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("gran", [{"axis": 0}, {"axis": -1}, {"block_size": 4}])
def test_infinity_in_dynamic_per_axis_is_a_value_error(gran: Dict[str, Any], value: float) -> None:
    x = _varied((5, 9), 0, seed=4)
    x[3, 7] = value
    with pytest.raises(ValueError, match=r"infinite value at index \(3, 7\)"):
        qa.quantize(x, **gran)
    # static per-axis quantization saturates an infinity to qmin / qmax
    p = qa.quantize(np.where(np.isinf(x), 0, x), **gran).params
    q = qa.quantize(x, p)
    assert q.values[3, 7] == (255 if value > 0 else 0)


@pytest.mark.parametrize("bits", [1, 4, 8])
@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_constant_slices_get_finite_positive_scales(bits: int, signed: bool, scheme: str) -> None:
    kw = _mode_kw(bits, signed, scheme)
    rows = [0.0, 2.5, -3.0, 1e-30, -7e25, 1.0]
    x = np.repeat(np.float32(rows)[:, None], 9, axis=1)
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        for gran in [{"axis": 0}, {"block_size": 4}, {"axis": 0, "block_size": 2}]:
            q = qa.quantize(xd, **gran, **kw)
            scale = np.asarray(q.scale)
            assert np.all(np.isfinite(scale)) and np.all(scale > 0), (gran, scale)
            codes, s, z = _reference_of(xd, gran, kw)
            what = f"{np.dtype(dtype)} {gran} {kw}"
            _assert_params(q.scale, q.zero_point, s, z, what)
            _assert_codes(q.values, codes, xd, what)
            axis = gran.get("axis", 1)
            s_elem = R.mode_expand(s, xd.shape, axis, gran.get("block_size"))
            err = np.abs(qa.dequantize(q, dtype=np.float64) - xd.astype(np.float64))
            assert np.all(err <= _round_trip_bound(xd, s_elem)), what


@pytest.mark.parametrize("gran", [{"axis": 0}, {"axis": -1}, {"block_size": 8}, {"axis": 0, "block_size": 2}])
def test_float16_and_float64_input_per_axis_and_per_block(gran: Dict[str, Any]) -> None:
    x64 = _varied((6, 40), 0, seed=8, dtype=np.float64)
    x16 = (x64 / 1e3).astype(np.float16)  # keep float16 finite
    for scheme, signed in itertools.product(SCHEMES, (False, True)):
        kw = _mode_kw(8, signed, scheme)
        # float16: widened exactly to float32, then the float32 rules
        q16 = qa.quantize(x16, **gran, **kw)
        q32 = qa.quantize(x16.astype(np.float32), **gran, **kw)
        _assert_params(q16.scale, q16.zero_point, q32.scale, q32.zero_point, f"f16 {gran} {kw}")
        _assert_codes(q16.values, q32.values, x16, f"f16 {gran} {kw}")
        codes, s, z = _reference_of(x16, gran, kw)
        _assert_params(q16.scale, q16.zero_point, s, z, f"f16 ref {gran} {kw}")
        _assert_codes(q16.values, codes, x16, f"f16 ref {gran} {kw}")
        # float64: the float64 rules
        q = qa.quantize(x64, **gran, **kw)
        codes, s, z = _reference_of(x64, gran, kw)
        _assert_params(q.scale, q.zero_point, s, z, f"f64 {gran} {kw}")
        _assert_codes(q.values, codes, x64, f"f64 {gran} {kw}")


def _views(x: np.ndarray) -> Dict[str, np.ndarray]:
    return {
        "transposed": x.T,
        "strided": x[:, ::2, :],
        "negative_stride": x[::-1, :, ::-1],
        "sliced": x[1:, 3:-2, 1::2],
        "swapped": np.swapaxes(x, 0, 1),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16], ids=["f32", "f64", "f16"])
@pytest.mark.parametrize("view", ["transposed", "strided", "negative_stride", "sliced", "swapped"])
def test_non_contiguous_views_equal_the_contiguous_copy(simd_level: str, view: str, dtype: Any) -> None:
    base = _blocky((6, 40, 5), seed=10).astype(dtype)
    v = _views(base)[view]
    c = np.ascontiguousarray(v)
    assert not v.flags.c_contiguous
    for gran in [{"axis": 0}, {"axis": 1}, {"axis": -1}, {"block_size": 2}, {"axis": 1, "block_size": 8}]:
        for kw in ({}, _mode_kw(4, True, "symmetric"), _mode_kw(3, False, "tight")):
            what = f"{view} {np.dtype(dtype)} {gran} {kw}"
            if not kw:
                lo_v, hi_v = qa.minmax(v, **gran)
                lo_c, hi_c = qa.minmax(c, **gran)
                assert lo_v.dtype == dtype and R.same_bits(lo_v, lo_c) and R.same_bits(hi_v, hi_c), what
            qv = qa.quantize(v, **gran, **kw)
            qc = qa.quantize(c, **gran, **kw)
            _assert_params(qv.scale, qv.zero_point, qc.scale, qc.zero_point, what)
            _assert_codes(qv.values, qc.values, c, what)
            if dtype == np.float32 and not kw:
                codes, s, z = _reference_of(c, gran, kw)
                _assert_codes(qv.values, codes, c, what + " (reference)")


def test_out_for_int8_codes_per_axis_and_per_block() -> None:
    x = _varied((5, 33), 0, seed=12)
    for gran in [{"axis": 0}, {"axis": 1}, {"block_size": 8}]:
        out = np.full(x.shape, 99, dtype=np.int8)
        q = qa.quantize(x, signed=True, out=out, **gran)
        assert q.values is out
        codes, s, z = _reference_of(x, gran, _mode_kw(8, True))
        _assert_codes(out, codes, x, str(gran))
        with pytest.raises(TypeError, match=r"int8"):
            qa.quantize(x, signed=True, out=np.empty(x.shape, np.uint8), **gran)
        with pytest.raises(ValueError, match=r"out has shape"):
            qa.quantize(x, signed=True, out=np.empty((5, 32), np.int8), **gran)
    with pytest.raises(ValueError, match=r"packed"):
        qa.quantize(x, bits=4, signed=True, packed=True, out=np.empty(x.shape, np.int8))


@pytest.mark.parametrize("gran", [{"axis": 0}, {"axis": -1}, {"block_size": 16}, {"axis": 0, "block_size": 2}])
def test_dequantize_float64_per_axis_and_per_block(simd_level: str, gran: Dict[str, Any]) -> None:
    x = _varied((7, 70), 0, seed=13)
    for signed, bits in [(False, 8), (True, 8), (True, 3), (False, 1)]:
        q = qa.quantize(x, bits=bits, signed=signed, **gran)
        axis = gran.get("axis", 1)
        expected = R.mode_dequantize(q.values, q.scale, q.zero_point, axis, gran.get("block_size"), np.float64)
        got = qa.dequantize(q, dtype=np.float64)
        assert R.same_bits(got, expected), gran
        out = np.empty(x.shape, np.float64)
        assert qa.dequantize(q.values, q.params, dtype=np.float64, out=out) is out
        assert R.same_bits(out, expected), gran
        assert R.same_bits(q.dequantize(np.float64), expected), gran


def test_reprs_show_the_mode() -> None:
    x = _varied((4, 10), 0, seed=14)
    q = qa.quantize(x, axis=0, bits=4, signed=True, packed=True)
    r = repr(q)
    for part in ("axis=0", "bits=4", "signed=True", "packed=True", "shape=(4, 10)"):
        assert part in r, r
    pr = repr(q.params)
    for part in ("axis=0", "bits=4", "signed=True", "qmin=-8", "qmax=7"):
        assert part in pr, pr
    qb = qa.quantize(x, block_size=4, bits=3, include_zero=False)
    for part in ("axis=1", "block_size=4", "bits=3"):
        assert part in repr(qb) and part in repr(qb.params), (repr(qb), repr(qb.params))
    assert "include_zero=False" in repr(qb.params)
    assert "symmetric=True" in repr(qa.quantize(x, symmetric=True).params)
    plain = repr(qa.quantize(x))
    for absent in ("axis=", "block_size=", "bits=", "signed=", "packed="):
        assert absent not in plain, plain


# ====================================================================================================
# 7. Properties: per-axis and per-block quantization are per-tensor quantization of each slice / block
# ====================================================================================================
@st.composite
def _arrays(draw: Any, max_side: int = 8) -> np.ndarray:
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=ndim, max_size=ndim)))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    width = {np.float16: 16, np.float32: 32, np.float64: 64}[dtype]
    bound = 6e4 if dtype == np.float16 else 1e6
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)
    return draw(hnp.arrays(dtype, shape, elements=elements))


_MODES = st.fixed_dictionaries(
    {"bits": st.integers(1, 8), "signed": st.booleans(), "scheme": st.sampled_from(list(SCHEMES))}
)


def _per_tensor(seg: np.ndarray, kw: Dict[str, Any]) -> Any:
    """Per-tensor quantization of one slice / block, or None if it raises ValueError (a tight range whose
    zero point exceeds 2**23)."""
    try:
        return qa.quantize(np.array(seg), **kw)  # a copy; keeps 0-d slices 0-d
    except ValueError:
        return None


@given(x=_arrays(), mode=_MODES, data=st.data())
def test_property_per_axis_equals_per_tensor_on_each_slice(x: np.ndarray, mode: Dict[str, Any], data: Any) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    kw = _mode_kw(mode["bits"], mode["signed"], mode["scheme"])
    slices = [_per_tensor(np.take(x, k, axis=axis), kw) for k in range(x.shape[axis])]
    for level in SIMD_LEVELS:
        with simd(level):
            if any(s is None for s in slices):
                with pytest.raises(ValueError):
                    qa.quantize(x, axis=axis, **kw)
                continue
            q = qa.quantize(x, axis=axis, **kw)
        assert q.scale.shape == (x.shape[axis],)
        for k, one in enumerate(slices):
            _assert_params(q.scale[k], q.zero_point[k], one.scale, one.zero_point, f"{level} slice {k}")
            _assert_codes(np.take(q.values, k, axis=axis), np.asarray(one.values), np.take(x, k, axis=axis),
                          f"{level} slice {k}")


@given(x=_arrays(), mode=_MODES, data=st.data())
def test_property_per_block_equals_per_tensor_on_each_block(x: np.ndarray, mode: Dict[str, Any], data: Any) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    block_size = data.draw(st.integers(1, 10), label="block_size")
    kw = _mode_kw(mode["bits"], mode["signed"], mode["scheme"])
    moved = np.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    nb = -(-n // block_size)
    blocks = {
        pos + (b,): _per_tensor(moved[pos][b * block_size : (b + 1) * block_size], kw)
        for pos in np.ndindex(moved.shape[:-1])
        for b in range(nb)
    }
    for level in SIMD_LEVELS:
        with simd(level):
            if any(v is None for v in blocks.values()):
                with pytest.raises(ValueError):
                    qa.quantize(x, axis=axis, block_size=block_size, **kw)
                continue
            q = qa.quantize(x, axis=axis, block_size=block_size, **kw)
        assert q.scale.shape == R.mode_params_shape(x.shape, axis, block_size)
        scale, zp, codes = (np.moveaxis(a, axis, -1) for a in (q.scale, q.zero_point, q.values))
        for key, one in blocks.items():
            pos, b = key[:-1], key[-1]
            what = f"{level} block {key} of {x.shape} axis={axis} B={block_size}"
            _assert_params(scale[key], zp[key], one.scale, one.zero_point, what)
            seg = codes[pos][b * block_size : (b + 1) * block_size]
            _assert_codes(seg, one.values, moved[pos][b * block_size : (b + 1) * block_size], what)


@given(x=_arrays(max_side=6), mode=_MODES, data=st.data())
def test_property_modes_match_numpy_reference(x: np.ndarray, mode: Dict[str, Any], data: Any) -> None:
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)), label="axis")
    block_size = data.draw(st.one_of(st.none(), st.integers(1, 7)), label="block_size")
    kw = _mode_kw(mode["bits"], mode["signed"], mode["scheme"])
    try:
        codes, s, z = R.mode_quantize(x, axis=axis, block_size=block_size, **_ref_mode(kw))
    except ValueError:
        with pytest.raises(ValueError):
            qa.quantize(x, axis=axis, block_size=block_size, **kw)
        return
    q = qa.quantize(x, axis=axis, block_size=block_size, **kw)
    _assert_params(q.scale, q.zero_point, s, z, f"axis={axis} block_size={block_size} {kw}")
    _assert_codes(q.values, codes, x, f"axis={axis} block_size={block_size} {kw}")


_BASICS_MODES = {"default": {}, "packed-signed": {"bits": 4, "signed": True, "packed": True}, "axis0": {"axis": 0},
                 "block2": {"block_size": 2}}
_BASICS_SHAPES = {"0-d": (), "1-d": (7,), "2-d": (3, 5), "empty": (2, 0, 4)}


@pytest.mark.parametrize("shape, kw", [
    pytest.param(shape, kw, id=f"{m}-{s}") for m, kw in _BASICS_MODES.items() for s, shape in _BASICS_SHAPES.items()
    if shape or m in ("default", "packed-signed")  # per axis / per block needs a dimension
])
def test_quantized_array_has_the_array_basics_of_its_codes(shape: Tuple[int, ...], kw: Dict[str, Any]) -> None:
    """shape, ndim, size, dtype and len are those of the codes (q.codes(), unpacked), nbytes the storage's;
    np.asarray(q) is refused with a message naming q.values and q.dequantize() (not a 0-d object array)."""
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) - 3
    signed = kw.get("signed", False)
    params = None
    if x.size == 0:  # dynamic quantization of nothing is refused; static gives empty codes
        params = qa.QParams(np.float32(0.1), 0, bits=kw.get("bits", 8), signed=kw.get("signed", False))
        kw = {"packed": kw["packed"]} if kw.get("packed") else {}
    q = qa.quantize(x, params, **kw)
    codes = q.codes()
    assert (q.shape, q.ndim, q.size, q.dtype) == (codes.shape, codes.ndim, codes.size, codes.dtype)
    assert q.dtype == np.dtype(np.int8 if signed else np.uint8)
    assert q.nbytes == q.values.nbytes
    if shape:
        assert len(q) == len(codes)
    else:
        with pytest.raises(TypeError, match="0-d"):
            len(q)
    for convert in (np.asarray, np.array):
        with pytest.raises(TypeError, match=r"q\.values.*q\.dequantize\(\)"):
            convert(q)


# ====================================================================================================
# 7. 16-bit codes (bits 9 to 16: uint16, int16 if signed)
# ====================================================================================================
CODES16 = {False: np.dtype(np.uint16), True: np.dtype(np.int16)}
GRANULARITIES16 = [((37, 300), {}), ((37, 300), {"axis": 0}), ((37, 300), {"axis": -1}),
                   ((3, 300), {"block_size": 32}), ((300, 5), {"axis": 0, "block_size": 16}),
                   ((4, 2, 300), {"block_size": 128})]


def _onnx_axis(shape: Tuple[int, ...], gran: Dict[str, Any]) -> Optional[int]:
    if "block_size" in gran and "axis" not in gran:
        return len(shape) - 1
    return gran.get("axis")


@pytest.mark.parametrize("signed", [False, True], ids=["uint16", "int16"])
@pytest.mark.parametrize("shape,gran", GRANULARITIES16, ids=[f"{s}-{g}" for s, g in GRANULARITIES16])
def test_16_bit_codes_match_onnx_quantize_and_dequantize_linear(
    simd_level: str, shape: Tuple[int, ...], gran: Dict[str, Any], signed: bool
) -> None:
    # dynamic: each group's parameters are the NumPy formulas', and ONNX QuantizeLinear / DequantizeLinear
    # (opset 21, uint16 / int16, per tensor, axis, block) with them give the same codes and floats; the
    # symmetric int16 case per block is the one blocked symmetric models use
    x = _varied(shape, 0, seed=len(shape) + 16) if "block_size" not in gran else _blocky(shape, seed=16)
    axis = _onnx_axis(shape, gran)
    for scheme in ("default", "symmetric"):
        kw = _mode_kw(16, signed, scheme)
        what = f"{shape} {gran} {kw}"
        q = qa.quantize(x, **gran, **kw)
        assert q.values.dtype == CODES16[signed] and q.dtype == CODES16[signed], what
        codes, s, z = _reference_of(x, gran, kw)
        _assert_params(q.scale, q.zero_point, s, z, what)
        assert int(codes.max()) - int(codes.min()) > 30000, what  # the codes use the 16-bit range
        expected = R.onnx_mode_quantize_linear(x, q.scale, q.zero_point, axis=axis, block_size=gran.get("block_size"),
                                               bits=16, signed=signed)
        _assert_codes(q.values, expected, x, what)
        floats = R.onnx_mode_dequantize_linear(q.values, q.scale, q.zero_point, axis=axis,
                                               block_size=gran.get("block_size"), bits=16, signed=signed)
        assert R.same_bits(qa.dequantize(q), floats), what
        assert R.same_bits(qa.dequantize(q.values, q.params), floats), what
        # static: the same parameters given back give the same codes
        _assert_codes(qa.quantize(x, q.params).values, expected, x, what + " static")


# Zero points at both ends and the middle of each code range; a power-of-two scale makes (k + 1/2) * s exact ties.
STATIC16 = [(False, np.float32(2.0**-7), 0), (False, np.float32(2.0**-7), 65535), (False, np.float32(0.0013), 32768),
            (True, np.float32(2.0**-7), -32768), (True, np.float32(2.0**-7), 32767), (True, np.float32(3.1e-5), 0)]


@pytest.mark.parametrize("signed,scale,zp", STATIC16)
def test_16_bit_ties_and_saturation_match_onnx_quantize_linear(simd_level: str, signed: bool, scale: np.float32,
                                                                zp: int) -> None:
    rng = np.random.default_rng(zp & 0xFFFF)
    lo, hi = R.mode_code_range(16, signed)
    # half-way points across the whole code range, their float neighbours, and values that saturate
    k = rng.integers(lo - zp - 50, hi - zp + 50, 40_000)
    x = ((k + 0.5) * np.float64(scale)).astype(np.float32)
    x[1::3] = np.nextafter(x[1::3], np.float32(np.inf))
    x[2::7] = np.nextafter(x[2::7], np.float32(-np.inf))
    x[::101] = np.float32(2.0**30 * scale)  # far past the range, inside the ONNX reference's int32 cast
    x[5::101] = -np.float32(2.0**30 * scale)
    x[11::101] = -0.0
    p = qa.QParams(scale, zp, bits=16, signed=signed)
    expected = R.onnx_mode_quantize_linear(x, scale, zp, bits=16, signed=signed)
    assert expected.min() == lo and expected.max() == hi
    _assert_codes(qa.quantize(x, p).values, expected, x, "per tensor")
    floats = R.onnx_mode_dequantize_linear(expected, scale, zp, bits=16, signed=signed)
    assert R.same_bits(qa.dequantize(expected, p), floats)
    # per axis along the last axis and per block, the same parameters in every group
    x2 = x[:39_900].reshape(100, 399)
    pa = qa.QParams(np.full(399, scale), np.full(399, zp), axis=1, bits=16, signed=signed)
    _assert_codes(qa.quantize(x2, pa).values, expected[:39_900].reshape(100, 399), x2, "axis=1")
    pb = qa.QParams(np.full((100, 13), scale), np.full((100, 13), zp), block_size=32, bits=16, signed=signed)
    _assert_codes(qa.quantize(x2, pb).values, expected[:39_900].reshape(100, 399), x2, "block_size=32")
    # ±Inf and ±3e38 saturate (the ONNX reference casts their quotients to int32 unchecked: the stated rule)
    x[::101], x[5::101], x[7::101], x[9::101] = np.inf, -np.inf, 3e38, -3e38
    _assert_codes(qa.quantize(x, p).values, R.mode_quantize_codes(x, scale, zp, lo, hi, signed=signed), x, "Inf")


@pytest.mark.parametrize("signed", [False, True], ids=["uint16", "int16"])
def test_16_bit_large_arrays_match_onnx(simd_level: str, signed: bool) -> None:
    # past the streaming threshold of the kernels (2**18 codes, non-temporal stores), odd length, odd offset
    x = _blocky((1_100_003,), seed=17)[1:]
    q = qa.quantize(x, bits=16, signed=signed)
    expected = R.onnx_mode_quantize_linear(x, q.scale, q.zero_point, bits=16, signed=signed)
    _assert_codes(q.values, expected, x, "dynamic")
    floats = R.onnx_mode_dequantize_linear(q.values, q.scale, q.zero_point, bits=16, signed=signed)
    assert R.same_bits(qa.dequantize(q), floats)
    xb = x[:1_048_576].reshape(1024, 1024)
    qb = qa.quantize(xb, bits=16, signed=signed, block_size=64, symmetric=signed)
    expected = R.onnx_mode_quantize_linear(xb, qb.scale, qb.zero_point, axis=1, block_size=64, bits=16, signed=signed)
    _assert_codes(qb.values, expected, xb, "per block")


def _torch_qint32(x: np.ndarray, scale: Any, zp: Any, axis: Optional[int], signed: bool) -> np.ndarray:
    """torch's codes for 16-bit ranges: quantize_per_tensor / quantize_per_channel to qint32, clamped to 16 bits."""
    torch = _torch()
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if axis is None:
            q = torch.quantize_per_tensor(t, float(scale), int(zp), torch.qint32)
        else:
            q = torch.quantize_per_channel(t, torch.from_numpy(np.asarray(scale, dtype=np.float64)),
                                           torch.from_numpy(np.asarray(zp, dtype=np.int64)), axis, torch.qint32)
        codes = q.int_repr().numpy()
    lo, hi = R.mode_code_range(16, signed)
    return np.clip(codes, lo, hi).astype(CODES16[signed])


@pytest.mark.parametrize("signed", [False, True], ids=["uint16", "int16"])
def test_16_bit_compat_torch_matches_torch_qint32(simd_level: str, signed: bool) -> None:
    x = _varied((40, 257), 0, seed=18)
    for axis in (None, 0, 1):
        gran = {} if axis is None else {"axis": axis}
        for scheme in ("default", "symmetric"):
            q = qa.quantize(x, compat="torch", **gran, **_mode_kw(16, signed, scheme))
            _assert_codes(q.values, _torch_qint32(x, q.scale, q.zero_point, axis, signed), x, f"{gran} {scheme}")
        # ties: (k + 1/2) * s across the code range with the first group's parameters
        p = qa.quantize(x, compat="torch", **gran, **_mode_kw(16, signed)).params
        s0 = np.float32(np.asarray(p.scale).reshape(-1)[0])
        z0 = int(np.asarray(p.zero_point).reshape(-1)[0])
        k = np.random.default_rng(axis or 0).integers(-32768 - z0 * signed, 32767, x.shape)
        xt = ((k + 0.5) * np.float64(s0)).astype(np.float32)
        pt = p if axis is None else qa.QParams(np.full(x.shape[axis], s0), np.full(x.shape[axis], z0), axis=axis,
                                               bits=16, signed=signed)
        _assert_codes(qa.quantize(xt, pt, compat="torch").values, _torch_qint32(xt, pt.scale, pt.zero_point, axis,
                                                                                  signed), xt, f"{gran} ties")


@pytest.mark.parametrize("bits", [9, 12, 15, 16])
@pytest.mark.parametrize("signed", [False, True], ids=["uint", "int"])
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_9_to_16_bit_modes_match_numpy_reference_at_every_level(bits: int, signed: bool, scheme: str) -> None:
    kw = _mode_kw(bits, signed, scheme)
    qmin, qmax = R.mode_code_range(bits, signed)
    for shape, dtype in itertools.product([(6, 45), (3, 5, 37)], [np.float32, np.float64]):
        x = _varied(shape, 0, seed=bits * 7 + len(shape), dtype=dtype)
        for gran in _granularities(len(shape)):
            what = f"{shape} {np.dtype(dtype)} {gran} {kw}"
            try:
                codes, s, z = _reference_of(x, gran, kw)
            except ValueError:
                # a tight range narrow for its distance from 0: with 2**16 codes its zero point passes 2**23
                # sooner than with 2**8; both refuse it
                with pytest.raises(ValueError, match=r"zero point exceeds 2\^23"):
                    qa.quantize(x, **gran, **kw)
                continue
            for level in SIMD_LEVELS:
                with simd(level):
                    q = qa.quantize(x, **gran, **kw)
                    back = qa.dequantize(q)
                assert q.values.dtype == CODES16[signed], what
                assert (q.params.qmin, q.params.qmax) == (qmin, qmax), what
                _assert_params(q.scale, q.zero_point, s, z, f"{level} {what}")
                assert np.array_equal(q.values, codes), f"{level} {what}"
                axis = gran.get("axis", len(shape) - 1 if "block_size" in gran else None)
                assert R.same_bits(back, R.mode_dequantize(codes, s, z, axis, gran.get("block_size"))), what
            if "axis" in gran or "block_size" in gran:  # compat='torch' along an axis: x * float32(1 / s) + z
                codes_m, s_m, z_m = _reference_of(x, gran, kw, rounding="multiply")
                for level in SIMD_LEVELS:
                    with simd(level):
                        q = qa.quantize(x, compat="torch", **gran, **kw)
                    assert np.array_equal(q.values, codes_m), f"{level} {what} torch"


def test_16_bit_codes_are_the_same_at_every_level_for_every_input_kind() -> None:
    rng = np.random.default_rng(19)
    base = _blocky((7, 531), seed=19)
    ties = ((rng.integers(-30000, 30000, (7, 531)) + 0.5) * 2.0**-9).astype(np.float32)
    arrays = {"f32": base, "f64": base.astype(np.float64) * 1.0001, "f16": base.astype(np.float16), "ties": ties,
              "reversed": base[::-1, ::-1], "strided": base[:, ::3]}
    grans = [{}, {"axis": 0}, {"axis": -1}, {"block_size": 64}, {"axis": 0, "block_size": 3}]
    for (name, x), signed, scheme, gran, compat in itertools.product(
        arrays.items(), (False, True), SCHEMES, grans, ("onnx", "torch")
    ):
        kw = dict(_mode_kw(16, signed, scheme), compat=compat, **gran)
        results = {}
        for level in SIMD_LEVELS:
            with simd(level):
                try:
                    q = qa.quantize(x, **kw)
                except ValueError as e:  # a tight block whose zero point passes 2**23: the same error everywhere
                    results[level] = str(e)
                    continue
                back = qa.dequantize(q, dtype=np.float64 if x.dtype == np.float64 else np.float32)
            results[level] = (q.values.tobytes(), _f32_bits(q.scale).tobytes(),
                              np.asarray(q.zero_point, dtype=np.int64).tobytes(), back.tobytes())
        first = SIMD_LEVELS[0]
        for level in SIMD_LEVELS[1:]:
            assert results[level] == results[first], f"{level} differs from {first}: {name} {kw}"


def test_code_dtype_follows_bits() -> None:
    x = _varied((5, 33), 0, seed=20)
    for bits, signed in itertools.product(range(1, 17), (False, True)):
        want = np.dtype(("i" if signed else "u") + ("1" if bits <= 8 else "2"))
        q = qa.quantize(x, bits=bits, signed=signed)
        assert q.values.dtype == want == q.dtype == q.params.dtype, (bits, signed)
        assert (q.params.qmin, q.params.qmax) == R.mode_code_range(bits, signed)
        assert f"{bits}-bit {want.name}" in q.params._mode.describe()


def test_out_and_codes_of_16_bit_modes_must_have_the_16_bit_dtype() -> None:
    x = _varied((5, 33), 0, seed=21)
    for gran in [{}, {"axis": 0}, {"block_size": 8}]:
        out = np.full(x.shape, 7, dtype=np.int16)
        q = qa.quantize(x, bits=16, signed=True, out=out, **gran)
        assert q.values is out
        codes, s, z = _reference_of(x, gran, _mode_kw(16, True))
        assert np.array_equal(out, codes), gran
        with pytest.raises(TypeError, match=r"out must have dtype int16"):
            qa.quantize(x, bits=16, signed=True, out=np.empty(x.shape, np.int8), **gran)
        with pytest.raises(TypeError, match=r"out must have dtype uint16"):
            qa.quantize(x, bits=12, out=np.empty(x.shape, np.int16), **gran)
        with pytest.raises(TypeError, match=r"codes must have dtype int16"):
            qa.dequantize(q.values.astype(np.int8), q.params)
        with pytest.raises(TypeError, match=r"codes must have dtype int16"):
            qa.dequantize(q.values.astype(">i2"), q.params)
    with pytest.raises(ValueError, match=r"qmin=-1, qmax=4095 do not fit 12-bit codes: uint16 codes need 0 <= qmin"):
        qa.QParams(np.float32(0.1), 0, -1, 4095, bits=12)
    p = qa.QParams(np.float32(0.5), 40000, bits=16)
    assert repr(p) == "QParams(scale=0.5, zero_point=40000, bits=16, qmin=0, qmax=65535)"
    _assert_codes(qa.quantize(np.float32([0.0, -1e9, 1e9, 1.0]), p).values, np.uint16([40000, 0, 65535, 40002]),
                  np.float32([0.0, -1e9, 1e9, 1.0]), "saturation")


def test_error_report_counts_16_bit_codes() -> None:
    x = _varied((40, 300), 0, seed=22)
    for signed in (False, True):
        q = qa.quantize(x, bits=16, signed=signed)
        e = qa.error(x, q)
        assert e.codes_used == np.unique(q.values).size > 256 and e.bits == 16
        assert f"{e.codes_used} of 65536 codes used" in str(e)

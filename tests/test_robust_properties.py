"""Property tests (hypothesis) that extend tests/test_properties.py and tests/test_modes.py to every mode
and every memory layout.

Already covered there (not repeated here): per-tensor dynamic/static == NumPy reference at every level,
per-tensor every level == scalar, per-tensor round trip within s/2, per-tensor monotonicity, dynamic per-axis
/ per-block == per-tensor on each slice / block. Added here:

* every SIMD level, on any layout (reversed, strided, Fortran, big-endian, misaligned, stride 0), gives the
  bytes the scalar level gives on the contiguous native-endian copy — dynamic and static, per tensor / axis /
  block, any bits / signed / scheme / compat / packed, and dequantize of the codes;
* dequantize(quantize(x)) within s/2 (plus the documented float slack) in every mode;
* codes are monotone in x within each group (dynamic) and for fixed parameters (static), in every mode;
* static per-axis / per-block == static per-tensor with that slice's parameters (and dequantize likewise).

That the thread count never changes the bytes is tests/test_threads.py's.

Each property loops over the SIMD levels inside the test body (the CI hypothesis profile runs it for
max_examples examples, see conftest.py).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qaffine as qa
import reference as R
from conftest import SIMD_LEVELS, simd

FLT_MAX = float(np.finfo(np.float32).max)
FLT_TINY = float(np.finfo(np.float32).tiny)
# The float slack of the round trip, as in test_modes.py: s * 2**-12 (x / s, the scale's own rounding and the
# dequantize product are each off by ~2**-24 relative) plus 2**-22 |x| (a tight range may put the zero point
# far from 0, so |x / s| may be large).
SLACK_STEPS = 2.0**-12
SLACK_REL = 2.0**-22
LAYOUTS = ["contiguous", "reversed", "strided", "fortran", "big-endian", "misaligned", "broadcast", "read-only"]




# ------------------------------------------------------------------------------------------ strategies
WIDTH = {np.float16: 16, np.float32: 32, np.float64: 64}


@st.composite
def float_arrays(draw: st.DrawFn, max_side: int = 9, finite: bool = True) -> np.ndarray:
    """float16/32/64 arrays of 0-3 dimensions (or 1-D up to 300), values of any or of ordinary magnitude."""
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    shape = draw(st.one_of(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=max_side),
                           hnp.array_shapes(min_dims=1, max_dims=1, min_side=1, max_side=300)))
    top = float(np.finfo(dtype).max)
    elements = st.one_of(
        st.floats(-1e4, 1e4, width=WIDTH[dtype]),
        st.floats(width=WIDTH[dtype], allow_nan=False, allow_infinity=not finite),
        st.sampled_from([0.0, -0.0, top, -top, float(np.finfo(dtype).smallest_subnormal), 1.0, -1.0]),
    )
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _view(a: np.ndarray, layout: str) -> np.ndarray:
    """An array equal to `a` element by element (same logical order) in another memory layout."""
    if layout == "reversed" and a.ndim:
        rev = (slice(None, None, -1),) * a.ndim
        return a[rev].copy()[rev]
    if layout == "strided" and a.ndim:
        big = np.zeros(a.shape[:-1] + (a.shape[-1] * 3,), dtype=a.dtype)
        big[..., 1::3] = a
        return big[..., 1::3]
    if layout == "fortran" and a.ndim:  # (np.asfortranarray makes 0-d 1-d)
        return np.asfortranarray(a)
    if layout == "big-endian":
        return a.astype(a.dtype.newbyteorder(">"))
    if layout == "misaligned":
        buf = bytearray(a.nbytes + 1)
        v = np.frombuffer(buf, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
        v[...] = a
        return v
    if layout == "broadcast" and a.ndim and a.shape[0] > 1:
        # keep a's values: a broadcast only where a is constant along axis 0 — so make it so
        return np.broadcast_to(a[:1], a.shape)
    if layout == "read-only":
        r = a.copy()
        r.setflags(write=False)
        return r
    return a


@st.composite
def modes(draw: st.DrawFn, ndim: int, static_ok: bool = True) -> Dict[str, Any]:
    """Mode keywords: granularity, bits, signed, scheme, compat, packed."""
    kw: Dict[str, Any] = {}
    if ndim:
        gran = draw(st.sampled_from(["tensor", "axis", "block", "block-axis"]))
        if gran in ("axis", "block-axis"):
            kw["axis"] = draw(st.integers(-ndim, ndim - 1))
        if gran in ("block", "block-axis"):
            kw["block_size"] = draw(st.integers(1, 12))
    kw["bits"] = draw(st.integers(1, 8))
    kw["signed"] = draw(st.booleans())
    scheme = draw(st.sampled_from(["default", "symmetric", "tight"]))
    if scheme == "symmetric":
        kw["symmetric"] = True
    elif scheme == "tight":
        kw["include_zero"] = False
    kw["compat"] = draw(st.sampled_from(["onnx", "torch"]))
    if kw["bits"] <= 4 and draw(st.booleans()):
        kw["packed"] = True
    return kw


def _group_axis(kw: Dict[str, Any], ndim: int) -> Optional[int]:
    if "axis" in kw:
        return kw["axis"] % ndim
    return ndim - 1 if "block_size" in kw else None


def _static_params(draw: st.DrawFn, shape: Tuple[int, ...], kw: Dict[str, Any]) -> qa.QParams:
    """Parameters for `kw`'s granularity and code range, scales spread over the whole float32 range."""
    axis = _group_axis(kw, len(shape))
    qmin, qmax = R.mode_code_range(kw["bits"], kw["signed"])
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pshape = () if axis is None else R.mode_params_shape(shape, axis, kw.get("block_size"))
    n = int(np.prod(pshape, dtype=np.int64))
    exps = rng.choice([rng.uniform(-149, 127), rng.uniform(-20, 20)], size=n) if n else np.zeros(0)
    scale = np.clip(np.exp2(exps), 2.0**-149, FLT_MAX).astype(np.float32)
    scale[scale == 0] = np.float32(2.0**-149)
    zp = np.where(rng.random(n) < 0.8, rng.integers(qmin, qmax + 1, n), rng.integers(-(1 << 23), (1 << 23) + 1, n))
    common = dict(bits=kw["bits"], signed=kw["signed"], symmetric=bool(kw.get("symmetric", False)),
                  include_zero=bool(kw.get("include_zero", True)))
    if axis is None:
        return qa.QParams(scale[0] if n else np.float32(1), int(zp[0]) if n else 0, **common)
    return qa.QParams(scale.reshape(pshape), zp.reshape(pshape), axis=axis, block_size=kw.get("block_size"), **common)


def _outcome(call: Callable[[], Any]) -> Any:
    """Comparable bytes of a call's result (QuantizedArray, array, tuple), or its ValueError / TypeError."""
    try:
        r = call()
    except (ValueError, TypeError) as e:
        return type(e), str(e)
    if isinstance(r, qa.QuantizedArray):
        return (r.values.tobytes(), r.values.shape, r.packed, np.asarray(r.scale, np.float32).tobytes(),
                np.asarray(r.zero_point).astype(np.int64).tobytes(), r.params.axis)
    if isinstance(r, tuple):
        return tuple((np.asarray(v).tobytes(), np.asarray(v).dtype.str) for v in r)
    return np.asarray(r).tobytes(), np.asarray(r).dtype.str, np.shape(r)


def _native(a: np.ndarray) -> np.ndarray:
    return np.array(a, dtype=a.dtype.newbyteorder("="), order="C")


# --------------------------------------------------------------- every level, any layout == scalar on the copy
@given(x=float_arrays(finite=False), layout=st.sampled_from(LAYOUTS), data=st.data())
def test_every_level_and_layout_equals_scalar_on_the_contiguous_copy(x: np.ndarray, layout: str, data: Any) -> None:
    if layout == "broadcast" and x.ndim and x.shape[0] > 1:
        x = np.ascontiguousarray(np.broadcast_to(x[:1], x.shape))  # values a broadcast view can hold
    view = _view(x, layout)
    copy = _native(view)
    assert copy.shape == x.shape and np.array_equal(copy, x, equal_nan=True)
    kw = data.draw(modes(x.ndim), label="mode")
    static = data.draw(st.booleans(), label="static")
    params = _static_params(data.draw, x.shape, kw) if static else None
    call_kw = {k: v for k, v in kw.items() if k in ("compat", "packed")} if static else kw

    def quantize(a: np.ndarray) -> Callable[[], Any]:
        return lambda: qa.quantize(a, params, **call_kw)

    with simd("scalar"):
        expected = _outcome(quantize(copy))
        q = None if isinstance(expected[0], type) else qa.quantize(copy, params, **call_kw)
        deq = None if q is None else _outcome(lambda: qa.dequantize(q, dtype=np.float64))
        mm = _outcome(lambda: qa.minmax(copy, **{k: kw[k] for k in ("axis", "block_size") if k in kw}))
    for level in SIMD_LEVELS:
        with simd(level):
            assert _outcome(quantize(view)) == expected, (level, layout, kw, static)
            if q is not None:
                assert _outcome(lambda: qa.dequantize(q, dtype=np.float64)) == deq, (level, kw)
            got_mm = _outcome(lambda: qa.minmax(view, **{k: kw[k] for k in ("axis", "block_size") if k in kw}))
            assert got_mm == mm, (level, layout, kw)


# ------------------------------------------------------------------------------------- round trip in modes
def _elementwise(values: Any, shape: Tuple[int, ...], kw: Dict[str, Any]) -> np.ndarray:
    axis = _group_axis(kw, len(shape))
    return np.asarray(R.mode_expand(np.asarray(values), shape, axis, kw.get("block_size")), dtype=np.float64)


@given(x=float_arrays(), data=st.data())
def test_round_trip_within_half_a_step_in_every_mode(x: np.ndarray, data: Any) -> None:
    """|dequantize(quantize(x)) - x| <= s/2 + slack for every element whose group has a normal scale (a
    subnormal scale has too few bits for its range to cover [lo, hi]; those elements are checked where they lie
    inside the representable range [(qmin - z) s, (qmax - z) s])."""
    assume(x.size > 0)
    kw = data.draw(modes(x.ndim), label="mode")
    xd = x.astype(np.float64)
    for level in SIMD_LEVELS:
        with simd(level):
            try:
                q = qa.quantize(x, **kw)
            except ValueError:
                # only a range whose scale does not fit float32, or a tight range whose zero point exceeds 2**23:
                # the reference must refuse it too
                with pytest.raises(ValueError):
                    R.mode_quantize(x, axis=kw.get("axis"), block_size=kw.get("block_size"),
                                    **{k: kw[k] for k in ("bits", "signed", "symmetric", "include_zero") if k in kw})
                return
            back = qa.dequantize(q, dtype=np.float64)
        s = _elementwise(q.scale, x.shape, kw)
        z = _elementwise(q.zero_point, x.shape, kw)
        err = np.abs(back - xd)
        bound = s / 2 + s * SLACK_STEPS + np.abs(xd) * SLACK_REL
        inside = (xd >= (q.params.qmin - z) * s) & (xd <= (q.params.qmax - z) * s)
        check = inside | (s >= FLT_TINY)
        if kw["compat"] == "torch":
            # x * float32(1 / s): for s < 2**-128 the reciprocal overflows to inf and every x != 0 saturates,
            # as in PyTorch (whose per-tensor fma(0, inf, z) is even NaN): no round-trip bound there
            with np.errstate(over="ignore", divide="ignore"):
                check &= np.isfinite(np.float32(1) / s.astype(np.float32))
        bad = check & (err > bound)
        assert not bad.any(), (level, kw, xd[bad][:3], err[bad][:3], s[bad][:3])


# ------------------------------------------------------------------------------------------- monotonicity
def _group_ids(shape: Tuple[int, ...], kw: Dict[str, Any]) -> np.ndarray:
    axis = _group_axis(kw, len(shape))
    if axis is None:
        return np.zeros(shape, dtype=np.int64)
    pshape = R.mode_params_shape(shape, axis, kw.get("block_size"))
    ids = np.arange(int(np.prod(pshape)), dtype=np.int64).reshape(pshape)
    return np.asarray(R.mode_expand(ids, shape, axis, kw.get("block_size")))


@given(x=float_arrays(finite=False), data=st.data())
def test_codes_are_monotone_in_x_in_every_mode(x: np.ndarray, data: Any) -> None:
    """Within each group (dynamic) and for fixed parameters (static), x_i <= x_j implies code_i <= code_j; and
    for any y >= x element-wise, static codes of y >= codes of x."""
    assume(x.size > 0)
    kw = data.draw(modes(x.ndim), label="mode")
    kw.pop("packed", None)
    params = _static_params(data.draw, x.shape, kw)
    with np.errstate(over="ignore"):
        d = data.draw(hnp.arrays(x.dtype, x.shape, elements=st.floats(0, 1e3, width=WIDTH[x.dtype.type])), label="d")
        y = (x + d).astype(x.dtype)  # y >= x (an overflow to +inf still is)
    gid = _group_ids(x.shape, kw).reshape(-1)
    xf = x.reshape(-1)
    order = np.lexsort((xf, gid))  # by group, then by value
    same_group = gid[order][1:] == gid[order][:-1]
    for level in SIMD_LEVELS:
        with simd(level):
            finite = bool(np.all(np.isfinite(x)))
            try:
                dyn = qa.quantize(x, **kw).values.astype(np.int16).reshape(-1) if finite else None
            except ValueError:
                # only a scale beyond float32 or a tight range's zero point beyond 2**23: the reference
                # must refuse it too
                with pytest.raises(ValueError):
                    R.mode_quantize(x, axis=kw.get("axis"), block_size=kw.get("block_size"),
                                    **{k: kw[k] for k in ("bits", "signed", "symmetric", "include_zero") if k in kw})
                dyn = None
            cx = qa.quantize(x, params, compat=kw["compat"]).values.astype(np.int16)
            cy = qa.quantize(y, params, compat=kw["compat"]).values.astype(np.int16)
        for codes in ([dyn] if dyn is not None else []) + [cx.reshape(-1)]:
            steps = np.diff(codes[order])
            assert np.all(steps[same_group] >= 0), (level, kw)
        assert np.all(cy >= cx), (level, kw)


# ------------------------------------------------------ static per axis / block == per tensor on each slice
@given(x=float_arrays(max_side=7, finite=False).filter(lambda a: a.ndim >= 1), data=st.data())
def test_static_per_axis_and_per_block_equal_per_tensor_with_each_groups_params(x: np.ndarray, data: Any) -> None:
    kw = data.draw(modes(x.ndim), label="mode")
    if "axis" not in kw and "block_size" not in kw:
        kw["axis"] = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    kw.pop("packed", None)
    compat = kw.pop("compat")
    if compat == "torch":
        compat = "onnx"  # torch rounds per tensor with fma(x, 1/s, z), per channel with x * (1/s): by design
    p = _static_params(data.draw, x.shape, kw)
    gid = _group_ids(x.shape, kw)
    scales, zps = np.asarray(p.scale).reshape(-1), np.asarray(p.zero_point).reshape(-1)
    expected_codes = np.empty(x.shape, dtype=p.dtype)
    expected_back = np.empty(x.shape, dtype=np.float64)
    for g in range(scales.size):
        mask = gid == g
        pg = qa.QParams(scales[g], int(zps[g]), p.qmin, p.qmax, bits=p.bits, signed=p.signed)
        expected_codes[mask] = qa.quantize(x[mask], pg, compat=compat).values
        expected_back[mask] = qa.dequantize(expected_codes[mask], pg, dtype=np.float64)
    for level in SIMD_LEVELS:
        with simd(level):
            q = qa.quantize(x, p, compat=compat)
            back = qa.dequantize(q, dtype=np.float64)
        assert np.array_equal(q.values, expected_codes), (level, kw)
        assert R.same_bits(back, expected_back), (level, kw)

"""Property tests (hypothesis) of qaffine against the NumPy statement in tests/reference.py.

Per tensor: dynamic and static quantize, dequantize, choose_qparams and minmax equal the reference at every
level; every level writes the scalar level's bytes; round trip within s/2; codes monotone in x; dynamic equals
static with choose_qparams(minmax(x)).

In every mode (granularity, bits, signed, scheme, compat, packed) and memory layout (reversed, strided, Fortran,
big-endian, misaligned, stride 0, read-only):

* every SIMD level, on any layout, gives the bytes the scalar level gives on the contiguous native-endian copy
  — dynamic and static, per tensor / axis / block, and dequantize of the codes;
* dequantize(quantize(x)) within s/2 (plus the documented float slack);
* codes are monotone in x within each group (dynamic) and for fixed parameters (static);
* static per-axis / per-block == static per-tensor with that slice's parameters (and dequantize likewise).

Per-axis and per-block dynamic quantization equal per tensor on each slice / block: tests/test_modes.py. The
thread count never changes the bytes: tests/test_threads.py.

Each property runs the kernels at every SIMD level this CPU supports, inside the test body (a
function-scoped fixture would be shared by all the examples of one test).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qaffine as qa
import reference as R
from conftest import SIMD_LEVELS, simd
from conftest import outcome as _outcome

FLT_MAX = float(np.finfo(np.float32).max)
FLT_TINY = np.finfo(np.float32).tiny  # smallest normal float32

# x / s in float32 is off from the exact quotient by at most 2**-24 * |x / s| (|x / s| <= ~256 for values
# inside the range), and the float32 product of dequantize by at most 2**-24 * |result|: far below
# 2**-12 of a step. This is the only slack the round-trip bound gets.
ROUND_TRIP_SLACK = 2.0**-12
BIG_F32 = float(np.float32(1e37))


# ------------------------------------------------------------------------------------------ helpers


def at_every_level(fn: Callable[[], Any]) -> Dict[str, Any]:
    """{level: fn() run at that SIMD level}, or the exception type it raised."""
    results: Dict[str, Any] = {}
    for level in SIMD_LEVELS:
        with simd(level):
            try:
                results[level] = fn()
            except (ValueError, TypeError) as e:
                results[level] = type(e)
    return results


def _dyn(x: np.ndarray) -> Callable[[], Tuple[np.ndarray, np.float32, int]]:
    def run() -> Tuple[np.ndarray, np.float32, int]:
        q = qa.quantize(x)
        return q.values, q.scale, q.zero_point

    return run


def _reference_dynamic(x: np.ndarray) -> Any:
    try:
        return R.quantize_dynamic(x)
    except ValueError:
        return ValueError


def _same_result(a: Any, b: Any) -> bool:
    if isinstance(a, type) or isinstance(b, type):
        return a is b
    return bool(np.array_equal(a[0], b[0]) and R.same_float32(a[1], b[1]) and a[2] == b[2])


# ------------------------------------------------------------------------------------------ strategies
def shapes() -> st.SearchStrategy[Tuple[int, ...]]:
    return st.one_of(
        hnp.array_shapes(min_dims=1, max_dims=1, min_side=1, max_side=300),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=7),
    )


f32_elements = st.floats(width=32, allow_nan=False, allow_infinity=False)
f16_elements = st.floats(width=16, allow_nan=False, allow_infinity=False)
# Mostly ordinary magnitudes, sometimes anything finite (where the float64 range may not fit a float32
# scale: both qaffine and the reference must then raise ValueError).
f64_elements = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(allow_nan=False, allow_infinity=False),
)

float32_arrays = hnp.arrays(np.float32, shapes(), elements=f32_elements)
float16_arrays = hnp.arrays(np.float16, shapes(), elements=f16_elements)
float64_arrays = hnp.arrays(np.float64, shapes(), elements=f64_elements)
any_float_arrays = st.one_of(float32_arrays, float64_arrays, float16_arrays)

scales = st.floats(min_value=2.0**-149, max_value=FLT_MAX, width=32, exclude_min=False)
params = st.builds(
    lambda s, z: qa.QParams(np.float32(s), z),
    scales,
    # large zero points too, up to 2**23 (where qmin - z and qmax - z are still float32 integers; the
    # boundary up to QParams' own limit has its own test in test_bad_inputs.py)
    st.one_of(st.integers(0, 255), st.integers(-(1 << 23), 1 << 23)),
)
code_ranges = st.tuples(st.integers(0, 255), st.integers(0, 255)).filter(lambda t: t[0] < t[1])


@st.composite
def tie_arrays(draw: st.DrawFn) -> Tuple[np.ndarray, np.float32, int]:
    """float32 data whose dynamic scale is 2**-e and whose values sit on (k + 0.5) * scale."""
    e = draw(st.integers(-40, 60))
    zp = draw(st.integers(0, 255))
    s = np.float32(2.0**-e)
    ks = draw(st.lists(st.integers(-zp, 254 - zp), min_size=1, max_size=200))
    vals = (np.array(ks, dtype=np.float32) + np.float32(0.5)) * s
    x = np.concatenate([vals, [np.float32(-zp) * s, np.float32(255 - zp) * s]]).astype(np.float32)
    order = draw(st.permutations(range(x.size)))
    return x[list(order)], s, zp


# ------------------------------------------------------------------------- dynamic == reference
@given(float32_arrays)
@example(np.array([-3e38, 3e38, 0.0, 1.0], dtype=np.float32))  # hi - lo overflows float32
@example(np.array([1e-45, 0.0], dtype=np.float32))  # scale underflows to 0 -> 2**-149
@example(np.array([-FLT_MAX, FLT_MAX], dtype=np.float32))
@example(np.zeros((2, 3), dtype=np.float32))
def test_dynamic_float32_equals_reference_at_every_level(x: np.ndarray) -> None:
    expected = R.quantize_dynamic(x)
    for level, got in at_every_level(_dyn(x)).items():
        assert _same_result(got, expected), (level, got, expected)


@given(float64_arrays)
@example(np.array([-1.0, 0.5 + 1e-9, 255.0], dtype=np.float64))
@example(np.array([-1e300, 1e300], dtype=np.float64))  # scale does not fit float32: ValueError
@example(np.array([-1e-320, 0.0], dtype=np.float64))
def test_dynamic_float64_equals_float64_reference_at_every_level(x: np.ndarray) -> None:
    expected = _reference_dynamic(x)
    for level, got in at_every_level(_dyn(x)).items():
        assert _same_result(got, expected), (level, got, expected)


@given(float16_arrays)
def test_dynamic_float16_equals_reference_and_float32_copy_at_every_level(x: np.ndarray) -> None:
    expected = R.quantize_dynamic(x)
    x32 = x.astype(np.float32)
    for level, got in at_every_level(_dyn(x)).items():
        assert _same_result(got, expected), (level, got, expected)
        with simd(level):
            assert _same_result(got, _dyn(x32)()), level


@given(tie_arrays())
def test_dynamic_half_way_values_round_half_to_even(data: Tuple[np.ndarray, np.float32, int]) -> None:
    x, s, zp = data
    rs, rz = R.dynamic_qparams(x)
    assert R.same_float32(rs, s) and rz == zp  # the construction gives the intended parameters
    k = np.rint(x.astype(np.float64) / float(s)).astype(np.int64)  # exact: x / s is a half or an integer
    expected = np.clip(k + zp, 0, 255).astype(np.uint8)
    for level, got in at_every_level(_dyn(x)).items():
        assert _same_result(got, (expected, s, zp)), level


# --------------------------------------------------------------------- every level == scalar
@given(any_float_arrays, params)
def test_every_simd_level_writes_the_same_bytes_as_scalar(x: np.ndarray, p: qa.QParams) -> None:
    dyn = at_every_level(_dyn(x))
    static = at_every_level(lambda: qa.quantize(x, p).values)
    codes = np.resize(np.arange(256, dtype=np.uint8), x.shape)
    with np.errstate(over="ignore"):
        deq32 = at_every_level(lambda: qa.dequantize(codes, p))
        deq64 = at_every_level(lambda: qa.dequantize(codes, p, dtype=np.float64))
    for level in SIMD_LEVELS:
        assert _same_result(dyn[level], dyn["scalar"]), level
        assert np.array_equal(static[level], static["scalar"]), level
        assert R.same_bits(deq32[level], deq32["scalar"]), level
        assert R.same_bits(deq64[level], deq64["scalar"]), level


# --------------------------------------------------------------------- static == reference
@given(
    st.one_of(
        hnp.arrays(np.float32, shapes(), elements=st.floats(width=32, allow_nan=False)),
        hnp.arrays(np.float64, shapes(), elements=st.floats(allow_nan=False)),
        hnp.arrays(np.float16, shapes(), elements=st.floats(width=16, allow_nan=False)),
    ),
    params,
    code_ranges,
)
@example(np.array([np.inf, -np.inf, 3e38, 8388863.0], dtype=np.float32), qa.QParams(np.float32(1.0), -(1 << 23)), (0, 255))
@example(np.array([np.inf, -np.inf, -3e38, 1.0], dtype=np.float32), qa.QParams(np.float32(1.0), 1 << 23), (7, 9))
def test_static_quantize_equals_reference_and_saturates(x: np.ndarray, p: qa.QParams, rng: Tuple[int, int]) -> None:
    p = qa.QParams(p.scale, p.zero_point, rng[0], rng[1])
    expected = R.quantize_static(x, p.scale, p.zero_point, p.qmin, p.qmax)
    for level, got in at_every_level(lambda: qa.quantize(x, p).values).items():
        assert np.array_equal(got, expected), level
        assert got.min(initial=p.qmin) >= p.qmin and got.max(initial=p.qmax) <= p.qmax


@given(
    hnp.arrays(np.uint8, shapes()),
    params,
)
def test_dequantize_equals_reference_float32_and_float64(codes: np.ndarray, p: qa.QParams) -> None:
    with np.errstate(over="ignore"):
        exp32 = R.dequantize(codes, p.scale, p.zero_point, np.float32)
        exp64 = R.dequantize(codes, p.scale, p.zero_point, np.float64)
        got32 = at_every_level(lambda: qa.dequantize(codes, p))
        got64 = at_every_level(lambda: qa.dequantize(codes, p, dtype=np.float64))
    for level in SIMD_LEVELS:
        assert R.same_bits(got32[level], exp32), level
        assert R.same_bits(got64[level], exp64), level


# ------------------------------------------------------------------------------ round trip
def _check_round_trip(x: np.ndarray, dtype: type) -> None:
    q = qa.quantize(x)
    s, z = float(q.scale), q.zero_point
    xd = x.astype(np.float64)
    err = np.abs(q.dequantize(dtype=dtype).astype(np.float64) - xd)
    bound = s * (0.5 + ROUND_TRIP_SLACK)
    # inside the representable range [(0 - z) s, (255 - z) s] no code is clipped: always within s/2
    inside = (xd >= (0 - z) * s) & (xd <= (255 - z) * s)
    assert np.all(err[inside] <= bound), (x[inside][err[inside] > bound], s, z)
    if s >= FLT_TINY:
        # a normal scale is accurate to 2**-24, so the representable range covers [lo, hi] to within
        # s/2 (the zero point's rounding): then every value round-trips within s/2. (A subnormal scale
        # has few significant bits, (hi - lo) / s can be far from 255, and values near the ends clip.)
        assert np.all(err <= bound), (x[err > bound], s, z)


@given(any_float_arrays)
def test_round_trip_error_at_most_half_a_step_float64_output(x: np.ndarray) -> None:
    try:
        R.dynamic_qparams(x)
        refused = False
    except ValueError:
        refused = True  # a float64 range whose scale does not fit float32: no round trip, a ValueError
    for level in SIMD_LEVELS:
        with simd(level):
            if refused:
                with pytest.raises(ValueError):
                    qa.quantize(x)
            else:
                _check_round_trip(x, np.float64)


@given(hnp.arrays(np.float32, shapes(), elements=st.floats(-BIG_F32, BIG_F32, width=32)))
def test_round_trip_error_at_most_half_a_step_float32_output(x: np.ndarray) -> None:
    # |x| <= ~1e37 keeps every code's float32 value (at most ~256 steps from 0) finite
    for level in SIMD_LEVELS:
        with simd(level):
            _check_round_trip(x, np.float32)


# ------------------------------------------------------------------------------ monotonicity
@given(any_float_arrays.filter(lambda a: a.size > 0), params)
def test_codes_are_non_decreasing_in_x(x: np.ndarray, p: qa.QParams) -> None:
    xs = np.sort(x.reshape(-1))
    try:
        R.dynamic_qparams(xs)
        dynamic_ok = True
    except ValueError:
        dynamic_ok = False
    for level in SIMD_LEVELS:
        with simd(level):
            if dynamic_ok:
                assert np.all(np.diff(qa.quantize(xs).values.astype(np.int64)) >= 0), level
            assert np.all(np.diff(qa.quantize(xs, p).values.astype(np.int64)) >= 0), level


# ---------------------------------------------------- dynamic == static with the chosen params
@given(any_float_arrays.filter(lambda a: a.size > 0))
@example(
    np.array(
        [-1.009618183538736, -0.20917557487171307, -0.15922500991447772, 0.5408455846858077, 0.2146591225063409]
    )
)
def test_dynamic_equals_static_with_choose_qparams_of_minmax(x: np.ndarray) -> None:
    refused = _reference_dynamic(x) is ValueError  # a float64 range too wide for a float32 scale
    for level in SIMD_LEVELS:
        with simd(level):
            if refused:
                with pytest.raises(ValueError):
                    qa.quantize(x)
                with pytest.raises(ValueError):
                    qa.choose_qparams(*qa.minmax(x))
                continue
            dyn = qa.quantize(x)
            p = qa.choose_qparams(*qa.minmax(x))
            assert p == dyn.params, (level, x.dtype, p, dyn.params)
            assert np.array_equal(qa.quantize(x, p).values, dyn.values), level


@given(any_float_arrays.filter(lambda a: a.size > 0))
def test_minmax_equals_numpy_min_max_with_positive_zero(x: np.ndarray) -> None:
    lo, hi = x.min(), x.max()
    for level in SIMD_LEVELS:
        with simd(level):
            got = qa.minmax(x)
        assert got[0].dtype == x.dtype and got[1].dtype == x.dtype
        assert got[0] == lo and got[1] == hi, level
        for v in got:
            if v == 0:
                assert not np.signbit(v), level


@given(st.tuples(f32_elements, f32_elements).map(sorted))
def test_choose_qparams_float32_bounds_equal_reference(bounds: List[float]) -> None:
    lo, hi = np.float32(bounds[0]), np.float32(bounds[1])
    s, z = R.choose_qparams_f32(lo, hi)
    p = qa.choose_qparams(lo, hi)
    assert R.same_float32(p.scale, s) and p.zero_point == z


@given(st.tuples(st.floats(-1e38, 1e38), st.floats(-1e38, 1e38)).map(sorted))
@example([-1.009618183538736, 0.5408455846858077])
def test_choose_qparams_float64_bounds_use_float64_arithmetic(bounds: List[float]) -> None:
    # documented: float64 arithmetic when lo or hi is a np.float64 (what qa.minmax returns for float64)
    lo, hi = np.float64(bounds[0]), np.float64(bounds[1])
    s, z = R.choose_qparams_f64(lo, hi)
    p = qa.choose_qparams(lo, hi)
    assert R.same_float32(p.scale, s) and p.zero_point == z, (lo, hi, p, s, z)


# ====================================================================================================
# Every mode and every memory layout
# ====================================================================================================
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
    kw["bits"] = draw(st.integers(1, 16))
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
                dyn = qa.quantize(x, **kw).values.astype(np.int64).reshape(-1) if finite else None
            except ValueError:
                # only a scale beyond float32 or a tight range's zero point beyond 2**23: the reference
                # must refuse it too
                with pytest.raises(ValueError):
                    R.mode_quantize(x, axis=kw.get("axis"), block_size=kw.get("block_size"),
                                    **{k: kw[k] for k in ("bits", "signed", "symmetric", "include_zero") if k in kw})
                dyn = None
            cx = qa.quantize(x, params, compat=kw["compat"]).values.astype(np.int64)
            cy = qa.quantize(y, params, compat=kw["compat"]).values.astype(np.int64)
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

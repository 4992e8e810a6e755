"""Property tests (hypothesis) of qaffine against the NumPy statement in tests/reference.py.

Each property runs the kernels at every SIMD level this CPU supports, inside the test body (a
function-scoped fixture would be shared by all the examples of one test).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qaffine as qa
import reference as R
from conftest import SIMD_LEVELS, simd

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
                assert np.all(np.diff(qa.quantize(xs).values.astype(np.int16)) >= 0), level
            assert np.all(np.diff(qa.quantize(xs, p).values.astype(np.int16)) >= 0), level


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

"""Bad input: README's "Bad input" table, row by row, each at every SIMD level where kernels run.

One section per row, in the table's order: NaN anywhere; ±Inf in dynamic mode; ±Inf or huge values in
static mode; subnormals; -0.0; ±FLT_MAX; 0-d arrays and NumPy scalars; empty arrays; all values equal;
big-endian; Fortran order, transposed, negative strides, stride 0, misaligned, read-only; float16; float64
beyond the float32 range; non-float dtypes; array-likes; invalid parameters; ``out=`` of the wrong kind;
``out=`` overlapping the input. Each row is checked through the entry points the row names: dynamic and
static quantize, minmax, dequantize, choose_qparams, QParams, per tensor, per axis and per block. A last
section holds the inputs outside the table that must fail as cleanly (block sizes beyond uint64, packed
shapes a QuantizedArray cannot hold).

Oracles: tests/reference.py (the NumPy statement of the semantics) for values; for layouts, the same call on
the contiguous native-endian copy (``np.array(x, dtype=native, order="C")``); for array-likes, the call on
``np.asarray(x)``; otherwise the rule the row states.
"""

from __future__ import annotations

import array
import re
import warnings
from typing import Any, Callable, Dict, Iterable, List, Tuple

import numpy as np
import pytest

import qaffine as qa
import reference as R
from conftest import outcome as _outcome, result_key as _key

FLT_MAX = float(np.finfo(np.float32).max)


P = qa.QParams(np.float32(0.05), 100)


DTYPES = [np.float32, np.float64, np.float16]


DTYPE_IDS = ["f32", "f64", "f16"]


# Granularities checked for every layout row (3-D inputs): per tensor, per axis (first, middle, last),
# per block along the last axis, along the first.
GRANS: List[Dict[str, Any]] = [{}, {"axis": 0}, {"axis": 1}, {"axis": -1}, {"block_size": 16},
                               {"axis": 0, "block_size": 2}]


# Other modes per tensor and per axis: 4-bit signed symmetric, tight range, PyTorch rounding, packed.
MODES: List[Dict[str, Any]] = [{}, {"bits": 4, "signed": True, "symmetric": True}, {"include_zero": False, "bits": 7},
                               {"compat": "torch"}, {"bits": 3, "packed": True}, {"bits": 16, "signed": True}]


# ------------------------------------------------------------------------------------------ helpers
def _native_copy(x: np.ndarray) -> np.ndarray:
    """The oracle for layout rows: a C-contiguous, aligned, native-endian copy with the same values."""
    out = np.array(x, dtype=x.dtype.newbyteorder("="), order="C")
    assert out.flags.c_contiguous and out.flags.aligned and out.dtype.isnative
    return out


def _static_params(shape: Tuple[int, ...], gran: Dict[str, Any]) -> qa.QParams:
    """Fixed (non-data) parameters for `gran` on an array of `shape`: scales 0.01 .. 0.5, zero points 0 .. 255."""
    if not gran:
        return P
    axis = gran.get("axis", -1)
    pshape = R.mode_params_shape(shape, axis, gran.get("block_size"))
    n = int(np.prod(pshape))
    scale = np.linspace(0.01, 0.5, n, dtype=np.float32).reshape(pshape)
    zp = (np.arange(n) * 37 % 256).reshape(pshape)
    return qa.QParams(scale, zp, axis=axis, block_size=gran.get("block_size"))


def _assert_same_as_copy(view: np.ndarray, what: str = "", grans: Iterable[Dict[str, Any]] = GRANS) -> None:
    """Every call on `view` gives what it gives on the contiguous native copy (codes, parameters, or the
    error message): dynamic and static quantize per tensor / axis / block in several modes, and minmax."""
    copy = _native_copy(view)
    failures = []
    calls: List[Tuple[str, Callable[[np.ndarray], Any]]] = []
    for gran in grans:
        if gran and view.ndim == 0:
            continue
        for mode in MODES if len(gran) <= 1 else [{}]:
            calls.append((f"quantize {gran} {mode}", lambda a, g=gran, m=mode: qa.quantize(a, **g, **m)))
        calls.append((f"static {gran}", lambda a, g=gran: qa.quantize(a, _static_params(view.shape, g))))
        calls.append((f"minmax {gran}", lambda a, g=gran: qa.minmax(a, **g)))
    for name, call in calls:
        got, expected = _outcome(lambda: call(view)), _outcome(lambda: call(copy))
        if got != expected:
            failures.append(f"{name}: {str(got)[:200]} != copy's {str(expected)[:200]}")
    assert not failures, f"{what} {view.dtype} {view.shape} strides {view.strides}:\n" + "\n".join(failures)


def _positions(n: int) -> List[int]:
    """First, second, middle, last, and the first element of the tail of every SIMD loop width (4..64)."""
    pos = {0, 1, n // 2, n - 2, n - 1} | {n - n % w for w in (4, 8, 16, 32, 64)}
    return sorted(p for p in pos if 0 <= p < n)


def _index_message(i: Any) -> str:
    return re.escape(f"at index {i}") + r"(?![\d,])"


def _misaligned(x: np.ndarray, offset: int = 1) -> np.ndarray:
    """A copy of x whose data starts `offset` bytes into a bytearray: misaligned for itemsize > 1."""
    buf = bytearray(x.nbytes + offset)
    v = np.frombuffer(buf, dtype=x.dtype, offset=offset, count=x.size).reshape(x.shape)
    v[...] = x
    assert offset % x.dtype.itemsize == 0 or not v.flags.aligned or x.size == 0
    return v


def _data(shape: Tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    """Varied data: slices of different magnitude and sign, so every group gets different parameters."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * np.exp(rng.normal(0.0, 1.5, shape))
    flat = x.reshape(-1)
    flat[: flat.size // 4] = np.abs(flat[: flat.size // 4]) + 0.25
    return x.astype(dtype)


def _same_quantized(a: qa.QuantizedArray, b: qa.QuantizedArray) -> bool:
    return bool(
        np.array_equal(a.values, b.values)
        and a.values.shape == b.values.shape
        and R.same_float32(a.scale, b.scale)
        and a.zero_point == b.zero_point
    )


def _assert_equals_reference_dynamic(x: np.ndarray) -> qa.QuantizedArray:
    q = qa.quantize(x)
    codes, s, z = R.quantize_dynamic(x)
    assert R.same_float32(q.scale, s), (q.scale, s)
    assert q.zero_point == z
    assert np.array_equal(q.values, codes)
    return q


# =========================================================== row: NaN anywhere -> ValueError naming the index
# Where the NaN goes in 1-D input: every index of sizes 1..70; for 129 and 1000003 (split across threads) the
# first, second, middle and last index and the first element of every SIMD tail; and a few more.
NAN_SIZES = list(range(1, 71)) + [129, 1000003]
NAN_MORE_1D = [
    (1000, 0),  # first
    (1000, 517),  # middle, inside the SIMD main loops
    (1000, 999),  # last, inside the tail of every level (1000 = 15 * 64 + 40)
    (100, 97),  # tail of the 32-/64-wide loops
    (4096 * 3 + 5, 4096 * 2 + 1),  # a later 4096-element chunk of the strided paths
]
NAN_CASES_1D = sorted({(n, i) for n in NAN_SIZES for i in (_positions(n) if n > 70 else range(n))}
                      | set(NAN_MORE_1D))


def _strided_views(x: np.ndarray, n: int, i: int) -> List[np.ndarray]:
    """Views with x's values, gathered through the strided path: for the NaNs at the ends and the middle of
    the short sizes, and for NAN_MORE_1D; else none."""
    if n <= 70 and i in (0, n // 2, n - 1) or (n, i) in NAN_MORE_1D:
        return [np.repeat(x, 3)[1::3], np.repeat(x, 2)[::2]]
    return []


def _per_block_too(n: int, i: int) -> bool:
    return n <= 129 or i in (0, n - 1)


# The entry points of the NaN row: each maps (x, n, i) to the calls that must raise for that case.
NAN_ENTRY_POINTS: Dict[str, Callable[[np.ndarray, int, int], List[Callable[[], Any]]]] = {
    "dynamic": lambda x, n, i: [lambda: qa.quantize(x)],
    "static": lambda x, n, i: [lambda: qa.quantize(x, P)],
    "minmax": lambda x, n, i: [lambda: qa.minmax(x)],
    "dynamic-block": lambda x, n, i: [lambda: qa.quantize(x, block_size=16)] if _per_block_too(n, i) else [],
    "static-block": lambda x, n, i: ([lambda: qa.quantize(x, _static_params(x.shape, {"block_size": 7}))]
                                     if _per_block_too(n, i) else []),
    # every element its own channel
    "dynamic-axis": lambda x, n, i: [lambda: qa.quantize(x, axis=0)] if n <= 70 and i in (0, n // 2, n - 1) else [],
    "dynamic-strided": lambda x, n, i: [lambda v=v: qa.quantize(v) for v in _strided_views(x, n, i)],
    "static-strided": lambda x, n, i: [lambda v=v: qa.quantize(v, P) for v in _strided_views(x, n, i)],
}


@pytest.mark.parametrize("entry", list(NAN_ENTRY_POINTS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_nan_anywhere_raises_value_error_naming_its_index(simd_level: str, dtype: Any, entry: str) -> None:
    """NaN at every position of NAN_CASES_1D: dynamic, static and minmax, per tensor, per block and per axis,
    and in strided views (whose index is the view's)."""
    bases: Dict[int, np.ndarray] = {}
    checked = 0
    for n, i in NAN_CASES_1D:
        if n not in bases:
            bases[n] = np.linspace(-3, 3, n).astype(dtype)
        x = bases[n].copy()
        x[i] = np.nan
        for call in NAN_ENTRY_POINTS[entry](x, n, i):
            with pytest.raises(ValueError, match=_index_message(i)):
                call()
            checked += 1
    assert checked >= 15


def test_nan_in_2d_per_axis_names_the_row_and_column(simd_level: str) -> None:
    x = _data((9, 70), np.float32)
    for where in [(0, 0), (4, 33), (8, 69), (8, 64)]:
        y = x.copy()
        y[where] = np.nan
        msg = re.escape(f"at index {where}")
        for gran in GRANS[:2] + [{"axis": -1}, {"block_size": 16}, {"axis": 0, "block_size": 2}]:
            with pytest.raises(ValueError, match=msg):
                qa.quantize(y, **gran)
            with pytest.raises(ValueError, match=msg):
                qa.quantize(y, _static_params(y.shape, gran))
            with pytest.raises(ValueError, match=msg):
                qa.minmax(y, **gran)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("where", [(0, 0), (3, 4), (20, 69), (19, 0)])
def test_nan_in_2d_input_raises_value_error_naming_the_row_and_column(
    simd_level: str, dtype: Any, where: Tuple[int, int]
) -> None:
    x = np.ones((21, 70), dtype=dtype)
    x[where] = np.nan
    message = re.escape(f"({where[0]}, {where[1]})")
    for variant in (x, np.asfortranarray(x)):
        with pytest.raises(ValueError, match=message):
            qa.quantize(variant)
        with pytest.raises(ValueError, match=message):
            qa.quantize(variant, P)
        with pytest.raises(ValueError, match=message):
            qa.minmax(variant)
    with pytest.raises(ValueError, match=re.escape(f"({where[1]}, {where[0]})")):
        qa.quantize(x.T)


def test_nan_with_infinities_and_huge_values_elsewhere_is_still_reported(simd_level: str) -> None:
    x = np.array([np.inf, -np.inf, FLT_MAX, 1.0, np.nan, 2.0], dtype=np.float32)
    with pytest.raises(ValueError, match="NaN"):
        qa.quantize(x, P)
    with pytest.raises(ValueError, match="NaN"):
        qa.minmax(x)


def test_zero_dimensional_nan_raises_value_error(simd_level: str) -> None:
    with pytest.raises(ValueError, match="NaN"):
        qa.quantize(np.array(np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        qa.quantize(np.array(np.nan, dtype=np.float32), P)


# =========================================================== row: ±Inf, dynamic mode -> ValueError naming the index
# Where the infinity goes: the positions of _positions(n) for sizes 1, 4, .., 70, 129 and 1000003, and a few more.
INF_MORE_1D = [(1000, 0), (1000, 517), (1000, 999), (100, 97)]
INF_CASES_1D = sorted({(n, i) for n in list(range(1, 71, 3)) + [70, 129, 1000003] for i in _positions(n)}
                      | set(INF_MORE_1D))


def _check_inf_dynamic(x: np.ndarray, n: int, i: int, value: float) -> bool:
    with pytest.raises(ValueError, match=_index_message(i)):
        qa.quantize(x)
    return True


def _check_inf_dynamic_block(x: np.ndarray, n: int, i: int, value: float) -> bool:
    if n > 129:
        return False
    with pytest.raises(ValueError, match=_index_message(i)):
        qa.quantize(x, block_size=16)
    return True


def _check_inf_dynamic_axis(x: np.ndarray, n: int, i: int, value: float) -> bool:
    if n > 129:
        return False
    with pytest.raises(ValueError, match=re.escape(f"at index (0, {i})")):
        qa.quantize(x.reshape(1, n), axis=0)
    return True


def _check_inf_static(x: np.ndarray, n: int, i: int, value: float) -> bool:
    for p in (P, qa.QParams(np.float32(0.5), 10, qmin=3, qmax=200)):
        codes = qa.quantize(x, p).values
        assert codes[i] == (p.qmax if value > 0 else p.qmin)
        assert np.array_equal(codes, R.quantize_static(x, p.scale, p.zero_point, p.qmin, p.qmax))
    return True


def _check_inf_static_block(x: np.ndarray, n: int, i: int, value: float) -> bool:
    if n > 129:
        return False
    codes = qa.quantize(x, _static_params(x.shape, {"block_size": 16})).values
    assert codes[i] == (255 if value > 0 else 0)
    return True


def _check_inf_static_signed(x: np.ndarray, n: int, i: int, value: float) -> bool:
    if n > 129:
        return False
    signed = qa.quantize(x, qa.QParams(np.float32(0.1), 0, bits=4, signed=True)).values
    assert signed[i] == (7 if value > 0 else -8)
    return True


def _check_inf_minmax(x: np.ndarray, n: int, i: int, value: float) -> bool:
    lo, hi = qa.minmax(x)
    assert (lo if value < 0 else hi) == value
    return True


INF_ENTRY_POINTS: Dict[str, Callable[[np.ndarray, int, int, float], bool]] = {
    "dynamic": _check_inf_dynamic, "dynamic-block": _check_inf_dynamic_block, "dynamic-axis": _check_inf_dynamic_axis,
    "static": _check_inf_static, "static-block": _check_inf_static_block, "static-signed": _check_inf_static_signed,
    "minmax": _check_inf_minmax,
}


@pytest.mark.parametrize("entry", list(INF_ENTRY_POINTS))
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("value", [np.inf, -np.inf], ids=["+inf", "-inf"])
def test_infinity_dynamic_raises_static_saturates_minmax_reports_it(
    simd_level: str, dtype: Any, value: float, entry: str
) -> None:
    """Dynamic: ValueError naming the index (per tensor, axis, block). Static (the next row): +Inf -> qmax,
    -Inf -> qmin, the other codes as the reference. minmax: ±Inf is an ordinary value."""
    bases: Dict[int, np.ndarray] = {}
    checked = 0
    for n, i in INF_CASES_1D:
        if n not in bases:
            bases[n] = np.linspace(-3, 3, n).astype(dtype)
        x = bases[n].copy()
        x[i] = value
        checked += INF_ENTRY_POINTS[entry](x, n, i, value)
    assert checked >= 20


def test_infinity_in_dynamic_mode_leaves_minmax_working(simd_level: str) -> None:
    # minmax treats infinities as ordinary values; only choosing a scale from them is refused
    x = np.array([1.0, -np.inf, 2.0, np.inf], dtype=np.float32)
    lo, hi = qa.minmax(x)
    assert lo == -np.inf and hi == np.inf
    with pytest.raises(ValueError):
        qa.choose_qparams(lo, hi)


# =========================================================== row: ±Inf or huge values, static mode -> saturate
HUGE_F32 = [np.inf, -np.inf, 3e38, -3e38, float(FLT_MAX), -float(FLT_MAX), 1e30, -1e30, 2.0**31, -(2.0**31), 2.0**32]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize(
    "params",
    [P, qa.QParams(np.float32(1.0), 0), qa.QParams(np.float32(1e-3), 255), qa.QParams(np.float32(2.0**-149), 128),
     qa.QParams(np.float32(0.5), 10, qmin=3, qmax=200)],
    ids=["p", "unit_scale", "zp255", "tiny_scale", "custom_qrange"],
)
def test_infinite_and_huge_values_saturate_in_static_mode(simd_level: str, dtype: Any, params: qa.QParams) -> None:
    top = float(np.finfo(dtype).max)
    values = [v for v in HUGE_F32 if abs(v) <= top or np.isinf(v)] + [top, -top]
    if dtype == np.float64:
        values += [1e300, -1e300, np.finfo(np.float64).max, -np.finfo(np.float64).max]
    vals = np.array(values, dtype=dtype)
    # every value at many positions: in the SIMD main loops and in each level's tail
    x = np.resize(vals, 257)
    with np.errstate(over="ignore"):
        x[::3] = np.linspace(-2, 2, x[::3].size).astype(dtype)
    got = qa.quantize(x, params).values
    assert np.array_equal(got, R.quantize_static(x, params.scale, params.zero_point, params.qmin, params.qmax))
    # the stated rule: positive overflow -> qmax, negative -> qmin, never a wrapped-around code
    big = np.abs(x.astype(np.float64)) >= 2.0**31
    assert np.all(got[big & (x > 0)] == params.qmax)
    assert np.all(got[big & (x < 0)] == params.qmin)


@pytest.mark.parametrize("zp", [0, 128, 255])
def test_values_just_outside_the_code_range_clip_instead_of_wrapping(simd_level: str, zp: int) -> None:
    s = np.float32(1.0)
    k = np.arange(-600, 600, dtype=np.float32)  # codes -600 + zp ... 600 + zp before clipping
    got = qa.quantize(k, qa.QParams(s, zp)).values
    assert np.array_equal(got, np.clip(k.astype(np.int64) + zp, 0, 255).astype(np.uint8))


# =========================================================== row: subnormal values
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_subnormal_input_is_not_flushed_to_zero(simd_level: str, dtype: Any) -> None:
    """Subnormal values are ordinary values (no FTZ/DAZ anywhere): minmax returns them exactly, dynamic and
    static quantization equal the reference, per tensor and per axis, dequantize writes subnormal results."""
    tiny = np.finfo(dtype).smallest_subnormal
    k = np.concatenate([np.arange(-40, 300), [1, 2, 3]]).astype(np.float64)
    with np.errstate(under="ignore"):
        x = (k * float(tiny)).astype(dtype)
    assert np.all((x != 0) == (k != 0))  # really subnormal, really not zero
    lo, hi = qa.minmax(x)
    assert lo == x.min() and hi == x.max() and lo != 0
    codes, s, z = R.quantize_dynamic(x)
    q = qa.quantize(x)
    assert R.same_float32(q.scale, s) and q.zero_point == z and np.array_equal(q.values, codes)
    if dtype != np.float64:
        # static with the smallest scale, 2**-149: float32 x = k * 2**-149 gives code k + z exactly
        p = qa.QParams(np.float32(2.0**-149), 100)
        expected = R.quantize_static(x, p.scale, p.zero_point)
        assert np.array_equal(qa.quantize(x, p).values, expected)
        if dtype == np.float32:
            assert np.array_equal(expected, np.clip(k + 100, 0, 255).astype(np.uint8))
    x2 = np.stack([x, -x, x * 0, x]).astype(dtype)
    for gran in ({"axis": 0}, {"axis": 1}, {"block_size": 16}):
        c, s2, z2 = R.mode_quantize(x2, axis=gran.get("axis"), block_size=gran.get("block_size"))
        q2 = qa.quantize(x2, **gran)
        assert R.same_bits(np.asarray(q2.scale, np.float32), np.asarray(s2, np.float32)), gran
        assert np.array_equal(q2.zero_point, z2) and np.array_equal(q2.values, c), gran
    # dequantize to subnormal results: (q - z) * 2**-149 is exactly (q - z) subnormal steps
    pd = qa.QParams(np.float32(2.0**-149), 128)
    all_codes = np.arange(256, dtype=np.uint8)
    for out_dtype in (np.float32, np.float64):
        got = qa.dequantize(all_codes, pd, dtype=out_dtype)
        assert R.same_bits(got, R.dequantize(all_codes, pd.scale, pd.zero_point, out_dtype))
        assert np.count_nonzero(got) == 255


# =========================================================== row: -0.0
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_negative_zero_quantizes_like_positive_zero(simd_level: str, dtype: Any) -> None:
    """-0.0 is 0: the same codes and parameters as +0.0; minmax reports +0.0; zero codes dequantize to +0.0."""
    for n in (1, 7, 64, 70, 129):
        x = np.linspace(-1, 2, n).astype(dtype)
        x[::3] = -0.0
        plus = np.where(x == 0, dtype(0), x).astype(dtype)
        assert np.signbit(x).sum() > np.signbit(plus).sum() or n == 1
        for gran in ({}, {"block_size": 16}):
            assert _key(qa.quantize(x, **gran)) == _key(qa.quantize(plus, **gran))
        assert np.array_equal(qa.quantize(x, P).values, qa.quantize(plus, P).values)
        zeros = -np.zeros((3, n), dtype=dtype)
        for gran in ({}, {"axis": 0}, {"axis": 1}, {"block_size": 4}):
            lo, hi = qa.minmax(zeros, **gran)
            assert not np.any(np.signbit(lo)) and not np.any(np.signbit(hi)), gran
            q = qa.quantize(zeros, **gran)
            assert np.all(q.values == 0) and np.all(np.asarray(q.zero_point) == 0), gran
            assert R.same_float32(np.asarray(q.scale).reshape(-1)[0], np.float32(1) / np.float32(255))
            back = q.dequantize()
            assert np.all(back == 0) and not np.any(np.signbit(back)), gran
    assert qa.choose_qparams(np.float32(-0.0), np.float32(-0.0)) == qa.choose_qparams(np.float32(0), np.float32(0))


# =========================================================== row: ±FLT_MAX (a range wider than float32)
def test_flt_max_range_gets_finite_scale_in_every_mode(simd_level: str) -> None:
    """[-FLT_MAX, FLT_MAX]: hi - lo overflows float32, so the scale is float32(double range / levels) — per
    tensor, per axis and per block, 8-bit and symmetric. Where even that does not fit float32 (1-bit codes:
    one level) the call raises ValueError. Dequantize follows its formula: float32 output may overflow to
    ±Inf at the extreme codes (as ONNX DequantizeLinear); float64 output stays within s/2 of x."""
    x = np.array([-FLT_MAX, FLT_MAX, 0.0, 1.0, -3e38, 3e38, 1e38, -1.5e38], dtype=np.float32)
    x2 = np.stack([x, x[::-1], x / 2, -x / 4]).astype(np.float32)
    for kw in ({}, {"symmetric": True}, {"include_zero": False}, {"bits": 4, "signed": True}):
        for gran in ({}, {"axis": 0}, {"axis": 1}, {"block_size": 3}):
            a = x if not gran else x2
            c, s, z = R.mode_quantize(a, axis=gran.get("axis"), block_size=gran.get("block_size"), **kw)
            q = qa.quantize(a, **gran, **kw)
            scale = np.asarray(q.scale, dtype=np.float32)
            assert np.all(np.isfinite(scale) & (scale > 0))
            assert R.same_bits(scale, np.asarray(s, dtype=np.float32)), (kw, gran)
            assert np.array_equal(q.zero_point, z) and np.array_equal(q.values, c), (kw, gran)
    q = qa.quantize(x)
    assert R.same_float32(q.scale, np.float32((FLT_MAX + FLT_MAX) / 255.0))
    back64 = q.dequantize(dtype=np.float64)
    assert np.all(np.abs(back64 - x.astype(np.float64)) <= float(q.scale) * (0.5 + 2.0**-12))
    with np.errstate(over="ignore"):
        expected32 = R.dequantize(q.values, q.scale, q.zero_point)
    assert R.same_bits(q.dequantize(), expected32)  # -128 * s = -3.4e38 overflows float32: -inf, as specified
    for kw in ({"bits": 1}, {"bits": 1, "signed": True, "symmetric": True}, {"include_zero": False, "bits": 1}):
        with pytest.raises(ValueError, match="scale"):
            qa.quantize(x, **kw)
    # static: ±FLT_MAX saturate like infinities
    codes = qa.quantize(x, P).values
    assert codes[0] == 0 and codes[1] == 255


@pytest.mark.parametrize(
    "lo,hi",
    [(-3e38, 3e38), (-FLT_MAX, FLT_MAX), (-FLT_MAX, 2e38), (-1.8e38, 1.8e38), (-3e38, 1.0)],
)
def test_range_wider_than_float32_gets_finite_scale_from_the_double_range(simd_level: str, lo: float, hi: float) -> None:
    lo32, hi32 = np.float32(lo), np.float32(hi)
    with np.errstate(over="ignore"):
        overflows = np.isinf(hi32 - lo32)
    x = np.concatenate([[lo32, hi32], np.linspace(-1e38, 1e38, 301, dtype=np.float32), [0.0, 1.0, -1.0]])
    x = x.astype(np.float32)
    np.random.default_rng(0).shuffle(x)
    q = _assert_equals_reference_dynamic(x)
    assert np.isfinite(q.scale) and q.scale > 0
    if overflows:  # the stated rule: float32((double(hi) - double(lo)) / 255)
        assert R.same_float32(q.scale, np.float32((float(hi32) - float(lo32)) / 255.0))
    assert np.array_equal(qa.quantize(x, qa.choose_qparams(*qa.minmax(x))).values, q.values)


# =========================================================== row: 0-d arrays, NumPy scalars
@pytest.mark.parametrize("dtype", ["=f4", "=f8", "=f2", ">f4", ">f8"])
def test_zero_dimensional_arrays(simd_level: str, dtype: str) -> None:
    """0-d input gives 0-d codes (dynamic, static, out=, packed); dequantize gives 0-d floats; axis= and
    block_size= are ValueError (no axis to quantize along), as are per-axis parameters."""
    for value in (2.5, -0.75, 0.0, -0.0, 1e-3, 60000.0):
        x = np.array(value, dtype=dtype)
        native = _native_copy(x)
        codes, s, z = R.quantize_dynamic(native)
        q = qa.quantize(x)
        assert q.values.shape == () and q.values.dtype == np.uint8
        assert R.same_float32(q.scale, s) and q.zero_point == z and np.array_equal(q.values, codes)
        assert np.array_equal(qa.quantize(x, P).values, R.quantize_static(native, P.scale, P.zero_point))
        assert qa.quantize(x, P).values.shape == ()
        out = np.empty((), dtype=np.uint8)
        assert qa.quantize(x, out=out).values is out and out == codes
        d = q.dequantize()
        assert d.shape == () and R.same_bits(d, R.dequantize(q.values, q.scale, q.zero_point))
        assert abs(float(d) - float(native)) <= float(q.scale) / 2
        assert qa.minmax(x) == (native[()], native[()])
        packed = qa.quantize(x, bits=4, packed=True)
        assert packed.values.shape == (1,) and packed.codes().shape == () and packed.dequantize().shape == ()
        ro = x.copy()
        ro.setflags(write=False)
        assert _key(qa.quantize(ro)) == _key(q)
        with pytest.raises(ValueError, match="axis"):
            qa.quantize(x, axis=0)
        with pytest.raises(ValueError, match="block_size"):
            qa.quantize(x, block_size=2)
        with pytest.raises(ValueError):
            qa.quantize(x, _static_params((1,), {"axis": 0}))
        with pytest.raises(ValueError, match="axis"):
            qa.minmax(x, axis=0)
    # a NumPy scalar is taken as a 0-d array
    assert _key(qa.quantize(np.float32(2.5))) == _key(qa.quantize(np.array(2.5, dtype=np.float32)))


# =========================================================== row: empty array, any dimension 0
ZERO_SHAPES = [(0,), (3, 0), (0, 3), (0, 4), (2, 0, 4), (2, 0, 5), (5, 3, 0), (0, 0)]


@pytest.mark.parametrize("shape", ZERO_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES + [">f4"], ids=DTYPE_IDS + ["be-f4"])
def test_shapes_with_a_zero_dimension(simd_level: str, shape: Tuple[int, ...], dtype: Any) -> None:
    """Dynamic quantize and minmax: ValueError (the range of nothing is undefined), per tensor, axis, block.
    Static: empty codes of the input's shape (per tensor, per axis, per block); dequantize: empty floats."""
    views = [np.empty(shape, dtype=dtype)]
    views.append(views[0][(slice(None, None, -1),) * len(shape)])  # negative strides
    views.append(np.asfortranarray(views[0]))
    for x in views:
        grans = [{}] + [{"axis": a} for a in range(-len(shape), len(shape))] + [{"block_size": 3}]
        for gran in grans:
            with pytest.raises(ValueError, match="empty"):
                qa.quantize(x, **gran)
            with pytest.raises(ValueError, match="empty"):
                qa.minmax(x, **gran)
            p = _static_params(shape, gran)
            q = qa.quantize(x, p)
            assert q.values.shape == shape and q.values.dtype == np.uint8
            assert q.params.replace(axis=p.axis) == p  # (the result's params hold the axis normalized)
            assert q.dequantize().dtype == np.float32 and q.dequantize().shape == shape
            for out_dtype in (np.float32, np.float64):
                d = q.dequantize(dtype=out_dtype)
                assert d.shape == shape and d.dtype == out_dtype
            out = np.empty(shape, dtype=np.uint8)
            assert qa.quantize(x, p, out=out).values is out
        packed = qa.quantize(x, P.replace(bits=4, qmax=15), packed=True)
        assert packed.values.size == 0 and packed.codes().shape == shape


# =========================================================== row: all values equal
CONSTANTS = [
    (dtype, c)
    for dtype in (np.float32, np.float64, np.float16)
    for c in (3.75, -0.001, 1e-30, -65000.0, 1e30, 6e-8)
    if abs(c) <= float(np.finfo(dtype).max) and abs(c) >= float(np.finfo(dtype).smallest_subnormal)
]


@pytest.mark.parametrize("dtype,c", CONSTANTS, ids=[f"{np.dtype(d).name}-{c}" for d, c in CONSTANTS])
@pytest.mark.parametrize("n", [1, 37, 1000])
def test_constant_input_has_finite_positive_scale_and_round_trips(simd_level: str, dtype: Any, c: float, n: int) -> None:
    # c > 0 and c < 0: the range is [0, c] or [c, 0]
    value = dtype(c)
    x = np.full(n, value, dtype=dtype)
    q = _assert_equals_reference_dynamic(x)
    s = float(q.scale)
    assert np.isfinite(s) and s > 0
    err = np.abs(q.dequantize(dtype=np.float64) - x.astype(np.float64))
    assert np.all(err <= s / 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(1,), (37,), (1000,), (4, 5), ()])
def test_all_zeros_get_onnx_scale_one_over_255_and_dequantize_to_exact_zeros(
    simd_level: str, dtype: Any, shape: Tuple[int, ...]
) -> None:
    for x in (np.zeros(shape, dtype=dtype), -np.zeros(shape, dtype=dtype)):
        q = qa.quantize(x)
        assert R.same_float32(q.scale, np.float32(1) / np.float32(255))
        assert q.zero_point == 0
        assert np.all(q.values == 0)
        d = q.dequantize()
        assert d.shape == shape and np.all(d == 0)


# =========================================================== row: big-endian
LAYOUT_SHAPE = (5, 7, 131)  # 131 = 2 * 64 + 3: main loops and a tail at every level


@pytest.mark.parametrize("dtype", ["f4", "f8", "f2"])
def test_big_endian_input_equals_its_native_copy(simd_level: str, dtype: str) -> None:
    base = _data(LAYOUT_SHAPE, "=" + dtype)
    big = base.astype(">" + dtype)
    assert not big.dtype.isnative
    _assert_same_as_copy(big, "big-endian")
    _assert_same_as_copy(big[::-1, :, ::2], "big-endian, reversed and strided")
    _assert_same_as_copy(np.asfortranarray(big), "big-endian, Fortran order")
    _assert_same_as_copy(_misaligned(big), "big-endian, misaligned")
    _assert_same_as_copy(big.reshape(-1)[: 4096 * 2 + 5], "big-endian, 1-D across gather chunks", [{}])
    # another shape; also spelled little-endian ('<', native here), reversed, Fortran order, flattened
    other = np.random.default_rng(3).standard_normal((13, 21)).astype(">" + dtype)
    for view in (other, other.astype("<" + dtype), other[::-1, ::2], np.asfortranarray(other), other.reshape(-1)):
        _assert_same_as_copy(view, "byte order, (13, 21)")


# ========================== row: Fortran order, transposed, negative strides, stride 0, misaligned, read-only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fortran_order_input_equals_its_c_order_copy(simd_level: str, dtype: Any) -> None:
    base = _data(LAYOUT_SHAPE, dtype)
    f = np.asfortranarray(base)
    assert f.flags.f_contiguous and not f.flags.c_contiguous
    _assert_same_as_copy(f, "Fortran order")
    _assert_same_as_copy(base.T, "transposed")
    _assert_same_as_copy(np.asfortranarray(base[:, :, :64]), "Fortran order, no tail")
    q = qa.quantize(f, axis=1)
    assert q.values.flags.c_contiguous
    f2 = np.asfortranarray(np.random.default_rng(4).standard_normal((33, 17, 5)).astype(dtype))
    assert f2.flags.f_contiguous and not f2.flags.c_contiguous
    _assert_same_as_copy(f2, "Fortran order, (33, 17, 5)")
    assert qa.quantize(f2).values.flags.c_contiguous


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_negative_stride_view_does_not_reorder_codes(simd_level: str, dtype: Any) -> None:
    """Codes follow the view's logical (C) order, not memory order."""
    base = _data(LAYOUT_SHAPE, dtype)
    for view in (base[::-1], base[:, ::-1, ::-2], base[::-1, ::-1, ::-1], base[::-2, 1::-1, -1::-3]):
        _assert_same_as_copy(view, "negative strides")
    r = np.linspace(-1, 1, 4096 * 2 + 9).astype(dtype)
    assert np.array_equal(qa.quantize(r[::-1]).values, qa.quantize(r).values[::-1])
    assert np.array_equal(qa.quantize(r[::-1], P).values, qa.quantize(r, P).values[::-1])


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_stride_zero_broadcast_input_equals_its_copy(simd_level: str, dtype: Any) -> None:
    base = _data(LAYOUT_SHAPE, dtype)
    for view in (np.broadcast_to(base[2], LAYOUT_SHAPE),  # stride 0 on axis 0
                 np.broadcast_to(base[:, :, 5:6], LAYOUT_SHAPE),  # stride 0 on the last axis
                 np.broadcast_to(base[1, 2, 3], LAYOUT_SHAPE)):  # every stride 0: a constant
        assert 0 in view.strides
        _assert_same_as_copy(view, "broadcast")
    big = np.broadcast_to(base[0, 0], (2600, 131))  # 340,600 elements: gathered, more than one chunk
    _assert_same_as_copy(big, "big broadcast", [{}, {"axis": 0}, {"block_size": 64}])


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_misaligned_input_equals_its_aligned_copy(simd_level: str, dtype: Any) -> None:
    """Data starting one byte into a buffer (np.frombuffer(buf, dtype, offset=1)), 1-D sizes around the
    4096-element gather chunk and 3-D."""
    for n in (1, 15, 17, 64, 4095, 4096, 4097, 8193, 70001):
        x = _misaligned(_data((n,), dtype, seed=n))
        assert not x.flags.aligned or np.dtype(dtype).itemsize == 1
        _assert_same_as_copy(x, "misaligned", [{}, {"block_size": 16}] if n > 128 else GRANS[:1] + GRANS[3:])
    for offset in (1, 2, 3, 5):
        _assert_same_as_copy(_misaligned(_data(LAYOUT_SHAPE, dtype), offset), f"misaligned by {offset}")
    # the same bytes from a read-only buffer (bytes), as np.frombuffer gives them
    raw = b"\0" + _data((1000,), dtype).tobytes()
    x = np.frombuffer(raw, dtype=dtype, offset=1)
    assert not x.flags.writeable
    _assert_same_as_copy(x, "misaligned read-only", [{}, {"axis": 0}, {"block_size": 16}])


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_read_only_input_codes_and_params_are_accepted(simd_level: str, dtype: Any) -> None:
    base = _data(LAYOUT_SHAPE, dtype)
    ro = base.copy()
    ro.setflags(write=False)
    _assert_same_as_copy(ro, "read-only")
    _assert_same_as_copy(ro[::-1, :, 1::2], "read-only view")
    q = qa.quantize(base, axis=1)
    codes = q.values.copy()
    codes.setflags(write=False)
    assert R.same_bits(qa.dequantize(codes, q.params), q.dequantize())
    assert R.same_bits(qa.dequantize(codes[::-1], q.params), q.dequantize()[::-1].copy())  # axis 0 is not axis 1
    p = qa.QParams(np.float32(0.1), 3)
    c = qa.quantize(ro, p).values.copy()
    c.setflags(write=False)
    assert R.same_bits(qa.dequantize(c, p), R.dequantize(c, p.scale, p.zero_point))
    assert R.same_bits(qa.dequantize(c[::-1, ::2], p), R.dequantize(c[::-1, ::2], p.scale, p.zero_point))


def test_dequantize_of_code_views_equals_dequantize_of_their_copy(simd_level: str) -> None:
    """Codes in any layout (reversed, strided, Fortran, stride 0, read-only, from a bytes buffer) dequantize
    like their C-contiguous copy, per tensor, axis and block, to float32 and float64."""
    codes = np.random.default_rng(5).integers(0, 256, LAYOUT_SHAPE, dtype=np.uint8)
    ro = codes.copy()
    ro.setflags(write=False)
    views = {"reversed": codes[::-1, :, ::-1], "strided": codes[:, ::2, 1::3], "fortran": np.asfortranarray(codes),
             "broadcast": np.broadcast_to(codes[:1], LAYOUT_SHAPE), "read-only": ro,
             "bytes": np.frombuffer(b"\0" + codes.tobytes(), dtype=np.uint8, offset=1).reshape(LAYOUT_SHAPE)}
    for name, view in views.items():
        copy = np.ascontiguousarray(view)
        for gran in GRANS:
            p = _static_params(view.shape, gran)
            for dtype in (np.float32, np.float64):
                got = qa.dequantize(view, p, dtype=dtype)
                assert R.same_bits(got, qa.dequantize(copy, p, dtype=dtype)), (name, gran)
                axis = None if not gran else gran.get("axis", -1)
                expected = R.mode_dequantize(copy, p.scale, p.zero_point, axis, gran.get("block_size"), dtype)
                assert R.same_bits(got, expected), (name, gran)


# =========================================================== row: float16
F16_EDGES = [65504.0, -65504.0, 2.0**-24, -(2.0**-24), 3 * 2.0**-24, 2.0**-14, 2.0**-14 - 2.0**-24, -0.0, 0.0,
             1.0, -1.0, 0.1, 2048.0, 2049.0, 65472.0]


def test_float16_edge_values_follow_float32_rules(simd_level: str) -> None:
    """float16 max 65504, subnormals (2**-24 ..), the largest subnormal, -0.0: widened exactly to float32, then
    the float32 rules (reference); static ±Inf saturate; minmax returns the float16 values exactly."""
    edges = np.array(F16_EDGES, dtype=np.float16)
    assert np.float16(65504) == np.finfo(np.float16).max
    for n in (len(edges), 70, 129, 5000):
        x = np.resize(edges, n)
        np.random.default_rng(n).shuffle(x)
        x32 = x.astype(np.float32)
        codes, s, z = R.quantize_dynamic(x)
        q = qa.quantize(x)
        assert R.same_float32(q.scale, s) and q.zero_point == z and np.array_equal(q.values, codes)
        assert _key(q) == _key(qa.quantize(x32))
        lo, hi = qa.minmax(x)
        assert lo.dtype == np.float16 and lo == -65504 and hi == 65504
        err = np.abs(q.dequantize(dtype=np.float64) - x32.astype(np.float64))
        assert np.all(err <= float(q.scale) * (0.5 + 2.0**-12))
        with_inf = x.copy()
        with_inf[::7] = np.float16(np.inf)
        with_inf[3::7] = -np.float16(np.inf)
        got = qa.quantize(with_inf, P).values
        assert np.array_equal(got, R.quantize_static(with_inf, P.scale, P.zero_point))
        assert np.all(got[::7] == 255) and np.all(got[3::7] == 0)
    # only subnormals: the scale comes from the float32 rules of their exact float32 values
    sub = (np.arange(1, 1024) * 2.0**-24).astype(np.float16)
    assert _key(qa.quantize(sub)) == _key(qa.quantize(sub.astype(np.float32)))
    x2 = np.resize(edges, (6, 50))
    for gran in ({"axis": 0}, {"axis": 1}, {"block_size": 8}):
        c, s2, z2 = R.mode_quantize(x2, axis=gran.get("axis"), block_size=gran.get("block_size"))
        q2 = qa.quantize(x2, **gran)
        assert R.same_bits(np.asarray(q2.scale, np.float32), np.asarray(s2, np.float32))
        assert np.array_equal(q2.zero_point, z2) and np.array_equal(q2.values, c)


def test_float16_input_equals_quantizing_its_float32_copy(simd_level: str) -> None:
    rng = np.random.default_rng(16)
    cases = [
        rng.standard_normal(1000).astype(np.float16),
        (rng.standard_normal(333) * 60000).clip(-65504, 65504).astype(np.float16),
        np.array([6e-8, -6e-8, 1e-7, 0.0, 5.96e-8], dtype=np.float16),  # subnormal halves
        np.array([65504.0, -65504.0, 1.0], dtype=np.float16),
        rng.standard_normal((7, 9, 3)).astype(np.float16).transpose(1, 2, 0),
    ]
    for x in cases:
        x32 = x.astype(np.float32)
        assert _same_quantized(qa.quantize(x), qa.quantize(x32))
        assert np.array_equal(qa.quantize(x, P).values, qa.quantize(x32, P).values)
        assert qa.minmax(x) == tuple(np.float16(v) for v in qa.minmax(x32))
        _assert_equals_reference_dynamic(x)


# =========================================================== row: float64, values beyond the float32 range
def test_float64_values_beyond_float32_range(simd_level: str) -> None:
    """float64 is computed in float64: a range beyond float32 gets scale float32(range / 255) when that fits
    (e.g. ±1e39 -> 7.8e36), ValueError when it does not (±1e300); static saturates any float64 (1e300,
    float64 max); float64 subnormals quantize to the zero point; minmax returns the float64 values."""
    f64max = np.finfo(np.float64).max
    for lo, hi in ((-1e39, 1e39), (0.0, 5e40), (-8e40, 1.0), (-1e38, 3.5e38)):
        x = np.concatenate([[lo, hi], np.linspace(lo, hi, 301), [0.0, 5e-324, -1.0]])
        codes, s, z = R.quantize_dynamic(x)
        q = qa.quantize(x)
        assert np.isfinite(q.scale) and R.same_float32(q.scale, s) and q.zero_point == z
        assert np.array_equal(q.values, codes)
        assert qa.minmax(x) == (x.min(), x.max())
        assert qa.choose_qparams(*qa.minmax(x)) == q.params
        back = q.dequantize(dtype=np.float64)
        assert np.all(np.abs(back - x) <= float(q.scale) * (0.5 + 2.0**-12))
    for lo, hi in ((0.0, 9e40), (-1e300, 1e300), (-f64max, f64max)):
        with pytest.raises(ValueError, match="float32"):
            qa.quantize(np.array([lo, 0.0, hi]))
        with pytest.raises(ValueError):
            qa.quantize(np.array([[lo, 0.0, hi]]), axis=0)
        with pytest.raises(ValueError):
            qa.choose_qparams(np.float64(lo), np.float64(hi))
    x = np.array([1e300, -1e300, f64max, -f64max, 5e-324, -5e-324, 1e39, -1e39, 2.0**63, 0.05], dtype=np.float64)
    for p in (P, qa.QParams(np.float32(2.0**-149), 7), qa.QParams(np.float32(3e38), 250)):
        got = qa.quantize(x, p).values
        assert np.array_equal(got, R.quantize_static(x, p.scale, p.zero_point))
    got = qa.quantize(x, P).values
    assert list(got[:4]) == [255, 0, 255, 0] and got[4] == got[5] == 100
    # per axis: one slice beyond float32, one ordinary, one of subnormals
    x2 = np.stack([np.linspace(-1e39, 2e39, 70), np.linspace(-1, 1, 70), np.arange(70) * 5e-324])
    c, s2, z2 = R.mode_quantize(x2, axis=0)
    q2 = qa.quantize(x2, axis=0)
    assert R.same_bits(q2.scale, np.asarray(s2, np.float32)) and np.array_equal(q2.values, c)


def test_float64_input_codes_follow_float64_not_float32_arithmetic(simd_level: str) -> None:
    # scale 1, zero point 0; 0.5 + 1e-9 rounds up in float64 but is exactly 0.5 (-> 0, to even) in float32
    x = np.array([0.0, 255.0, 0.5 + 1e-9, 2.5 - 1e-9, 100.5 + 1e-8], dtype=np.float64)
    codes64, s64, z64 = R.quantize_dynamic(x)
    codes32, s32, z32 = R.quantize_dynamic(x.astype(np.float32))
    assert not np.array_equal(codes64, codes32)  # the input really tells the two apart
    q = qa.quantize(x)
    assert R.same_float32(q.scale, s64) and q.zero_point == z64
    assert np.array_equal(q.values, codes64)
    assert np.array_equal(qa.quantize(x, qa.QParams(s64, z64)).values, codes64)


def test_float64_input_scale_follows_float64_range_arithmetic(simd_level: str) -> None:
    x = np.array([-1.009618183538736, -0.20917557487171307, 0.5408455846858077], dtype=np.float64)
    _, s64, _ = R.quantize_dynamic(x)
    _, s32, _ = R.quantize_dynamic(x.astype(np.float32))
    assert not R.same_float32(s64, s32)
    _assert_equals_reference_dynamic(x)


def test_choose_qparams_with_float64_scalar_bounds_computes_in_float64() -> None:
    # qa.minmax returns np.float64 scalars for float64 input; choose_qparams must then use float64
    lo, hi = np.float64(-1.009618183538736), np.float64(0.5408455846858077)
    s64, z64 = R.choose_qparams_f64(lo, hi)
    s32, _ = R.choose_qparams_f32(np.float32(lo), np.float32(hi))
    assert not R.same_float32(s64, s32)
    for bounds in ((lo, hi), (np.array(lo), np.array(hi)), (lo, float(hi)), (float(lo), hi)):
        p = qa.choose_qparams(*bounds)
        assert R.same_float32(p.scale, s64) and p.zero_point == z64, (type(bounds[0]), type(bounds[1]), p)
    # Python floats are not np.float64: float32 arithmetic
    p = qa.choose_qparams(float(lo), float(hi))
    assert R.same_float32(p.scale, s32)


# =========================================================== row: int, bool, complex, object, str dtypes -> TypeError
BAD_INPUTS: List[Tuple[str, Callable[[], Any]]] = [
    ("int32", lambda: np.arange(5, dtype=np.int32)),
    ("int64", lambda: np.arange(5, dtype=np.int64)),
    ("uint8", lambda: np.arange(5, dtype=np.uint8)),
    ("bool", lambda: np.array([True, False])),
    ("complex64", lambda: np.array([1 + 2j, 3], dtype=np.complex64)),
    ("complex128", lambda: np.array([1 + 2j, 3], dtype=np.complex128)),
    ("object", lambda: np.array([1.0, 2.0], dtype=object)),
    ("str", lambda: np.array(["1.0", "2.0"])),
    ("bytes", lambda: np.array([b"1.0", b"2.0"])),
    ("list_of_ints", lambda: [1, 2, 3]),
    ("list_of_bools", lambda: [True, False]),
    ("python_int", lambda: 3),
    ("python_complex", lambda: 1.5 + 0j),
    ("datetime64", lambda: np.array(["2020-01-01"], dtype="datetime64[D]")),
]


if np.dtype(np.longdouble).itemsize not in (2, 4, 8):  # x87 80-bit or quad: not a supported float
    BAD_INPUTS.append(("longdouble", lambda: np.array([1.0, 2.0], dtype=np.longdouble)))


@pytest.mark.parametrize("name,make", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_non_float_input_raises_type_error(simd_level: str, name: str, make: Callable[[], Any]) -> None:
    with pytest.raises(TypeError):
        qa.quantize(make())
    with pytest.raises(TypeError):
        qa.quantize(make(), P)
    with pytest.raises(TypeError):
        qa.minmax(make())


def test_dequantize_rejects_non_uint8_codes_and_missing_params() -> None:
    with pytest.raises(TypeError):
        qa.dequantize(np.arange(5, dtype=np.int32), P)
    with pytest.raises(TypeError):
        qa.dequantize(np.arange(5, dtype=np.uint8))


# =========================================================== row: Python lists, buffer objects, torch CPU tensors
def _assert_same_as_asarray(x: Any) -> None:
    ref = np.asarray(x)
    assert _same_quantized(qa.quantize(x), qa.quantize(ref))
    assert np.array_equal(qa.quantize(x, P).values, qa.quantize(ref, P).values)
    lo, hi = qa.minmax(x)
    assert (lo, hi) == qa.minmax(ref) and lo.dtype == ref.dtype


ARRAY_LIKES: List[Tuple[str, Callable[[], Any]]] = [
    ("list_of_floats", lambda: [0.25, -1.5, 3.0, 2.2, -0.7]),
    ("nested_list_of_floats", lambda: [[0.25, -1.5, 3.0], [2.2, -0.7, 1e-3]]),
    ("tuple_of_floats", lambda: (1.0, 2.5, -3.25)),
    ("python_float", lambda: 2.5),
    ("numpy_float32_scalar", lambda: np.float32(-0.75)),
    ("array_array_f", lambda: array.array("f", [0.5, -2.0, 7.25, 1e-3] * 30)),
    ("array_array_d", lambda: array.array("d", [0.5, -2.0, 7.25, 1e-3] * 30)),
    ("memoryview_of_array_array", lambda: memoryview(array.array("f", [0.5, -2.0, 7.25] * 50))),
    ("memoryview_2d_cast", lambda: memoryview(array.array("f", range(60))).cast("B").cast("f", (6, 10))),
    ("bytes_frombuffer_readonly", lambda: np.frombuffer(np.linspace(-1, 2, 99, dtype=np.float32).tobytes(), np.float32)),
    ("bytearray_frombuffer", lambda: np.frombuffer(bytearray(np.linspace(-1, 2, 99).tobytes()), np.float64)),
    ("memoryview_of_bytes", lambda: memoryview(np.linspace(-5, 1, 77, dtype=np.float32).tobytes()).cast("f")),
    ("float16_list_via_array", lambda: np.array([0.1, -0.2, 65504.0], dtype=np.float16).tolist()),
]


@pytest.mark.parametrize("name,make", ARRAY_LIKES, ids=[a[0] for a in ARRAY_LIKES])
def test_array_likes_give_the_result_of_quantizing_np_asarray(simd_level: str, name: str, make: Callable[[], Any]) -> None:
    _assert_same_as_asarray(make())


def test_list_of_floats_is_float64_like_np_asarray(simd_level: str) -> None:
    x = [-1.009618183538736, -0.20917557487171307, 0.5408455846858077]
    codes, s, z = R.quantize_dynamic(np.asarray(x))
    q = qa.quantize(x)
    assert R.same_float32(q.scale, s) and q.zero_point == z and np.array_equal(q.values, codes)


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "float16"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
def test_torch_cpu_tensors_give_the_result_of_quantizing_np_asarray(
    simd_level: str, dtype_name: str, layout: str
) -> None:
    torch = pytest.importorskip("torch")
    t = torch.linspace(-3.0, 5.0, 600, dtype=getattr(torch, dtype_name)).reshape(20, 30)
    if layout == "transposed":
        t = t.T
    elif layout == "sliced":
        t = t[::3, 1::2]
    _assert_same_as_asarray(t)


# ========================== row: scale <= 0, NaN or Inf; non-integer zero point; |zero point| > 2**23 -> ValueError
@pytest.mark.parametrize(
    "scale",
    [0.0, -0.0, -1.0, -1e-45, np.float32(0.0), np.float32(-2.5), float("nan"), np.float32("nan"), float("inf"),
     -float("inf"), np.float32("inf"), 1e39, -1e39, 1e-46],
    ids=lambda v: repr(v),
)
def test_qparams_with_non_positive_or_non_finite_scale_raise_value_error(scale: Any) -> None:
    # 1e39 overflows float32 and 1e-46 rounds to float32 zero: neither is a usable float32 scale
    with pytest.raises(ValueError):
        qa.QParams(scale, 0)


@pytest.mark.parametrize("zero_point", [128.5, 0.5, -3.25, np.float32(7.5), np.float64(1e-9), float("nan"), float("inf")],
                         ids=lambda v: repr(v))
def test_qparams_with_non_integer_zero_point_raise_value_error(zero_point: Any) -> None:
    with pytest.raises(ValueError):
        qa.QParams(0.1, zero_point)


def test_qparams_accepts_integral_values_and_stores_float32_scale() -> None:
    p = qa.QParams(0.1, 128.0)
    assert p.zero_point == 128 and isinstance(p.zero_point, int)
    assert isinstance(p.scale, np.float32) and p.scale == np.float32(0.1)
    with pytest.raises(Exception):
        p.scale = np.float32(1.0)  # type: ignore[misc]  # frozen


# The limit is |z| <= 2**23 (README): both sides of it, and the values near 2**24 where qmax - z and qmin - z
# (e.g. 2**24 + 255) would no longer be float32 integers.
LARGE_ZERO_POINTS = [-(1 << 24), -(1 << 24) + 1, -(1 << 24) + 2, -(1 << 23) - 1, -(1 << 23), -(1 << 23) + 1,
                     (1 << 23) - 1, 1 << 23, (1 << 23) + 1, 1 << 24]


@pytest.mark.parametrize("zp", LARGE_ZERO_POINTS, ids=lambda z: f"{z:+d}")
def test_large_zero_points_are_rejected_beyond_2_to_the_23_and_saturate_without_wrapping_up_to_it(
    simd_level: str, zp: int
) -> None:
    """|z| > 2**23: ValueError naming the zero point when building QParams (per tensor and per axis).
    |z| <= 2**23: accepted, and the codes are clip(rint(x / s) + z, qmin, qmax) as the reference, for
    infinities, the dtype's extremes and the integers around -z, in float32, float16 and float64."""
    for qmin, qmax in ((0, 255), (2, 3)):
        if abs(zp) > 1 << 23:
            with pytest.raises(ValueError, match="zero_point"):
                qa.QParams(np.float32(1.0), zp, qmin=qmin, qmax=qmax)
            with pytest.raises(ValueError, match="zero_point"):
                qa.QParams(np.ones(2, np.float32), np.array([0, zp]), qmin=qmin, qmax=qmax, axis=0)
        else:
            p = qa.QParams(np.float32(1.0), zp, qmin=qmin, qmax=qmax)
            assert p.zero_point == zp
            for dtype in (np.float32, np.float16, np.float64):
                top = float(np.finfo(dtype).max)
                x = np.resize(np.array([np.inf, -np.inf, top, -top, 0.0, 1.0, -1.0], dtype=dtype), 70)
                k = np.arange(-300, 300, dtype=np.float64) - zp  # integers around -z: codes near the edges
                x = np.concatenate([x, k[np.abs(k) <= top].astype(dtype)])
                got = qa.quantize(x, p).values
                expected = R.quantize_static(x, p.scale, p.zero_point, p.qmin, p.qmax)
                assert np.array_equal(got, expected), f"QParams(1.0, {zp}, qmin={qmin}, qmax={qmax}) on {x.dtype}"


SIGNALING_NANS = [
    ("float32", np.array([0x7FA00000], dtype=np.uint32).view(np.float32)[0]),
    ("float32-min-payload", np.array([0x7F800001], dtype=np.uint32).view(np.float32)[0]),
    ("float64", np.array([0x7FF4000000000000], dtype=np.uint64).view(np.float64)[0]),
    ("float16", np.array([0x7D00], dtype=np.uint16).view(np.float16)[0]),
]


@pytest.mark.parametrize("name,snan", SIGNALING_NANS, ids=[s[0] for s in SIGNALING_NANS])
def test_signaling_nan_bound_scale_or_zero_point_raises_value_error_without_a_warning(name: str, snan: Any) -> None:
    """Defect: a signaling NaN given as a bound to choose_qparams, or as a QParams scale / zero point, makes
    NumPy's cast emit "RuntimeWarning: invalid value encountered in cast" before the ValueError (an error
    itself under -W error, as in this test suite). Quiet NaNs raise the ValueError alone."""
    assert np.isnan(snan)
    calls: List[Tuple[str, Callable[[], Any]]] = [
        ("choose_qparams(0, snan)", lambda: qa.choose_qparams(type(snan)(0), snan)),
        ("choose_qparams(snan, 1)", lambda: qa.choose_qparams(snan, type(snan)(1))),
        ("choose_qparams(arrays, axis=0)", lambda: qa.choose_qparams(np.array([snan, 0], snan.dtype), np.array([1, 1], snan.dtype),
                                                                     axis=0)),
        ("QParams(snan, 0)", lambda: qa.QParams(snan, 0)),
        ("QParams(arrays, zero_point=snan)", lambda: qa.QParams(np.ones(2), np.array([snan, 0], snan.dtype), axis=0)),
        ("QParams(scale array with snan)", lambda: qa.QParams(np.array([1, snan], snan.dtype), np.zeros(2), axis=0)),
    ]
    failures = []
    for what, call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                call()
                failures.append(f"{what}: accepted")
            except ValueError:
                pass
        if caught:
            failures.append(f"{what}: {caught[0].category.__name__}: {caught[0].message}")
    assert not failures, "\n".join(failures)


# =========================================================== row: out= of the wrong dtype, shape or layout
def _x(n: int = 100) -> np.ndarray:
    return np.linspace(-1, 1, n, dtype=np.float32)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantize_out_of_the_right_kind_is_written_and_returned(simd_level: str, mode: str) -> None:
    x = _x().reshape(4, 25)
    params = None if mode == "dynamic" else P
    out = np.full((4, 25), 7, dtype=np.uint8)
    q = qa.quantize(x, params, out=out)
    assert q.values is out
    assert np.array_equal(out, qa.quantize(x, params).values)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
@pytest.mark.parametrize(
    "make_out,error",
    [
        (lambda: np.empty(100, dtype=np.int8), TypeError),
        (lambda: np.empty(100, dtype=np.uint16), TypeError),
        (lambda: np.empty(100, dtype=np.float32), TypeError),
        (lambda: [0] * 100, TypeError),
        (lambda: np.empty(99, dtype=np.uint8), ValueError),
        (lambda: np.empty((10, 10), dtype=np.uint8), ValueError),
        (lambda: np.empty(200, dtype=np.uint8)[::2], ValueError),
        (lambda: np.empty(100, dtype=np.uint8)[::-1], ValueError),
    ],
    ids=["int8", "uint16", "float32", "list", "short", "wrong_2d_shape", "strided", "reversed"],
)
def test_quantize_out_with_wrong_dtype_or_shape_or_layout_raises(
    simd_level: str, mode: str, make_out: Callable[[], Any], error: Any
) -> None:
    params = None if mode == "dynamic" else P
    with pytest.raises(error):
        qa.quantize(_x(), params, out=make_out())


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantize_out_read_only_or_fortran_raises_value_error(simd_level: str, mode: str) -> None:
    params = None if mode == "dynamic" else P
    ro = np.zeros(100, dtype=np.uint8)
    ro.setflags(write=False)
    with pytest.raises(ValueError):
        qa.quantize(_x(), params, out=ro)
    x2 = _x().reshape(10, 10)
    with pytest.raises(ValueError):
        qa.quantize(x2, params, out=np.zeros((10, 10), dtype=np.uint8, order="F"))


def test_dequantize_out_of_the_right_kind_is_written_and_returned(simd_level: str) -> None:
    q = qa.quantize(_x().reshape(5, 20))
    out32 = np.empty((5, 20), dtype=np.float32)
    assert q.dequantize(out=out32) is out32
    assert R.same_bits(out32, q.dequantize())
    out64 = np.empty((5, 20), dtype=np.float64)
    assert qa.dequantize(q.values, q.params, out=out64) is out64
    assert R.same_bits(out64, q.dequantize(dtype=np.float64))
    assert qa.dequantize(q, dtype=np.float64, out=out64) is out64


@pytest.mark.parametrize(
    "make_out,dtype,error",
    [
        (lambda: np.empty(100, dtype=np.float16), np.float32, TypeError),
        (lambda: np.empty(100, dtype=np.int32), None, TypeError),
        (lambda: np.empty(100, dtype=np.uint8), None, TypeError),
        (lambda: np.empty(100, dtype=np.float32), np.float64, TypeError),
        (lambda: np.empty(100, dtype=np.float64), np.float32, TypeError),
        (lambda: [0.0] * 100, None, TypeError),
        (lambda: np.empty(101, dtype=np.float32), None, ValueError),
        (lambda: np.empty((10, 10), dtype=np.float32), None, ValueError),
        (lambda: np.empty(200, dtype=np.float32)[::2], None, ValueError),
        (lambda: np.empty(100, dtype=np.float64)[::-1], None, ValueError),
    ],
    ids=["float16_vs_dtype32", "int32", "uint8", "float32_vs_dtype64", "float64_vs_dtype32", "list", "short", "2d", "strided",
         "reversed"],
)
def test_dequantize_out_with_wrong_dtype_or_shape_or_layout_raises(
    simd_level: str, make_out: Callable[[], Any], dtype: Any, error: Any
) -> None:
    q = qa.quantize(_x())
    with pytest.raises(error):
        qa.dequantize(q, dtype=dtype, out=make_out())
    with pytest.raises(error):
        qa.dequantize(q.values, q.params, dtype=dtype, out=make_out())


def test_dequantize_out_read_only_fortran_or_overlapping_codes_raises_value_error(simd_level: str) -> None:
    ro = np.zeros(100, dtype=np.float32)
    ro.setflags(write=False)
    q = qa.quantize(_x())
    with pytest.raises(ValueError):
        q.dequantize(out=ro)
    q2 = qa.quantize(_x().reshape(10, 10))
    with pytest.raises(ValueError):
        q2.dequantize(out=np.zeros((10, 10), dtype=np.float32, order="F"))
    buf = np.zeros(400, dtype=np.uint8)
    codes = buf[:100]
    codes[:] = q.values
    out = buf.view(np.float32)  # 100 floats over the same 400 bytes
    with pytest.raises(ValueError, match="overlap"):
        qa.dequantize(codes, q.params, out=out)
    assert np.array_equal(codes, q.values)


def test_misaligned_dequantize_out_raises_value_error(simd_level: str) -> None:
    q = qa.quantize(_data((100,), np.float32))
    for dtype in (np.float32, np.float64):
        out = _misaligned(np.empty(100, dtype=dtype))
        with pytest.raises(ValueError, match="aligned"):
            q.dequantize(out=out)


# =========================================================== row: out= overlapping the input (or the codes)
def _overlapping_outs(x: np.ndarray, code_dtype: Any) -> List[np.ndarray]:
    """Code arrays of x's shape whose bytes overlap x's: the first bytes, the last bytes, a middle run."""
    raw = x.reshape(-1).view(np.uint8)
    n = x.size
    starts = {0, raw.size - n, (raw.size - n) // 2}
    return [raw[s : s + n].view(code_dtype).reshape(x.shape) for s in sorted(starts)]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("gran", [{}, {"axis": 0}, {"block_size": 16}], ids=["tensor", "axis", "block"])
def test_out_overlapping_the_input_raises_value_error_and_leaves_input_unchanged(
    simd_level: str, dtype: Any, gran: Dict[str, Any]
) -> None:
    x = _data((6, 70), dtype)
    before = x.copy()
    for signed in (False, True):
        for out in _overlapping_outs(x, np.int8 if signed else np.uint8):
            for params in (None, _static_params(x.shape, gran).replace(signed=signed, qmin=None, qmax=None)
                           if gran else qa.QParams(np.float32(0.05), 0, signed=signed)):
                with pytest.raises(ValueError, match="overlap"):
                    qa.quantize(x, params, out=out, signed=signed if params is None else None, **gran)
                assert R.same_bits(x, before)
    # a separate buffer in the same allocation is fine
    buf = np.zeros(x.nbytes + x.size, dtype=np.uint8)
    xs = buf[: x.nbytes].view(dtype).reshape(x.shape)
    xs[...] = x
    out = buf[x.nbytes :].reshape(x.shape)
    q = qa.quantize(xs, out=out, **gran)
    assert q.values is out and _key(q) == _key(qa.quantize(x, **gran))


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantize_out_overlapping_x_raises_value_error(simd_level: str, mode: str) -> None:
    params = None if mode == "dynamic" else P
    x = _x(100)
    before = x.copy()
    out = x.view(np.uint8)[:100]  # the first 25 floats' bytes
    with pytest.raises(ValueError, match="overlap"):
        qa.quantize(x, params, out=out)
    assert np.array_equal(x, before)  # nothing written through the alias


def test_dequantize_out_overlapping_the_codes_raises_value_error(simd_level: str) -> None:
    for gran in ({}, {"axis": 0}, {"block_size": 16}):
        q = qa.quantize(_data((4, 64), np.float32), **gran)
        for dtype in (np.float32, np.float64):
            buf = np.zeros(q.values.size * np.dtype(dtype).itemsize, dtype=np.uint8)
            codes = buf[: q.values.size].reshape(q.values.shape)
            codes[...] = q.values
            out = buf.view(dtype).reshape(q.values.shape)
            with pytest.raises(ValueError, match="overlap"):
                qa.dequantize(codes, q.params, out=out)
            assert np.array_equal(codes, q.values)


def test_out_overlapping_big_endian_input_is_rejected_not_written_through() -> None:
    """Defect: for non-native byte order the overlap check compares out with the byte-swapped copy, not with
    x, so out= aliasing x is accepted and the codes overwrite the caller's input (every mode, dynamic and
    static, >f2 / >f4 / >f8). Native-endian input raises ValueError("out overlaps x") as documented."""
    failures = []
    for dtype in (">f4", ">f8", ">f2"):
        for gran in ({}, {"axis": 0}, {"block_size": 16}):
            for static in (False, True):
                x = _data((6, 70), dtype)
                before = x.copy()
                out = x.reshape(-1).view(np.uint8)[: x.size].reshape(x.shape)
                params = _static_params(x.shape, gran) if static else None
                what = f"{dtype} {gran or 'per tensor'} {'static' if static else 'dynamic'}"
                try:
                    qa.quantize(x, params, out=out, **({} if static else gran))
                    failures.append(f"{what}: accepted" + ("" if R.same_bits(x, before) else ", input overwritten"))
                except ValueError as e:
                    assert "overlap" in str(e)
    assert not failures, "out= sharing memory with x:\n" + "\n".join(failures)


# =========================================================== outside the table: mode keywords, packed shapes
def test_block_size_beyond_uint64_means_one_block_not_an_internal_type_error() -> None:
    """Defect: block_size >= 2**64 (a valid integer >= 1: one block) reaches the extension unchecked and fails
    with pybind11's "incompatible function arguments" TypeError (block_size = 2**63 works). Expected: one
    block, as block_size = n, or a ValueError naming block_size."""
    x = _data((4, 6), np.float32)
    one_block = qa.quantize(x, block_size=6)
    calls: List[Tuple[str, Callable[[int], Any]]] = [
        ("quantize(x, block_size=B)", lambda b: qa.quantize(x, block_size=b)),
        ("minmax(x, block_size=B)", lambda b: qa.minmax(x, block_size=b)),
        ("quantize(x, QParams(..., block_size=B))",
         lambda b: qa.quantize(x, qa.QParams(one_block.scale, one_block.zero_point, block_size=b))),
        ("dequantize(codes, QParams(..., block_size=B))",
         lambda b: qa.dequantize(one_block.values, qa.QParams(one_block.scale, one_block.zero_point, block_size=b))),
    ]
    failures = []
    for block_size in (2**63, 2**64, 2**100):
        for what, call in calls:
            try:
                r = call(block_size)
            except ValueError as e:
                if "block_size" not in str(e):
                    failures.append(f"B=2**{block_size.bit_length() - 1} {what}: ValueError({str(e)[:80]})")
                continue
            except TypeError as e:
                failures.append(f"B=2**{block_size.bit_length() - 1} {what}: TypeError({str(e)[:60]}...)")
                continue
            if isinstance(r, qa.QuantizedArray) and not np.array_equal(r.values, one_block.values):
                failures.append(f"B=2**{block_size.bit_length() - 1} {what}: codes differ from one block")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("shape", [(-1, -6), (2**32, 2**32), (2**70,)], ids=["negative", "int64-overflow", "huge"])
def test_quantized_array_rejects_packed_shapes_it_cannot_hold(shape: Tuple[int, ...]) -> None:
    """Defect: QuantizedArray(values, params, shape=..., packed=True) checks the byte count against
    np.prod(shape, dtype=int64): negative dimensions pass ((-1, -6) -> 6 codes in 3 bytes), a product that
    wraps around int64 passes ((2**32, 2**32) -> 0 codes in 0 bytes), and a dimension beyond int64 raises
    OverflowError. Expected: ValueError for each."""
    p = qa.QParams(np.float32(0.1), 0, bits=4)
    values = np.zeros(3 if shape == (-1, -6) else 0, dtype=np.uint8)
    with pytest.raises(ValueError):
        qa.QuantizedArray(values, p, shape=shape, packed=True)

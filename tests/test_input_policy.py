"""The input policy, row by row: what qaffine accepts, rejects, saturates, and how it says so.

Each group of tests below is one row of the policy table (NaN, Inf, huge values, empty input, constant
input, dtypes, array-likes, parameters, out=, wide ranges, float64, float16, byte order/layout, 0-d).
Expected values come from tests/reference.py or from the rule the row states.
"""

from __future__ import annotations

import array
import re
from typing import Any, Callable, List, Tuple

import numpy as np
import pytest

import qaffine as qa
import reference as R

FLT_MAX = np.finfo(np.float32).max
P = qa.QParams(np.float32(0.05), 100)


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


# ================================================================ row: NaN anywhere -> ValueError naming the index
NAN_CASES_1D = [
    (1, 0),  # a single element
    (1000, 0),  # first
    (1000, 517),  # middle, inside the SIMD main loops
    (1000, 999),  # last, inside the tail of every level (1000 = 15 * 64 + 40)
    (100, 97),  # tail of the 32-/64-wide loops
    (7, 6),  # shorter than any vector
    (4096 * 3 + 5, 4096 * 2 + 1),  # a later 4096-element chunk of the strided paths
]


def _with_nan(n: int, i: int, dtype: Any) -> np.ndarray:
    x = np.linspace(-3, 3, n).astype(dtype)
    x[i] = np.nan
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("n,i", NAN_CASES_1D)
def test_nan_in_1d_input_raises_value_error_naming_the_index(simd_level: str, dtype: Any, n: int, i: int) -> None:
    x = _with_nan(n, i, dtype)
    message = re.escape(f"at index {i}") + r"(?!\d)"
    with pytest.raises(ValueError, match=message):
        qa.quantize(x)
    with pytest.raises(ValueError, match=message):
        qa.quantize(x, P)
    with pytest.raises(ValueError, match=message):
        qa.minmax(x)
    # a strided view: the index is the view's
    y = np.repeat(x, 2)[::2]
    with pytest.raises(ValueError, match=message):
        qa.quantize(y)
    with pytest.raises(ValueError, match=message):
        qa.quantize(y, P)


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


# ================================================================ row: ±Inf in dynamic mode -> ValueError
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("n,i", [(1, 0), (1000, 0), (1000, 517), (1000, 999), (100, 97)])
def test_infinity_in_dynamic_mode_raises_value_error(simd_level: str, dtype: Any, value: float, n: int, i: int) -> None:
    x = np.linspace(-3, 3, n).astype(dtype)
    x[i] = value
    with pytest.raises(ValueError, match=re.escape(f"at index {i}") + r"(?!\d)"):
        qa.quantize(x)


def test_infinity_in_dynamic_mode_leaves_minmax_working(simd_level: str) -> None:
    # minmax treats infinities as ordinary values; only choosing a scale from them is refused
    x = np.array([1.0, -np.inf, 2.0, np.inf], dtype=np.float32)
    lo, hi = qa.minmax(x)
    assert lo == -np.inf and hi == np.inf
    with pytest.raises(ValueError):
        qa.choose_qparams(lo, hi)


# ================================================================ row: ±Inf / huge values in static mode saturate
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


LARGE_ZERO_POINTS = [-(1 << 24), -(1 << 24) + 1, -(1 << 24) + 2, -(1 << 23) - 1, -(1 << 23), 1 << 23, 1 << 24]


def test_any_zero_point_qparams_accepts_saturates_without_wrapping(simd_level: str) -> None:
    # Near |z| = 2**24, qmax - z and qmin - z (e.g. 2**24 + 255) are not float32 integers; the codes must
    # still be clip(rint(x / s) + z, qmin, qmax), and parameters QParams accepts must quantize.
    failures: List[str] = []
    for zp in LARGE_ZERO_POINTS:
        for qmin, qmax in ((0, 255), (2, 3)):
            try:
                p = qa.QParams(np.float32(1.0), zp, qmin=qmin, qmax=qmax)
            except ValueError:
                continue  # rejected up front: fine
            for dtype in (np.float32, np.float16, np.float64):
                top = float(np.finfo(dtype).max)
                x = np.resize(np.array([np.inf, -np.inf, top, -top, 0.0, 1.0, -1.0], dtype=dtype), 70)
                k = np.arange(-300, 300, dtype=np.float64) - zp  # integers around -z: codes near the edges
                x = np.concatenate([x, k[np.abs(k) <= top].astype(dtype)])
                case = f"QParams(1.0, {zp}, qmin={qmin}, qmax={qmax}) on {np.dtype(dtype).name}"
                try:
                    got = qa.quantize(x, p).values
                except ValueError as e:
                    failures.append(f"{case}: accepted by QParams but quantize raised ValueError({e})")
                    continue
                expected = R.quantize_static(x, p.scale, p.zero_point, p.qmin, p.qmax)
                if not np.array_equal(got, expected):
                    i = int(np.argmax(got != expected))
                    failures.append(f"{case}: x={x[i]!r} -> code {got[i]}, expected {expected[i]}")
    assert not failures, "\n".join(failures)


# ================================================================ row: empty input
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_empty_input_dynamic_raises_static_gives_empty_codes(simd_level: str, shape: Tuple[int, ...], dtype: Any) -> None:
    x = np.empty(shape, dtype=dtype)
    with pytest.raises(ValueError):
        qa.quantize(x)
    with pytest.raises(ValueError):
        qa.minmax(x)
    q = qa.quantize(x, P)
    assert q.values.dtype == np.uint8 and q.values.shape == shape
    assert q.params == P
    d = q.dequantize()
    assert d.dtype == np.float32 and d.shape == shape


# ================================================================ row: all values equal
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


# ================================================================ row: non-float dtypes -> TypeError
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


# ================================================================ row: array-likes accepted as np.asarray would
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


# ================================================================ row: invalid QParams -> ValueError
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


# ================================================================ row: out= checks
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


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_quantize_out_overlapping_x_raises_value_error(simd_level: str, mode: str) -> None:
    params = None if mode == "dynamic" else P
    x = _x(100)
    before = x.copy()
    out = x.view(np.uint8)[:100]  # the first 25 floats' bytes
    with pytest.raises(ValueError, match="overlap"):
        qa.quantize(x, params, out=out)
    assert np.array_equal(x, before)  # nothing written through the alias


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
        (lambda: np.empty(100, dtype=np.float16), None, TypeError),
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
    ids=["float16", "int32", "uint8", "float32_vs_dtype64", "float64_vs_dtype32", "list", "short", "2d", "strided",
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


def test_dequantize_rejects_non_uint8_codes_and_missing_params() -> None:
    with pytest.raises(TypeError):
        qa.dequantize(np.arange(5, dtype=np.int32), P)
    with pytest.raises(TypeError):
        qa.dequantize(np.arange(5, dtype=np.uint8))


# ================================================================ row: a range too wide for float32
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


# ================================================================ row: float64 input is computed in float64
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


def test_float64_range_whose_scale_does_not_fit_float32_raises_value_error(simd_level: str) -> None:
    x = np.array([-1e300, 0.0, 1e300])
    with pytest.raises(ValueError):
        qa.quantize(x)


# ================================================================ row: float16 == quantizing float32 copy
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


# ================================================================ row: byte order and memory order
@pytest.mark.parametrize("dtype", ["f4", "f8", "f2"])
def test_big_endian_input_equals_native_input(simd_level: str, dtype: str) -> None:
    native = np.random.default_rng(3).standard_normal((13, 21)).astype("=" + dtype)
    big = native.astype(">" + dtype)
    assert not big.dtype.isnative
    pairs = [
        (big, native),
        (native.astype("<" + dtype), native),
        (big[::-1, ::2], native[::-1, ::2]),
        (np.asfortranarray(big), native),
        (big.reshape(-1), native.reshape(-1)),
    ]
    for other, base in pairs:
        assert _same_quantized(qa.quantize(other), qa.quantize(base))
        assert np.array_equal(qa.quantize(other, P).values, qa.quantize(base, P).values)
        assert qa.minmax(other) == qa.minmax(base)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_fortran_order_input_equals_c_order_input(simd_level: str, dtype: Any) -> None:
    c = np.random.default_rng(4).standard_normal((33, 17, 5)).astype(dtype)
    f = np.asfortranarray(c)
    assert f.flags.f_contiguous and not f.flags.c_contiguous
    assert _same_quantized(qa.quantize(f), qa.quantize(c))
    assert qa.quantize(f).values.flags.c_contiguous
    assert np.array_equal(qa.quantize(f, P).values, qa.quantize(c, P).values)
    assert qa.minmax(f) == qa.minmax(c)


# ================================================================ row: 0-d arrays
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("value", [2.5, -0.75, 0.0, 1e-3])
def test_zero_dimensional_arrays_give_zero_dimensional_codes(simd_level: str, dtype: Any, value: float) -> None:
    x = np.array(value, dtype=dtype)
    q = _assert_equals_reference_dynamic(x)
    assert q.values.shape == () and q.values.dtype == np.uint8
    assert qa.quantize(x, P).values.shape == ()
    assert np.array_equal(qa.quantize(x, P).values, R.quantize_static(x, P.scale, P.zero_point))
    d = q.dequantize()
    assert d.shape == () and R.same_bits(d, R.dequantize(q.values, q.scale, q.zero_point))
    assert abs(float(d) - float(x)) <= float(q.scale) / 2
    out = np.empty((), dtype=np.uint8)
    assert qa.quantize(x, out=out).values is out
    assert qa.minmax(x) == (x[()], x[()])


def test_zero_dimensional_nan_raises_value_error(simd_level: str) -> None:
    with pytest.raises(ValueError, match="NaN"):
        qa.quantize(np.array(np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        qa.quantize(np.array(np.nan, dtype=np.float32), P)

"""qaffine against the ONNX reference implementation (onnx.reference.ReferenceEvaluator), bit for bit.

Every test runs at each SIMD level (the ``simd_level`` fixture). Codes are compared with
``np.array_equal``, scales by their float32 bits, zero points as integers. ONNX's ops take float32
only, so float16 input is checked against ONNX on its exact float32 copy and float64 input against
the float64 rules of ``tests/reference.py``.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np
import pytest

import qaffine as qa
import reference as R

pytest.importorskip("onnx")

SIZES_1_TO_300 = range(1, 301)
LARGE_SIZES = [4095, 4096, 4097, 8192 + 63, 65536 + 33, 1_048_576 + 1, 1_100_003]


# ------------------------------------------------------------------------------------------- helpers
def _assert_dynamic_matches_onnx(x: np.ndarray, what: str = "") -> None:
    """qa.quantize(x) equals ONNX DynamicQuantizeLinear on float32(x): codes, scale bits, zero point."""
    q = qa.quantize(x)
    codes, scale, zp = R.onnx_dynamic_quantize(np.asarray(x, dtype=np.float32))
    assert q.values.dtype == np.uint8
    assert q.values.shape == x.shape, what
    assert R.same_float32(q.scale, scale), f"{what}: scale {q.scale!r} != ONNX {scale!r}"
    assert q.zero_point == zp, f"{what}: zero point {q.zero_point} != ONNX {zp}"
    expected = codes.reshape(x.shape)
    if not np.array_equal(q.values, expected):
        bad = np.argwhere(q.values != expected)[0]
        i = tuple(int(k) for k in bad)
        raise AssertionError(
            f"{what}: codes differ from ONNX first at {i}: x={x[i]!r} got {q.values[i]} expected {expected[i]} "
            f"(scale {scale!r}, zero point {zp})"
        )


def _assert_static_matches_onnx(x: np.ndarray, scale: np.float32, zp: int, what: str = "") -> None:
    q = qa.quantize(x, qa.QParams(scale, zp))
    expected = R.onnx_quantize_linear(x, scale, zp).reshape(x.shape)
    assert q.values.shape == x.shape
    if not np.array_equal(q.values, expected):
        i = tuple(int(k) for k in np.argwhere(q.values != expected)[0])
        raise AssertionError(
            f"{what}: codes differ from QuantizeLinear first at {i}: x={x[i]!r} got {q.values[i]} "
            f"expected {expected[i]} (scale {scale!r}, zero point {zp})"
        )


def _assert_dequantize_matches_onnx(codes: np.ndarray, scale: np.float32, zp: int, what: str = "") -> None:
    p = qa.QParams(scale, zp)
    expected = R.onnx_dequantize_linear(codes, scale, zp).reshape(codes.shape)
    got = qa.dequantize(codes, p)
    assert R.same_bits(got, expected), f"{what}: dequantize differs from DequantizeLinear"
    got_q = qa.QuantizedArray(np.ascontiguousarray(codes), p).dequantize()
    assert R.same_bits(got_q, expected), f"{what}: QuantizedArray.dequantize differs from DequantizeLinear"


def _data(kind: str, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "uniform_mixed":
        x = rng.uniform(-3.0, 5.0, shape)
    elif kind == "uniform_positive":  # range [0, hi]: zero point 0
        x = rng.uniform(0.25, 1.0, shape)
    elif kind == "uniform_negative":  # range [lo, 0]: zero point 255
        x = rng.uniform(-7.0, -0.5, shape)
    elif kind == "normal_tiny":
        x = rng.standard_normal(shape) * 1e-20
    elif kind == "normal_subnormal":  # float32 subnormals (a subnormal scale, not yet 0)
        x = rng.standard_normal(shape) * 1e-39
    elif kind == "normal_huge":
        x = rng.standard_normal(shape) * 1e36
    elif kind == "lognormal":
        x = rng.lognormal(0.0, 3.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "integers":  # many values on exact multiples, and repeated values
        x = rng.integers(-50, 200, shape).astype(np.float64)
    else:  # pragma: no cover
        raise ValueError(kind)
    return np.asarray(x, dtype=np.float32)


DISTRIBUTIONS = [
    "normal",
    "uniform_mixed",
    "uniform_positive",
    "uniform_negative",
    "normal_tiny",
    "normal_subnormal",
    "normal_huge",
    "lognormal",
    "integers",
]


# --------------------------------------------------------------------------------- dynamic, float32
@pytest.mark.parametrize("kind", DISTRIBUTIONS)
def test_dynamic_random_data_matches_onnx(simd_level: str, kind: str) -> None:
    for n in (1, 2, 7, 64, 1000, 4099, 65537):
        _assert_dynamic_matches_onnx(_data(kind, n, seed=n), f"{kind} n={n}")


def test_dynamic_every_size_1_to_300_matches_onnx(simd_level: str) -> None:
    # every remainder mod 8/16/32/64 of each kernel's main loop and tail
    for n in SIZES_1_TO_300:
        for kind in ("normal", "uniform_positive", "uniform_negative", "lognormal", "integers"):
            _assert_dynamic_matches_onnx(_data(kind, n, seed=1000 + n), f"{kind} n={n}")


def test_dynamic_every_size_with_extremes_in_last_element_matches_onnx(simd_level: str) -> None:
    # the minimum or maximum sits in the tail, where the SIMD loops hand over to the remainder code
    for n in SIZES_1_TO_300:
        x = _data("uniform_mixed", n, seed=2000 + n)
        x[-1] = np.float32(9.5)
        _assert_dynamic_matches_onnx(x, f"max last n={n}")
        x[-1] = np.float32(-6.25)
        _assert_dynamic_matches_onnx(x, f"min last n={n}")


@pytest.mark.parametrize("n", LARGE_SIZES)
def test_dynamic_large_sizes_match_onnx(simd_level: str, n: int) -> None:
    x = _data("normal", n, seed=n)
    x[n // 3] = np.float32(-11.0)  # extremes away from the start
    x[-1] = np.float32(13.0)
    _assert_dynamic_matches_onnx(x, f"n={n}")


@pytest.mark.parametrize(
    "shape", [(5,), (1, 1), (3, 7), (17, 33), (2, 3, 5), (4, 1, 9), (2, 3, 4, 5), (3, 1, 65, 7), (1, 1, 1, 1)]
)
def test_dynamic_shapes_1d_to_4d_match_onnx(simd_level: str, shape: Tuple[int, ...]) -> None:
    _assert_dynamic_matches_onnx(_data("normal", shape, seed=sum(shape)), f"shape={shape}")


def test_dynamic_all_zeros_matches_onnx(simd_level: str) -> None:
    for n in (1, 33, 300):
        _assert_dynamic_matches_onnx(np.zeros(n, np.float32), f"zeros n={n}")


VIEWS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "step_3": lambda a: a.reshape(-1)[::3],
    "negative_stride": lambda a: a.reshape(-1)[::-1],
    "negative_step_5": lambda a: a.reshape(-1)[-2::-5],
    "transpose_2d": lambda a: a.reshape(96, -1).T,
    "column_slice": lambda a: a.reshape(96, -1)[:, ::2],
    "reversed_rows_step_cols": lambda a: a.reshape(96, -1)[::-2, 1::3],
    "transpose_3d": lambda a: a.reshape(12, 8, -1).transpose(2, 0, 1),
    "4d_reversed_last_axis": lambda a: a.reshape(4, 6, 4, -1)[..., ::-1],
    "4d_swapaxes_sliced": lambda a: a.reshape(4, 6, 4, -1).swapaxes(1, 3)[:, 1:, :, ::2],
    "fortran_order": lambda a: np.asfortranarray(a.reshape(96, -1)),
    "misaligned": lambda a: np.frombuffer(b"\0" + a.tobytes(), dtype=a.dtype, offset=1),
    "misaligned_2d": lambda a: np.frombuffer(b"\0" + a.tobytes(), dtype=a.dtype, offset=1).reshape(96, -1),
}


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_dynamic_non_contiguous_views_match_onnx(simd_level: str, view: str, dtype: type) -> None:
    # 96 * 96 * 5 elements: strided copies go through 4096-element chunks, with a partial last chunk
    base = _data("normal", 96 * 96 * 5, seed=7).astype(dtype)
    x = VIEWS[view](base)
    assert not (x.flags.c_contiguous and x.flags.aligned)  # really not the kernels' direct path
    _assert_dynamic_matches_onnx(x, view)
    assert np.array_equal(qa.quantize(x).values, qa.quantize(np.ascontiguousarray(x)).values)


def test_dynamic_float16_every_size_matches_onnx_on_float32_copy(simd_level: str) -> None:
    for n in SIZES_1_TO_300:
        x = _data("normal", n, seed=3000 + n).astype(np.float16)
        _assert_dynamic_matches_onnx(x, f"float16 n={n}")


# -------------------------------------------------------------------------------------------- ties
def _tie_data(scale: np.float32, lo_steps: int, rng: np.random.Generator, repeat: int = 4) -> np.ndarray:
    """Values (k + 0.5) * scale for every k in the range, plus lo and hi that force `scale`."""
    lo = np.float32(-lo_steps) * scale
    hi = np.float32(255 - lo_steps) * scale
    ks = np.arange(-lo_steps, 255 - lo_steps, dtype=np.float32)
    ties = (ks + np.float32(0.5)) * scale
    x = np.concatenate([np.tile(ties, repeat), [lo, hi]]).astype(np.float32)
    rng.shuffle(x)
    return x


@pytest.mark.parametrize("exponent", [-3, 0, 5, 20, 60])
@pytest.mark.parametrize("lo_steps", [0, 1, 100, 128, 255])
def test_dynamic_exact_half_way_codes_round_half_to_even_like_onnx(
    simd_level: str, exponent: int, lo_steps: int
) -> None:
    scale = np.float32(2.0**-exponent)
    x = _tie_data(scale, lo_steps, np.random.default_rng(abs(exponent) * 1000 + lo_steps))
    # the construction really gives this scale and puts every value but lo/hi on a .5
    s, z = R.dynamic_qparams(x)
    assert R.same_float32(s, scale) and z == lo_steps
    frac = np.abs(x / s - np.floor(x / s))
    assert np.count_nonzero(frac == 0.5) == x.size - 2
    _assert_dynamic_matches_onnx(x, f"ties scale=2**-{exponent} zp={lo_steps}")
    # and the rounding is to even: reference rule, not just agreement
    q = qa.quantize(x)
    k = np.rint(x / s).astype(np.int64)
    assert np.array_equal(q.values.astype(np.int64), np.clip(k + z, 0, 255))
    assert np.all((k[frac == 0.5] % 2) == 0)


@pytest.mark.parametrize("hi", [np.float32(3.0), np.float32(1.7), np.float32(0.1), np.float32(1e-30)])
def test_dynamic_half_way_codes_with_non_power_of_two_scale_match_onnx(simd_level: str, hi: np.float32) -> None:
    lo = -np.float32(hi) * np.float32(0.375)
    s, z = R.choose_qparams_f32(lo, hi)
    ks = np.arange(-z, 255 - z, dtype=np.float32)
    cand = (ks + np.float32(0.5)) * s
    # keep the candidates whose float32 quotient is exactly a half (most are)
    ties = cand[(cand / s) - np.floor(cand / s) == 0.5]
    ties = ties[(ties > lo) & (ties < hi)]
    assert ties.size > 100
    x = np.concatenate([np.tile(ties, 3), [lo, hi]]).astype(np.float32)
    np.random.default_rng(1).shuffle(x)
    assert R.same_float32(R.dynamic_qparams(x)[0], s)
    _assert_dynamic_matches_onnx(x, f"ties hi={hi}")


def test_dynamic_zero_point_half_way_rounds_half_to_even_like_onnx(simd_level: str) -> None:
    # lo = -(n + 0.5) * s, hi = (254.5 - n) * s: hi - lo = 255 s exactly, so the zero point is n + 0.5
    s = np.float32(2.0**-4)
    for n in range(255):
        lo = -np.float32(n + 0.5) * s
        hi = np.float32(254.5 - n) * s
        x = np.array([lo, hi, 0.0, lo / 2, hi / 3] * 9, dtype=np.float32)
        rs, rz = R.dynamic_qparams(x)
        assert R.same_float32(rs, s) and rz == (n if n % 2 == 0 else n + 1)
        _assert_dynamic_matches_onnx(x, f"zero point {n}.5")


@pytest.mark.parametrize(
    "scale", [np.float32(0.25), np.float32(0.1), np.float32(1.0) / np.float32(3.0), np.float32(2.0**-10)]
)
@pytest.mark.parametrize("zp", [0, 3, 128, 255])
def test_static_half_way_codes_match_quantize_linear(simd_level: str, scale: np.float32, zp: int) -> None:
    ks = np.arange(-300, 300, dtype=np.float32)
    cand = (ks + np.float32(0.5)) * scale
    ties = cand[(cand / scale) - np.floor(cand / scale) == 0.5]
    assert ties.size > 400
    x = np.tile(ties, 2)
    np.random.default_rng(zp).shuffle(x)
    _assert_static_matches_onnx(x, scale, zp, f"static ties scale={scale} zp={zp}")


# ------------------------------------------------------------------------------------------ static
STATIC_PARAMS = [
    (np.float32(0.02), 128),
    (np.float32(0.1), 0),
    (np.float32(0.003), 255),
    (np.float32(1.0) / np.float32(255.0), 7),
    (np.float32(37.5), 200),
]


@pytest.mark.parametrize("scale,zp", STATIC_PARAMS)
def test_static_random_data_matches_quantize_linear(simd_level: str, scale: np.float32, zp: int) -> None:
    rng = np.random.default_rng(int(zp))
    for n in (1, 5, 64, 1000, 65537, 1_100_003):
        # spread over about four times the representable range: many codes saturate at 0 and 255
        x = (rng.standard_normal(n) * 250.0 * float(scale)).astype(np.float32)
        _assert_static_matches_onnx(x, scale, zp, f"n={n}")


def test_static_every_size_1_to_300_matches_quantize_linear(simd_level: str) -> None:
    rng = np.random.default_rng(5)
    for n in SIZES_1_TO_300:
        scale = np.float32(rng.uniform(1e-3, 1.0))
        zp = int(rng.integers(0, 256))
        x = (rng.standard_normal(n) * 200.0 * float(scale)).astype(np.float32)
        _assert_static_matches_onnx(x, scale, zp, f"n={n}")
        x16 = x.astype(np.float16)
        q16 = qa.quantize(x16, qa.QParams(scale, zp))
        assert np.array_equal(q16.values, R.onnx_quantize_linear(x16.astype(np.float32), scale, zp)), n


@pytest.mark.parametrize("view", list(VIEWS))
def test_static_non_contiguous_views_match_quantize_linear(simd_level: str, view: str) -> None:
    base = _data("normal", 96 * 96 * 5, seed=11)
    x = VIEWS[view](base)
    _assert_static_matches_onnx(x, np.float32(0.01), 100, view)


@pytest.mark.parametrize("shape", [(3, 7), (2, 3, 5), (2, 3, 4, 5)])
def test_static_shapes_match_quantize_linear(simd_level: str, shape: Tuple[int, ...]) -> None:
    x = _data("normal", shape, seed=3)
    _assert_static_matches_onnx(x, np.float32(0.015), 120, f"shape={shape}")


# -------------------------------------------------------------------------------------- dequantize
def test_dequantize_every_size_1_to_300_matches_dequantize_linear(simd_level: str) -> None:
    rng = np.random.default_rng(9)
    for n in SIZES_1_TO_300:
        codes = rng.integers(0, 256, n, dtype=np.uint8)
        scale = np.float32(rng.uniform(1e-4, 10.0))
        zp = int(rng.integers(0, 256))
        _assert_dequantize_matches_onnx(codes, scale, zp, f"n={n}")


@pytest.mark.parametrize("n", LARGE_SIZES)
def test_dequantize_large_sizes_match_dequantize_linear(simd_level: str, n: int) -> None:
    codes = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)
    _assert_dequantize_matches_onnx(codes, np.float32(0.0123), 77, f"n={n}")


@pytest.mark.parametrize(
    "scale,zp",
    [
        (np.float32(1.0) / np.float32(255.0), 0),
        (np.float32(2.0**-149), 255),  # smallest subnormal scale
        (np.float32(1e-40), 128),  # subnormal scale
        (np.float32(1.3e36), 128),  # near float32 max: products overflow for far codes
        (np.float32(3.0e38), 0),
    ],
)
def test_dequantize_extreme_scales_match_dequantize_linear(simd_level: str, scale: np.float32, zp: int) -> None:
    codes = np.tile(np.arange(256, dtype=np.uint8), 3)
    with np.errstate(over="ignore"):
        _assert_dequantize_matches_onnx(codes, scale, zp, f"scale={scale}")


@pytest.mark.parametrize("view", ["step_3", "negative_stride", "transpose_2d", "transpose_3d", "misaligned_2d"])
def test_dequantize_non_contiguous_codes_match_dequantize_linear(simd_level: str, view: str) -> None:
    base = np.random.default_rng(2).integers(0, 256, 96 * 96 * 5, dtype=np.uint8)
    codes = VIEWS[view](base)
    _assert_dequantize_matches_onnx(codes, np.float32(0.05), 31, view)


@pytest.mark.parametrize("kind", ["normal", "uniform_positive", "lognormal"])
def test_dynamic_then_dequantize_matches_onnx_node_chain(simd_level: str, kind: str) -> None:
    for n in (1, 63, 64, 65, 1000, 4097):
        x = _data(kind, n, seed=n)
        codes, scale, zp = R.onnx_dynamic_quantize(x)
        expected = R.onnx_dequantize_linear(codes, scale, zp)
        assert R.same_bits(qa.quantize(x).dequantize(), expected), f"{kind} n={n}"


# ------------------------------------------------------------ float64 (not an ONNX input type): reference
def test_dynamic_float64_every_size_matches_float64_reference(simd_level: str) -> None:
    for n in list(SIZES_1_TO_300) + [4097, 65539]:
        x = np.random.default_rng(4000 + n).standard_normal(n) * 3.0
        codes, s, z = R.quantize_dynamic(x)
        q = qa.quantize(x)
        assert R.same_float32(q.scale, s) and q.zero_point == z, n
        assert np.array_equal(q.values, codes), n


def test_static_float64_every_size_matches_float64_reference(simd_level: str) -> None:
    p = qa.QParams(np.float32(0.013), 90)
    for n in list(SIZES_1_TO_300) + [4097]:
        x = np.random.default_rng(5000 + n).standard_normal(n) * 2.0
        assert np.array_equal(qa.quantize(x, p).values, R.quantize_static(x, p.scale, p.zero_point)), n


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 300, 4097])
def test_dequantize_float64_output_matches_float64_reference(simd_level: str, n: int) -> None:
    codes = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)
    p = qa.QParams(np.float32(0.0071), 140)
    got = qa.dequantize(codes, p, dtype=np.float64)
    assert R.same_bits(got, R.dequantize(codes, p.scale, p.zero_point, np.float64))


# ---------------------------------------------------------------------------------- sanity of the oracle
def test_reference_module_agrees_with_onnx_on_random_data() -> None:
    # keeps tests/reference.py honest where both define the result (float32, finite ONNX scale)
    rng = np.random.default_rng(0)
    for n in (1, 10, 1000):
        for kind in DISTRIBUTIONS:
            x = _data(kind, n, seed=int(rng.integers(1 << 30)))
            c1, s1, z1 = R.onnx_dynamic_quantize(x)
            c2, s2, z2 = R.quantize_dynamic(x)
            assert np.array_equal(c1, c2) and R.same_float32(s1, s2) and z1 == z2, (kind, n)
            codes = rng.integers(0, 256, n, dtype=np.uint8)
            assert R.same_bits(R.onnx_dequantize_linear(codes, s1, z1), R.dequantize(codes, s1, z1)), (kind, n)
        y = _data("normal", n, seed=n)
        assert np.array_equal(R.onnx_quantize_linear(y, np.float32(0.01), 17), R.quantize_static(y, 0.01, 17))

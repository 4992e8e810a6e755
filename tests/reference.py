"""A plain NumPy statement of qaffine's semantics, and real ONNX nodes to check it against.

Nothing here calls qaffine: the tests compare qaffine with these functions.

Semantics (see csrc/include/qaffine/qparams.hpp):

* dynamic, float32 input (ONNX DynamicQuantizeLinear, bit for bit)::

      lo = min(0, min x), hi = max(0, max x)                      (float32)
      s  = float32(1 if hi == lo else hi - lo) / float32(255)      (float32 arithmetic)
      z  = rint(clamp(float32(0) - lo / s, 0, 255))                (float32 arithmetic)
      q  = clip(rint(x / s) + z, 0, 255)                           (x / s a float32 division)

  where ONNX's own scale is not finite and positive: ``hi - lo`` overflowing float32 gives
  ``s = float32((double(hi) - double(lo)) / 255)``; ``s`` underflowing to 0 gives ``s = 2**-149``.
* dynamic, float64 input: the same steps in float64, ``s = float32(range / 255)`` (ValueError if that
  does not fit in float32), then ``z`` and the codes computed in float64 with ``double(s)``.
* dynamic, float16 input: converted (exactly) to float32, then the float32 rules.
* static (given scale, zero point, qmin, qmax): ``q = clip(rint(x / s) + z, qmin, qmax)`` with the
  division in float32 (float64 for float64 input), the rest done exactly in float64 *before* any
  integer cast, so infinities and huge values saturate.
* dequantize: ``float32(q - z) * s`` in float32, or in float64 for ``dtype=np.float64``.

Every function raises ValueError for NaN input (and for infinities in dynamic mode), as qaffine does.
"""

from __future__ import annotations

import functools
from typing import Any, Tuple

import numpy as np

F32 = np.float32
F64 = np.float64
SMALLEST_SUBNORMAL_F32 = np.float32(2.0**-149)


# ------------------------------------------------------------------------------------ input handling
def as_float_input(x: Any) -> np.ndarray:
    """x as a native-endian float16/32/64 array (TypeError for anything else)."""
    a = np.asarray(x)
    if a.dtype.kind != "f" or a.dtype.itemsize not in (2, 4, 8):
        raise TypeError(f"not a float16/32/64 array: {a.dtype}")
    return a.astype(a.dtype.newbyteorder("="), copy=False)


def compute_dtype(x: np.ndarray) -> type:
    """The dtype the arithmetic is done in: float64 for float64 input, float32 otherwise."""
    return F64 if x.dtype == np.float64 else F32


def _check_no_nan(a: np.ndarray) -> None:
    if a.size and np.isnan(a).any():
        raise ValueError("NaN in input")


# ------------------------------------------------------------------------------------ dynamic params
def minmax(x: Any) -> Tuple[np.floating, np.floating]:
    """(min, max) of x in x's dtype; ValueError if empty or NaN."""
    a = as_float_input(x)
    if a.size == 0:
        raise ValueError("empty")
    _check_no_nan(a)
    return a.min(), a.max()


def choose_qparams_f32(lo: Any, hi: Any) -> Tuple[np.float32, int]:
    """(scale, zero_point) for the float32 range [lo, hi], ONNX rules plus the two exceptions."""
    lo, hi = F32(lo), F32(hi)
    maxx = hi if hi > F32(0) else F32(0)
    minx = lo if lo < F32(0) else F32(0)
    with np.errstate(over="ignore", under="ignore"):
        rng = F32(1) if maxx == minx else F32(maxx - minx)
        if np.isinf(rng):
            s = F32((F64(maxx) - F64(minx)) / F64(255))
        else:
            s = F32(rng / F32(255))
        if s == F32(0):
            s = SMALLEST_SUBNORMAL_F32
        initial = F32(F32(0) - F32(minx / s))
    z = int(np.rint(min(max(initial, F32(0)), F32(255))))
    return s, z


def choose_qparams_f64(lo: Any, hi: Any) -> Tuple[np.float32, int]:
    """(scale, zero_point) for the float64 range [lo, hi]: float64 steps, scale rounded to float32."""
    lo, hi = F64(lo), F64(hi)
    maxx = hi if hi > 0.0 else F64(0)
    minx = lo if lo < 0.0 else F64(0)
    with np.errstate(over="ignore", under="ignore"):
        rng = F64(1) if maxx == minx else F64(maxx - minx)
        sd = F64(rng / F64(255))
        if not sd <= F64(np.finfo(np.float32).max):
            raise ValueError("range too wide: its scale does not fit in float32")
        s = F32(sd)
        if s == F32(0):
            s = SMALLEST_SUBNORMAL_F32
        initial = F64(F64(0) - minx / F64(s))
    z = int(np.rint(min(max(initial, F64(0)), F64(255))))
    return s, z


def dynamic_qparams(x: Any) -> Tuple[np.float32, int]:
    """The (scale, zero_point) dynamic quantization gives x (float16 goes through float32)."""
    a = as_float_input(x)
    lo, hi = minmax(a)
    if np.isinf(lo) or np.isinf(hi):
        raise ValueError("infinite value in dynamic mode")
    if a.dtype == np.float64:
        return choose_qparams_f64(lo, hi)
    return choose_qparams_f32(F32(lo), F32(hi))


# ------------------------------------------------------------------------------------------ quantize
def quantize_static(x: Any, scale: Any, zero_point: int, qmin: int = 0, qmax: int = 255) -> np.ndarray:
    """uint8 codes clip(rint(x / s) + z, qmin, qmax); saturation done in float, before the int cast."""
    a = as_float_input(x)
    _check_no_nan(a)
    t = compute_dtype(a)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        y = a.astype(t) / t(F32(scale))  # the one rounding step of the specification
        # rint of a float is exact; float64 holds the sum exactly whenever it matters (|y| < 2**52).
        v = np.rint(y.astype(F64)) + F64(zero_point)
    v = np.clip(v, F64(qmin), F64(qmax))
    return v.astype(np.uint8)


def quantize_dynamic(x: Any) -> Tuple[np.ndarray, np.float32, int]:
    """(codes, scale, zero_point) of dynamic quantization."""
    a = as_float_input(x)
    s, z = dynamic_qparams(a)
    return quantize_static(a, s, z), s, z


# ---------------------------------------------------------------------------------------- dequantize
def dequantize(codes: Any, scale: Any, zero_point: int, dtype: Any = np.float32) -> np.ndarray:
    """dtype(q - z) * dtype(s): one rounding, in the output dtype."""
    t = np.dtype(dtype).type
    q = np.asarray(codes)
    d = q.astype(np.int64) - int(zero_point)
    with np.errstate(over="ignore"):
        return (d.astype(t) * t(F32(scale))).astype(t)


# ------------------------------------------------------------------------------------ the ONNX oracle
ONNX_OPSET = 21
ONNX_IR_VERSION = 10


@functools.lru_cache(maxsize=None)
def _onnx_evaluator(op: str, ndim: int) -> Any:
    """A ReferenceEvaluator running one `op` node on a tensor of rank ndim (symbolic dimensions)."""
    import onnx
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    shape = [f"d{i}" for i in range(ndim)]

    if op == "DynamicQuantizeLinear":
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
        outputs = [
            helper.make_tensor_value_info("y", TensorProto.UINT8, shape),
            helper.make_tensor_value_info("y_scale", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("y_zero_point", TensorProto.UINT8, []),
        ]
        node = helper.make_node(op, ["x"], ["y", "y_scale", "y_zero_point"])
    elif op == "QuantizeLinear":
        inputs = [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("y_scale", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("y_zero_point", TensorProto.UINT8, []),
        ]
        outputs = [helper.make_tensor_value_info("y", TensorProto.UINT8, shape)]
        node = helper.make_node(op, ["x", "y_scale", "y_zero_point"], ["y"])
    elif op == "DequantizeLinear":
        inputs = [
            helper.make_tensor_value_info("x", TensorProto.UINT8, shape),
            helper.make_tensor_value_info("x_scale", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("x_zero_point", TensorProto.UINT8, []),
        ]
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)]
        node = helper.make_node(op, ["x", "x_scale", "x_zero_point"], ["y"])
    else:  # pragma: no cover - programming error
        raise ValueError(op)
    graph = helper.make_graph([node], f"qaffine_{op}", inputs, outputs)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], ir_version=ONNX_IR_VERSION
    )
    onnx.checker.check_model(model)
    return ReferenceEvaluator(model)


def onnx_dynamic_quantize(x: Any) -> Tuple[np.ndarray, np.float32, int]:
    """(codes, scale, zero_point) from an ONNX DynamicQuantizeLinear node on float32 x."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    y, scale, zp = _onnx_evaluator("DynamicQuantizeLinear", a.ndim).run(None, {"x": a})
    assert y.dtype == np.uint8 and scale.dtype == np.float32 and zp.dtype == np.uint8
    return y, F32(scale), int(zp)


def onnx_quantize_linear(x: Any, scale: Any, zp: int) -> np.ndarray:
    """uint8 codes from an ONNX QuantizeLinear node (float32 x, float32 scale, uint8 zero point).

    The reference casts rint(x / s) to int32 before clipping, so keep |x / s| well below 2**31.
    """
    a = np.ascontiguousarray(x, dtype=np.float32)
    (y,) = _onnx_evaluator("QuantizeLinear", a.ndim).run(
        None, {"x": a, "y_scale": np.array(scale, dtype=np.float32), "y_zero_point": np.array(zp, dtype=np.uint8)}
    )
    assert y.dtype == np.uint8
    return y


def onnx_dequantize_linear(codes: Any, scale: Any, zp: int) -> np.ndarray:
    """float32 values from an ONNX DequantizeLinear node (uint8 codes, float32 scale, uint8 zero point)."""
    q = np.ascontiguousarray(codes, dtype=np.uint8)
    (y,) = _onnx_evaluator("DequantizeLinear", q.ndim).run(
        None, {"x": q, "x_scale": np.array(scale, dtype=np.float32), "x_zero_point": np.array(zp, dtype=np.uint8)}
    )
    assert y.dtype == np.float32
    return y


# ----------------------------------------------------------------------------------------- utilities
def same_float32(a: Any, b: Any) -> bool:
    """True if a and b are the same float32 bit pattern."""
    return np.float32(a).view(np.uint32) == np.float32(b).view(np.uint32)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """True if two float arrays have the same dtype, shape and bits."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    u = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    return bool(np.array_equal(np.ascontiguousarray(a).view(u), np.ascontiguousarray(b).view(u)))


# ===================================================================================================
# Modes: per-axis / per-block granularity, 1-8 bit codes, signed codes, symmetric and tight ranges.
#
# Parameters (qparams.hpp), with levels = qmax - qmin, in float32 arithmetic (float64 for float64 data,
# the scale rounded to float32 once):
#
# * default (include_zero, asymmetric): lo' = min(0, lo), hi' = max(0, hi),
#   s = (hi' == lo' ? 1 : hi' - lo') / levels, z = rint(clamp(qmin - lo' / s, qmin, qmax));
# * symmetric: s = (max(|lo|, |hi|) or 1 if that is 0) / (levels / 2), z = floor((qmin + qmax + 1) / 2);
# * include_zero=False (tight): s = (hi == lo ? (|lo| or 1 if lo == 0) : hi - lo) / levels,
#   z = rint(qmin - lo / s), not clamped; |qmin - lo / s| > 2**23 is a ValueError.
#
# As for the 8-bit rules above, a float32 range that overflows is redone in float64, a scale that
# underflows to 0 becomes 2**-149, a scale that does not fit float32 is a ValueError.
# Per axis k, one (s, z) per index along k; per block B (along `axis`), one per B consecutive indices
# along it (the last block may be short), params shaped like x with that axis of length ceil(n / B).
# Codes: clip(rint(x / s) + z, qmin, qmax) (rounding="divide", ONNX), or rint(x * float32(1 / s)) + z
# (rounding="multiply"); uint8 codes, int8 if signed (uint16 / int16 for bits 9 to 16).
# ===================================================================================================
MAX_ABS_ZERO_POINT = 1 << 23


def mode_code_dtype(bits: int, signed: bool) -> np.dtype:
    """The codes' dtype: (u)int8 up to 8 bits, (u)int16 for 9 to 16."""
    return np.dtype(("i" if signed else "u") + ("1" if bits <= 8 else "2"))


def mode_code_range(bits: int, signed: bool) -> Tuple[int, int]:
    """(qmin, qmax): [0, 2**bits - 1], or [-2**(bits-1), 2**(bits-1) - 1] if signed."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _mode_scale(rng: Any, levels: Any, exact: float, t: type) -> np.float32:
    """rng / levels in t arithmetic, as a float32 scale (float64 redo on float32 overflow, 2**-149 for 0)."""
    with np.errstate(over="ignore", under="ignore"):
        if t is F32 and np.isfinite(rng):
            s = F32(F32(rng) / F32(levels))
            if not np.isfinite(s):
                raise ValueError("range too wide: its scale does not fit in float32")
        else:
            sd = F64(exact if t is F32 else rng) / F64(levels)
            if not sd <= F64(np.finfo(np.float32).max):
                raise ValueError("range too wide: its scale does not fit in float32")
            s = F32(sd)
    return SMALLEST_SUBNORMAL_F32 if s == F32(0) else s


def mode_choose_qparams(
    lo: Any,
    hi: Any,
    *,
    bits: int = 8,
    signed: bool = False,
    symmetric: bool = False,
    include_zero: bool = True,
    double: bool = False,
) -> Tuple[np.float32, int]:
    """(scale, zero_point) for the range [lo, hi] in one mode (float64 steps if `double`)."""
    t = F64 if double else F32
    lo, hi = t(lo), t(hi)
    if np.isnan(lo) or np.isnan(hi) or np.isinf(lo) or np.isinf(hi):
        raise ValueError("range bounds must be finite")
    if lo > hi:
        raise ValueError("lo > hi")
    if symmetric and not include_zero:
        raise ValueError("symmetric needs include_zero")
    qmin, qmax = mode_code_range(bits, signed)
    levels = t(qmax - qmin)
    with np.errstate(over="ignore", under="ignore"):
        if symmetric:
            amax = max(abs(lo), abs(hi))
            top = amax if amax > t(0) else t(1)
            s = _mode_scale(top, t(levels / t(2)), float(top), t)
            return s, (qmin + qmax + 1) // 2
        if not include_zero:
            if hi == lo:
                rng = t(1) if lo == t(0) else t(abs(lo))
                exact = float(rng)
            else:
                rng = t(hi - lo)
                exact = float(F64(hi) - F64(lo))
            s = _mode_scale(rng, levels, exact, t)
            initial = t(t(qmin) - t(lo / t(s)))
            if not abs(initial) <= t(MAX_ABS_ZERO_POINT):
                raise ValueError("tight range too far from 0: zero point beyond 2**23")
            return s, int(np.rint(initial))
        maxx = hi if hi > t(0) else t(0)
        minx = lo if lo < t(0) else t(0)
        rng = t(1) if maxx == minx else t(maxx - minx)
        s = _mode_scale(rng, levels, float(F64(maxx) - F64(minx)), t)
        initial = t(t(qmin) - t(minx / t(s)))
        return s, int(np.rint(min(max(initial, t(qmin)), t(qmax))))


def mode_dynamic_qparams(x: Any, **mode: Any) -> Tuple[np.float32, int]:
    """Per-tensor dynamic (scale, zero_point) of x in `mode` (float16 data goes through float32)."""
    a = as_float_input(x)
    lo, hi = minmax(a)
    if np.isinf(lo) or np.isinf(hi):
        raise ValueError("infinite value in dynamic mode")
    return mode_choose_qparams(lo, hi, double=a.dtype == np.float64, **mode)


def mode_params_shape(shape: Tuple[int, ...], axis: int, block_size: Any = None) -> Tuple[int, ...]:
    """(x.shape[axis],) per axis; x.shape with axis -> ceil(n / block_size) per block."""
    axis = axis % len(shape)
    if block_size is None:
        return (shape[axis],)
    return shape[:axis] + (-(-shape[axis] // block_size),) + shape[axis + 1:]


def mode_group_qparams(x: Any, *, axis: int, block_size: Any = None, **mode: Any) -> Tuple[np.ndarray, np.ndarray]:
    """(scale, zero_point) arrays of per-axis / per-block dynamic quantization, slice by slice."""
    a = as_float_input(x)
    axis = axis % a.ndim
    shape = mode_params_shape(a.shape, axis, block_size)
    scale = np.empty(shape, dtype=F32)
    zp = np.empty(shape, dtype=np.int64)
    if block_size is None:
        for k in range(a.shape[axis]):
            scale[k], zp[k] = mode_dynamic_qparams(np.take(a, k, axis=axis), **mode)
        return scale, zp
    moved = np.moveaxis(a, axis, -1)  # (..., n): blocks along the last axis
    s_m, z_m = np.moveaxis(scale, axis, -1), np.moveaxis(zp, axis, -1)  # views
    n = moved.shape[-1]
    for pos in np.ndindex(moved.shape[:-1]):
        for b in range(s_m.shape[-1]):
            seg = moved[pos][b * block_size : min(n, (b + 1) * block_size)]
            s_m[pos + (b,)], z_m[pos + (b,)] = mode_dynamic_qparams(seg, **mode)
    return scale, zp


def mode_expand(values: Any, shape: Tuple[int, ...], axis: Any = None, block_size: Any = None) -> np.ndarray:
    """Per-element copy of per-tensor / per-axis / per-block parameters for an array of `shape`."""
    v = np.asarray(values)
    if axis is None:
        return np.broadcast_to(v, shape)
    axis = axis % len(shape)
    if block_size is None:
        dims = [1] * len(shape)
        dims[axis] = v.size
        return np.broadcast_to(v.reshape(dims), shape)
    rep = np.repeat(v, block_size, axis=axis)
    return np.take(rep, np.arange(shape[axis]), axis=axis)


def mode_quantize_codes(
    x: Any,
    scale: Any,
    zero_point: Any,
    qmin: int,
    qmax: int,
    *,
    signed: bool,
    rounding: str = "divide",
) -> np.ndarray:
    """Codes clip(rint(x / s) + z, qmin, qmax) (or clip(rint(x * float32(1 / s) + z)) for rounding="multiply"), element-wise
    scale and zero point (broadcast to x), float32 steps (float64 for float64 x), as the narrowest integer
    dtype holding [qmin, qmax] (signed: int8 / int16; else uint8 / uint16)."""
    a = as_float_input(x)
    _check_no_nan(a)
    t = compute_dtype(a)
    s = np.broadcast_to(np.asarray(scale, dtype=F32), a.shape)
    z = np.broadcast_to(np.asarray(zero_point, dtype=F64), a.shape)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        if rounding == "divide":
            y = a.astype(t) / s.astype(t)
            v = np.rint(y.astype(F64)) + z
        elif rounding == "multiply":
            # torch.quantize_per_channel: the zero point is added in float32 before rounding (two roundings).
            r = (F32(1) / s).astype(F32)
            y = (a.astype(t) * r.astype(t)) + z.astype(t)
            v = np.rint(y.astype(F64))
        else:  # pragma: no cover - programming error
            raise ValueError(rounding)
    v = np.clip(v, F64(qmin), F64(qmax))
    wide = qmin < -128 or qmax > (127 if signed else 255)
    return v.astype(mode_code_dtype(16 if wide else 8, signed))


def mode_quantize(
    x: Any,
    *,
    axis: Any = None,
    block_size: Any = None,
    bits: int = 8,
    signed: bool = False,
    symmetric: bool = False,
    include_zero: bool = True,
    rounding: str = "divide",
) -> Tuple[np.ndarray, Any, Any]:
    """(codes, scale, zero_point) of dynamic quantization in one mode; block_size alone means the last axis."""
    a = as_float_input(x)
    mode = dict(bits=bits, signed=signed, symmetric=symmetric, include_zero=include_zero)
    if block_size is not None and axis is None:
        axis = a.ndim - 1
    if axis is None:
        scale, zp = mode_dynamic_qparams(a, **mode)
    else:
        scale, zp = mode_group_qparams(a, axis=axis, block_size=block_size, **mode)
    qmin, qmax = mode_code_range(bits, signed)
    codes = mode_quantize_codes(
        a,
        mode_expand(scale, a.shape, axis, block_size),
        mode_expand(zp, a.shape, axis, block_size),
        qmin,
        qmax,
        signed=signed,
        rounding=rounding,
    )
    return codes, scale, zp


def mode_dequantize(
    codes: Any, scale: Any, zero_point: Any, axis: Any = None, block_size: Any = None, dtype: Any = np.float32
) -> np.ndarray:
    """dtype(q - z) * dtype(s) element-wise, with per-tensor / per-axis / per-block parameters."""
    t = np.dtype(dtype).type
    q = np.asarray(codes)
    s = mode_expand(np.asarray(scale, dtype=F32), q.shape, axis, block_size)
    z = mode_expand(np.asarray(zero_point, dtype=np.int64), q.shape, axis, block_size)
    d = q.astype(np.int64) - z
    with np.errstate(over="ignore"):
        return (d.astype(t) * s.astype(t)).astype(t)


def pack_codes(codes: Any, bits: int) -> np.ndarray:
    """The packing rule, element by element: fields of w = 4 (bits 3-4), 2 (bits 2) or 1 (bits 1) bits, code i
    (C order) in byte i // (8 // w) at bit offset w * (i % (8 // w)), two's complement truncated to w bits;
    unused high fields of the last byte are 0."""
    w = {1: 1, 2: 2, 3: 4, 4: 4}[bits]
    per = 8 // w
    flat = [int(c) for c in np.asarray(codes).reshape(-1)]
    out = bytearray(-(-len(flat) // per))
    for i, c in enumerate(flat):
        out[i // per] |= (c & ((1 << w) - 1)) << (w * (i % per))
    return np.frombuffer(bytes(out), dtype=np.uint8)


def pack_codes_bits(codes: Any, bits: int) -> np.ndarray:
    """pack_codes for large arrays, through NumPy's bit arrays: the low w bits of each code, lowest first, one
    after another (bit j of the stream is bit j % 8 of byte j // 8), zero bits after the last code."""
    w = {1: 1, 2: 2, 3: 4, 4: 4}[bits]
    as_bytes = np.ascontiguousarray(codes).reshape(-1, 1).view(np.uint8)
    stream = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :w].reshape(-1)
    return np.packbits(stream, bitorder="little")


def onnx_pack_codes(codes: Any, bits: int, signed: bool) -> Any:
    """ONNX's own packing of codes as (u)int4 (bits 3-4) or (u)int2 (bits 2) tensor raw data; None for 1 bit."""
    import ml_dtypes
    from onnx import numpy_helper

    if bits == 1:
        return None
    w = 4 if bits > 2 else 2
    dtype = {(4, False): ml_dtypes.uint4, (4, True): ml_dtypes.int4, (2, False): ml_dtypes.uint2,
             (2, True): ml_dtypes.int2}[(w, signed)]
    tensor = numpy_helper.from_array(np.asarray(codes).astype(dtype))
    return np.frombuffer(tensor.raw_data, dtype=np.uint8)


@functools.lru_cache(maxsize=None)
def _onnx_mode_evaluator(op: str, ndim: int, param_ndim: int, axis: Any, block_size: Any, qtype: int) -> Any:
    """A ReferenceEvaluator with one QuantizeLinear / DequantizeLinear node (opset 21) with axis / block_size
    attributes and codes of ONNX type `qtype` (UINT8, INT8, UINT4, INT4)."""
    import onnx
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    shape = [f"d{i}" for i in range(ndim)]
    pshape = [f"p{i}" for i in range(param_ndim)]
    attrs = {}
    if axis is not None:
        attrs["axis"] = axis
    if block_size is not None:
        attrs["block_size"] = block_size
    if op == "QuantizeLinear":
        inputs = [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, pshape),
            helper.make_tensor_value_info("zero_point", qtype, pshape),
        ]
        outputs = [helper.make_tensor_value_info("y", qtype, shape)]
    elif op == "DequantizeLinear":
        inputs = [
            helper.make_tensor_value_info("x", qtype, shape),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, pshape),
            helper.make_tensor_value_info("zero_point", qtype, pshape),
        ]
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)]
    else:  # pragma: no cover - programming error
        raise ValueError(op)
    node = helper.make_node(op, ["x", "scale", "zero_point"], ["y"], **attrs)
    graph = helper.make_graph([node], f"qaffine_mode_{op}", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], ir_version=ONNX_IR_VERSION)
    onnx.checker.check_model(model)
    return ReferenceEvaluator(model)


def _onnx_code_dtype(bits: int, signed: bool) -> Tuple[Any, int]:
    """(NumPy dtype, ONNX type) of ONNX codes holding `bits`-bit codes: (u)int8, (u)int16 for bits 16, or
    (u)int4 for bits 4."""
    from onnx import TensorProto

    if bits == 16:
        return (np.dtype(np.int16), TensorProto.INT16) if signed else (np.dtype(np.uint16), TensorProto.UINT16)
    if bits == 8:
        return (np.dtype(np.int8), TensorProto.INT8) if signed else (np.dtype(np.uint8), TensorProto.UINT8)
    if bits == 4:
        import ml_dtypes

        if signed:
            return np.dtype(ml_dtypes.int4), TensorProto.INT4
        return np.dtype(ml_dtypes.uint4), TensorProto.UINT4
    raise ValueError(f"ONNX has no {bits}-bit integer type in opset {ONNX_OPSET}")


def onnx_mode_quantize_linear(
    x: Any, scale: Any, zero_point: Any, *, axis: Any = None, block_size: Any = None, bits: int = 8,
    signed: bool = False,
) -> np.ndarray:
    """Codes (as (u)int8 NumPy arrays, (u)int16 for bits 16) from an ONNX QuantizeLinear node: per tensor (axis
    None), per axis, or blocked (axis and block_size), with (u)int16, (u)int8 or (u)int4 zero points for bits
    16 / 8 / 4."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    dt, qtype = _onnx_code_dtype(bits, signed)
    s = np.ascontiguousarray(scale, dtype=np.float32)
    z = np.asarray(zero_point).astype(np.int64).astype(dt)
    ev = _onnx_mode_evaluator("QuantizeLinear", a.ndim, s.ndim, axis, block_size, qtype)
    (y,) = ev.run(None, {"x": a, "scale": s, "zero_point": z})
    assert y.dtype == dt and y.shape == a.shape
    return y.astype(mode_code_dtype(bits, signed))


def onnx_mode_dequantize_linear(
    codes: Any, scale: Any, zero_point: Any, *, axis: Any = None, block_size: Any = None, bits: int = 8,
    signed: bool = False,
) -> np.ndarray:
    """float32 values from an ONNX DequantizeLinear node, per tensor, per axis or blocked."""
    dt, qtype = _onnx_code_dtype(bits, signed)
    q = np.ascontiguousarray(codes).astype(dt)
    s = np.ascontiguousarray(scale, dtype=np.float32)
    z = np.asarray(zero_point).astype(np.int64).astype(dt)
    ev = _onnx_mode_evaluator("DequantizeLinear", q.ndim, s.ndim, axis, block_size, qtype)
    (y,) = ev.run(None, {"x": q, "scale": s, "zero_point": z})
    assert y.dtype == np.float32 and y.shape == q.shape
    return y

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

"""The public functions: validation and messages here, the loops in ``qaffine._core``."""

from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core
from ._params import QParams

__all__ = [
    "QuantizedArray",
    "choose_qparams",
    "dequantize",
    "minmax",
    "quantize",
    "simd_level",
]

_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


# ---------------------------------------------------------------------------------------------- helpers
def _as_float_array(x: Any, name: str = "x") -> np.ndarray:
    """``np.asarray(x)`` if it is float16/32/64 (made native-endian), else TypeError."""
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    if a.dtype.kind != "f" or a.dtype.newbyteorder("=") not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must hold float16, float32 or float64 values, got dtype {a.dtype}; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _where(mask: np.ndarray) -> str:
    """Describes the first True position of mask in C order."""
    if mask.ndim == 0:
        return ""
    flat = int(np.argmax(mask))
    if mask.ndim == 1:
        return f" at index {flat}"
    return f" at index {tuple(int(i) for i in np.unravel_index(flat, mask.shape))}"


def _nan_error(a: np.ndarray, name: str = "x") -> ValueError:
    return ValueError(f"{name} contains NaN{_where(np.isnan(a))}; drop or replace NaNs before quantizing")


def _inf_error(a: np.ndarray, name: str = "x") -> ValueError:
    return ValueError(
        f"{name} contains an infinite value{_where(np.isinf(a))}; dynamic quantization needs a finite range: "
        "clip the data, or pass params= for static quantization (which saturates infinities)"
    )


def _codes_out(out: Any, a: np.ndarray) -> np.ndarray:
    if out is None:
        return np.empty(a.shape, dtype=np.uint8)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray of uint8, got {type(out).__name__}")
    if out.dtype != np.uint8:
        raise TypeError(f"out must have dtype uint8, got {out.dtype}")
    _check_out_layout(out, a.shape)
    if np.may_share_memory(out, a):
        raise ValueError("out overlaps x; pass a separate buffer")
    return out


def _check_out_layout(out: np.ndarray, shape: Tuple[int, ...]) -> None:
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if not out.flags.aligned:
        raise ValueError("out must be aligned")


def _in_double(v: Any) -> bool:
    return np.asarray(v).dtype == np.float64 and not isinstance(v, float)


def _as_bound(v: Any, name: str) -> float:
    if isinstance(v, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    arr = np.asarray(v)
    if arr.ndim != 0 or arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real scalar, got dtype {arr.dtype} and shape {arr.shape}")
    value = float(arr)
    if np.isnan(value):
        raise ValueError(f"{name} is NaN")
    if np.isinf(value):
        raise ValueError(f"{name} is infinite; a quantization range must be finite")
    return value


# ------------------------------------------------------------------------------------------------ API
def simd_level() -> str:
    """The SIMD level the kernels use: ``'avx512'``, ``'avx2'`` or ``'scalar'``.

    The highest level the CPU and OS support, unless lowered by the ``QAFFINE_SIMD`` environment
    variable (read once, at import).

    >>> import qaffine as qa
    >>> qa.simd_level() in ("avx512", "avx2", "scalar")
    True
    """
    return str(_core.simd_level())


def minmax(x: npt.ArrayLike) -> Tuple[np.floating[Any], np.floating[Any]]:
    """Smallest and largest value of ``x``, in one pass, as scalars of ``x``'s dtype.

    Raises ``ValueError`` if ``x`` is empty or contains NaN (the message names an index);
    infinities are ordinary values. A zero result is ``+0.0``.

    >>> import numpy as np, qaffine as qa
    >>> qa.minmax(np.float32([0.5, -2.0, 3.25]))
    (np.float32(-2.0), np.float32(3.25))
    """
    a = _as_float_array(x)
    if a.size == 0:
        raise ValueError("minmax of an empty array is undefined")
    lo, hi, has_nan = _core.minmax(a)
    if has_nan:
        raise _nan_error(a)
    t = a.dtype.type
    return t(lo), t(hi)


def choose_qparams(lo: Any, hi: Any) -> QParams:
    """Scale and zero point for values in ``[lo, hi]``, ONNX ``DynamicQuantizeLinear`` rules.

    The range is widened to contain 0; ``scale = (hi - lo) / 255`` and
    ``zero_point = round_half_even(clamp(-lo / scale, 0, 255))``. The arithmetic is float32 (bit-exact
    with ONNX) unless ``lo`` or ``hi`` is a ``np.float64``, then float64; the scale is float32 either way.
    ``lo == hi == 0`` gives ``scale = 1/255, zero_point = 0`` as ONNX does.

    >>> import numpy as np, qaffine as qa
    >>> qa.choose_qparams(np.float32(-1.0), np.float32(1.0))
    QParams(scale=0.007843137718737125, zero_point=127, qmin=0, qmax=255)
    """
    lo_f, hi_f = _as_bound(lo, "lo"), _as_bound(hi, "hi")
    if lo_f > hi_f:
        raise ValueError(f"lo must be <= hi, got lo={lo_f!r} > hi={hi_f!r}")
    in_double = _in_double(lo) or _in_double(hi)
    scale, zero_point = _core.choose_qparams(lo_f, hi_f, 0, 255, in_double)
    return QParams(np.float32(scale), int(zero_point))


class QuantizedArray:
    """uint8 codes plus the :class:`QParams` that map them back to floats.

    >>> import numpy as np, qaffine as qa
    >>> q = qa.quantize(np.float32([0.0, 1.0, 2.0]))
    >>> q.values, q.zero_point
    (array([  0, 127, 255], dtype=uint8), 0)
    >>> q.dequantize()
    array([0.       , 0.9960785, 2.       ], dtype=float32)
    """

    __slots__ = ("_params", "_values")

    def __init__(self, values: np.ndarray, params: QParams) -> None:
        if not isinstance(values, np.ndarray) or values.dtype != np.uint8:
            raise TypeError("values must be a numpy.ndarray of uint8")
        if not isinstance(params, QParams):
            raise TypeError("params must be a qaffine.QParams")
        self._values = values
        self._params = params

    @property
    def values(self) -> np.ndarray:
        """The codes, ``uint8``, same shape as the input."""
        return self._values

    @property
    def params(self) -> QParams:
        """The parameters used."""
        return self._params

    @property
    def scale(self) -> np.float32:
        """``params.scale`` (``np.float32``)."""
        return self._params.scale

    @property
    def zero_point(self) -> int:
        """``params.zero_point``."""
        return self._params.zero_point

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self._values.shape)

    def dequantize(self, dtype: npt.DTypeLike = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """``scale * (values - zero_point)``; see :func:`qaffine.dequantize`."""
        return dequantize(self, dtype=dtype, out=out)

    def __repr__(self) -> str:
        return f"QuantizedArray(shape={self.shape}, scale={float(self.scale)!r}, zero_point={self.zero_point})"


def quantize(
    x: npt.ArrayLike,
    params: Optional[QParams] = None,
    *,
    out: Optional[np.ndarray] = None,
) -> QuantizedArray:
    """Quantize float data to uint8 codes: ``q = clamp(round_half_even(x / scale) + zero_point, 0, 255)``.

    Without ``params`` (dynamic): the range, scale, zero point and codes are those of ONNX
    ``DynamicQuantizeLinear``, bit for bit; NaN, infinities and empty input raise ``ValueError``.
    With ``params`` (static): codes as ONNX ``QuantizeLinear``; infinities and huge values saturate to
    0 / 255; NaN raises ``ValueError``; empty input gives empty codes.

    ``x`` is anything ``np.asarray`` accepts holding float16, float32 or float64 (any layout);
    float64 is computed in float64. ``out``, if given, must be a writeable, C-contiguous uint8 array
    of ``x``'s shape that does not overlap ``x``; the result's ``values`` is then ``out``.

    >>> import numpy as np, qaffine as qa
    >>> q = qa.quantize(np.float32([0.283, 3.34]))
    >>> q.values, q.scale, q.zero_point
    (array([ 22, 255], dtype=uint8), np.float32(0.013098039), 0)
    """
    a = _as_float_array(x)
    if params is not None and not isinstance(params, QParams):
        raise TypeError(
            f"params must be a qaffine.QParams (e.g. qa.choose_qparams(lo, hi)), got {type(params).__name__}"
        )
    codes = _codes_out(out, a)
    if params is None:
        if a.size == 0:
            raise ValueError(
                "cannot quantize an empty array dynamically: its range is undefined; "
                "pass params= for static quantization"
            )
        scale, zero_point, status = _core.quantize_dynamic(a, 0, 255, codes)
        if status == 1:
            raise _nan_error(a)
        if status == 2:
            raise _inf_error(a)
        p = QParams(np.float32(scale), int(zero_point))
    else:
        p = params
        if _core.quantize(a, float(p.scale), p.zero_point, p.qmin, p.qmax, codes):
            raise _nan_error(a)
    return QuantizedArray(codes, p)


def dequantize(
    q: Union[QuantizedArray, npt.ArrayLike],
    params: Optional[QParams] = None,
    *,
    dtype: npt.DTypeLike = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Codes back to floats: ``scale * (q - zero_point)``, as ONNX ``DequantizeLinear``.

    ``q`` is a :class:`QuantizedArray`, or uint8 codes together with ``params``. ``dtype`` is float32
    (default) or float64; ``out``, if given, must be a writeable, C-contiguous array of that dtype and
    the codes' shape, and is returned.

    >>> import numpy as np, qaffine as qa
    >>> p = qa.QParams(scale=np.float32(0.5), zero_point=10)
    >>> qa.dequantize(np.uint8([10, 11, 0]), p)
    array([ 0. ,  0.5, -5. ], dtype=float32)
    """
    if isinstance(q, QuantizedArray):
        if params is not None:
            raise TypeError("params is already part of a QuantizedArray; pass one or the other")
        codes, p = q.values, q.params
    else:
        codes = q if isinstance(q, np.ndarray) else np.asarray(q)
        if codes.dtype != np.uint8:
            raise TypeError(f"codes must have dtype uint8, got {codes.dtype}")
        if params is None:
            raise TypeError("dequantize(codes, params) needs params (a qaffine.QParams)")
        if not isinstance(params, QParams):
            raise TypeError(f"params must be a qaffine.QParams, got {type(params).__name__}")
        p = params
    if dtype is None:
        dt = out.dtype if isinstance(out, np.ndarray) else np.dtype(np.float32)
    else:
        dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dequantize produces float32 or float64, got dtype {dt}")
    if out is None:
        result = np.empty(codes.shape, dtype=dt)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != dt:
            raise TypeError(f"out has dtype {out.dtype}, expected {dt}")
        _check_out_layout(out, codes.shape)
        if np.may_share_memory(out, codes):
            raise ValueError("out overlaps the codes; pass a separate buffer")
        result = out
    _core.dequantize(codes, float(p.scale), p.zero_point, p.qmin, p.qmax, result)
    return result

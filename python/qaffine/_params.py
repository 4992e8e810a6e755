"""QParams: the parameters of an affine quantization, validated once when built."""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Tuple, Union

import numpy as np

__all__ = ["QParams", "code_range"]

_set = object.__setattr__

# The kernels clamp x / s to [qmin - z, qmax - z] in float32, exact while |z| <= 2**23.
_MAX_ABS_ZERO_POINT = 1 << 23


def code_range(bits: int, signed: bool) -> Tuple[int, int]:
    """(qmin, qmax) for ``bits``-bit codes: [0, 2**bits - 1], or [-2**(bits-1), 2**(bits-1) - 1] if signed."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got a bool")
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        f = float(value)
        if math.isfinite(f) and f.is_integer():
            return int(f)
        raise ValueError(f"{name} must be an integer, got {value!r}")
    raise TypeError(f"{name} must be an integer, got {type(value).__name__}")


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _as_scale(scale: Any) -> Union[np.float32, np.ndarray]:
    if isinstance(scale, (bool, np.bool_, str, bytes)):
        raise TypeError(f"scale must be a real number or an array of them, got {type(scale).__name__}")
    arr = np.asarray(scale)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"scale must hold real numbers, got dtype {arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow and (signaling) NaN are reported below
        s = arr.astype(np.float32)
        bad = ~(np.isfinite(arr.astype(np.float64)) & np.isfinite(s) & (s > 0))
    if bad.any():
        first = arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise ValueError(f"scale must be a finite float32 number > 0, got {first!r}")
    if s.ndim == 0:
        return np.float32(s)
    s = np.ascontiguousarray(s)
    s.setflags(write=False)
    return s


def _as_zero_point(zero_point: Any, shape: Tuple[int, ...]) -> Union[int, np.ndarray]:
    if not shape:
        z = _check_int(zero_point, "zero_point")
        if abs(z) > _MAX_ABS_ZERO_POINT:
            raise ValueError(f"|zero_point| must be <= 2**23, got {z}")
        return z
    arr = np.asarray(zero_point)
    if arr.shape != shape:
        raise ValueError(f"zero_point has shape {arr.shape}, expected {shape} like scale")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "fiu":
        raise TypeError(f"zero_point must hold integers, got dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):  # a signaling NaN is reported below, not warned about
        as_float = arr.astype(np.float64)
        integral = np.isfinite(as_float) & (as_float == np.round(as_float))
    if not np.all(integral):
        raise ValueError("zero_point must hold integers")
    if np.any(np.abs(as_float) > _MAX_ABS_ZERO_POINT):
        raise ValueError("|zero_point| must be <= 2**23")
    zs = np.ascontiguousarray(arr, dtype=np.int32)
    zs.setflags(write=False)
    return zs


def _rebuild(scale: Any, zero_point: Any, qmin: int, qmax: int, axis: Optional[int], block_size: Optional[int],
             bits: int, signed: bool, symmetric: bool, include_zero: bool) -> "QParams":
    return QParams(scale, zero_point, qmin, qmax, axis=axis, block_size=block_size, bits=bits, signed=signed,
                   symmetric=symmetric, include_zero=include_zero)


class QParams:
    """Parameters of an affine quantization: ``x ≈ scale * (q - zero_point)``, ``qmin <= q <= qmax``.

    Per tensor, ``scale`` is an ``np.float32`` (finite, > 0) and ``zero_point`` an ``int``. With ``axis``
    (per channel) both are arrays of shape ``(x.shape[axis],)``; with ``block_size`` (per block, along
    ``axis``, default the last) arrays of ``x``'s shape with that axis replaced by ``ceil(n / block_size)``.
    Codes are ``uint8`` in ``[0, 2**bits - 1]``, or ``int8`` in ``[-2**(bits-1), 2**(bits-1) - 1]`` if
    ``signed``; ``qmin``/``qmax`` may narrow that range. ``symmetric`` and ``include_zero`` record how the
    parameters were chosen. Instances are immutable and compare by value.

    >>> import numpy as np, qaffine as qa
    >>> p = qa.QParams(scale=np.float32(0.02), zero_point=128)
    >>> p.qmin, p.qmax
    (0, 255)
    >>> qa.quantize(np.float32([-1.0, 0.0, 1.0]), p).values
    array([ 78, 128, 178], dtype=uint8)
    >>> qa.QParams(np.float32(0.1), 0, bits=4, signed=True)
    QParams(scale=0.10000000149011612, zero_point=0, bits=4, signed=True, qmin=-8, qmax=7)
    """

    __slots__ = ("_scale", "_zero_point", "_qmin", "_qmax", "_axis", "_block_size", "_bits", "_signed",
                 "_symmetric", "_include_zero")
    _scale: Any
    _zero_point: Any
    _qmin: int
    _qmax: int
    _axis: Optional[int]
    _block_size: Optional[int]
    _bits: int
    _signed: bool
    _symmetric: bool
    _include_zero: bool

    def __init__(
        self,
        scale: Any,
        zero_point: Any,
        qmin: Optional[int] = None,
        qmax: Optional[int] = None,
        *,
        axis: Optional[int] = None,
        block_size: Optional[int] = None,
        bits: int = 8,
        signed: bool = False,
        symmetric: bool = False,
        include_zero: bool = True,
    ) -> None:
        bits = _check_int(bits, "bits")
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be between 1 and 8, got {bits}")
        signed = _check_bool(signed, "signed")
        symmetric = _check_bool(symmetric, "symmetric")
        include_zero = _check_bool(include_zero, "include_zero")
        if symmetric and not include_zero:
            raise ValueError("symmetric=True always includes 0 in the range; it cannot be used with include_zero=False")
        lo, hi = code_range(bits, signed)
        qmin = lo if qmin is None else _check_int(qmin, "qmin")
        qmax = hi if qmax is None else _check_int(qmax, "qmax")
        if not lo <= qmin < qmax <= hi:
            kind = "int8" if signed else "uint8"
            raise ValueError(
                f"{bits}-bit {kind} codes need {lo} <= qmin < qmax <= {hi}, got qmin={qmin}, qmax={qmax}"
            )
        if axis is not None:
            axis = _check_int(axis, "axis")
        if block_size is not None:
            block_size = _check_int(block_size, "block_size")
            if block_size < 1:
                raise ValueError(f"block_size must be >= 1, got {block_size}")
            if axis is None:
                axis = -1
        s = _as_scale(scale)
        shape = () if isinstance(s, np.float32) else s.shape
        if axis is None and shape:
            raise ValueError(
                f"per-tensor parameters need a scalar scale, got shape {shape}; pass axis= (per channel) "
                "or block_size= (per block) for arrays"
            )
        if axis is not None and block_size is None and len(shape) != 1:
            raise ValueError(f"per-channel parameters need 1-D scale and zero_point, got shape {shape}")
        if block_size is not None and not shape:
            raise ValueError("per-block parameters need arrays of scales and zero points")
        z = _as_zero_point(zero_point, shape)
        for name, value in (("_scale", s), ("_zero_point", z), ("_qmin", qmin), ("_qmax", qmax), ("_axis", axis),
                            ("_block_size", block_size), ("_bits", bits), ("_signed", signed),
                            ("_symmetric", symmetric), ("_include_zero", include_zero)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("QParams is immutable")

    def __reduce__(self) -> Tuple[Any, ...]:
        # Pickle through the validating constructor (the immutable __setattr__ rules out slot restoring), so
        # parameters travel to worker processes (Dask, multiprocessing) unchanged.
        return (_rebuild, (self._scale, self._zero_point, self._qmin, self._qmax, self._axis, self._block_size,
                           self._bits, self._signed, self._symmetric, self._include_zero))

    @classmethod
    def _from_kernel(cls, scale: Any, zero_point: Any, qmin: int, qmax: int, axis: Optional[int],
                     block_size: Optional[int], bits: int, signed: bool, symmetric: bool,
                     include_zero: bool) -> "QParams":
        """Params the kernels chose (finite scales > 0, |zero point| <= 2**23, mode already checked): no
        validation pass and no copies; arrays are made read-only."""
        self = object.__new__(cls)
        if isinstance(scale, np.ndarray):
            scale.setflags(write=False)
            zero_point.setflags(write=False)
        else:
            scale, zero_point = np.float32(scale), int(zero_point)
        for name, value in (("_scale", scale), ("_zero_point", zero_point), ("_qmin", qmin), ("_qmax", qmax),
                            ("_axis", axis), ("_block_size", block_size), ("_bits", bits), ("_signed", signed),
                            ("_symmetric", symmetric), ("_include_zero", include_zero)):
            _set(self, name, value)
        return self

    @classmethod
    def _per_tensor_u8(cls, scale: float, zero_point: int) -> "QParams":
        """Default-mode per-tensor params from values the kernels produced (already valid): no checks."""
        self = object.__new__(cls)
        _set(self, "_scale", np.float32(scale))
        _set(self, "_zero_point", zero_point)
        _set(self, "_qmin", 0)
        _set(self, "_qmax", 255)
        _set(self, "_axis", None)
        _set(self, "_block_size", None)
        _set(self, "_bits", 8)
        _set(self, "_signed", False)
        _set(self, "_symmetric", False)
        _set(self, "_include_zero", True)
        return self

    # -- fields
    @property
    def scale(self) -> Any:
        """``np.float32`` per tensor; a read-only ``float32`` array per channel or block."""
        return self._scale

    @property
    def zero_point(self) -> Any:
        """``int`` per tensor; a read-only ``int32`` array per channel or block."""
        return self._zero_point

    @property
    def qmin(self) -> int:
        return int(self._qmin)

    @property
    def qmax(self) -> int:
        return int(self._qmax)

    @property
    def axis(self) -> Optional[int]:
        """The quantized axis (per channel or per block), else None."""
        return self._axis

    @property
    def block_size(self) -> Optional[int]:
        return self._block_size

    @property
    def bits(self) -> int:
        return int(self._bits)

    @property
    def signed(self) -> bool:
        return bool(self._signed)

    @property
    def symmetric(self) -> bool:
        return bool(self._symmetric)

    @property
    def include_zero(self) -> bool:
        return bool(self._include_zero)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the codes: ``uint8``, or ``int8`` if signed."""
        return np.dtype(np.int8 if self._signed else np.uint8)

    @property
    def granularity(self) -> str:
        """``'tensor'``, ``'channel'`` or ``'block'``."""
        if self._block_size is not None:
            return "block"
        return "tensor" if self._axis is None else "channel"

    # -- value semantics
    def _key(self) -> Tuple[Any, ...]:
        def h(v: Any) -> Any:
            return (v.shape, v.tobytes()) if isinstance(v, np.ndarray) else v

        return (h(self._scale), h(self._zero_point), self._qmin, self._qmax, self._axis, self._block_size,
                self._bits, self._signed, self._symmetric, self._include_zero)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QParams):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if isinstance(self._scale, np.ndarray):
            body = f"scale=<float32 {self._scale.shape}>, zero_point=<int32 {self._scale.shape}>"
        else:
            body = f"scale={float(self._scale)!r}, zero_point={self._zero_point}"
        extra = []
        if self._axis is not None:
            extra.append(f"axis={self._axis}")
        if self._block_size is not None:
            extra.append(f"block_size={self._block_size}")
        if self._bits != 8:
            extra.append(f"bits={self._bits}")
        if self._signed:
            extra.append("signed=True")
        if self._symmetric:
            extra.append("symmetric=True")
        if not self._include_zero:
            extra.append("include_zero=False")
        extra.append(f"qmin={self._qmin}, qmax={self._qmax}")
        return f"QParams({body}, {', '.join(extra)})"

    def replace(self, **changes: Any) -> "QParams":
        """A copy with some fields changed (validated again)."""
        fields = dict(scale=self._scale, zero_point=self._zero_point, qmin=self._qmin, qmax=self._qmax,
                      axis=self._axis, block_size=self._block_size, bits=self._bits, signed=self._signed,
                      symmetric=self._symmetric, include_zero=self._include_zero)
        fields.update(changes)
        return QParams(**fields)

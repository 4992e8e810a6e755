"""QParams: the parameters of an affine quantization, validated once when built."""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Tuple, Union

import numpy as np

from ._mode import DEFAULT, Mode, ModeFields, code_range

__all__ = ["QParams", "code_range"]

_set = object.__setattr__

# The kernels clamp x / s to [qmin - z, qmax - z] in float32, exact while |z| <= 2**23.
_MAX_ABS_ZERO_POINT = 1 << 23


def _check_int(value: Any, name: str) -> int:
    """An integral *value* (a zero point): ints, NumPy ints and integral floats; not a mode option."""
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
    """Unpickles QParams pickled before they held a Mode (the name is in those pickles: keep it)."""
    return QParams(scale, zero_point, qmin, qmax, axis=axis, block_size=block_size, bits=bits, signed=signed,
                   symmetric=symmetric, include_zero=include_zero)


def _restore(scale: Any, zero_point: Any, mode: Mode) -> "QParams":
    """Unpickles QParams: the Mode has validated itself; the values are validated against it."""
    if type(mode) is not Mode:
        raise TypeError(f"QParams need a qaffine Mode, got {mode!r}")
    return QParams._of(scale, zero_point, mode)


class QParams(ModeFields):
    """Parameters of an affine quantization: ``x ≈ scale * (q - zero_point)``, ``qmin <= q <= qmax``.

    Per tensor, ``scale`` is an ``np.float32`` (finite, > 0) and ``zero_point`` an ``int``. With ``axis``
    (per channel) both are arrays of shape ``(x.shape[axis],)``; with ``block_size`` (per block, along
    ``axis``, default the last) arrays of ``x``'s shape with that axis replaced by ``ceil(n / block_size)``.
    Codes are ``uint8`` in ``[0, 2**bits - 1]``, or ``int8`` in ``[-2**(bits-1), 2**(bits-1) - 1]`` if
    ``signed`` (``uint16`` / ``int16`` for ``bits`` 9 to 16); ``qmin``/``qmax`` may narrow that range. ``symmetric`` and ``include_zero`` record how the
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

    __slots__ = ("_scale", "_zero_point", "_mode")
    _scale: Any
    _zero_point: Any
    _mode: Mode  # unpacked; its axis as given (may be negative)

    def __init__(
        self,
        scale: Any,
        zero_point: Any,
        qmin: Optional[int] = None,
        qmax: Optional[int] = None,
        *,
        # The mode keywords are spelt out in every public signature (help(), IDEs, type checkers); the one
        # validator is Mode.
        axis: Optional[int] = None,
        block_size: Optional[int] = None,
        bits: int = 8,
        signed: bool = False,
        symmetric: bool = False,
        include_zero: bool = True,
    ) -> None:
        self._validate(scale, zero_point, Mode(axis, block_size, bits, signed, symmetric, include_zero, qmin, qmax))

    def _validate(self, scale: Any, zero_point: Any, mode: Mode) -> None:
        s = _as_scale(scale)
        shape = () if isinstance(s, np.float32) else s.shape
        if mode.axis is None and shape:
            raise ValueError(
                f"per-tensor parameters need a scalar scale, got shape {shape}; pass axis= (per channel) "
                "or block_size= (per block) for arrays"
            )
        if mode.axis is not None and mode.block_size is None and len(shape) != 1:
            raise ValueError(f"per-channel parameters need 1-D scale and zero_point, got shape {shape}")
        if mode.block_size is not None and not shape:
            raise ValueError("per-block parameters need arrays of scales and zero points")
        _set(self, "_scale", s)
        _set(self, "_zero_point", _as_zero_point(zero_point, shape))
        _set(self, "_mode", mode)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("QParams is immutable")

    def __reduce__(self) -> Tuple[Any, ...]:
        # Pickle through validation (the immutable __setattr__ rules out slot restoring), so parameters travel
        # to worker processes (Dask, multiprocessing) unchanged.
        return (_restore, (self._scale, self._zero_point, self._mode))

    @classmethod
    def _of(cls, scale: Any, zero_point: Any, mode: Mode) -> "QParams":
        """Params of a mode built elsewhere (a file's header, Zarr attributes): the values are validated."""
        self = object.__new__(cls)
        self._validate(scale, zero_point, mode.with_packed(False))
        return self

    @classmethod
    def _trusted(cls, scale: Any, zero_point: Any, mode: Mode) -> "QParams":
        """Params whose values are known valid for ``mode`` (the kernels chose them, or another QParams
        holds them): no validation pass and no copies; arrays are made read-only."""
        self = object.__new__(cls)
        if isinstance(scale, np.ndarray):
            scale.setflags(write=False)
            zero_point.setflags(write=False)
        _set(self, "_scale", scale)
        _set(self, "_zero_point", zero_point)
        _set(self, "_mode", mode)
        return self

    @classmethod
    def _per_tensor_u8(cls, scale: float, zero_point: int) -> "QParams":
        """Default-mode per-tensor params from values the kernels produced (already valid): no checks."""
        self = object.__new__(cls)
        _set(self, "_scale", np.float32(scale))
        _set(self, "_zero_point", zero_point)
        _set(self, "_mode", DEFAULT)
        return self

    def _with_axis(self, axis: Optional[int]) -> "QParams":
        """These parameters with ``axis`` normalised (the same axis of the same array): not re-validated."""
        if axis == self._mode.axis:
            return self
        return QParams._trusted(self._scale, self._zero_point, self._mode.with_axis(axis))

    # -- fields (the mode's are in ModeFields). DaskQuantizedArray and QuantizedArray have look-alike scale and
    # zero_point properties: each documents what it holds there (lazy dask arrays, the params' values).
    @property
    def scale(self) -> Any:
        """``np.float32`` per tensor; a read-only ``float32`` array per channel or block."""
        return self._scale

    @property
    def zero_point(self) -> Any:
        """``int`` per tensor; a read-only ``int32`` array per channel or block."""
        return self._zero_point

    # -- value semantics
    def _key(self) -> Tuple[Any, ...]:
        def h(v: Any) -> Any:
            return (v.shape, v.tobytes()) if isinstance(v, np.ndarray) else v

        return (h(self._scale), h(self._zero_point), self._mode)

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
        m = self._mode
        return f"QParams({body}, {', '.join(m.keywords(scheme=True) + [f'qmin={m.qmin}, qmax={m.qmax}'])})"

    def replace(self, **changes: Any) -> "QParams":
        """A copy with some fields changed (validated again)."""
        m = self._mode
        fields = dict(scale=self._scale, zero_point=self._zero_point, qmin=m.qmin, qmax=m.qmax, axis=m.axis,
                      block_size=m.block_size, bits=m.bits, signed=m.signed, symmetric=m.symmetric,
                      include_zero=m.include_zero)
        fields.update(changes)
        return QParams(**fields)

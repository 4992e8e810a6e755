"""The public functions: validation and messages here, the loops in ``qaffine._core``."""

from __future__ import annotations

import operator
from typing import Any, NamedTuple, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core, _packing
from ._params import QParams, code_range

__all__ = [
    "QuantizedArray",
    "choose_qparams",
    "dequantize",
    "get_num_threads",
    "minmax",
    "quantize",
    "set_buffer_cache",
    "set_num_threads",
    "simd_level",
]

_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_FAST_DTYPES = frozenset(_FLOAT_DTYPES)  # native byte order only: '>f4' is not equal to these
_U8 = np.dtype(np.uint8)
_COMPAT = ("onnx", "torch")
_BIG = int(_core.BUFFER_CACHE_MIN_BYTES)  # results this large come from the buffer cache
_core_empty = _core.empty
# Kernel roundings (csrc/include/qaffine/quantize.hpp): x / s, x * (1/s), fma(x, 1/s, z).
_DIVIDE, _MULTIPLY, _FUSED = _core.Rounding.divide, _core.Rounding.multiply, _core.Rounding.fused
_U8_SCHEME = _core.Scheme(0, 255, False, True)
_NON_FINITE = (_core.FoundNaN, _core.FoundInf)


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


def _bad_values_error(a: np.ndarray) -> ValueError:
    """The error for a dynamic call that met NaN or ±Inf: NaN first, whichever thread saw what."""
    return _nan_error(a) if np.isnan(a).any() else _inf_error(a)


def _check_out_layout(out: np.ndarray, shape: Tuple[int, ...]) -> None:
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if not out.flags.aligned:
        raise ValueError("out must be aligned")


def _codes_out(out: Any, a: np.ndarray, dtype: np.dtype[Any], original: Any = None) -> np.ndarray:
    """Validates out= (or allocates); `original` is the caller's x when `a` is a converted copy of it."""
    if out is None:
        return _empty(a.shape, dtype, a.size * dtype.itemsize)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray of {dtype}, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype}, got {out.dtype}")
    _check_out_layout(out, a.shape)
    if np.may_share_memory(out, a) or (isinstance(original, np.ndarray) and np.may_share_memory(out, original)):
        raise ValueError("out overlaps x; pass a separate buffer")
    return out


def _is_double(v: Any) -> bool:
    """float64 arithmetic for np.float64 scalars and arrays; Python floats follow float32 (ONNX) rules."""
    return type(v) is not float and np.asarray(v).dtype == np.float64  # np.float64 subclasses float


def _as_bounds(v: Any, name: str) -> np.ndarray:
    if isinstance(v, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise TypeError(f"{name} must be a real number or an array of them, got {type(v).__name__}")
    arr = np.asarray(v)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):  # a signaling NaN is reported below, not warned about
        arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} is NaN{_where(np.isnan(arr))}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} is infinite{_where(np.isinf(arr))}; a quantization range must be finite")
    return arr


def _int_option(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _bool_option(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _norm_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dimension(s)")
    return axis % ndim


class _Mode(NamedTuple):
    axis: Optional[int]  # normalized
    block_size: Optional[int]
    bits: int
    signed: bool
    symmetric: bool
    include_zero: bool
    qmin: int
    qmax: int


def _mode(
    ndim: int,
    params: Optional[QParams],
    axis: Optional[int],
    block_size: Optional[int],
    bits: Optional[int],
    signed: Optional[bool],
    symmetric: Optional[bool],
    include_zero: Optional[bool],
) -> _Mode:
    """The quantization mode from the keywords, or from params (keywords given too must agree)."""
    if axis is not None:
        axis = _norm_axis(_int_option(axis, "axis"), ndim)
    if block_size is not None:
        block_size = _int_option(block_size, "block_size")
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        if axis is None and params is None:
            if ndim == 0:
                raise ValueError("block_size needs an array with at least one dimension")
            axis = ndim - 1
    if bits is not None:
        bits = _int_option(bits, "bits")
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be between 1 and 8, got {bits}")
    for value, name in ((signed, "signed"), (symmetric, "symmetric"), (include_zero, "include_zero")):
        if value is not None:
            _bool_option(value, name)
    if params is not None:
        p_axis = None if params.axis is None else _norm_axis(params.axis, ndim)
        given: dict[str, Any] = {"axis": axis, "block_size": block_size, "bits": bits, "signed": signed, "symmetric": symmetric,
                 "include_zero": include_zero}
        held: dict[str, Any] = {"axis": p_axis, "block_size": params.block_size, "bits": params.bits, "signed": params.signed,
                "symmetric": params.symmetric, "include_zero": params.include_zero}
        for key, value in given.items():
            if value is not None and value != held[key]:
                if key == "axis" and block_size is not None and params.block_size is not None and value == p_axis:
                    continue
                raise ValueError(f"{key}={value!r} disagrees with params.{key}={held[key]!r}; pass one or the other")
        return _Mode(p_axis, params.block_size, params.bits, params.signed, params.symmetric,
                     params.include_zero, params.qmin, params.qmax)
    bits = 8 if bits is None else bits
    signed = bool(signed) if signed is not None else False
    symmetric = bool(symmetric) if symmetric is not None else False
    include_zero = bool(include_zero) if include_zero is not None else True
    if symmetric and not include_zero:
        raise ValueError("symmetric=True always includes 0 in the range; it cannot be used with include_zero=False")
    qmin, qmax = code_range(bits, signed)
    return _Mode(axis, block_size, bits, signed, symmetric, include_zero, qmin, qmax)


def _scheme(mode: _Mode) -> "_core.Scheme":
    return _core.Scheme(mode.qmin, mode.qmax, mode.symmetric, mode.include_zero)


class _Layout(NamedTuple):
    outer: int
    channels: int
    inner: int
    block: int  # 0 = per channel
    params_shape: Tuple[int, ...]


def _layout(shape: Tuple[int, ...], axis: int, block_size: Optional[int]) -> _Layout:
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    channels = shape[axis]
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    if block_size is None:
        return _Layout(outer, channels, inner, 0, (channels,))
    block = min(block_size, max(channels, 1))  # any block_size >= n is one block (even beyond 2**64)
    nb = -(-channels // block)
    return _Layout(outer, channels, inner, block, shape[:axis] + (nb,) + shape[axis + 1:])


def _kernel_input(a: np.ndarray) -> np.ndarray:
    """C-contiguous float32/float64 for the per-channel/per-block kernels (float16 widened exactly)."""
    return np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float16 else a.dtype)


def _rounding(compat: Any, per_tensor: bool) -> "_core.Rounding":
    if compat not in _COMPAT:
        raise ValueError(f"compat must be 'onnx' or 'torch', got {compat!r}")
    if compat == "onnx":
        return _DIVIDE
    # torch.quantize_per_tensor (FBGEMM) rounds fma(x, 1/s, z); quantize_per_channel rounds (x * (1/s)) + z.
    return _FUSED if per_tensor else _MULTIPLY


def _params_of(mode: _Mode, scale: Any, zero_point: Any) -> QParams:
    """QParams for parameters the kernels chose (already valid: no second validation pass)."""
    return QParams._from_kernel(scale, zero_point, mode.qmin, mode.qmax, mode.axis, mode.block_size, mode.bits,
                                mode.signed, mode.symmetric, mode.include_zero)


def _check_params_shape(p: QParams, expected: Tuple[int, ...]) -> None:
    shape = np.shape(p.scale)
    if shape != expected:
        raise ValueError(f"params hold scales of shape {shape}, but this array needs {expected}")


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


def get_num_threads() -> int:
    """Threads a qaffine call may use (the calling thread included).

    The default is the number of CPUs this process may run on, or ``QAFFINE_NUM_THREADS`` if set.
    Arrays are split only above 128 Ki elements per thread, and results are byte-identical for any
    thread count.

    >>> import qaffine as qa
    >>> qa.get_num_threads() >= 1
    True
    """
    return int(_core.get_num_threads())


def _empty(shape: Tuple[int, ...], dtype: np.dtype[Any], nbytes: int) -> np.ndarray:
    """np.empty, from the buffer cache for large results (no page faults when a dropped one is reused)."""
    return _core_empty(shape, dtype) if nbytes >= _BIG else np.empty(shape, dtype=dtype)


def set_buffer_cache(max_bytes: Optional[int]) -> int:
    """Sets how many bytes of dropped large results qaffine keeps for reuse; returns the previous limit.

    A new multi-megabyte array costs the operating system a page fault and a page of zeros per 4 KiB on
    first touch, often more than the quantization itself. Results of 4 MiB or more therefore come from a
    cache of buffers that earlier results no longer use (a buffer returns to it when its last array is
    garbage-collected). The default limit is 1 GiB (``QAFFINE_BUFFER_CACHE_MB``); a buffer idle for 10 s
    goes back to the system at the next large allocation. ``0`` turns the cache off and frees what it
    holds; ``None`` restores 1 GiB. Results never share memory: a buffer is reused only once no array
    refers to it.

    >>> import qaffine as qa
    >>> old = qa.set_buffer_cache(0)     # off: every result is a fresh allocation
    >>> qa.set_buffer_cache(old)
    0
    """
    if max_bytes is None:
        max_bytes = 1 << 30
    if isinstance(max_bytes, (bool, np.bool_)) or not isinstance(max_bytes, (int, np.integer)):
        raise TypeError(f"max_bytes must be a non-negative integer or None, got {max_bytes!r}")
    if int(max_bytes) < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    return int(_core.set_buffer_cache(int(max_bytes)))


def set_num_threads(n: Optional[int]) -> None:
    """Sets the threads a qaffine call may use; ``None`` restores the default.

    Takes effect for calls that start afterwards, in every Python thread.

    >>> import qaffine as qa
    >>> qa.set_num_threads(1); qa.get_num_threads()
    1
    >>> qa.set_num_threads(None)
    """
    if n is None:
        _core.set_num_threads(0)
        return
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be a positive integer or None, got {n!r}")
    if not 1 <= int(n) <= 1024:
        raise ValueError(f"n must be between 1 and 1024, got {n}")
    _core.set_num_threads(int(n))


def minmax(
    x: npt.ArrayLike, *, axis: Optional[int] = None, block_size: Optional[int] = None
) -> Tuple[Any, Any]:
    """Smallest and largest value of ``x``, in one pass, in ``x``'s dtype.

    Per tensor (default) two scalars; with ``axis`` one pair per index along that axis, with
    ``block_size`` one pair per block (arrays shaped like the parameters of :func:`quantize`).
    Raises ``ValueError`` if ``x`` is empty or contains NaN (the message names an index);
    infinities are ordinary values. A zero result is ``+0.0``.

    >>> import numpy as np, qaffine as qa
    >>> qa.minmax(np.float32([0.5, -2.0, 3.25]))
    (np.float32(-2.0), np.float32(3.25))
    >>> qa.minmax(np.float32([[1, 5], [-3, 2]]), axis=0)   # one pair per row
    (array([ 1., -3.], dtype=float32), array([5., 2.], dtype=float32))
    """
    a = _as_float_array(x)
    if a.size == 0:
        raise ValueError("minmax of an empty array is undefined")
    mode = _mode(a.ndim, None, axis, block_size, None, None, None, None)
    if mode.axis is None:
        lo, hi, has_nan = _core.minmax(a)
        if has_nan:
            raise _nan_error(a)
        t = a.dtype.type
        return t(lo), t(hi)
    lay = _layout(a.shape, mode.axis, mode.block_size)
    lo_g, hi_g, has_nan = _core.minmax_groups(_kernel_input(a), _core.Layout(lay.outer, lay.channels, lay.inner, lay.block))
    if has_nan:
        raise _nan_error(a)
    return lo_g.astype(a.dtype).reshape(lay.params_shape), hi_g.astype(a.dtype).reshape(lay.params_shape)


def choose_qparams(
    lo: Any,
    hi: Any,
    *,
    axis: Optional[int] = None,
    block_size: Optional[int] = None,
    bits: int = 8,
    signed: bool = False,
    symmetric: bool = False,
    include_zero: bool = True,
) -> QParams:
    """Scale and zero point for values in ``[lo, hi]`` — by default the ONNX ``DynamicQuantizeLinear`` rules.

    The range is widened to contain 0; ``scale = (hi - lo) / (qmax - qmin)`` and
    ``zero_point = round_half_even(clamp(qmin - lo / scale, qmin, qmax))``. ``symmetric=True``: zero point
    at the middle code, ``scale = max(|lo|, |hi|) / ((qmax - qmin) / 2)``. ``include_zero=False``: the
    tight range ``[lo, hi]``, ``zero_point = round_half_even(qmin - lo / scale)`` unclamped.
    ``bits``/``signed`` set the code range. Arithmetic is float32 (bit-exact with ONNX) unless ``lo`` or
    ``hi`` is ``np.float64`` data; the scale is float32 either way. ``lo == hi == 0`` gives
    ``scale = 1/255, zero_point = 0`` as ONNX does. Arrays of bounds (from ``qa.minmax(x, axis=...)``)
    give per-channel (``axis``) or per-block (``block_size``) parameters.

    >>> import numpy as np, qaffine as qa
    >>> qa.choose_qparams(np.float32(-1.0), np.float32(1.0))
    QParams(scale=0.007843137718737125, zero_point=127, qmin=0, qmax=255)
    >>> qa.choose_qparams(np.float32(-1.0), np.float32(1.0), bits=4, signed=True, symmetric=True)
    QParams(scale=0.13333334028720856, zero_point=0, bits=4, signed=True, symmetric=True, qmin=-8, qmax=7)
    """
    lo_a, hi_a = _as_bounds(lo, "lo"), _as_bounds(hi, "hi")
    if lo_a.shape != hi_a.shape:
        raise ValueError(f"lo and hi have different shapes {lo_a.shape} and {hi_a.shape}")
    if (lo_a > hi_a).any():
        bad = lo_a > hi_a
        raise ValueError(f"lo must be <= hi{_where(bad)}, got lo={lo_a[bad].flat[0]!r} > hi={hi_a[bad].flat[0]!r}")
    per_tensor = axis is None and block_size is None
    if per_tensor and lo_a.ndim != 0:
        raise ValueError("arrays of bounds need axis= (per channel) or block_size= (per block)")
    if not per_tensor and lo_a.ndim == 0:
        raise ValueError("axis= and block_size= need arrays of bounds, e.g. from qa.minmax(x, axis=...)")
    if block_size is None and axis is not None:
        # Per channel: the bounds are 1-D whatever x's rank, so `axis` (x's axis) is kept as given and
        # resolved against x when quantizing.
        if lo_a.ndim != 1:
            raise ValueError(f"per-channel bounds must be 1-D, got shape {lo_a.shape}")
        axis_kept = _int_option(axis, "axis")
        mode = _mode(1, None, None, None, bits, signed, symmetric, include_zero)._replace(axis=axis_kept)
    else:
        mode = _mode(max(lo_a.ndim, 1), None, axis, block_size, bits, signed, symmetric, include_zero)
    in_double = _is_double(lo) or _is_double(hi)
    if per_tensor:
        scale, zero_point = _core.choose_qparams(float(lo_a), float(hi_a), _scheme(mode), in_double)
        return _params_of(mode, np.float32(scale), int(zero_point))
    scale_a, zp_a = _core.choose_qparams_array(lo_a.reshape(-1), hi_a.reshape(-1), _scheme(mode), in_double)
    return _params_of(mode, scale_a.reshape(lo_a.shape), zp_a.reshape(lo_a.shape))


class QuantizedArray:
    """Integer codes plus the :class:`QParams` that map them back to floats.

    ``values`` holds the codes (``uint8``, or ``int8`` if signed) in the input's shape, or, with
    ``packed=True``, the packed bytes (1-D ``uint8``) while ``shape`` keeps the logical shape.

    >>> import numpy as np, qaffine as qa
    >>> q = qa.quantize(np.float32([0.0, 1.0, 2.0]))
    >>> q.values, q.zero_point
    (array([  0, 127, 255], dtype=uint8), 0)
    >>> q.dequantize()
    array([0.       , 0.9960785, 2.       ], dtype=float32)
    """

    __slots__ = ("_packed", "_params", "_raw", "_shape", "_values")
    _params: Optional[QParams]  # None until first use when made by qa.quantize(x) (see _trusted_u8)
    _raw: Tuple[float, int]

    def __init__(
        self,
        values: np.ndarray,
        params: QParams,
        *,
        shape: Optional[Tuple[int, ...]] = None,
        packed: bool = False,
    ) -> None:
        if not isinstance(params, QParams):
            raise TypeError("params must be a qaffine.QParams")
        if not isinstance(values, np.ndarray):
            raise TypeError("values must be a numpy.ndarray")
        if packed:
            _packing.container_bits(params.bits)
            if values.dtype != np.uint8 or values.ndim != 1:
                raise TypeError("packed values must be a 1-D uint8 array")
            if shape is None:
                raise ValueError("packed values need the logical shape")
            shape = tuple(operator.index(d) for d in shape)
            if any(d < 0 for d in shape):
                raise ValueError(f"shape must hold sizes >= 0, got {shape}")
            count = 1
            for d in shape:  # Python ints: no wrap-around
                count *= d
            if values.size != _packing.packed_size(count, params.bits):
                raise ValueError(f"{values.size} packed bytes do not hold {shape} {params.bits}-bit codes")
        else:
            if values.dtype != params.dtype:
                raise TypeError(f"values must have dtype {params.dtype} for these params, got {values.dtype}")
            if shape is not None and tuple(shape) != values.shape:
                raise ValueError(f"shape {tuple(shape)} does not match values of shape {values.shape}")
            shape = values.shape
        self._values = values
        self._params = params
        self._shape = shape
        self._packed = bool(packed)

    @classmethod
    def _trusted(cls, values: np.ndarray, params: QParams) -> "QuantizedArray":
        """Unpacked codes made by the kernels for these params: no checks."""
        self = object.__new__(cls)
        self._values = values
        self._params = params
        self._shape = values.shape
        self._packed = False
        return self

    @classmethod
    def _trusted_u8(cls, values: np.ndarray, scale: float, zero_point: int) -> "QuantizedArray":
        """Default-mode per-tensor codes from qa.quantize(x)'s kernel: the QParams are built on first use
        (0.8 µs that a call which only wants the codes does not pay)."""
        self = object.__new__(cls)
        self._values = values
        self._params = None
        self._raw = (scale, zero_point)
        self._shape = values.shape
        self._packed = False
        return self

    @property
    def values(self) -> np.ndarray:
        """The codes in the input's shape, or the packed bytes if ``packed``."""
        return self._values

    @property
    def params(self) -> QParams:
        """The parameters used."""
        p = self._params
        if p is None:
            p = self._params = QParams._per_tensor_u8(*self._raw)
        return p

    @property
    def scale(self) -> Any:
        """``params.scale``: ``np.float32``, or a ``float32`` array per channel/block."""
        return self.params.scale

    @property
    def zero_point(self) -> Any:
        """``params.zero_point``: ``int``, or an ``int32`` array per channel/block."""
        return self.params.zero_point

    @property
    def shape(self) -> Tuple[int, ...]:
        """The logical shape (the input's)."""
        return tuple(self._shape)

    @property
    def packed(self) -> bool:
        return self._packed

    @property
    def nbytes(self) -> int:
        """Bytes of code storage."""
        return int(self._values.nbytes)

    def codes(self) -> np.ndarray:
        """The codes in the logical shape (unpacked if needed)."""
        if not self._packed:
            return self._values
        return _packing.unpack(self._values, self.params.bits, self.params.signed, self.shape)

    def dequantize(self, dtype: Optional[npt.DTypeLike] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """``scale * (codes - zero_point)``; see :func:`qaffine.dequantize`."""
        return dequantize(self, dtype=dtype, out=out)

    def __repr__(self) -> str:
        p = self.params
        if isinstance(p.scale, np.ndarray):
            params = f"scale=<{p.scale.shape}>, zero_point=<{p.scale.shape}>"
        else:
            params = f"scale={float(p.scale)!r}, zero_point={p.zero_point}"
        extra = [f"{k}={v!r}" for k, v in (("axis", p.axis), ("block_size", p.block_size)) if v is not None]
        if p.bits != 8:
            extra.append(f"bits={p.bits}")
        if p.signed:
            extra.append("signed=True")
        if self._packed:
            extra.append("packed=True")
        return f"QuantizedArray(shape={self.shape}, {', '.join([params] + extra)})"


def quantize(
    x: npt.ArrayLike,
    params: Optional[QParams] = None,
    *,
    axis: Optional[int] = None,
    block_size: Optional[int] = None,
    bits: Optional[int] = None,
    signed: Optional[bool] = None,
    symmetric: Optional[bool] = None,
    include_zero: Optional[bool] = None,
    compat: str = "onnx",
    packed: bool = False,
    out: Optional[np.ndarray] = None,
) -> QuantizedArray:
    """Quantize float data to integer codes: ``q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax)``.

    Without ``params`` (dynamic): the range, scale, zero point and codes are those of ONNX
    ``DynamicQuantizeLinear``, bit for bit; NaN, infinities and empty input raise ``ValueError``.
    With ``params`` (static): codes as ONNX ``QuantizeLinear``; infinities and huge values saturate to
    qmin / qmax; NaN raises ``ValueError``; empty input gives empty codes. Mode keywords given with
    ``params`` must agree with it.

    Modes (keyword-only): ``axis=k`` one (scale, zero point) per index along axis k; ``block_size=B`` one
    per B consecutive values along ``axis`` (default the last); ``bits=1..8``; ``signed=True`` for int8
    codes; ``symmetric=True``; ``include_zero=False`` for the tight range; ``compat='torch'`` rounds as
    PyTorch does (multiplying by the float32 reciprocal of the scale); ``packed=True`` (bits <= 4) packs
    the codes, lowest bits first.

    ``x`` is anything ``np.asarray`` accepts holding float16, float32 or float64 (any layout);
    float64 is computed in float64. ``out``, if given, must be a writeable, C-contiguous array of the code
    dtype and ``x``'s shape that does not overlap ``x``; the result's ``values`` is then ``out``.

    >>> import numpy as np, qaffine as qa
    >>> q = qa.quantize(np.float32([0.283, 3.34]))
    >>> q.values, q.scale, q.zero_point
    (array([ 22, 255], dtype=uint8), np.float32(0.013098039), 0)
    >>> w = np.float32([[0.1, -0.2, 0.3], [1.0, 2.0, -4.0]])
    >>> qa.quantize(w, axis=0, bits=4, signed=True, symmetric=True).values
    array([[ 2, -5,  7],
           [ 2,  4, -7]], dtype=int8)
    """
    if (
        type(x) is np.ndarray
        and params is None
        and x.dtype in _FAST_DTYPES
        and x.size
        and axis is None and block_size is None and bits is None and signed is None
        and symmetric is None and include_zero is None and compat == "onnx" and packed is False
        and (out is None or (type(out) is np.ndarray and out.dtype == _U8 and out.shape == x.shape
                             and out.flags.writeable and not np.may_share_memory(out, x)))
    ):
        # The common call, qa.quantize(x[, out=]): one kernel call; _core checks out's layout.
        codes = _empty(x.shape, _U8, x.size) if out is None else out
        try:
            scale, zero_point = _core.quantize_dynamic(x, _U8_SCHEME, _DIVIDE, codes)
        except _NON_FINITE:
            pass
        else:
            return QuantizedArray._trusted_u8(codes, scale, zero_point)
    a = _as_float_array(x)
    if params is not None and not isinstance(params, QParams):
        raise TypeError(
            f"params must be a qaffine.QParams (e.g. qa.choose_qparams(lo, hi)), got {type(params).__name__}"
        )
    mode = _mode(a.ndim, params, axis, block_size, bits, signed, symmetric, include_zero)
    packed = _bool_option(packed, "packed")
    if packed:
        _packing.container_bits(mode.bits)
        if out is not None:
            raise ValueError("out= cannot be combined with packed=True; the packed bytes are a new array")
    rounding = _rounding(compat, mode.axis is None)
    dtype = np.dtype(np.int8 if mode.signed else np.uint8)
    codes = _codes_out(out, a, dtype, x)
    if params is None and a.size == 0:
        raise ValueError(
            "cannot quantize an empty array dynamically: its range is undefined; pass params= for static quantization"
        )
    if mode.axis is None:
        if params is None:
            try:
                scale, zero_point = _core.quantize_dynamic(a, _scheme(mode), rounding, codes)
            except _NON_FINITE:
                raise _bad_values_error(a) from None
            p = _params_of(mode, np.float32(scale), int(zero_point))
        else:
            p = params
            if _core.quantize(a, float(p.scale), p.zero_point, _scheme(mode), rounding, codes):
                raise _nan_error(a)
    else:
        lay = _layout(a.shape, mode.axis, mode.block_size)
        xk = _kernel_input(a)
        if params is None:
            try:
                scale_g, zp_g = _core.quantize_dynamic_groups(
                    xk, _core.Layout(lay.outer, lay.channels, lay.inner, lay.block), _scheme(mode), rounding, codes)
            except _NON_FINITE:
                raise _bad_values_error(a) from None
            p = _params_of(mode, scale_g.reshape(lay.params_shape), zp_g.reshape(lay.params_shape))
        else:
            p = params
            _check_params_shape(p, lay.params_shape)
            if _core.quantize_groups(xk, _core.Layout(lay.outer, lay.channels, lay.inner, lay.block),
                                     p.scale.reshape(-1), p.zero_point.reshape(-1), _scheme(mode), rounding, codes):
                raise _nan_error(a)
        if mode.axis != p.axis:
            p = p.replace(axis=mode.axis)
    if packed:
        return QuantizedArray(_packing.pack(codes, mode.bits), p, shape=a.shape, packed=True)
    return QuantizedArray(codes, p)


def dequantize(
    q: Union[QuantizedArray, npt.ArrayLike],
    params: Optional[QParams] = None,
    *,
    dtype: Optional[npt.DTypeLike] = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Codes back to floats: ``scale * (q - zero_point)``, as ONNX ``DequantizeLinear``.

    ``q`` is a :class:`QuantizedArray` (any mode, packed or not), or codes (``uint8``, or ``int8`` for
    signed params) together with ``params``. ``dtype`` is float32 (default) or float64; ``out``, if given,
    must be a writeable, C-contiguous array of that dtype and the codes' shape, and is returned.

    >>> import numpy as np, qaffine as qa
    >>> p = qa.QParams(scale=np.float32(0.5), zero_point=10)
    >>> qa.dequantize(np.uint8([10, 11, 0]), p)
    array([ 0. ,  0.5, -5. ], dtype=float32)
    """
    if isinstance(q, QuantizedArray):
        if params is not None:
            raise TypeError("params is already part of a QuantizedArray; pass one or the other")
        codes, p = q.codes(), q.params
    else:
        if params is None:
            raise TypeError("dequantize(codes, params) needs params (a qaffine.QParams)")
        if not isinstance(params, QParams):
            raise TypeError(f"params must be a qaffine.QParams, got {type(params).__name__}")
        p = params
        codes = q if isinstance(q, np.ndarray) else np.asarray(q)
        if codes.dtype != p.dtype:
            raise TypeError(f"codes must have dtype {p.dtype} for these params, got {codes.dtype}")
    if dtype is None:
        dt = out.dtype if isinstance(out, np.ndarray) else np.dtype(np.float32)
    else:
        dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dequantize produces float32 or float64, got dtype {dt}")
    if out is None:
        result = _empty(codes.shape, dt, codes.size * dt.itemsize)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != dt:
            raise TypeError(f"out has dtype {out.dtype}, expected {dt}")
        _check_out_layout(out, codes.shape)
        if np.may_share_memory(out, codes):
            raise ValueError("out overlaps the codes; pass a separate buffer")
        result = out
    if p.axis is None:
        _core.dequantize(codes, float(p.scale), p.zero_point, result)
        return result
    lay = _layout(codes.shape, _norm_axis(p.axis, codes.ndim), p.block_size)
    _check_params_shape(p, lay.params_shape)
    _core.dequantize_groups(np.ascontiguousarray(codes), _core.Layout(lay.outer, lay.channels, lay.inner, lay.block),
                            p.scale.reshape(-1), p.zero_point.reshape(-1), result)
    return result

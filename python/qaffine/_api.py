"""The public functions: validation and messages here, the loops in ``qaffine._core``."""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, NamedTuple, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _core, _kernels, _packing, _tensors
from ._finite import at, bad_value_error, first_bad, first_true, unravel
from ._mode import DEFAULT, Mode
from ._params import QParams

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
_BIG = int(_core.BUFFER_CACHE_MIN_BYTES)  # results this large come from the buffer cache
_core_empty = _core.empty
_EMPTY_DYNAMIC = ("cannot quantize an empty array dynamically: its range is undefined; pass params= for static "
                  "quantization")


# ---------------------------------------------------------------------------------------------- helpers
def _as_float_array(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as an array if it holds float16/32/64 (made native-endian) or bfloat16 (ml_dtypes arrays, torch
    tensors: a native :class:`_tensors.Bf16Bits` view of the bits), else TypeError. torch tensors and DLPack
    objects on the CPU are read in place (see _tensors.as_input)."""
    a = _tensors.as_input(x, name)
    if type(a) is _tensors.Bf16Bits:
        return a
    if a.dtype.kind != "f" or a.dtype.newbyteorder("=") not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must hold float16, bfloat16, float32 or float64 values, got dtype {a.dtype}; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _bad_values(a: np.ndarray, nan: bool = True, inf: bool = True) -> ValueError:
    """The error for x that the kernels found NaN (else an infinity) in; ``nan``/``inf`` False skip a scan
    that the exception the kernel raised (FoundNaN / FoundInf) rules out."""
    found = first_bad(a, nan=nan, inf=inf)
    assert found is not None, "the kernels reported a value that NumPy does not see"
    return bad_value_error(found[0], unravel(found[1], a.shape))


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
    arr = _tensors.as_input(v, name)  # bfloat16 bounds (qa.minmax of bfloat16 data) and tensors too
    if type(arr) is _tensors.Bf16Bits:
        arr = _tensors.widen(arr)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):  # a signaling NaN is reported below, not warned about
        arr = arr.astype(np.float64)
    found = first_bad(arr)
    if found is not None:
        where = at(unravel(found[1], arr.shape))
        if found[0]:
            raise ValueError(f"{name} is NaN{where}")
        raise ValueError(f"{name} is infinite{where}; a quantization range must be finite")
    return arr


def _mode(
    shape: Tuple[int, ...],
    params: Optional[QParams],
    axis: Any,
    block_size: Any,
    bits: Any,
    signed: Any,
    symmetric: Any,
    include_zero: Any,
) -> Mode:
    """The mode of a call on an array of ``shape``, resolved against it: from the keywords, or from params
    (whose mode is trusted; keywords given too must agree)."""
    if params is not None and not isinstance(params, QParams):
        raise TypeError(
            f"params must be a qaffine.QParams (e.g. qa.choose_qparams(lo, hi)), got {type(params).__name__}"
        )
    given = not (axis is None and block_size is None and bits is None and signed is None and symmetric is None
                 and include_zero is None)
    if params is not None:
        mode = params._mode.resolved(shape)
        if given:
            mode.check_agrees(shape, axis, block_size, bits, signed, symmetric, include_zero)
        return mode
    if not given:
        return DEFAULT
    return Mode(axis, block_size, bits, signed, symmetric, include_zero).resolved(shape)


def _check_params_shape(p: QParams, expected: Tuple[int, ...]) -> None:
    shape = np.shape(p.scale)
    if shape != expected:
        raise ValueError(f"params hold scales of shape {shape}, but this array needs {expected}")


# ------------------------------------------------------------------------------------------------ API
def simd_level() -> str:
    """The SIMD level the kernels use: ``'avx512'``, ``'avx2'`` (x86-64), ``'neon'`` (aarch64) or ``'scalar'``.

    The highest level the CPU and OS support, unless lowered by the ``QAFFINE_SIMD`` environment
    variable (read once, at import).

    >>> import qaffine as qa
    >>> qa.simd_level() in ("avx512", "avx2", "neon", "scalar")
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
    x: npt.ArrayLike, *, axis: Optional[int] = None, block_size: Optional[int] = None, range: str = "minmax"
) -> Tuple[Any, Any]:
    """Smallest and largest value of ``x``, in one pass, in ``x``'s dtype.

    Per tensor (default) two scalars; with ``axis`` one pair per index along that axis, with
    ``block_size`` one pair per block (arrays shaped like the parameters of :func:`quantize`).
    Raises ``ValueError`` if ``x`` is empty or contains NaN (the message names an index);
    infinities are ordinary values. A zero result is ``+0.0``. ``range`` names another way to choose the range
    (a method of :class:`qaffine.Observer`, for the default 8-bit scheme): the clipping range that method picks, of
    the finite values, per tensor or per channel; per block (``"minmax"``, ``"moving_average"``, ``"mse"``) each
    block's, as ``qa.quantize(x, range=..., block_size=...)`` chooses it (infinities then raise).

    >>> import numpy as np, qaffine as qa
    >>> qa.minmax(np.float32([0.5, -2.0, 3.25]))
    (np.float32(-2.0), np.float32(3.25))
    >>> qa.minmax(np.float32([[1, 5], [-3, 2]]), axis=0)   # one pair per row
    (array([ 1., -3.], dtype=float32), array([5., 2.], dtype=float32))
    """
    a = _as_float_array(x)
    if a.size == 0:
        raise ValueError("minmax of an empty array is undefined")
    if range != "minmax":
        from . import _calibrate

        _calibrate._check_method(range, "range")
        if block_size is not None:
            lo_b, hi_b = _calibrate.block_ranges(a, range, _mode(a.shape, None, axis, block_size, None, None, None,
                                                                 None))
            t = _result_type(a)
            return lo_b.astype(t), hi_b.astype(t)
        obs = _calibrate.Observer(range, axis=axis).update(a)
        lo_r, hi_r = obs.range()
        if axis is None:
            return a.dtype.type(lo_r), a.dtype.type(hi_r)
        return np.asarray(lo_r).astype(a.dtype), np.asarray(hi_r).astype(a.dtype)
    mode = _mode(a.shape, None, axis, block_size, None, None, None, None)
    if mode.axis is None:
        lo, hi, has_nan = _kernels.minmax(a)
        if has_nan:
            raise _bad_values(a, inf=False)
        t = _result_type(a)
        return t(lo), t(hi)
    lay = mode.layout(a.shape)
    lo_g, hi_g, has_nan = _kernels.minmax_groups(a, lay)
    if has_nan:
        raise _bad_values(a, inf=False)
    t = _result_type(a)
    return lo_g.astype(t).reshape(lay.params_shape), hi_g.astype(t).reshape(lay.params_shape)


def _result_type(a: np.ndarray) -> Any:
    """The scalar type minmax answers in: x's, with bfloat16 as its Bf16Bits says (exact either way)."""
    return a.scalar_type if type(a) is _tensors.Bf16Bits else a.dtype.type


def _range_params(x: Any, params: Optional[QParams], method: Any, axis: Any, block_size: Any, bits: Any,
                  signed: Any, symmetric: Any, include_zero: Any) -> QParams:
    """The parameters ``range=method`` chooses for x (qa.quantize / qa.minmax with a calibration method)."""
    from . import _calibrate

    _calibrate._check_method(method, "range")
    if params is not None:
        raise ValueError("range= chooses the parameters from x; it cannot be combined with params=")
    if block_size is not None:
        _calibrate.check_block_method(method)
    a = _as_float_array(x)
    if a.size == 0:
        raise ValueError(f"cannot choose a range={method!r} for an empty array")
    mode = _mode(a.shape, None, axis, block_size, bits, signed, symmetric, include_zero)
    if block_size is not None:
        return _calibrate.block_params(a, method, mode)
    return _calibrate.observe_params(a, method, mode)


def choose_qparams(
    lo: Any,
    hi: Any = None,
    *,
    # The mode keywords are spelt out in every public signature (help(), IDEs, type checkers); the one
    # validator is Mode.
    axis: Optional[int] = None,
    block_size: Optional[int] = None,
    bits: int = 8,
    signed: bool = False,
    symmetric: bool = False,
    include_zero: bool = True,
    range: Optional[str] = None,
) -> QParams:
    """Scale and zero point for values in ``[lo, hi]`` — by default the ONNX ``DynamicQuantizeLinear`` rules.

    ``qa.choose_qparams(x, range=method, ...)`` (data instead of bounds, no ``hi``) gives the parameters
    ``qa.quantize(x, range=method, ...)`` uses, for any method of :class:`qaffine.Observer` and any mode
    (per tensor, ``axis=``, ``block_size=``; see ``qa.quantize``); ``range="minmax"`` those of ``qa.quantize(x,
    ...)``. Passing ``hi`` too is a ``ValueError``.

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
    >>> w = np.float32([[0.1, -0.2, 0.3, 9.0], [1.0, 2.0, -4.0, 0.5]])
    >>> qa.choose_qparams(w, range="mse", block_size=2, bits=4) == qa.quantize(w, range="mse", block_size=2, bits=4).params
    True
    """
    if range is not None:
        if hi is not None:
            raise ValueError("choose_qparams(x, range=...) chooses the range from the data x; pass no hi (or pass "
                             "bounds lo, hi without range=)")
        return _range_params(lo, None, range, axis, block_size, bits, signed, symmetric, include_zero)
    if hi is None:
        raise TypeError("choose_qparams needs the bounds lo and hi, or data and a method: choose_qparams(x, range=...)")
    lo_a, hi_a = _as_bounds(lo, "lo"), _as_bounds(hi, "hi")
    if lo_a.shape != hi_a.shape:
        raise ValueError(f"lo and hi have different shapes {lo_a.shape} and {hi_a.shape}")
    if (lo_a > hi_a).any():
        bad = lo_a > hi_a
        raise ValueError(f"lo must be <= hi{at(first_true(bad))}, got lo={lo_a[bad].flat[0]!r} > "
                         f"hi={hi_a[bad].flat[0]!r}")
    per_tensor = axis is None and block_size is None
    if per_tensor and lo_a.ndim != 0:
        raise ValueError("arrays of bounds need axis= (per channel) or block_size= (per block)")
    if not per_tensor and lo_a.ndim == 0:
        raise ValueError("axis= and block_size= need arrays of bounds, e.g. from qa.minmax(x, axis=...)")
    mode = Mode(axis, block_size, bits, signed, symmetric, include_zero)
    if block_size is None and axis is not None:
        # Per channel: the bounds are 1-D whatever x's rank, so `axis` (x's axis) is kept as given and
        # resolved against x when quantizing.
        if lo_a.ndim != 1:
            raise ValueError(f"per-channel bounds must be 1-D, got shape {lo_a.shape}")
    else:
        mode = mode.resolved(lo_a.shape if lo_a.ndim else (1,))
    in_double = _is_double(lo) or _is_double(hi)
    if per_tensor:
        scale, zero_point = _kernels.choose_qparams(float(lo_a), float(hi_a), mode, in_double)
        return QParams._trusted(np.float32(scale), int(zero_point), mode)
    scale_a, zp_a = _kernels.choose_qparams_array(lo_a.reshape(-1), hi_a.reshape(-1), mode, in_double)
    return QParams._trusted(scale_a.reshape(lo_a.shape), zp_a.reshape(lo_a.shape), mode)


class QuantizedArray:
    """Integer codes plus the :class:`QParams` that map them back to floats.

    ``values`` holds the codes (``uint8``, or ``int8`` if signed; ``uint16`` / ``int16`` for 9 to 16 bits) in
    the input's shape, or, with
    ``packed=True``, the packed bytes (1-D ``uint8``) while ``shape`` keeps the logical shape.

    >>> import numpy as np, qaffine as qa
    >>> q = qa.quantize(np.float32([0.0, 1.0, 2.0]))
    >>> q.values, q.zero_point
    (array([  0, 127, 255], dtype=uint8), 0)
    >>> q.dequantize()
    array([0.       , 0.9960785, 2.       ], dtype=float32)
    """

    __slots__ = ("_mode", "_params", "_raw", "_shape", "_values")
    _mode: Mode  # the params' mode, with `packed` set
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
        mode = params._mode.with_packed(packed)
        if mode.packed:
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
            if values.size != _packing.packed_size(count, mode.bits):
                raise ValueError(f"{values.size} packed bytes do not hold {shape} {mode.bits}-bit codes")
        else:
            if values.dtype != params.dtype:
                raise TypeError(f"values must have dtype {params.dtype} for these params, got {values.dtype}")
            if shape is not None and tuple(shape) != values.shape:
                raise ValueError(f"shape {tuple(shape)} does not match values of shape {values.shape}")
            shape = values.shape
        self._values = values
        self._params = params
        self._shape = shape
        self._mode = mode

    @classmethod
    def _trusted(cls, values: np.ndarray, params: QParams, mode: Mode, shape: Tuple[int, ...]) -> "QuantizedArray":
        """Codes of an array of ``shape`` made by the kernels for these params (packed if ``mode.packed``):
        no checks."""
        self = object.__new__(cls)
        self._values = values
        self._params = params
        self._shape = shape
        self._mode = mode
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
        self._mode = DEFAULT
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

    # Plain read-only properties, as QParams', DaskQuantizedArray's and ModeFields' (each its own docstring).
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
        return self._mode.packed

    @property
    def nbytes(self) -> int:
        """Bytes of code storage."""
        return int(self._values.nbytes)

    @property
    def ndim(self) -> int:
        """``len(shape)``."""
        return len(self._shape)

    @property
    def size(self) -> int:
        """The number of codes (values of the input), packed or not."""
        return math.prod(self._shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the codes: ``uint8``, or ``int8`` if signed (packed bytes are uint8 either way)."""
        return self._mode.dtype

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d QuantizedArray")
        return int(self._shape[0])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # np.asarray(q) would otherwise give a 0-d object array, silently: say which array was meant.
        raise TypeError("a QuantizedArray holds codes and their parameters, not one array: use q.values "
                        "(the codes) or q.dequantize() (floats)")

    def codes(self) -> np.ndarray:
        """The codes in the logical shape (unpacked if needed)."""
        if not self._mode.packed:
            return self._values
        return _packing.unpack(self._values, self._mode.bits, self._mode.signed, self.shape)

    def dequantize(self, dtype: Optional[npt.DTypeLike] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """``scale * (codes - zero_point)``; see :func:`qaffine.dequantize`."""
        return dequantize(self, dtype=dtype, out=out)

    def __repr__(self) -> str:
        p = self.params
        if isinstance(p.scale, np.ndarray):
            params = f"scale=<{p.scale.shape}>, zero_point=<{p.scale.shape}>"
        else:
            params = f"scale={float(p.scale)!r}, zero_point={p.zero_point}"
        return f"QuantizedArray(shape={self.shape}, {', '.join([params] + self._mode.keywords())})"


def quantize(
    x: npt.ArrayLike,
    params: Optional[QParams] = None,
    *,
    # The mode keywords are spelt out in every public signature (help(), IDEs, type checkers); the one
    # validator is Mode.
    axis: Optional[int] = None,
    block_size: Optional[int] = None,
    bits: Optional[int] = None,
    signed: Optional[bool] = None,
    symmetric: Optional[bool] = None,
    include_zero: Optional[bool] = None,
    compat: str = "onnx",
    packed: bool = False,
    out: Optional[np.ndarray] = None,
    range: str = "minmax",
) -> QuantizedArray:
    """Quantize float data to integer codes: ``q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax)``.

    Without ``params`` (dynamic): the range, scale, zero point and codes are those of ONNX
    ``DynamicQuantizeLinear``, bit for bit; NaN, infinities and empty input raise ``ValueError``.
    With ``params`` (static): codes as ONNX ``QuantizeLinear``; infinities and huge values saturate to
    qmin / qmax; NaN raises ``ValueError``; empty input gives empty codes. Mode keywords given with
    ``params`` must agree with it.

    Modes (keyword-only; ``None`` means the default shown, or the value held by ``params``): ``axis=k`` one
    (scale, zero point) per index along axis k (default None: per tensor); ``block_size=B`` one per B
    consecutive values along ``axis`` (default the last); ``bits=1..16`` (default 8; uint16 / int16 codes
    above 8); ``signed=True`` for int8 codes (default False: uint8); ``symmetric=True`` (default False); ``include_zero=False`` for the tight
    range (default True); ``compat='torch'`` rounds as PyTorch does (multiplying by the float32 reciprocal of
    the scale; default 'onnx'); ``packed=True`` (bits <= 4) packs the codes, lowest bits first. Integer
    options take ``int`` or NumPy integers (not ``8.0`` or ``True``: ``TypeError``).

    ``range`` chooses how the range of dynamic quantization is found: ``"minmax"`` (default, the ONNX rule above),
    or a calibration method of :class:`qaffine.Observer` (``"percentile"``, ``"mse"``, ``"entropy"``,
    ``"moving_average"``); the codes are then those of static quantization with the parameters that method
    chooses (``qa.choose_qparams(x, range=...)``): per tensor and per channel ``qa.Observer(range, ...).update(x)
    .params()`` (infinities saturate); per block ``"minmax"``, ``"moving_average"`` (one batch: the same) or
    ``"mse"``, each block's range chosen from its own values (the direct search of ``qaffine/clip_search.hpp``:
    the least real squared error among the min/max range shrunk by 0, 2, ..., 78 %; NaN and infinities raise).

    ``x`` is anything ``np.asarray`` accepts holding float16, float32 or float64 — NumPy arrays of any
    layout, byte order or alignment, lists, scalars, buffers — or bfloat16 data (``ml_dtypes.bfloat16``
    arrays), or a torch tensor on the CPU of any of these dtypes (``requires_grad`` ones and
    ``nn.Parameter`` too), or another CPU object with ``__dlpack__``; tensors are read in place.
    float64 is computed in float64, float16 and bfloat16 exactly as float32 (widened chunk by chunk
    inside the kernels, never as a whole copy). Other dtypes (integers, bool, complex,
    object) raise ``TypeError``. ``out``, if given, must be a writeable, C-contiguous array of the code
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
    if range != "minmax":
        params = _range_params(x, params, range, axis, block_size, bits, signed, symmetric, include_zero)
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
        if out is not None:
            codes = out
        else:  # _empty, inlined: this call is about a microsecond
            codes = np.empty(x.shape, dtype=_U8) if x.size < _BIG else _core_empty(x.shape, _U8)
        try:
            scale, zero_point = _kernels.quantize_default(x, codes)
        except _kernels.FoundNaN:
            raise _bad_values(x, inf=False) from None
        except _kernels.FoundInf:  # per tensor: no NaN anywhere
            raise _bad_values(x, nan=False) from None
        return QuantizedArray._trusted_u8(codes, scale, zero_point)
    a = _as_float_array(x)
    mode = _mode(a.shape, params, axis, block_size, bits, signed, symmetric, include_zero)
    qmode = mode.with_packed(packed)
    if qmode.packed and out is not None:
        raise ValueError("out= cannot be combined with packed=True; the packed bytes are a new array")
    rounding = mode.kernel_rounding(compat)
    if qmode.packed:
        nbytes = _packing.packed_size(a.size, qmode.bits)
        dest, kernels = _empty((nbytes,), _U8, nbytes), _PACKED_KERNELS  # the kernels write the packed bytes
    else:
        dest, kernels = _codes_out(out, a, mode.dtype, x), _CODE_KERNELS
    return QuantizedArray._trusted(dest, _run_kernels(kernels, a, params, mode, rounding, dest), qmode, a.shape)


class _Kernels(NamedTuple):
    """The four quantize kernels of one kind of destination (codes, or packed bytes), same signatures."""
    dynamic: Callable[..., Tuple[float, int]]
    static: Callable[..., bool]
    dynamic_groups: Callable[..., Tuple[np.ndarray, np.ndarray]]
    static_groups: Callable[..., bool]


_CODE_KERNELS = _Kernels(_kernels.quantize_dynamic, _kernels.quantize, _kernels.quantize_dynamic_groups,
                         _kernels.quantize_groups)
_PACKED_KERNELS = _Kernels(_kernels.quantize_dynamic_packed, _kernels.quantize_packed,
                           _kernels.quantize_dynamic_groups_packed, _kernels.quantize_groups_packed)


def _run_kernels(k: _Kernels, a: np.ndarray, params: Optional[QParams], mode: Mode, rounding: "_core.Rounding",
                 dest: np.ndarray) -> QParams:
    """Codes of ``a`` into ``dest`` (codes or packed bytes, by ``k``): the parameters used, chosen here if
    ``params`` is None; a NaN or an infinity raises its ValueError, naming the first."""
    if params is None and a.size == 0:
        raise ValueError(_EMPTY_DYNAMIC)
    if mode.axis is None:
        if params is None:
            try:
                scale, zero_point = k.dynamic(a, mode, rounding, dest)
            except _kernels.FoundNaN:
                raise _bad_values(a, inf=False) from None
            except _kernels.FoundInf:  # per tensor: no NaN anywhere
                raise _bad_values(a, nan=False) from None
            return QParams._trusted(np.float32(scale), int(zero_point), mode)
        if k.static(a, params, rounding, dest):
            raise _bad_values(a, inf=False)
        return params
    lay = mode.layout(a.shape)
    if params is None:
        try:
            scale_g, zp_g = k.dynamic_groups(a, lay, mode, rounding, dest)
        except _kernels.FoundNaN:
            raise _bad_values(a, inf=False) from None
        except _kernels.FoundInf:  # per group: a NaN may be in another group
            raise _bad_values(a) from None
        return QParams._trusted(scale_g.reshape(lay.params_shape), zp_g.reshape(lay.params_shape), mode)
    _check_params_shape(params, lay.params_shape)
    if k.static_groups(a, lay, params, rounding, dest):
        raise _bad_values(a, inf=False)
    return params._with_axis(mode.axis)  # e.g. choose_qparams(lo, hi, axis=-1): same values, axis resolved


def dequantize(
    q: Union[QuantizedArray, npt.ArrayLike],
    params: Optional[QParams] = None,
    *,
    dtype: Optional[npt.DTypeLike] = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Codes back to floats: ``scale * (q - zero_point)``, as ONNX ``DequantizeLinear``.

    ``q`` is a :class:`QuantizedArray` (any mode, packed or not), or codes (``uint8``, or ``int8`` for
    signed params; ``uint16`` / ``int16`` above 8 bits) together with ``params``. ``dtype`` is float32
    (default), float64, float16 or bfloat16 (``ml_dtypes.bfloat16`` or ``'bfloat16'``, which needs ml_dtypes):
    float16 and bfloat16 hold the float32 result rounded to nearest even (the bits of
    ``result32.astype(dtype)``), written directly by the kernels with no float32 temporary. ``out``, if given,
    must be a writeable, C-contiguous array of that dtype (the default ``dtype`` is then ``out``'s) and the
    codes' shape, and is returned.

    >>> import numpy as np, qaffine as qa
    >>> p = qa.QParams(scale=np.float32(0.5), zero_point=10)
    >>> qa.dequantize(np.uint8([10, 11, 0]), p)
    array([ 0. ,  0.5, -5. ], dtype=float32)
    """
    packed: Optional[np.ndarray] = None  # the packed bytes, read by the kernels directly
    if isinstance(q, QuantizedArray):
        if params is not None:
            raise TypeError("params is already part of a QuantizedArray; pass one or the other")
        p = q.params
        if q.packed:
            packed = np.ascontiguousarray(q.values)
            codes = np.broadcast_to(np.zeros((), dtype=q.dtype), q.shape)  # shape and dtype only: no codes made
        else:
            codes = q.values
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
        dt, _ = _tensors.out_dtype(out.dtype) if isinstance(out, np.ndarray) else (np.dtype(np.float32), False)
    else:
        dt, _ = _tensors.out_dtype(dtype)
    if out is None:
        result = _empty(codes.shape, dt, codes.size * dt.itemsize)
    else:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != dt:
            raise TypeError(f"out has dtype {out.dtype}, expected {dt}")
        _check_out_layout(out, codes.shape)
        if np.may_share_memory(out, codes if packed is None else packed):
            raise ValueError("out overlaps the codes; pass a separate buffer")
        result = out
    mode = p._mode
    if packed is not None:
        assert isinstance(q, QuantizedArray)
        if mode.axis is None:
            _kernels.dequantize_packed(packed, q._mode, p, result)
            return result
        lay = mode.resolved(codes.shape).layout(codes.shape)
        _check_params_shape(p, lay.params_shape)
        _kernels.dequantize_groups_packed(packed, lay, q._mode, p, result)
        return result
    if mode.axis is None:
        _kernels.dequantize(codes, p, result)
        return result
    lay = mode.resolved(codes.shape).layout(codes.shape)
    _check_params_shape(p, lay.params_shape)
    _kernels.dequantize_groups(codes, lay, p, result)
    return result

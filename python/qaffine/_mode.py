"""The quantization mode: one validated, immutable description of how floats map to codes.

Every entry point builds a :class:`Mode` — keywords of ``qa.quantize`` / ``qa.choose_qparams`` /
``qa.QParams`` / ``qaffine.dask``, the command line's options, a ``.npz`` header, Zarr attributes — so the
rules (and their messages) live here once; what differs is how an option is spelt in a message
(``bits`` or ``--bits``) and the prefix the caller adds. Parameter *values* (scale, zero point) are
checked by :class:`qaffine.QParams`.

Integer options (``axis``, ``block_size``, ``bits``, ``qmin``, ``qmax``) follow NumPy's index rule: an
``int`` or a NumPy integer, never a bool, a float (``8.0`` too) or a string (``TypeError``). Flags
(``signed``, ``symmetric``, ``include_zero``, ``packed``) are ``bool`` or ``np.bool_``. ``None`` means the
default.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import numpy as np

from . import _core

__all__ = ["DEFAULT", "FLAGS", "KEYWORDS", "Layout", "MAX_BITS", "Mode", "code_dtype", "code_range"]

#: How a message names an option: ``spell("bits")`` -> ``bits``; ``spell("bits", 9)`` -> ``bits=9``.
Spell = Callable[..., str]
_UNSET: Any = object()

# Kernel roundings (csrc/include/qaffine/quantize.hpp): x / s, x * (1/s), fma(x, 1/s, z).
_DIVIDE, _MULTIPLY, _FUSED = _core.Rounding.divide, _core.Rounding.multiply, _core.Rounding.fused
_COMPAT = ("onnx", "torch")


@functools.lru_cache(maxsize=None)
def _kernel_scheme(qmin: int, qmax: int, symmetric: bool, include_zero: bool) -> "_core.Scheme":
    return _core.Scheme(qmin, qmax, symmetric, include_zero)

_U8, _I8 = np.dtype(np.uint8), np.dtype(np.int8)
_U16, _I16 = np.dtype(np.uint16), np.dtype(np.int16)

#: The widest codes: ``bits`` goes up to 16 (uint16 / int16 codes from 9 bits on).
MAX_BITS = 16


def code_dtype(bits: int, signed: bool) -> np.dtype[Any]:
    """The dtype of ``bits``-bit codes: ``uint8`` / ``int8`` up to 8 bits, ``uint16`` / ``int16`` above."""
    if bits > 8:
        return _I16 if signed else _U16
    return _I8 if signed else _U8


def KEYWORDS(name: str, value: Any = _UNSET) -> str:
    """Options as Python keywords: ``bits``, ``symmetric=True``."""
    return name if value is _UNSET else f"{name}={value!r}"


_FLAG_NAMES = {"axis": "--axis", "block_size": "--block-size", "bits": "--bits", "signed": "--signed",
               "symmetric": "--symmetric", "include_zero": "--tight", "packed": "--packed"}


def FLAGS(name: str, value: Any = _UNSET) -> str:
    """Options as command-line flags: ``--bits``, ``--bits 9``, ``--tight`` (for include_zero=False)."""
    flag = _FLAG_NAMES.get(name, name)
    return flag if value is _UNSET or isinstance(value, bool) else f"{flag} {value}"


def code_range(bits: int, signed: bool) -> Tuple[int, int]:
    """(qmin, qmax) for ``bits``-bit codes: [0, 2**bits - 1], or [-2**(bits-1), 2**(bits-1) - 1] if signed."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _int(value: Any, name: str, spell: Spell) -> int:
    if type(value) is int:
        return value
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{spell(name)} must be an integer, got {value!r}")


def _flag(value: Any, name: str, spell: Spell) -> bool:
    if value is True or value is False:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{spell(name)} must be True or False, got {value!r}")


def _packed_error(bits: int, given: bool, spell: Spell) -> ValueError:
    """Packing needs 1- to 4-bit codes; the message does not pretend the user typed the default."""
    got = spell("bits", bits) if given else f"{spell('bits')} unset, which means 8"
    return ValueError(f"{spell('packed', True)} needs {spell('bits')} <= 4, got {got}; pass e.g. {spell('bits', 4)}")


class Layout(NamedTuple):
    """An array around its quantized axis, as the per-channel / per-block kernels see it."""

    outer: int
    channels: int
    inner: int
    block: int  # 0 = per channel
    params_shape: Tuple[int, ...]

    @property
    def kernel(self) -> "_core.Layout":
        """The kernels' layout (outer, channels, inner, block)."""
        return _core.Layout(self.outer, self.channels, self.inner, self.block)


class _Fields(NamedTuple):
    axis: Optional[int]  # as given (may be negative) until resolved against an array
    block_size: Optional[int]
    bits: int
    signed: bool
    symmetric: bool
    include_zero: bool
    qmin: int
    qmax: int
    packed: bool


class Mode(_Fields):
    """The mode, validated once when built; ``None`` for an option means its default.

    ``Mode(axis, block_size, bits, signed, symmetric, include_zero, qmin, qmax, packed, spell=KEYWORDS)``:
    ``block_size`` without ``axis`` runs along the last axis (``axis=-1``); ``qmin``/``qmax`` default to the
    whole code range. Errors name options with ``spell`` (:func:`KEYWORDS` or :func:`FLAGS`).
    Immutable, hashable, picklable (unpickling validates again).

    >>> from qaffine._mode import Mode, FLAGS
    >>> m = Mode(bits=4, signed=True, block_size=32)
    >>> m.dtype, m.granularity, (m.qmin, m.qmax), m.axis
    (dtype('int8'), 'block', (-8, 7), -1)
    >>> m.resolved((64, 96)).params_shape((64, 96))
    (64, 3)
    >>> Mode(bits=8.0)
    Traceback (most recent call last):
    TypeError: bits must be an integer, got 8.0
    >>> Mode(bits=12).dtype
    dtype('uint16')
    >>> Mode(bits=17, spell=FLAGS)
    Traceback (most recent call last):
    ValueError: --bits must be between 1 and 16, got 17
    """

    __slots__ = ()

    def __new__(cls, axis: Any = None, block_size: Any = None, bits: Any = None, signed: Any = None,
                symmetric: Any = None, include_zero: Any = None, qmin: Any = None, qmax: Any = None,
                packed: Any = None, *, spell: Spell = KEYWORDS) -> "Mode":
        if axis is not None:
            axis = _int(axis, "axis", spell)
        if block_size is not None:
            block_size = _int(block_size, "block_size", spell)
            if block_size < 1:
                raise ValueError(f"{spell('block_size')} must be >= 1, got {block_size}")
            if axis is None:
                axis = -1
        bits_given = bits is not None
        bits = 8 if bits is None else _int(bits, "bits", spell)
        if not 1 <= bits <= MAX_BITS:
            raise ValueError(f"{spell('bits')} must be between 1 and {MAX_BITS}, got {bits}")
        signed = False if signed is None else _flag(signed, "signed", spell)
        symmetric = False if symmetric is None else _flag(symmetric, "symmetric", spell)
        include_zero = True if include_zero is None else _flag(include_zero, "include_zero", spell)
        packed = False if packed is None else _flag(packed, "packed", spell)
        if symmetric and not include_zero:
            raise ValueError(f"{spell('symmetric', True)} always includes 0 in the range; it cannot be used with "
                             f"{spell('include_zero', False)}")
        lo, hi = code_range(bits, signed)
        qmin = lo if qmin is None else _int(qmin, "qmin", spell)
        qmax = hi if qmax is None else _int(qmax, "qmax", spell)
        if not lo <= qmin < qmax <= hi:
            raise ValueError(f"qmin={qmin}, qmax={qmax} do not fit {bits}-bit codes: {code_dtype(bits, signed)} "
                             f"codes need {lo} <= qmin < qmax <= {hi}")
        if packed and bits > 4:
            raise _packed_error(bits, bits_given, spell)
        return tuple.__new__(cls, (axis, block_size, bits, signed, symmetric, include_zero, qmin, qmax, packed))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Mode, tuple(self))

    # -- derived facts
    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the codes: ``uint8``, or ``int8`` if signed; ``uint16`` / ``int16`` above 8 bits."""
        return code_dtype(self.bits, self.signed)

    @property
    def granularity(self) -> str:
        """``'tensor'``, ``'channel'`` or ``'block'``."""
        if self.block_size is not None:
            return "block"
        return "tensor" if self.axis is None else "channel"

    @property
    def kernel_scheme(self) -> "_core.Scheme":
        """The kernels' scheme (qmin, qmax, symmetric, include_zero), made once per distinct scheme."""
        return _kernel_scheme(self.qmin, self.qmax, self.symmetric, self.include_zero)

    def kernel_rounding(self, compat: Any) -> "_core.Rounding":
        """The kernels' rounding for ``compat`` ('onnx' or 'torch'); ValueError for anything else."""
        if not isinstance(compat, str) or compat not in _COMPAT:
            raise ValueError(f"compat must be 'onnx' or 'torch', got {compat!r}")
        if compat == "onnx":
            return _DIVIDE
        # torch.quantize_per_tensor (FBGEMM) rounds fma(x, 1/s, z); quantize_per_channel rounds (x * (1/s)) + z.
        # Codes above 8 bits: torch's type for them is qint32, whose quantize_per_tensor rounds (x * (1/s)) + z too.
        return _FUSED if self.axis is None and self.bits <= 8 else _MULTIPLY

    def resolved(self, shape: Tuple[int, ...], spell: Spell = KEYWORDS) -> "Mode":
        """This mode with ``axis`` made an index into ``shape`` (0 <= axis < ndim); ValueError if none fits."""
        axis = self.axis
        if axis is None:
            return self
        ndim = len(shape)
        if 0 <= axis < ndim:
            return self
        if ndim == 0:
            name = "block_size" if self.block_size is not None else "axis"
            raise ValueError(f"{spell(name)} needs an array with at least one dimension, got shape ()")
        if axis < -ndim or axis >= ndim:
            raise ValueError(f"{spell('axis')} {axis} is out of range for shape {tuple(shape)}")
        return self._replace(axis=axis + ndim)

    def with_axis(self, axis: Optional[int]) -> "Mode":
        """The same mode along another axis, trusted (``axis`` comes from a resolved mode)."""
        return self if axis == self.axis else self._replace(axis=axis)

    def with_packed(self, packed: Any, spell: Spell = KEYWORDS) -> "Mode":
        """The same mode with codes packed or not (validated: packing needs bits <= 4)."""
        if packed is False and not self.packed:
            return self
        packed = _flag(packed, "packed", spell)
        if packed and self.bits > 4:
            raise _packed_error(self.bits, True, spell)
        return self._replace(packed=packed)

    def layout(self, shape: Tuple[int, ...]) -> Layout:
        """The kernels' view of an array of ``shape`` (for a resolved mode with an axis)."""
        axis = self.axis
        assert axis is not None and 0 <= axis < len(shape)
        outer = math.prod(shape[:axis])  # sizes of an array's dimensions: math.prod is exact and 5x faster here
        channels = shape[axis]
        inner = math.prod(shape[axis + 1:])
        if self.block_size is None:
            return Layout(outer, channels, inner, 0, (channels,))
        block = min(self.block_size, max(channels, 1))  # any block_size >= n is one block (even beyond 2**64)
        nb = -(-channels // block)
        return Layout(outer, channels, inner, block, shape[:axis] + (nb,) + shape[axis + 1:])

    def params_shape(self, shape: Tuple[int, ...]) -> Tuple[int, ...]:
        """The shape of scale and zero point for an array of ``shape`` (a resolved mode)."""
        return () if self.axis is None else self.layout(shape).params_shape

    def check_agrees(self, shape: Tuple[int, ...], axis: Any, block_size: Any, bits: Any, signed: Any,
                     symmetric: Any, include_zero: Any) -> None:
        """ValueError unless the keywords given (not None) say what this (resolved) mode says; the keywords
        are validated as :class:`Mode` validates them."""
        given = Mode(axis, block_size, bits, signed, symmetric, include_zero)
        if axis is not None:
            axis = given.resolved(shape).axis
        for key, value in (("axis", axis), ("block_size", block_size), ("bits", bits), ("signed", signed),
                           ("symmetric", symmetric), ("include_zero", include_zero)):
            held = getattr(self, key)
            if value is not None and value != held:
                raise ValueError(f"{key}={value!r} disagrees with params.{key}={held!r}; pass one or the other")

    def keywords(self, scheme: bool = False) -> List[str]:
        """The fields that differ from the defaults, as keywords, for reprs (``scheme`` adds symmetric and
        include_zero)."""
        out = [f"{k}={v!r}" for k, v in (("axis", self.axis), ("block_size", self.block_size)) if v is not None]
        if self.bits != 8:
            out.append(f"bits={self.bits}")
        if self.signed:
            out.append("signed=True")
        if scheme and self.symmetric:
            out.append("symmetric=True")
        if scheme and not self.include_zero:
            out.append("include_zero=False")
        if self.packed:
            out.append("packed=True")
        return out

    def describe(self) -> str:
        """E.g. ``'per channel (axis 0), 8-bit uint8, asymmetric, range includes 0'``."""
        if self.axis is None:
            where = "per tensor"
        elif self.block_size is None:
            where = f"per channel (axis {self.axis})"
        else:
            where = f"per block ({self.block_size} values along axis {self.axis})"
        scheme = "symmetric" if self.symmetric else "asymmetric"
        zero = "range includes 0" if self.include_zero else "tight range"
        packed = ", packed" if self.packed else ""
        return f"{where}, {self.bits}-bit {self.dtype.name}{packed}, {scheme}, {zero}"


#: The mode of ``qa.quantize(x)``: per tensor, 8-bit uint8, asymmetric, range including 0.
DEFAULT = Mode()


class ModeFields:
    """Read-only mode properties for classes that hold a :class:`Mode` in ``_mode`` (QParams, a file's
    Header, DaskQuantizedArray): written once here, one typed property per field (these run of look-alike
    properties are the point of the class, not a copy)."""

    __slots__ = ()
    _mode: Mode

    @property
    def axis(self) -> Optional[int]:
        """The quantized axis (per channel or per block), else None."""
        return self._mode.axis

    @property
    def block_size(self) -> Optional[int]:
        return self._mode.block_size

    @property
    def bits(self) -> int:
        return self._mode.bits

    @property
    def signed(self) -> bool:
        return self._mode.signed

    @property
    def symmetric(self) -> bool:
        return self._mode.symmetric

    @property
    def include_zero(self) -> bool:
        return self._mode.include_zero

    @property
    def qmin(self) -> int:
        return self._mode.qmin

    @property
    def qmax(self) -> int:
        return self._mode.qmax

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the codes: ``uint8``, or ``int8`` if signed; ``uint16`` / ``int16`` above 8 bits."""
        return self._mode.dtype

    @property
    def granularity(self) -> str:
        """``'tensor'``, ``'channel'`` or ``'block'``."""
        return self._mode.granularity

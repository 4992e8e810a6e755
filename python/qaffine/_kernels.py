"""Every call into the compute functions of ``qaffine._core``, with arguments from a :class:`Mode`.

The arguments the kernels take — the scheme (qmin, qmax, symmetric, include_zero), the rounding and the
layout (outer, channels, inner, block) — come only from :attr:`Mode.kernel_scheme`,
:meth:`Mode.kernel_rounding` and :attr:`Layout.kernel`, so a change of how ``_core`` takes them is a change
of those three and of this file. Callers have validated everything; ``_core`` checks only what the buffer
protocol can break.
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, NamedTuple, Optional, Tuple

import numpy as np

from . import _core, _packing
from ._mode import DEFAULT, Layout, Mode
from ._params import QParams
from ._tensors import Bf16Bits, widen

#: What the dynamic kernels raise, instead of writing codes, for NaN or an infinity in their input.
FoundNaN, FoundInf = _core.FoundNaN, _core.FoundInf

__all__ = ["CLIP_SEARCH_GRID", "CLIP_SEARCH_STEPS", "FoundInf", "FoundNaN", "HISTOGRAM_MIN_EXPONENT", "choose_qparams",
           "choose_qparams_array", "clip_search_groups", "dequantize", "dequantize_groups", "dequantize_groups_packed",
           "dequantize_packed", "histogram_bin", "histogram_count", "histogram_exponent", "histogram_mse_range", "histogram_rebin", "minmax", "minmax_groups", "quantize",
           "quantize_default", "quantize_dynamic", "quantize_dynamic_groups", "quantize_dynamic_groups_packed",
           "quantize_dynamic_packed", "quantize_groups", "quantize_groups_packed", "quantize_packed"]

_DEFAULT_SCHEME = DEFAULT.kernel_scheme
_ONNX = DEFAULT.kernel_rounding("onnx")


def _grouped(a: np.ndarray) -> np.ndarray:
    """C-contiguous float32/float64 for the per-channel/per-block kernels (float16 and bfloat16 widened
    exactly)."""
    if type(a) is Bf16Bits:
        return widen(a)
    return np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float16 else a.dtype)


#: float32 bytes of 16-bit input widened at a time for the per-channel / per-block kernels.
_SLAB_BYTES = 1 << 22


class _Slab(NamedTuple):
    rows: slice  # its rows of the input (along the first axis)
    layout: "_core.Layout"
    elems: slice  # its elements in the flat codes
    groups: Optional[slice]  # its groups in the flat parameters; None: it has every group (shared ones)


def _slabs(a: np.ndarray, lay: Layout, align: int = 1) -> Optional[List[_Slab]]:
    """float16 / bfloat16 input to the per-group kernels as slabs of rows along the first axis, each widened
    to float32 by :func:`_widened` only when it is used (so no float32 copy of the whole array is ever
    made); None when the array is not 16-bit or fits one slab (then :func:`_grouped` widens it at once).
    A slab holds whole groups, or (per channel along a later axis) a part of every group. A slab is at
    least one row: an array of a few huge rows is widened a row at a time. Every slab but the last holds a
    multiple of ``align`` elements (8 for packed codes: each slab's codes start on a byte)."""
    if not (type(a) is Bf16Bits or a.dtype == np.float16) or a.ndim == 0 or a.size * 4 <= _SLAB_BYTES:
        return None
    rows = a.shape[0]
    per_row = a.size // rows
    step = max(1, _SLAB_BYTES // (4 * per_row))
    unit = align // math.gcd(per_row, align)  # rows per whole multiple of `align` elements
    step = -(-step // unit) * unit
    along_first = rows > 1 and lay.outer == 1  # the quantized axis is the first: rows are channels
    if along_first and lay.block:
        whole = lay.block * unit // math.gcd(lay.block, unit)
        step = -(-step // whole) * whole  # whole blocks
    if step >= rows:
        return None
    out = []
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        groups: Optional[slice]
        if along_first:
            sub = _core.Layout(1, r1 - r0, lay.inner, lay.block)
            if lay.block:
                groups = slice(r0 // lay.block * lay.inner, -(-r1 // lay.block) * lay.inner)
            else:
                groups = slice(r0, r1)
        else:
            o = lay.outer // rows  # outer indices per row
            sub = _core.Layout((r1 - r0) * o, lay.channels, lay.inner, lay.block)
            per_outer = (-(-lay.channels // lay.block)) * lay.inner if lay.block else 0
            groups = slice(r0 * o * per_outer, r1 * o * per_outer) if lay.block else None
        out.append(_Slab(slice(r0, r1), sub, slice(r0 * per_row, r1 * per_row), groups))
    return out


def _widened(a: np.ndarray, sl: _Slab) -> np.ndarray:
    """The slab's rows of ``a`` as a C-contiguous float32 array (exact): by the SIMD kernels if the rows
    are contiguous, else by NumPy."""
    part = a[sl.rows]
    if part.flags.c_contiguous and part.flags.aligned and part.dtype.isnative:
        out = np.empty(part.shape, dtype=np.float32)
        _core.widen(part.view(np.ndarray).view(np.uint16), out, type(part) is Bf16Bits)
        return out
    return widen(part) if type(part) is Bf16Bits else np.ascontiguousarray(part, dtype=np.float32)


def _slab_minmax(a: np.ndarray, slabs: List[_Slab], G: int) -> Tuple[np.ndarray, np.ndarray, bool]:
    """minmax_groups over the slabs: ranges of shared groups merged, the others placed."""
    lo, hi = np.full(G, np.inf, dtype=np.float32), np.full(G, -np.inf, dtype=np.float32)
    nan = False
    for sl in slabs:
        l, h, n = _core.minmax_groups(_widened(a, sl), sl.layout)
        nan = nan or n
        where = sl.groups if sl.groups is not None else slice(None)
        np.minimum(lo[where], l, out=lo[where])
        np.maximum(hi[where], h, out=hi[where])
    return lo, hi, bool(nan)


def _bf16(a: np.ndarray) -> bool:
    """Whether the per-tensor kernels read ``a`` as bfloat16 bits (their ``bf16=`` argument)."""
    return type(a) is Bf16Bits


def _out(out: np.ndarray) -> Tuple[np.ndarray, bool]:
    """The output buffer as the dequantize kernels take it: bfloat16 as its uint16 bits, and ``bf16=``."""
    if out.dtype.kind == "V":  # ml_dtypes.bfloat16 (validated by the caller)
        return out.view(np.uint16), True
    return out, False


# -------------------------------------------------------------------------------------------- per tensor
def quantize_default(x: np.ndarray, codes: np.ndarray, scheme: "_core.Scheme" = _DEFAULT_SCHEME,
                     rounding: "_core.Rounding" = _ONNX) -> Tuple[float, int]:
    """``qa.quantize(x)``: (scale, zero_point) of the default mode, codes written; raises FoundNaN (a NaN
    met) or FoundInf (an infinity met, and no NaN anywhere), writing nothing. The default mode's arguments
    are bound once, as defaults: the whole call costs about a microsecond, so global look-ups count."""
    return _core.quantize_dynamic(x, scheme, rounding, codes)


def quantize_dynamic(a: np.ndarray, mode: Mode, rounding: "_core.Rounding", codes: np.ndarray) -> Tuple[float, int]:
    """(scale, zero_point) as :func:`quantize_default`, for any per-tensor mode."""
    return _core.quantize_dynamic(a, mode.kernel_scheme, rounding, codes, _bf16(a))


def quantize(a: np.ndarray, p: QParams, rounding: "_core.Rounding", codes: np.ndarray) -> bool:
    """Static per-tensor codes; True if ``a`` holds NaN."""
    return bool(_core.quantize(a, float(p.scale), p.zero_point, p._mode.kernel_scheme, rounding, codes, _bf16(a)))


def minmax(a: np.ndarray) -> Tuple[float, float, bool]:
    return _core.minmax(a, _bf16(a))


def choose_qparams(lo: float, hi: float, mode: Mode, in_double: bool) -> Tuple[float, int]:
    return _core.choose_qparams(lo, hi, mode.kernel_scheme, in_double)


def dequantize(codes: np.ndarray, p: QParams, out: np.ndarray) -> None:
    dst, bf16 = _out(out)
    _core.dequantize(codes, float(p.scale), p.zero_point, dst, bf16)


# ------------------------------------------------------------------------------------ per channel / block
# The per-group kernels of one destination kind (codes, or packed bytes): `dynamic(x32, layout, dest)` and
# `static(x32, layout, scale, zero_point, dest)` call _core; `part(elems)` is the destination of a slab's
# elements. 16-bit input goes in slabs (:func:`_slabs`, each starting a byte for packed codes).
def _groups_dynamic(a: np.ndarray, lay: Layout, mode: Mode, dest: np.ndarray,
                    dynamic: Callable[..., Tuple[np.ndarray, np.ndarray]],
                    static: Callable[..., Any], part: Callable[[slice], np.ndarray],
                    align: int) -> Tuple[np.ndarray, np.ndarray]:
    slabs = _slabs(a, lay, align)
    if slabs is None:
        return dynamic(_grouped(a), lay.kernel, dest)
    G = lay.kernel.groups
    if slabs[0].groups is None:  # per channel along a later axis: every slab holds part of every channel
        lo, hi, nan = _slab_minmax(a, slabs, G)
        if nan:
            raise FoundNaN("x contains NaN")
        if np.isinf(lo).any() or np.isinf(hi).any():
            raise FoundInf("x contains an infinite value")
        scale, zp = _core.choose_qparams_array(lo, hi, mode.kernel_scheme, False)
        for sl in slabs:
            static(_widened(a, sl), sl.layout, scale, zp, part(sl.elems))
        return scale, zp
    scale, zp = np.empty(G, dtype=np.float32), np.empty(G, dtype=np.int32)
    for sl in slabs:  # whole groups: the dynamic kernel per slab
        scale[sl.groups], zp[sl.groups] = dynamic(_widened(a, sl), sl.layout, part(sl.elems))
    return scale, zp


def _groups_static(a: np.ndarray, lay: Layout, p: QParams, dest: np.ndarray, static: Callable[..., Any],
                   part: Callable[[slice], np.ndarray], align: int) -> bool:
    scale, zp = p.scale.reshape(-1), p.zero_point.reshape(-1)
    slabs = _slabs(a, lay, align)
    if slabs is None:
        return bool(static(_grouped(a), lay.kernel, scale, zp, dest))
    nan = False
    for sl in slabs:
        g = sl.groups if sl.groups is not None else slice(None)
        nan = static(_widened(a, sl), sl.layout, scale[g], zp[g], part(sl.elems)) or nan
    return bool(nan)


def quantize_dynamic_groups(a: np.ndarray, lay: Layout, mode: Mode, rounding: "_core.Rounding",
                            codes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(scale[], zero_point[]); raises FoundNaN (a NaN met) or FoundInf (an infinity met: a NaN may be in
    another group)."""
    sc, flat = mode.kernel_scheme, codes.reshape(-1)
    return _groups_dynamic(a, lay, mode, codes,
                           lambda x, g, d: _core.quantize_dynamic_groups(x, g, sc, rounding, d),
                           lambda x, g, s, z, d: _core.quantize_groups(x, g, s, z, sc, rounding, d),
                           lambda e: flat[e], 1)


def quantize_groups(a: np.ndarray, lay: Layout, p: QParams, rounding: "_core.Rounding", codes: np.ndarray) -> bool:
    """Static per-channel/per-block codes; True if ``a`` holds NaN."""
    sc, flat = p._mode.kernel_scheme, codes.reshape(-1)
    return _groups_static(a, lay, p, codes, lambda x, g, s, z, d: _core.quantize_groups(x, g, s, z, sc, rounding, d),
                          lambda e: flat[e], 1)


def minmax_groups(a: np.ndarray, lay: Layout) -> Tuple[np.ndarray, np.ndarray, bool]:
    slabs = _slabs(a, lay)
    if slabs is None:
        return _core.minmax_groups(_grouped(a), lay.kernel)
    return _slab_minmax(a, slabs, lay.kernel.groups)


def choose_qparams_array(lo: np.ndarray, hi: np.ndarray, mode: Mode, in_double: bool) -> Tuple[np.ndarray, np.ndarray]:
    return _core.choose_qparams_array(lo, hi, mode.kernel_scheme, in_double)


def dequantize_groups(codes: np.ndarray, lay: Layout, p: QParams, out: Any) -> None:
    dst, bf16 = _out(out)
    _core.dequantize_groups(np.ascontiguousarray(codes), lay.kernel, p.scale.reshape(-1), p.zero_point.reshape(-1),
                            dst, bf16)



# ------------------------------------------------------------------------------------------ calibration
#: The smallest exponent k of a histogram's bin width 2**k.
HISTOGRAM_MIN_EXPONENT = int(_core.HISTOGRAM_MIN_EXPONENT)


def histogram_exponent(lo: float, hi: float, bins: int, k_floor: int) -> int:
    """The exponent of a histogram of finite data in [lo, hi], at least k_floor (qaffine/histogram.hpp)."""
    return int(_core.histogram_exponent(lo, hi, bins, k_floor))


def histogram_bin(x: float, k: int) -> int:
    return int(_core.histogram_bin(x, k))


def histogram_count(finite: np.ndarray, k: int, base: int, counts: np.ndarray) -> int:
    """Adds the finite values of a C-contiguous float32/float64 array (inside the window) to counts; returns how
    many are zero."""
    return int(_core.histogram_count(finite, k, base, counts))


def histogram_rebin(counts: np.ndarray, k: int, base: int, k2: int, base2: int, bins2: int) -> np.ndarray:
    return _core.histogram_rebin(counts, k, base, k2, base2, bins2)


def histogram_mse_range(counts: np.ndarray, k: int, base: int, lo: float, hi: float, zeros: int, levels: float,
                        symmetric: bool, include_zero: bool) -> Tuple[float, float, float]:
    return _core.histogram_mse_range(counts, k, base, lo, hi, zeros, levels, symmetric, include_zero)


#: The default candidate grid of clip_search_groups (qaffine/clip_search.hpp).
CLIP_SEARCH_GRID = int(_core.CLIP_SEARCH_GRID)
CLIP_SEARCH_STEPS = int(_core.CLIP_SEARCH_STEPS)


def clip_search_groups(rows: np.ndarray, block: int, mode: Mode) -> Tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of shape (rows, ceil(n / block)) for finite C-contiguous float32/float64 rows[rows][n]: each
    block's least-squared-error clip among its shrunk min/max ranges."""
    return _core.clip_search_groups(rows, block, mode.kernel_scheme)



# ------------------------------------------------------------------------------------------ packed codes
# The same kernels writing / reading the packed bytes (fields of Mode.field_width bits) directly.
def _width(mode: Mode) -> int:
    return _packing.container_bits(mode.bits)


def quantize_dynamic_packed(a: np.ndarray, mode: Mode, rounding: "_core.Rounding", out: np.ndarray) -> Tuple[float, int]:
    return _core.quantize_dynamic_packed(a, mode.kernel_scheme, rounding, _width(mode), mode.signed, out, _bf16(a))


def quantize_packed(a: np.ndarray, p: QParams, rounding: "_core.Rounding", out: np.ndarray) -> bool:
    mode = p._mode
    return bool(_core.quantize_packed(a, float(p.scale), p.zero_point, mode.kernel_scheme, rounding, _width(mode),
                                      mode.signed, out, _bf16(a)))


def _packed_part(out: np.ndarray, elems: slice, width: int) -> np.ndarray:
    """The packed bytes of a slab's codes (its first code starts a byte: _slabs(..., align=8))."""
    stop = elems.stop * width
    return out[elems.start * width // 8: -(-stop // 8)]


def quantize_dynamic_groups_packed(a: np.ndarray, lay: Layout, mode: Mode, rounding: "_core.Rounding",
                                   out: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """As quantize_dynamic_groups, into packed bytes."""
    sc, w, sgn = mode.kernel_scheme, _width(mode), mode.signed
    return _groups_dynamic(a, lay, mode, out,
                           lambda x, g, d: _core.quantize_dynamic_groups_packed(x, g, sc, rounding, w, sgn, d),
                           lambda x, g, s, z, d: _core.quantize_groups_packed(x, g, s, z, sc, rounding, w, sgn, d),
                           lambda e: _packed_part(out, e, w), 8)


def quantize_groups_packed(a: np.ndarray, lay: Layout, p: QParams, rounding: "_core.Rounding", out: np.ndarray) -> bool:
    """As quantize_groups, into packed bytes."""
    mode = p._mode
    sc, w, sgn = mode.kernel_scheme, _width(mode), mode.signed
    return _groups_static(a, lay, p, out,
                          lambda x, g, s, z, d: _core.quantize_groups_packed(x, g, s, z, sc, rounding, w, sgn, d),
                          lambda e: _packed_part(out, e, w), 8)


def dequantize_packed(packed: np.ndarray, mode: Mode, p: QParams, out: np.ndarray) -> None:
    dst, bf16 = _out(out)
    _core.dequantize_packed(packed, _width(mode), mode.signed, float(p.scale), p.zero_point, dst, bf16)


def dequantize_groups_packed(packed: np.ndarray, lay: Layout, mode: Mode, p: QParams, out: np.ndarray) -> None:
    dst, bf16 = _out(out)
    _core.dequantize_groups_packed(packed, lay.kernel, _width(mode), mode.signed, p.scale.reshape(-1),
                                   p.zero_point.reshape(-1), dst, bf16)

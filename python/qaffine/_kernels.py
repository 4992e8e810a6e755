"""Every call into the compute functions of ``qaffine._core``, with arguments from a :class:`Mode`.

The arguments the kernels take — the scheme (qmin, qmax, symmetric, include_zero), the rounding and the
layout (outer, channels, inner, block) — come only from :attr:`Mode.kernel_scheme`,
:meth:`Mode.kernel_rounding` and :attr:`Layout.kernel`, so a change of how ``_core`` takes them is a change
of those three and of this file. Callers have validated everything; ``_core`` checks only what the buffer
protocol can break.
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from . import _core, _packing
from ._mode import DEFAULT, Layout, Mode
from ._params import QParams

#: What the dynamic kernels raise, instead of writing codes, for NaN or an infinity in their input.
FoundNaN, FoundInf = _core.FoundNaN, _core.FoundInf

__all__ = ["FoundInf", "FoundNaN", "choose_qparams", "choose_qparams_array", "dequantize", "dequantize_groups", "minmax", "minmax_groups",
           "quantize", "quantize_default", "quantize_dynamic", "quantize_dynamic_groups", "quantize_groups",
           "dequantize_groups_packed", "dequantize_packed", "quantize_dynamic_groups_packed", "quantize_dynamic_packed",
           "quantize_groups_packed", "quantize_packed"]

_DEFAULT_SCHEME = DEFAULT.kernel_scheme
_ONNX = DEFAULT.kernel_rounding("onnx")


def _grouped(a: np.ndarray) -> np.ndarray:
    """C-contiguous float32/float64 for the per-channel/per-block kernels (float16 widened exactly)."""
    return np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float16 else a.dtype)


# -------------------------------------------------------------------------------------------- per tensor
def quantize_default(x: np.ndarray, codes: np.ndarray, scheme: "_core.Scheme" = _DEFAULT_SCHEME,
                     rounding: "_core.Rounding" = _ONNX) -> Tuple[float, int]:
    """``qa.quantize(x)``: (scale, zero_point) of the default mode, codes written; raises FoundNaN (a NaN
    met) or FoundInf (an infinity met, and no NaN anywhere), writing nothing. The default mode's arguments
    are bound once, as defaults: the whole call costs about a microsecond, so global look-ups count."""
    return _core.quantize_dynamic(x, scheme, rounding, codes)


def quantize_dynamic(a: np.ndarray, mode: Mode, rounding: "_core.Rounding", codes: np.ndarray) -> Tuple[float, int]:
    """(scale, zero_point) as :func:`quantize_default`, for any per-tensor mode."""
    return _core.quantize_dynamic(a, mode.kernel_scheme, rounding, codes)


def quantize(a: np.ndarray, p: QParams, rounding: "_core.Rounding", codes: np.ndarray) -> bool:
    """Static per-tensor codes; True if ``a`` holds NaN."""
    return bool(_core.quantize(a, float(p.scale), p.zero_point, p._mode.kernel_scheme, rounding, codes))


def minmax(a: np.ndarray) -> Tuple[float, float, bool]:
    return _core.minmax(a)


def choose_qparams(lo: float, hi: float, mode: Mode, in_double: bool) -> Tuple[float, int]:
    return _core.choose_qparams(lo, hi, mode.kernel_scheme, in_double)


def dequantize(codes: np.ndarray, p: QParams, out: np.ndarray) -> None:
    _core.dequantize(codes, float(p.scale), p.zero_point, out)


# ------------------------------------------------------------------------------------ per channel / block
def quantize_dynamic_groups(a: np.ndarray, lay: Layout, mode: Mode, rounding: "_core.Rounding",
                            codes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(scale[], zero_point[]); raises FoundNaN (a NaN met) or FoundInf (an infinity met: a NaN may be in
    another group)."""
    return _core.quantize_dynamic_groups(_grouped(a), lay.kernel, mode.kernel_scheme, rounding, codes)


def quantize_groups(a: np.ndarray, lay: Layout, p: QParams, rounding: "_core.Rounding", codes: np.ndarray) -> bool:
    """Static per-channel/per-block codes; True if ``a`` holds NaN."""
    return bool(_core.quantize_groups(_grouped(a), lay.kernel, p.scale.reshape(-1), p.zero_point.reshape(-1),
                                      p._mode.kernel_scheme, rounding, codes))


def minmax_groups(a: np.ndarray, lay: Layout) -> Tuple[np.ndarray, np.ndarray, bool]:
    return _core.minmax_groups(_grouped(a), lay.kernel)


def choose_qparams_array(lo: np.ndarray, hi: np.ndarray, mode: Mode, in_double: bool) -> Tuple[np.ndarray, np.ndarray]:
    return _core.choose_qparams_array(lo, hi, mode.kernel_scheme, in_double)


def dequantize_groups(codes: np.ndarray, lay: Layout, p: QParams, out: Any) -> None:
    _core.dequantize_groups(np.ascontiguousarray(codes), lay.kernel, p.scale.reshape(-1), p.zero_point.reshape(-1),
                            out)


# ------------------------------------------------------------------------------------------ packed codes
# The same kernels writing / reading the packed bytes (fields of Mode.field_width bits) directly.
def _width(mode: Mode) -> int:
    return _packing.container_bits(mode.bits)


def quantize_dynamic_packed(a: np.ndarray, mode: Mode, rounding: "_core.Rounding", out: np.ndarray) -> Tuple[float, int]:
    return _core.quantize_dynamic_packed(a, mode.kernel_scheme, rounding, _width(mode), mode.signed, out)


def quantize_packed(a: np.ndarray, p: QParams, rounding: "_core.Rounding", out: np.ndarray) -> bool:
    mode = p._mode
    return bool(_core.quantize_packed(a, float(p.scale), p.zero_point, mode.kernel_scheme, rounding, _width(mode),
                                      mode.signed, out))


def quantize_dynamic_groups_packed(a: np.ndarray, lay: Layout, mode: Mode, rounding: "_core.Rounding",
                                   out: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    return _core.quantize_dynamic_groups_packed(_grouped(a), lay.kernel, mode.kernel_scheme, rounding, _width(mode),
                                                mode.signed, out)


def quantize_groups_packed(a: np.ndarray, lay: Layout, p: QParams, rounding: "_core.Rounding", out: np.ndarray) -> bool:
    mode = p._mode
    return bool(_core.quantize_groups_packed(_grouped(a), lay.kernel, p.scale.reshape(-1), p.zero_point.reshape(-1),
                                             mode.kernel_scheme, rounding, _width(mode), mode.signed, out))


def dequantize_packed(packed: np.ndarray, mode: Mode, p: QParams, out: np.ndarray) -> None:
    _core.dequantize_packed(packed, _width(mode), mode.signed, float(p.scale), p.zero_point, out)


def dequantize_groups_packed(packed: np.ndarray, lay: Layout, mode: Mode, p: QParams, out: np.ndarray) -> None:
    _core.dequantize_groups_packed(packed, lay.kernel, _width(mode), mode.signed, p.scale.reshape(-1),
                                   p.zero_point.reshape(-1), out)

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

from . import _core
from ._mode import DEFAULT, Layout, Mode
from ._params import QParams

#: What the dynamic kernels raise, instead of writing codes, for NaN or an infinity in their input.
FoundNaN, FoundInf = _core.FoundNaN, _core.FoundInf

__all__ = ["FoundInf", "FoundNaN", "HISTOGRAM_MIN_EXPONENT", "choose_qparams", "choose_qparams_array", "dequantize", "dequantize_groups", "histogram_bin", "histogram_count",
           "histogram_exponent", "histogram_mse_range", "histogram_rebin", "minmax", "minmax_groups",
           "quantize", "quantize_default", "quantize_dynamic", "quantize_dynamic_groups", "quantize_groups"]

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

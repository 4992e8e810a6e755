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

__all__ = ["choose_qparams", "choose_qparams_array", "dequantize", "dequantize_groups", "minmax", "minmax_groups",
           "quantize", "quantize_default", "quantize_dynamic", "quantize_dynamic_groups", "quantize_groups"]

_DEFAULT_SCHEME = DEFAULT.kernel_scheme
_ONNX = DEFAULT.kernel_rounding("onnx")


def _grouped(a: np.ndarray) -> np.ndarray:
    """C-contiguous float32/float64 for the per-channel/per-block kernels (float16 widened exactly)."""
    return np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float16 else a.dtype)


# -------------------------------------------------------------------------------------------- per tensor
def quantize_default(x: np.ndarray, codes: np.ndarray, qmin: int = _DEFAULT_SCHEME[0], qmax: int = _DEFAULT_SCHEME[1],
                     symmetric: bool = _DEFAULT_SCHEME[2], include_zero: bool = _DEFAULT_SCHEME[3],
                     rounding: int = _ONNX) -> Tuple[float, int, int]:
    """``qa.quantize(x)``: (scale, zero_point, status) of the default mode, codes written; status 1 = NaN
    met, 2 = infinity met (and no NaN). The default mode's arguments are bound once, as defaults: the whole
    call costs about a microsecond, so a tuple or five global look-ups per call count."""
    return _core.quantize_dynamic(x, qmin, qmax, symmetric, include_zero, rounding, codes)


def quantize_dynamic(a: np.ndarray, mode: Mode, rounding: int, codes: np.ndarray) -> Tuple[float, int, int]:
    """(scale, zero_point, status) as :func:`quantize_default`, for any per-tensor mode."""
    return _core.quantize_dynamic(a, *mode.kernel_scheme, rounding, codes)


def quantize(a: np.ndarray, p: QParams, rounding: int, codes: np.ndarray) -> bool:
    """Static per-tensor codes; True if ``a`` holds NaN."""
    m = p._mode
    return bool(_core.quantize(a, float(p.scale), p.zero_point, m.qmin, m.qmax, rounding, codes))


def minmax(a: np.ndarray) -> Tuple[float, float, bool]:
    return _core.minmax(a)


def choose_qparams(lo: float, hi: float, mode: Mode, in_double: bool) -> Tuple[float, int]:
    return _core.choose_qparams(lo, hi, *mode.kernel_scheme, in_double)


def dequantize(codes: np.ndarray, p: QParams, out: np.ndarray) -> None:
    _core.dequantize(codes, float(p.scale), p.zero_point, out)


# ------------------------------------------------------------------------------------ per channel / block
def quantize_dynamic_groups(a: np.ndarray, lay: Layout, mode: Mode, rounding: int,
                            codes: np.ndarray) -> Tuple[np.ndarray, np.ndarray, int]:
    """(scale[], zero_point[], status): status 1 = NaN met; 2 = infinity met (a NaN may be elsewhere)."""
    return _core.quantize_dynamic_groups(
        _grouped(a), *lay.kernel, *mode.kernel_scheme, rounding, codes)


def quantize_groups(a: np.ndarray, lay: Layout, p: QParams, rounding: int, codes: np.ndarray) -> bool:
    """Static per-channel/per-block codes; True if ``a`` holds NaN."""
    m = p._mode
    return bool(_core.quantize_groups(_grouped(a), *lay.kernel, p.scale.reshape(-1), p.zero_point.reshape(-1),
                                      m.qmin, m.qmax, rounding, codes))


def minmax_groups(a: np.ndarray, lay: Layout) -> Tuple[np.ndarray, np.ndarray, bool]:
    return _core.minmax_groups(_grouped(a), *lay.kernel)


def choose_qparams_array(lo: np.ndarray, hi: np.ndarray, mode: Mode, in_double: bool) -> Tuple[np.ndarray, np.ndarray]:
    return _core.choose_qparams_array(lo, hi, *mode.kernel_scheme, in_double)


def dequantize_groups(codes: np.ndarray, lay: Layout, p: QParams, out: Any) -> None:
    _core.dequantize_groups(np.ascontiguousarray(codes), *lay.kernel, p.scale.reshape(-1), p.zero_point.reshape(-1),
                            out)

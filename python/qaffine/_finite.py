"""The first NaN or infinity of an array, and the one wording of the error that names it.

``qa.quantize`` / ``qa.minmax``, ``qaffine.dask`` (indices in the whole dask array) and the command line
(indices in the file) all report bad values through :func:`first_bad` and :func:`bad_value_error`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

from ._tensors import Bf16Bits

__all__ = ["at", "bad_value_error", "first_bad", "first_true", "unravel"]

_CHUNK = 1 << 16  # elements scanned per step of a contiguous array: the mask stays small


def at(index: Optional[Tuple[int, ...]]) -> str:
    """``' at index 5'``, ``' at index (2, 3)'``, or nothing for a 0-d array."""
    if not index:
        return ""
    return f" at index {index[0]}" if len(index) == 1 else f" at index {tuple(index)}"


def unravel(flat: int, shape: Tuple[int, ...]) -> Tuple[int, ...]:
    """The C-order index of flat position ``flat`` in ``shape``."""
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def first_true(mask: np.ndarray) -> Optional[Tuple[int, ...]]:
    """The C-order index of the first True of ``mask``, or None."""
    if not mask.any():
        return None
    return unravel(int(np.argmax(mask)), mask.shape)


def _first(a: np.ndarray, test: Callable[[Any], Any]) -> Optional[int]:
    if a.flags.c_contiguous and a.size > _CHUNK:
        flat = a.reshape(-1)
        for start in range(0, flat.size, _CHUNK):
            m = test(flat[start:start + _CHUNK])
            if m.any():
                return start + int(np.argmax(m))
        return None
    m = test(a)
    return int(np.argmax(m)) if m.any() else None


def _bf16_nan(b: Any) -> Any:
    return (b & 0x7FFF) > 0x7F80  # exponent all ones, mantissa not zero


def _bf16_inf(b: Any) -> Any:
    return (b & 0x7FFF) == 0x7F80


def first_bad(a: np.ndarray, *, nan: bool = True, inf: bool = True) -> Optional[Tuple[bool, int]]:
    """(is_nan, flat C-order position) of the first NaN of ``a`` or, if it has none, of its first
    infinity; None if there is neither. ``nan=False`` / ``inf=False`` skip a scan the caller knows is
    empty (the kernels report which they met). bfloat16 bits (:class:`Bf16Bits`) are tested as bits."""
    is_nan: Callable[[Any], Any] = np.isnan
    is_inf: Callable[[Any], Any] = np.isinf
    if type(a) is Bf16Bits:
        a = a.view(np.ndarray)
        is_nan, is_inf = _bf16_nan, _bf16_inf
    if nan:
        pos = _first(a, is_nan)
        if pos is not None:
            return True, pos
    if inf:
        pos = _first(a, is_inf)
        if pos is not None:
            return False, pos
    return None


def bad_value_error(is_nan: bool, index: Optional[Tuple[int, ...]], *, name: str = "x",
                    static_hint: bool = True) -> ValueError:
    """The ValueError for a NaN (any quantization) or an infinity (dynamic quantization) at ``index``;
    ``static_hint`` adds that static quantization (``params=``) saturates infinities."""
    if is_nan:
        return ValueError(f"{name} contains NaN{at(index)}; drop or replace NaNs before quantizing")
    hint = ", or pass params= for static quantization (which saturates infinities)" if static_hint else " first"
    return ValueError(f"{name} contains an infinite value{at(index)}; dynamic quantization needs a finite range: "
                      f"clip the data{hint}")

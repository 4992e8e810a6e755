"""QParams: the parameters of an affine quantization, validated once when built."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["QParams"]

# Every integer up to 2**24 is exact in float32; the kernels rely on it for qmin - z and qmax - z.
_MAX_ABS_ZERO_POINT = 1 << 24


def _as_scale(scale: Any) -> np.float32:
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (numbers.Real, np.ndarray, np.generic)):
        raise TypeError(f"scale must be a real number, got {type(scale).__name__}")
    arr = np.asarray(scale)
    if arr.ndim != 0 or arr.dtype.kind not in "fiu":
        raise TypeError(f"scale must be a real scalar, got an array of shape {arr.shape} and dtype {arr.dtype}")
    value = float(arr)
    with np.errstate(over="ignore"):
        s = np.float32(value)
    if not (math.isfinite(value) and math.isfinite(float(s)) and s > 0):
        raise ValueError(f"scale must be a finite float32 number > 0, got {value!r}")
    return s


def _as_int(value: Any, name: str) -> int:
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


@dataclass(frozen=True)
class QParams:
    """Parameters of an affine quantization: ``x ≈ scale * (q - zero_point)``, ``qmin <= q <= qmax``.

    ``scale`` is stored as ``np.float32`` (a finite number > 0); ``zero_point`` is an ``int``
    (``|zero_point| <= 2**24``); codes are ``uint8`` in ``[qmin, qmax]`` (default ``[0, 255]``).
    Instances are immutable and compare by value.

    >>> import numpy as np, qaffine as qa
    >>> p = qa.QParams(scale=np.float32(0.02), zero_point=128)
    >>> p.qmin, p.qmax
    (0, 255)
    >>> qa.quantize(np.float32([-1.0, 0.0, 1.0]), p).values
    array([ 78, 128, 178], dtype=uint8)
    """

    scale: np.float32
    zero_point: int
    qmin: int = 0
    qmax: int = 255

    def __post_init__(self) -> None:
        scale = _as_scale(self.scale)
        zero_point = _as_int(self.zero_point, "zero_point")
        qmin = _as_int(self.qmin, "qmin")
        qmax = _as_int(self.qmax, "qmax")
        if not 0 <= qmin < qmax <= 255:
            raise ValueError(f"uint8 codes need 0 <= qmin < qmax <= 255, got qmin={qmin}, qmax={qmax}")
        if abs(zero_point) > _MAX_ABS_ZERO_POINT:
            raise ValueError(f"|zero_point| must be <= 2**24, got {zero_point}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zero_point)
        object.__setattr__(self, "qmin", qmin)
        object.__setattr__(self, "qmax", qmax)

    @property
    def dtype(self) -> np.dtype[np.uint8]:
        """The dtype of the codes (``uint8``)."""
        return np.dtype(np.uint8)

    def __repr__(self) -> str:
        return (
            f"QParams(scale={float(self.scale)!r}, zero_point={self.zero_point}, "
            f"qmin={self.qmin}, qmax={self.qmax})"
        )

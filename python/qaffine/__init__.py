"""qaffine — affine float -> uint8 quantization, bit-exact with ONNX, on a header-only C++17 SIMD core.

>>> import numpy as np, qaffine as qa
>>> x = np.float32([0.283, 0.779, 1.122, 3.342])
>>> q = qa.quantize(x)                 # minmax + scale/zero point + codes
>>> q.values
array([ 22,  59,  86, 255], dtype=uint8)
>>> bool(np.all(np.abs(q.dequantize() - x) <= q.scale / 2))
True
"""

from __future__ import annotations

import os
import warnings

from . import _core
from ._api import (
    QuantizedArray,
    choose_qparams,
    dequantize,
    get_num_threads,
    minmax,
    quantize,
    set_buffer_cache,
    set_num_threads,
    simd_level,
)
from ._calibrate import METHODS as RANGE_METHODS, Observer
from ._io import load, save
from ._params import QParams
from ._safetensors import load_safetensors, save_safetensors
from ._report import QuantizationError, error, plot
from ._paths import get_cmake_dir, get_include

__version__ = "0.1.0"

__all__ = [
    "Observer",
    "QParams",
    "RANGE_METHODS",
    "QuantizationError",
    "QuantizedArray",
    "__version__",
    "choose_qparams",
    "dequantize",
    "error",
    "get_num_threads",
    "get_cmake_dir",
    "get_include",
    "load",
    "load_safetensors",
    "minmax",
    "plot",
    "quantize",
    "save",
    "save_safetensors",
    "set_buffer_cache",
    "set_num_threads",
    "simd_level",
]

_env_level = os.environ.get("QAFFINE_SIMD", "")
if _env_level and _env_level not in ("scalar", "avx2", "avx512", "neon"):
    warnings.warn(
        f"QAFFINE_SIMD={_env_level!r} is not a SIMD level (scalar, avx2, avx512, neon); using {_core.simd_level()!r}",
        RuntimeWarning,
        stacklevel=2,
    )
del _env_level

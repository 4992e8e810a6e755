"""Inputs that are not plain NumPy float arrays, and the float dtypes dequantize writes.

* bfloat16 — NumPy has no such dtype: ``ml_dtypes.bfloat16`` arrays (what JAX and ONNX hand out) and torch
  ``bfloat16`` tensors reach the kernels as their uint16 bits, viewed in place as :class:`Bf16Bits` (an
  ndarray subclass that only marks the bits as bfloat16), and are widened to float32 chunk by chunk inside
  the C++ kernels (exact), never as a whole.
* torch tensors of any floating dtype on the CPU, ``requires_grad`` or not (``nn.Parameter``): read in place
  through ``detach()``; a tensor on another device is a TypeError that says to move it to the CPU.
* any other object with ``__dlpack__`` on the CPU: ``np.from_dlpack``, in place.

torch and ml_dtypes are never imported here unless the input is one of theirs (checked by the type's module
first), nor for dequantize unless bfloat16 output is asked for.
"""

from __future__ import annotations

import sys
from typing import Any, Optional, Tuple

import numpy as np

__all__ = ["Bf16Bits", "as_input", "bf16_dtype", "is_bf16_dtype", "out_dtype", "widen"]

_U16 = np.dtype(np.uint16)
_DLPACK_CPU = 1  # kDLCPU in DLPack's DLDeviceType
_OUT_NAMES = "float16, bfloat16 (ml_dtypes.bfloat16), float32 or float64"


class Bf16Bits(np.ndarray):
    """A native uint16 view of bfloat16 data, marked as such; ``scalar_type`` is what qa.minmax returns
    (``ml_dtypes.bfloat16`` for ml_dtypes input, ``np.float32`` — exact — for torch and DLPack input)."""

    scalar_type: Any = np.float32

    def __array_finalize__(self, obj: Any) -> None:
        self.scalar_type = getattr(obj, "scalar_type", np.float32)


def is_bf16_dtype(dt: np.dtype[Any]) -> bool:
    """Whether ``dt`` is ml_dtypes' bfloat16 (either byte order), without importing ml_dtypes."""
    return dt.kind == "V" and dt.itemsize == 2 and dt.names is None and getattr(dt.type, "__name__", "") == "bfloat16" \
        and getattr(dt.type, "__module__", "").split(".")[0] == "ml_dtypes"


def _bits(u16: np.ndarray, scalar_type: Any) -> Bf16Bits:
    b = u16.view(Bf16Bits)
    b.scalar_type = scalar_type
    return b


def _from_ml_dtypes(a: np.ndarray) -> Bf16Bits:
    order = a.dtype.byteorder if a.dtype.byteorder in "<>" else "="
    u = a.view(np.dtype(order + "u2"))
    if not u.dtype.isnative:  # big-endian bfloat16: its bytes swapped into a native copy, as for '>f4'
        u = u.astype(_U16)
    return _bits(u, a.dtype.type)


def _is_torch_tensor(x: Any) -> bool:
    mod = type(x).__module__
    if not (mod == "torch" or mod.startswith("torch.")) or "torch" not in sys.modules:
        return False
    return isinstance(x, sys.modules["torch"].Tensor)


def _from_torch(t: Any, name: str) -> np.ndarray:
    torch = sys.modules["torch"]
    if t.device.type != "cpu":
        raise TypeError(f"{name} is a torch tensor on device {t.device}; qaffine reads CPU memory: move it to the "
                        f"CPU first, e.g. {name}.cpu()")
    if t.layout != torch.strided:
        raise TypeError(f"{name} is a {t.layout} torch tensor; pass a dense one, e.g. {name}.to_dense()")
    t = t.detach()  # a view: requires_grad tensors (nn.Parameter) are read in place
    if t.dtype == torch.bfloat16:
        # NumPy has no bfloat16: the same bytes as int16, viewed as uint16 bits (any strides).
        return _bits(t.view(torch.int16).numpy().view(_U16), np.float32)
    if t.dtype in (torch.float16, torch.float32, torch.float64):
        a: np.ndarray = (t.resolve_neg() if t.is_neg() else t).numpy()
        return a
    raise TypeError(f"{name} must hold float16, bfloat16, float32 or float64 values, got {t.dtype}; convert it "
                    f"first, e.g. {name}.float()")


def _from_dlpack(x: Any, name: str) -> Optional[np.ndarray]:
    device = getattr(x, "__dlpack_device__", None)
    if device is not None:
        try:
            kind = int(device()[0])
        except Exception:  # a broken protocol: let np.asarray have a go
            return None
        if kind != _DLPACK_CPU:
            raise TypeError(f"{name} lives on a non-CPU device (DLPack device type {kind}); qaffine reads CPU "
                            "memory: move it to the CPU first")
    try:
        return np.from_dlpack(x)
    except (BufferError, TypeError, ValueError, RuntimeError):  # e.g. a dtype NumPy lacks: np.asarray may know it
        return None


def as_input(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as an ndarray the float checks then apply to: bfloat16 as :class:`Bf16Bits`, torch tensors and
    DLPack objects viewed in place; anything else through ``np.asarray``."""
    a: Optional[np.ndarray] = None
    if isinstance(x, np.ndarray):
        a = x
    elif _is_torch_tensor(x):
        a = _from_torch(x, name)
    elif hasattr(x, "__dlpack__") and not isinstance(x, (np.generic, memoryview, bytes, bytearray)):
        a = _from_dlpack(x, name)
    if a is None:
        a = np.asarray(x)
    if type(a) is not Bf16Bits and is_bf16_dtype(a.dtype):
        return _from_ml_dtypes(a)
    return a


def widen(b: Bf16Bits) -> np.ndarray:
    """bfloat16 bits as a C-contiguous float32 array (exact; a copy the size of the data in float32)."""
    u = b.view(np.ndarray).astype(np.uint32, order="C")
    u <<= 16
    return u.view(np.float32)


def bf16_dtype() -> np.dtype[Any]:
    """ml_dtypes' bfloat16 dtype, imported on demand (ImportError with the install hint otherwise)."""
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError("bfloat16 output needs the ml_dtypes package (NumPy has no bfloat16): "
                          "pip install 'qaffine[bf16]' or pip install ml_dtypes") from None
    dt: np.dtype[Any] = np.dtype(ml_dtypes.bfloat16)
    return dt


def out_dtype(dtype: Any) -> Tuple[np.dtype[Any], bool]:
    """(dtype, is_bfloat16) of a dequantize ``dtype=``: float16, float32, float64 (native byte order) or
    bfloat16 (``ml_dtypes.bfloat16`` or the string ``'bfloat16'``); TypeError otherwise."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bf16_dtype(), True
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be one of {_OUT_NAMES}, got {dtype!r}") from None
    if is_bf16_dtype(dt) and dt.isnative:
        return dt, True
    if dt.kind == "f" and dt.isnative and dt.itemsize in (2, 4, 8):
        return dt, False
    raise TypeError(f"dequantize produces {_OUT_NAMES} (native byte order), got dtype {dt}")

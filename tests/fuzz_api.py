"""An atheris fuzz target for qaffine's Python API.

Each input picks one call — quantize (dynamic or static, any mode keywords, valid or not, with or without
``out=``), dequantize, minmax, choose_qparams, QParams(...) or QuantizedArray(...) — and an argument built
from the fuzzer's bytes: any dtype (floats of both byte orders, ints, bools, complex, objects), shape
(0-d, zero dimensions, up to 4 dimensions), layout (transposed, negative strides, steps, stride 0 from
``np.broadcast_to``, misaligned by one byte, read-only) and raw bit patterns (so NaN, ±Inf, subnormals,
-0.0 and ±FLT_MAX all occur). The SIMD level and thread count change from call to call.

What must hold: no crash, no exception other than ValueError / TypeError (warnings are errors too), the
input never modified (an ``out=`` overlapping it must be refused), codes inside [qmin, qmax], and every
call gives the same result — or the same error message — at every SIMD level and for the contiguous
native-endian copy of a strided / transposed / byte-swapped / misaligned / broadcast view.

Run:  python tests/fuzz_api.py -max_total_time=60        (tests/test_fuzz.py does, in CI)
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import atheris

import numpy as np

with atheris.instrument_imports(include=["qaffine"]):  # coverage feedback from qaffine's Python layer
    import qaffine as qa
    from qaffine import _core

LEVELS = list(_core.supported_simd_levels())
EXPECTED = (ValueError, TypeError)

DTYPES = [
    "<f4", ">f4", "<f8", ">f8", "<f2", ">f2",  # the floats qaffine accepts, both byte orders
    "i1", "u1", "<i2", "<i4", ">i4", "<i8", "<u8", "?", "<c8", "<c16", "O", "<U3", "S2", "<M8[D]", "V4",
    "g",  # longdouble
]
F_DTYPES = DTYPES[:6]
BAD_VALUES: List[Any] = [None, -1, 0, 1, 2, 3, 8, 9, 255, 2**31, 2**63, 2**64, -(2**64), 1.0, 1.5, float("nan"),
                         "1", b"x", True, False, np.int64(2), np.uint8(4), np.float32(2.0), (), [1], object()]


class Fuzz:
    def __init__(self, data: bytes) -> None:
        self.fdp = atheris.FuzzedDataProvider(data)

    def int(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)

    def bool(self) -> bool:
        return self.fdp.ConsumeBool()

    def pick(self, values: List[Any]) -> Any:
        return self.fdp.PickValueInList(values)

    def option(self, valid: List[Any]) -> Any:
        """Mostly a valid value or None (the default), sometimes anything."""
        r = self.int(0, 9)
        if r < 4:
            return None
        if r < 8:
            return self.pick(valid)
        return self.pick(BAD_VALUES)

    # ------------------------------------------------------------------------------------- arrays
    def shape(self) -> Tuple[int, ...]:
        ndim = self.int(0, 4)
        return tuple(self.int(0, 9) if self.int(0, 15) == 0 else self.int(1, 9) for _ in range(ndim))

    def raw_array(self, dtype: np.dtype, shape: Tuple[int, ...]) -> np.ndarray:
        """An array of `dtype` and `shape` from the fuzzer's bytes (raw bit patterns; some special values)."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the harness's own casts of special values
            return self._raw_array(dtype, shape)

    def _raw_array(self, dtype: np.dtype, shape: Tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape, dtype=np.int64))
        if dtype.kind == "O":
            return np.array([self.pick([1.0, 2, None, "a", 1.5]) for _ in range(n)] + [0], dtype=object)[:n].reshape(shape)
        if dtype.kind == "U":  # raw bytes would not be valid code points
            return np.full(shape, self.pick(["1.5", "nan", "x"]), dtype=dtype)
        raw = self.fdp.ConsumeBytes(n * dtype.itemsize)
        raw += bytes(n * dtype.itemsize - len(raw))
        a = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if dtype.kind == "f" and n and self.bool():
            specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, np.finfo(dtype).max,
                                 -np.finfo(dtype).max, np.finfo(dtype).tiny, np.finfo(dtype).smallest_subnormal,
                                 65504.0, 3.4028235e38, 1e39, 1e-300], dtype=np.float64)
            for _ in range(self.int(1, 4)):
                a.reshape(-1)[self.int(0, n - 1)] = dtype.type(self.pick(list(specials)))
        if dtype.kind == "f" and n and self.int(0, 3) == 0:
            # tame values (bit patterns are mostly huge or tiny): a scaled ramp
            a[...] = (np.arange(n, dtype=np.float64).reshape(shape) - self.int(0, n)) * 10.0 ** self.int(-5, 5)
        return a

    def layout(self, a: np.ndarray) -> np.ndarray:
        """A view of `a`'s values (same logical content, C order) in another memory layout, or `a`."""
        kind = self.int(0, 8)
        if kind == 1 and a.ndim >= 2:  # Fortran order
            return np.asfortranarray(a)
        if kind == 2 and a.ndim >= 1:  # negative strides
            buf = a[(slice(None, None, -1),) * a.ndim].copy()
            return buf[(slice(None, None, -1),) * a.ndim]
        if kind == 3 and a.ndim >= 1:  # every k-th element of a bigger buffer
            k = self.int(2, 4)
            big = np.zeros(a.shape[:-1] + (a.shape[-1] * k,), dtype=a.dtype)
            big[..., ::k] = a
            return big[..., ::k]
        if kind == 4 and a.dtype.kind != "O" and a.size:  # misaligned by one byte
            buf = bytearray(a.nbytes + 1)
            v = np.ndarray(a.shape, dtype=a.dtype, buffer=buf, offset=1)
            v[...] = a
            return v
        if kind == 5:  # read-only
            ro = a.copy()
            ro.setflags(write=False)
            return ro
        if kind == 6 and a.ndim >= 1 and a.size:  # stride 0: a broadcast of one row
            return np.broadcast_to(a[(slice(0, 1),) * a.ndim], a.shape)
        if kind == 7 and a.ndim >= 2:  # transposed twice over a transposed copy
            return np.ascontiguousarray(np.swapaxes(a, 0, -1)).swapaxes(0, -1)
        return a

    def array(self, dtypes: Optional[List[str]] = None) -> np.ndarray:
        dt = np.dtype(self.pick(dtypes or (F_DTYPES * 3 + DTYPES)))
        return self.layout(self.raw_array(dt, self.shape()))

    def params(self, x_shape: Tuple[int, ...]) -> Any:
        """A QParams (sometimes invalid arguments: then whatever QParams raises is returned as None)."""
        kw: Dict[str, Any] = {}
        for key, valid in (("bits", [1, 2, 4, 7, 8, 12, 16]), ("signed", [True, False]), ("symmetric", [True, False]),
                           ("include_zero", [True, False])):
            v = self.option(valid)
            if v is not None:
                kw[key] = v
        gran = self.int(0, 2)
        ndim = max(len(x_shape), 1)
        if gran == 0:
            scale: Any = self.pick([0.05, 1.0, 1e-45, 3e38, 1e-3, np.float32(0.1), -1.0, 0.0, float("inf"), 2])
            zp: Any = self.pick([0, 128, 255, -128, 3, 1 << 23, (1 << 23) + 1, 2.5])
        else:
            axis = self.int(-ndim - 1, ndim)
            kw["axis"] = axis
            if gran == 1:
                n = x_shape[axis % ndim] if x_shape and -ndim <= axis < ndim else self.int(0, 5)
                pshape: Tuple[int, ...] = (n if self.int(0, 7) else n + 1,)
            else:
                kw["block_size"] = self.pick([1, 2, 3, 8, 0, -1, 2**63])
                pshape = tuple(x_shape) if x_shape else (1,)
                if -ndim <= axis < ndim and isinstance(kw["block_size"], int) and kw["block_size"] > 0:
                    pshape = list(pshape)  # type: ignore[assignment]
                    pshape[axis % ndim] = -(-pshape[axis % ndim] // kw["block_size"])  # type: ignore[index]
                    pshape = tuple(pshape)
            with np.errstate(all="ignore"):
                scale = (np.arange(int(np.prod(pshape, dtype=np.int64))) + 1).reshape(pshape) * 10.0 ** self.int(-40, 37)
            zp = np.full(pshape, self.pick([0, 1, -3, 100]), dtype=np.int64).astype(
                self.pick([np.int32, np.int64, np.float64, np.uint8]))
        try:
            return qa.QParams(scale, zp, **kw)
        except EXPECTED:
            return None


# ------------------------------------------------------------------------------------------ checks
def _snapshot(x: Any) -> Any:
    return np.array(x, order="C").tobytes() if isinstance(x, np.ndarray) and x.dtype.kind != "O" else None


def _native_copy(x: np.ndarray) -> np.ndarray:
    return np.array(x, dtype=x.dtype.newbyteorder("="), order="C")  # (ascontiguousarray makes 0-d 1-d)


def _bytes_of(r: Any) -> Any:
    """Comparable bytes of a result: QuantizedArray, array, or tuple of them."""
    if isinstance(r, qa.QuantizedArray):
        return (r.values.tobytes(), r.values.shape, r.packed, np.asarray(r.scale).tobytes(),
                np.asarray(r.zero_point).tobytes(), r.params.axis)
    if isinstance(r, tuple):
        return tuple(_bytes_of(v) for v in r)
    a = np.asarray(r)
    return (a.tobytes(), a.shape, a.dtype.str)


def _outcome(call: Callable[[], Any]) -> Any:
    """The result's bytes, or the (expected) exception it raised."""
    try:
        return _bytes_of(call())
    except ValueError as e:
        return ValueError, str(e)  # the same message: a view's indices are the copy's
    except TypeError:
        return TypeError  # (messages name the dtype, which may be the byte-swapped one)


def _check_consistent(call: Callable[[Any], Any], x: Any) -> None:
    """call(x) gives the same outcome at every SIMD level, and for x's contiguous native-endian copy."""
    previous = _core.simd_level()
    outcomes = {}
    try:
        for level in LEVELS:
            _core._set_simd_level(level)
            outcomes[level] = _outcome(lambda: call(x))
    finally:
        _core._set_simd_level(previous)
    ref = outcomes[LEVELS[0]]
    for level, got in outcomes.items():
        assert got == ref, f"SIMD level {level} differs from {LEVELS[0]}: {got!r} vs {ref!r}"[:2000]
    if isinstance(x, np.ndarray) and x.dtype.kind in "fiu?" and (x.ndim == 0 or not x.flags.c_contiguous
                                                                 or not x.dtype.isnative or not x.flags.aligned):
        got = _outcome(lambda: call(_native_copy(x)))
        assert got == ref, (f"the contiguous native copy of a {x.dtype} {x.shape} view with strides {x.strides} "
                            f"differs: {got!r} vs {ref!r}")[:2000]


def _check_codes(q: Any) -> None:
    p = q.params
    codes = q.codes()
    assert codes.dtype == p.dtype and codes.shape == q.shape
    if codes.size:
        assert int(codes.min()) >= p.qmin and int(codes.max()) <= p.qmax, (p, codes.min(), codes.max())


def one_input(data: bytes) -> None:
    f = Fuzz(data)
    _core._set_simd_level(f.pick(LEVELS))
    if f.int(0, 15) == 0:
        qa.set_num_threads(f.pick([1, 2, 3, None]))
    op = f.int(0, 6)
    try:
        if op <= 2:  # quantize
            x: Any = f.array()
            if f.int(0, 9) == 0:
                x = x.tolist()
            shape = np.shape(x)
            p = f.params(shape) if op == 2 else None
            kw: Dict[str, Any] = {}
            for key, valid in (("bits", [1, 3, 4, 8, 9, 16]), ("signed", [True, False]), ("symmetric", [True, False]),
                               ("include_zero", [True, False]), ("compat", ["onnx", "torch"]),
                               ("packed", [True, False])):
                v = f.option(valid)
                if v is not None:
                    kw[key] = v
            gran = f.int(0, 3)
            if gran >= 1:
                kw["axis"] = f.int(-len(shape) - 1, len(shape))
            if gran >= 2:
                kw["block_size"] = f.pick([1, 2, 3, 5, 8, 16, 0, -2, 2**40])
            if gran == 2 and f.bool():
                kw.pop("axis")
            _check_consistent(lambda y: qa.quantize(y, p, **kw), x)
            out_kind = f.int(0, 5)
            if out_kind == 1:
                kw["out"] = np.empty(shape, dtype=np.int8 if kw.get("signed") or (p is not None and p.signed)
                                     else np.uint8)
            elif out_kind == 2 and isinstance(x, np.ndarray) and x.size and x.dtype.kind != "O":
                # overlapping x: must be refused (ValueError), never written through
                kw["out"] = x.view(np.uint8).reshape(-1)[: x.size].reshape(shape) if x.flags.c_contiguous else None
            elif out_kind == 3:
                # right shape, maybe the wrong dtype, maybe not contiguous
                out_dt = f.pick([np.uint8, np.int8, np.float32, np.uint16])
                kw["out"] = np.empty(shape + (2,), dtype=out_dt)[..., 0] if f.bool() else np.empty(shape, out_dt)
            before = _snapshot(x)
            try:
                q = qa.quantize(x, p, **kw)
            finally:
                assert _snapshot(x) == before, "quantize modified its input"
            if kw.get("out") is not None:
                assert q.values is kw["out"]
            _check_codes(q)
            dt = f.pick([np.float32, np.float64, None])
            _check_consistent(lambda y: qa.dequantize(y, dtype=dt), q)
        elif op == 3:  # dequantize
            shape = f.shape()
            p = f.params(shape)
            codes = f.layout(f.raw_array(np.dtype(f.pick(["u1", "u1", "i1", "i1", "<i4", "?", "<f4"])), shape))
            dt = f.pick([None, np.float32, np.float64, np.float16, "f8", int])
            _check_consistent(lambda c: qa.dequantize(c, p, dtype=dt), codes)
            if f.bool():
                out = np.empty(shape, dtype=f.pick([np.float32, np.float64, np.float16, np.uint8]))
                assert qa.dequantize(codes, p, dtype=dt, out=out) is out
        elif op == 4:  # minmax
            x = f.array()
            kw = {}
            if f.bool():
                kw["axis"] = f.option([0, -1, 1])
            if f.bool():
                kw["block_size"] = f.option([1, 2, 7])
            _check_consistent(lambda y: qa.minmax(y, **kw), x)
            lo, hi = qa.minmax(x, **kw)
            assert np.all(np.asarray(lo) <= np.asarray(hi))
        elif op == 5:  # choose_qparams
            n = f.int(0, 3)
            lo = f.raw_array(np.dtype(f.pick(["<f4", "<f8", "<i4", "<f2", "?"])), (n,) if n else ())
            hi = f.raw_array(np.dtype(f.pick(["<f4", "<f8", "<i4", "<f2"])), (n,) if n else ())
            kw = {}
            if n:
                kw[f.pick(["axis", "block_size"])] = f.pick([0, 1, -1, 2])
            for key, valid in (("bits", [1, 4, 8, 16]), ("signed", [True, False]), ("symmetric", [True, False]),
                               ("include_zero", [True, False])):
                v = f.option(valid)
                if v is not None:
                    kw[key] = v
            lo_arg = lo[()] if lo.ndim == 0 else lo
            hi_arg = hi[()] if hi.ndim == 0 else hi
            p = qa.choose_qparams(lo_arg, hi_arg, **kw)
            s = np.asarray(p.scale, dtype=np.float64)
            assert np.all(np.isfinite(s) & (s > 0)), p
        else:  # QParams / QuantizedArray
            p = f.params(f.shape())
            if p is not None and f.bool():
                v = f.layout(f.raw_array(np.dtype(f.pick(["u1", "i1", "<f4"])), f.shape()))
                packed = f.bool()
                # (negative and > 2**63 dimensions have their own regression tests in test_bad_inputs.py)
                shape_arg = f.pick([None, v.shape, (v.size,), (v.size * 2,), (v.size // 2 + 1,), ("a",), 3])
                qa.QuantizedArray(v, p, shape=shape_arg, packed=packed)
    except EXPECTED:
        pass


def main() -> None:
    warnings.simplefilter("error")  # an unexpected warning from qaffine is a finding too
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

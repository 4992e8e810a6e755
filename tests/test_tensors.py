"""bfloat16 and torch tensors in, float16 / bfloat16 out.

Input oracle: quantizing the same values as a float32 (or, for float64 tensors, float64) NumPy array gives
the same bytes, parameters and errors, in every mode and at every SIMD level. Output oracle: the float32
result cast with NumPy (float16), ml_dtypes and torch's own ``.to(torch.bfloat16)`` (bfloat16).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc
from typing import Any, Callable, Dict, List

import numpy as np
import pytest

import qaffine as qa
from conftest import SIMD_LEVELS, outcome, result_key, simd

ml_dtypes = pytest.importorskip("ml_dtypes")
torch = pytest.importorskip("torch")

BF16 = np.dtype(ml_dtypes.bfloat16)

MODES: List[Dict[str, Any]] = [
    {},
    dict(bits=4, signed=True, symmetric=True),
    dict(include_zero=False, bits=6),
    dict(compat="torch"),
    dict(axis=0),
    dict(axis=-1, bits=4, signed=True, symmetric=True),
    dict(block_size=32),
    dict(block_size=5, axis=0),
    dict(block_size=16, compat="torch", signed=True),
    dict(bits=4, signed=True, packed=True),
    dict(block_size=32, bits=4, packed=True),
    dict(axis=0, bits=2, packed=True),
]
MODE_IDS = ["default", "sym4", "tight6", "torch", "axis0", "axis-1sym4", "block32", "block5axis0", "block16torch",
            "packed4signed", "packed4block32", "packed2axis0"]


def _values(shape: Any, seed: int = 0) -> np.ndarray:
    """float32 values that are exactly bfloat16 (and mostly float16): rounded through bfloat16."""
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3
    return x.astype(BF16).astype(np.float32)


def _range_bounds(x: np.ndarray, mode: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in mode.items() if k in ("axis", "block_size")}


# Each maker turns float32 values into the input under test and returns it with the NumPy oracle array.
def _ml_bf16(x: np.ndarray) -> Any:
    return x.astype(BF16), x


def _torch(dtype: Any, grad: bool = True) -> Callable[[np.ndarray], Any]:
    def make(x: np.ndarray) -> Any:
        t = torch.tensor(x).to(dtype).requires_grad_(grad)
        ref = t.detach().to(torch.float64 if dtype == torch.float64 else torch.float32).numpy()
        return t, ref
    return make


def _parameter(x: np.ndarray) -> Any:
    return torch.nn.Parameter(torch.tensor(x).to(torch.bfloat16)), x


def _torch_transposed_bf16(x: np.ndarray) -> Any:
    t = torch.tensor(np.ascontiguousarray(x.T)).to(torch.bfloat16).requires_grad_(True).T  # a strided view
    return t, x


def _ml_bf16_strided(x: np.ndarray) -> Any:
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=BF16)
    wide[:, ::2] = x.astype(BF16)
    return wide[:, ::2], x


MAKERS = {
    "ml_dtypes_bf16": _ml_bf16,
    "ml_dtypes_bf16_strided": _ml_bf16_strided,
    "torch_bf16_grad": _torch(torch.bfloat16),
    "torch_bf16_transposed": _torch_transposed_bf16,
    "torch_f16_grad": _torch(torch.float16),
    "torch_f32_grad": _torch(torch.float32),
    "torch_f64_grad": _torch(torch.float64),
    "parameter_bf16": _parameter,
}


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("kind", list(MAKERS))
def test_tensor_input_gives_the_bytes_of_the_numpy_values(simd_level: str, kind: str, mode: Dict[str, Any]) -> None:
    """Dynamic and static quantization, minmax and choose_qparams of bfloat16 / torch input equal those of
    the same values in a NumPy float32 (float64) array."""
    x = _values((37, 70), seed=len(kind))
    t, ref = MAKERS[kind](x)
    assert outcome(lambda: qa.quantize(t, **mode)) == outcome(lambda: qa.quantize(ref, **mode))
    p = qa.quantize(ref, **mode).params
    compat = {k: mode[k] for k in ("compat", "packed") if k in mode}
    assert outcome(lambda: qa.quantize(t, p, **compat)) == outcome(lambda: qa.quantize(ref, p, **compat))
    bounds = _range_bounds(x, mode)
    lo, hi = qa.minmax(t, **bounds)
    lo_ref, hi_ref = qa.minmax(ref, **bounds)
    assert np.array_equal(np.asarray(lo, dtype=np.float64), np.asarray(lo_ref, dtype=np.float64))
    assert np.array_equal(np.asarray(hi, dtype=np.float64), np.asarray(hi_ref, dtype=np.float64))
    if not bounds:
        kw = {k: v for k, v in mode.items() if k not in ("compat", "packed")}
        assert qa.choose_qparams(lo, hi, **kw) == qa.choose_qparams(lo_ref, hi_ref, **kw)
    if isinstance(t, torch.Tensor):
        assert t.requires_grad  # read through detach(): the caller's tensor is left as it was


def test_minmax_answers_in_the_input_dtype() -> None:
    x = _values(100)
    lo, hi = qa.minmax(x.astype(BF16))
    assert type(lo) is ml_dtypes.bfloat16 and lo == x.min() and hi == x.max()
    lo_g, _ = qa.minmax(x.reshape(10, 10).astype(BF16), axis=0)
    assert lo_g.dtype == BF16
    lo, hi = qa.minmax(torch.tensor(x).to(torch.bfloat16))  # NumPy has no bfloat16 of its own: float32, exact
    assert type(lo) is np.float32 and lo == x.min() and hi == x.max()


@pytest.mark.parametrize("mode", [dict(axis=0), dict(axis=1), dict(block_size=32), dict(block_size=8, axis=0),
                                  dict(axis=2, bits=4, signed=True, symmetric=True)],
                         ids=["axis0", "axis1", "block32", "block8axis0", "axis2sym4"])
@pytest.mark.parametrize("dtype", [BF16, np.float16], ids=["bf16", "f16"])
def test_large_16bit_input_in_slabs_equals_float32(mode: Dict[str, Any], dtype: Any) -> None:
    """Arrays larger than one slab of the per-group path (4 MiB of float32): the same bytes as float32, at
    every SIMD level, also with a NaN or an infinity in a later slab."""
    x = _values((64, 20, 1100), seed=3)
    x[0] *= 50  # a channel / block whose range differs
    a = x.astype(dtype)
    ref = a.astype(np.float32)
    for level in SIMD_LEVELS:
        with simd(level):
            assert outcome(lambda: qa.quantize(a, **mode)) == outcome(lambda: qa.quantize(ref, **mode))
            p = qa.quantize(ref, **mode).params
            assert outcome(lambda: qa.quantize(a, p)) == outcome(lambda: qa.quantize(ref, p))
            bounds = _range_bounds(x, mode)
            assert outcome(lambda: qa.minmax(a, **bounds)) == outcome(
                lambda: tuple(v.astype(dtype) for v in qa.minmax(ref, **bounds)))
    for bad in (np.nan, np.inf, -np.inf):
        b, r = a.copy(), ref.copy()
        b[50, 3, 7] = bad
        r[50, 3, 7] = bad
        got = outcome(lambda: qa.quantize(b, **mode))
        assert got == outcome(lambda: qa.quantize(r, **mode))
        assert got[0] is ValueError and "(50, 3, 7)" in got[1]


@pytest.mark.parametrize("mode", [dict(axis=0, bits=4), dict(axis=1, bits=2, signed=True), dict(block_size=32, bits=4),
                                  dict(block_size=3, axis=0, bits=1), dict(axis=2, bits=3, symmetric=True, signed=True)],
                         ids=["axis0-4", "axis1-2s", "block32-4", "block3axis0-1", "axis2sym3"])
def test_large_16bit_input_in_slabs_packs_as_float32(mode: Dict[str, Any]) -> None:
    """Packed codes of 16-bit input larger than one slab, rows of an odd length (so that a slab must hold a
    whole number of bytes of codes): the packed bytes and parameters of the float32 values, dynamic and
    static, at every SIMD level, NaN in a later slab named."""
    x = _values((70, 21, 1001), seed=5)
    x[0] *= 50
    a = x.astype(BF16)
    ref = a.astype(np.float32)
    for level in SIMD_LEVELS:
        with simd(level):
            assert outcome(lambda: qa.quantize(a, packed=True, **mode)) == outcome(
                lambda: qa.quantize(ref, packed=True, **mode))
            p = qa.quantize(ref, **mode).params
            assert outcome(lambda: qa.quantize(a, p, packed=True)) == outcome(lambda: qa.quantize(ref, p, packed=True))
    b, r = a.copy(), ref.copy()
    b[60, 3, 7] = r[60, 3, 7] = np.nan
    got = outcome(lambda: qa.quantize(b, packed=True, **mode))
    assert got == outcome(lambda: qa.quantize(r, packed=True, **mode))
    assert got[0] is ValueError and "(60, 3, 7)" in got[1]


# ---------------------------------------------------------------------------------------------- bad input
BF16_EDGES = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x0080, 0x7F7F, 0xFF7F, 0x3F80, 0x3F81],
                      dtype=np.uint16)  # ±0, subnormals, the smallest normal, ±max, 1 and its neighbour


def test_bf16_edge_values_follow_float32_rules(simd_level: str) -> None:
    """Subnormals, ±max, -0.0 widen exactly; NaN is named by index; dynamic ±Inf is an error, static ±Inf
    saturates — all as for the float32 values, for ml_dtypes arrays and torch tensors."""
    edges = BF16_EDGES.view(BF16)
    ref = edges.astype(np.float32)
    tensor = torch.from_numpy(BF16_EDGES.view(np.int16).copy()).view(torch.bfloat16)
    for a in (edges, tensor):
        for mode in ({}, dict(symmetric=True, signed=True), dict(include_zero=False), dict(axis=0)):
            assert outcome(lambda: qa.quantize(a, **mode)) == outcome(lambda: qa.quantize(ref, **mode))
        assert float(qa.minmax(a)[0]) == float(ref.min()) and float(qa.minmax(a)[1]) == float(ref.max())
    p = qa.choose_qparams(np.float32(-2), np.float32(2))
    for bits, index in ((0x7FC0, 4), (0xFFC1, 9), (0x7F81, 0)):  # quiet, negative, signalling NaN
        b = np.zeros(10, dtype=np.uint16)
        b[index] = bits
        r = b.astype(np.uint32) << 16
        for a in (b.view(BF16), torch.from_numpy(b.view(np.int16).copy()).view(torch.bfloat16)):
            for call in (lambda v: qa.quantize(v), lambda v: qa.quantize(v, p), lambda v: qa.minmax(v),
                         lambda v: qa.quantize(v, axis=0)):
                got = outcome(lambda: call(a))
                assert got == outcome(lambda: call(r.view(np.float32))) and f"index {index}" in got[1]
    for bits in (0x7F80, 0xFF80):  # ±Inf
        b = np.full(6, 0x3F80, dtype=np.uint16)
        b[2] = bits
        r = (b.astype(np.uint32) << 16).view(np.float32)
        for a in (b.view(BF16), torch.from_numpy(b.view(np.int16).copy()).view(torch.bfloat16)):
            dyn = outcome(lambda: qa.quantize(a))
            assert dyn == outcome(lambda: qa.quantize(r)) and "infinite value at index 2" in dyn[1]
            assert outcome(lambda: qa.quantize(a, p)) == outcome(lambda: qa.quantize(r, p))  # saturates


def test_big_endian_bf16_is_read_as_its_values(simd_level: str) -> None:
    x = _values(301)
    big = x.astype(BF16).view(np.uint16).byteswap().view(BF16.newbyteorder(">"))
    assert outcome(lambda: qa.quantize(big)) == outcome(lambda: qa.quantize(x))
    assert outcome(lambda: qa.quantize(big, axis=0)) == outcome(lambda: qa.quantize(x, axis=0))


def test_wrong_tensors_raise_type_errors_that_say_what_to_do() -> None:
    with pytest.raises(TypeError, match="move it to the CPU first"):
        qa.quantize(torch.zeros(4, device="meta"))
    with pytest.raises(TypeError, match=r"float16, bfloat16, float32 or float64 .*torch.int32"):
        qa.quantize(torch.zeros(4, dtype=torch.int32))
    with pytest.raises(TypeError, match="torch.complex64"):
        qa.quantize(torch.zeros(4, dtype=torch.complex64))
    with pytest.raises(TypeError, match="to_dense"):
        qa.quantize(torch.zeros(4, 4).to_sparse())
    with pytest.raises(TypeError, match="bfloat16"):
        qa.quantize(np.zeros(4, dtype=np.int16))


class _DLPack:
    """An object reachable only through DLPack (as JAX, CuPy or TensorFlow arrays are)."""

    def __init__(self, a: np.ndarray, device: int = 1) -> None:
        self.a, self.device = a, device

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return (self.device, 0)


def test_dlpack_objects_are_read_in_place(simd_level: str) -> None:
    x = _values((20, 30))
    for v in (x, x.astype(np.float16), x.astype(np.float64)):
        assert outcome(lambda: qa.quantize(_DLPack(v), axis=1)) == outcome(lambda: qa.quantize(v, axis=1))
    with pytest.raises(TypeError, match="move it to the CPU first"):
        qa.quantize(_DLPack(x, device=2))  # kDLCUDA


def test_neither_torch_nor_ml_dtypes_is_imported_for_numpy_work() -> None:
    code = textwrap.dedent("""
        import sys, numpy as np, qaffine as qa
        q = qa.quantize(np.float32([0.5, -1.0, 2.0]))
        q.dequantize(); q.dequantize(dtype=np.float16); qa.quantize(np.float16([1, 2]), axis=0)
        qa.minmax([1.0, 2.0]); qa.quantize(memoryview(np.float32([1, 2])))
        assert "torch" not in sys.modules and "ml_dtypes" not in sys.modules, sorted(sys.modules)
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------- memory
def _bf16_bits(n: int, seed: int = 0) -> np.ndarray:
    """n finite bfloat16 values of both signs (|x| in [2^-15, 2^5)), made directly as bits."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0x3800, 0x4200, n, dtype=np.uint16) | (rng.integers(0, 2, n, dtype=np.uint16) << 15))


@pytest.mark.parametrize("mode", [{}, dict(axis=0), dict(block_size=64), dict(block_size=64, bits=4, packed=True),
                                  dict(axis=0, bits=4, packed=True)],
                         ids=["tensor", "axis0", "block64", "block64packed4", "axis0packed4"])
def test_ml_dtypes_input_makes_no_full_size_float32_copy(mode: Dict[str, Any]) -> None:
    """Peak traced memory of quantizing 8M bfloat16 values stays far below a float32 copy (32 MB): at most
    the codes (8 MB) and one slab (4 MB)."""
    a = _bf16_bits(8 << 20).reshape(2048, -1).view(BF16)
    tracemalloc.start()  # sees NumPy's allocations (the slabs), not necessarily the codes' buffer
    try:
        q = qa.quantize(a, **mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert q.values.nbytes == (a.size // 2 if mode.get("packed") else a.size)
    assert peak < a.size * 4 // 2, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.slow
def test_torch_bf16_input_makes_no_full_size_float32_copy() -> None:
    """RSS (tracemalloc does not see torch's allocations): quantizing a 128 MB bfloat16 parameter raises the
    peak by the codes (64 MB) and a little, not by a float32 copy (256 MB)."""
    code = textwrap.dedent("""
        import numpy as np, torch, qaffine as qa
        def hwm():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        n = 64 << 20
        w = torch.nn.Parameter(torch.empty(n // 4096, 4096, dtype=torch.bfloat16).uniform_(-2, 2))
        qa.quantize(torch.zeros(4096, 4096, dtype=torch.bfloat16), block_size=64)  # warm up pools and threads
        for mode in ({}, {"block_size": 64}, {"axis": 0}):
            before = hwm()
            q = qa.quantize(w, **mode)
            grown = hwm() - before
            assert q.values.nbytes == n
            assert grown < n + (48 << 20), (mode, grown / 2**20)
            del q
            qa.set_buffer_cache(0); qa.set_buffer_cache(None)
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "QAFFINE_BUFFER_CACHE_MB": "0"})


# --------------------------------------------------------------------------------------------- output
def _torch_bf16_bits(x32: np.ndarray) -> np.ndarray:
    return torch.from_numpy(np.ascontiguousarray(x32)).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def _check_outputs(q: "qa.QuantizedArray") -> None:
    r32 = q.dequantize()
    with np.errstate(over="ignore"):  # the oracle casts warn where values overflow to ±Inf; qaffine does not
        f16_ref, bf_ref = r32.astype(np.float16), r32.astype(BF16)
    f16 = q.dequantize(dtype=np.float16)
    assert f16.dtype == np.float16 and np.array_equal(f16.view(np.uint16), f16_ref.view(np.uint16))
    bf = q.dequantize(dtype=BF16)
    assert bf.dtype == BF16
    assert np.array_equal(bf.view(np.uint16), bf_ref.view(np.uint16))
    assert np.array_equal(bf.view(np.uint16), _torch_bf16_bits(r32))
    for dt in (np.float16, BF16):
        out = np.empty(q.shape, dtype=dt)
        assert qa.dequantize(q, out=out) is out  # dtype from out
        assert np.array_equal(out.view(np.uint16), q.dequantize(dtype=dt).view(np.uint16))
        out2 = np.empty(q.shape, dtype=dt)
        assert qa.dequantize(q.codes(), q.params, dtype=dt, out=out2) is out2
        assert np.array_equal(out2.view(np.uint16), out.view(np.uint16))


@pytest.mark.parametrize("mode", [{}, dict(bits=4, signed=True, symmetric=True), dict(axis=0), dict(axis=-1),
                                  dict(block_size=16), dict(block_size=3, axis=0), dict(bits=3, packed=True),
                                  dict(block_size=16, bits=4, packed=True), dict(axis=0, bits=4, signed=True, packed=True)],
                         ids=["default", "sym4", "axis0", "axis-1", "block16", "block3axis0", "packed3", "packed4block16",
                              "packed4axis0signed"])
def test_16bit_dequantize_is_the_cast_of_the_float32_result(simd_level: str, mode: Dict[str, Any]) -> None:
    """Every length around the register widths (tails), every mode: float16 = NumPy's cast, bfloat16 =
    ml_dtypes' and torch's casts of the float32 result (round to nearest even)."""
    for n in (1, 7, 8, 15, 16, 17, 33, 1001):
        _check_outputs(qa.quantize(_values((n, 3), seed=n) * 100, **mode))


@pytest.mark.parametrize("scale,span", [
    (1 + 2**-8, 255), (1 + 2**-11, 255), (3 + 2**-7, 255),  # exact ties of bfloat16 / float16: to even ...
    (1 + 2**-7 + 2**-8, 255), (1 + 2**-10 + 2**-11, 255),   # ... which here is up (the kept last bit is odd)
    (300.0, 255), (2.0**-20, 255), (2.0**-30, 127),           # float16 overflow to Inf; subnormals; underflow
    (1.5e36, 255), (3.0e38, 127),                             # bfloat16 near its max; float32 overflow to Inf
])
def test_16bit_dequantize_ties_overflow_and_subnormals(simd_level: str, scale: float, span: int) -> None:
    codes = np.arange(256, dtype=np.uint8)
    for z in (0, span // 2, 255 - span):
        _check_outputs(qa.QuantizedArray(codes, qa.QParams(scale=np.float32(scale), zero_point=z)))
    r = qa.dequantize(codes, qa.QParams(scale=np.float32(300.0), zero_point=0), dtype=np.float16)
    assert np.isinf(r[-1]) and r[-1] > 0


def test_dequantize_dtype_is_validated() -> None:
    q = qa.quantize(_values(10))
    for ok in (np.float16, "float16", "f2", np.dtype(np.float64), "bfloat16", ml_dtypes.bfloat16, BF16):
        assert q.dequantize(dtype=ok).shape == (10,)
    assert q.dequantize(dtype="bfloat16").dtype == BF16
    for bad in (np.int8, ">f2", ">f4", np.complex64, "float128", torch.bfloat16, "bf16", BF16.newbyteorder(">")):
        with pytest.raises(TypeError, match="float16, bfloat16"):
            q.dequantize(dtype=bad)
    with pytest.raises(TypeError):
        q.dequantize(dtype=np.float16, out=np.empty(10, dtype=BF16))


def test_bfloat16_output_without_ml_dtypes_says_how_to_get_it(tmp_path: Any) -> None:
    np.save(tmp_path / "x.npy", _values((30, 4)))
    code = textwrap.dedent(f"""
        import sys
        sys.modules["ml_dtypes"] = None  # as if not installed
        import numpy as np, qaffine as qa
        from qaffine.__main__ import main
        q = qa.quantize(np.float32([1, 2]))
        assert q.dequantize(dtype=np.float16).dtype == np.float16
        try:
            q.dequantize(dtype="bfloat16")
        except ImportError as e:
            assert "qaffine[bf16]" in str(e), e
        else:
            raise AssertionError("no ImportError")
        d = {str(tmp_path)!r}
        assert main(["quantize", d + "/x.npy", "-o", d + "/q.npz", "-q"]) == 0
        assert main(["dequantize", d + "/q.npz", "-o", d + "/b.npy", "--dtype", "bfloat16"]) == 2
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "needs the ml_dtypes package" in r.stderr and not (tmp_path / "b.npy").exists()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_cli_dequantize_dtype(tmp_path: Any, dtype: str) -> None:
    from qaffine.__main__ import main
    x = _values((50, 40))
    np.save(tmp_path / "x.npy", x)
    assert main(["quantize", str(tmp_path / "x.npy"), "-o", str(tmp_path / "q.npz"), "--block-size", "8", "-q"]) == 0
    assert main(["dequantize", str(tmp_path / "q.npz"), "-o", str(tmp_path / "y.npy"), "--dtype", dtype, "-q"]) == 0
    want = qa.load(tmp_path / "q.npz").dequantize(dtype=dtype)
    got = np.load(tmp_path / "y.npy")
    if dtype == "bfloat16":
        assert got.dtype == np.dtype("V2")  # how NumPy stores ml_dtypes arrays
        got = got.view(BF16)
    assert got.dtype == want.dtype and np.array_equal(got.view(np.uint8), want.view(np.uint8))
    assert result_key(qa.load(tmp_path / "q.npz")) == result_key(qa.quantize(x, block_size=8))


def test_dask_takes_bfloat16_arrays_and_writes_16bit_floats() -> None:
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    import qaffine.dask as qd
    x = _values((60, 50)).astype(BF16)
    ref = x.astype(np.float32)
    with dask.config.set(scheduler="synchronous"):
        for mode in ({}, dict(axis=0), dict(block_size=10), dict(axis=1, bits=4, signed=True, symmetric=True)):
            got = qd.quantize(da.from_array(x, chunks=(20, 10)), **mode).compute()
            assert result_key(got) == result_key(qa.quantize(ref, **mode))
        bad = x.copy()
        bad[33, 7] = np.nan
        with pytest.raises(ValueError, match=r"NaN at index \(33, 7\)"):
            qd.quantize(da.from_array(bad, chunks=(20, 10))).compute()
        q = qd.quantize(da.from_array(ref, chunks=(20, 10)), axis=0)
        for dt in (np.float16, BF16):
            assert np.array_equal(q.dequantize(dtype=dt).compute().view(np.uint16),
                                  q.compute().dequantize(dtype=dt).view(np.uint16))


def test_error_report_of_bfloat16_data_is_that_of_its_float32_values() -> None:
    x = _values((40, 30))
    for t in (x.astype(BF16), torch.tensor(x).to(torch.bfloat16).requires_grad_(True)):
        assert qa.error(t, qa.quantize(t, axis=0)) == qa.error(x, qa.quantize(x, axis=0))

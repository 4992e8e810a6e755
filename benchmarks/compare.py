#!/usr/bin/env python3
"""qaffine against its peers, in one process, on the same arrays, with a memory floor from the same run.

Peers (each optional: skipped with a note when not installed):

* ``numpy seed``  the seed notebook's formulas: ``np.max``/``np.min``, ``s = (β − α) / 255``,
  ``z = round((β·0 − α·255) / (β − α))``, ``np.clip(x / s + z, 0, 255).astype(np.uint8)`` (per axis and
  per block the same formulas, broadcast); dequantize ``s * (q − z)``.
* ``numpy``       NumPy done right: ``x.min()``, ``x.max()``, the ONNX range and zero point in float32, one
  ``x / s`` temporary then ``np.rint``/``+ z``/``np.clip`` in place (``out=``), ``astype(np.uint8)``.
* ``torch``       ``torch.aminmax`` + ``torch.quantize_per_tensor``; per axis ``torch.aminmax(dim=)`` +
  ``torch.quantize_per_channel``; per block the same on the ``(-1, B)`` view (a block is a row there);
  dequantize ``Tensor.dequantize()``. ``torch.set_num_threads`` follows the thread column.
* ``onnxruntime`` an ``InferenceSession`` per graph: ``DynamicQuantizeLinear``; per axis and per block
  ``ReduceMin``/``ReduceMax`` + the ONNX scale/zero-point formula + ``QuantizeLinear`` (``axis``, and
  ``block_size`` of opset 21 per block); ``DequantizeLinear``. ``intra_op_num_threads`` = the thread column.

``qaffine`` is the whole Python call that allocates its result as the peers do (the ratios divide by it);
``qa out=`` writes into a preallocated buffer, ``qa avx2`` is that with the AVX2 kernels forced in-process.

The floor is the time to move the workload's bytes at the best speed measured on arrays of the same size in
this run: reads timed with ``np.max`` and, for float32, qaffine's own minmax (a prefetching streaming read that
beats ``np.max`` from DRAM), the faster of the two; writes with ``fill``/``np.copyto`` into a preallocated
buffer (threads split the array where that is faster); call overhead subtracted. Per tensor: 2 reads of x + 1 write of the
codes (a range pass, then a code pass); per axis / per block: 1 read + 1 write; dequantize: 1 read of the
codes + 1 write of floats. ``qa/floor`` uses ``qa out=``. ``per-tensor-16bit`` is ``qa.quantize(x, bits=16)``
(uint16 codes; of the peers only NumPy done right, at 65535 levels: torch and ONNX Runtime have no dynamic
16-bit quantizer): its floor is 2 reads of x + twice the 8-bit
write, and its time is read against the ``per-tensor`` row of the same size.

    python benchmarks/compare.py --quick            # ~30 s
    python benchmarks/compare.py --json bench.json  # every size, 1 thread and all threads
    python benchmarks/compare.py --markdown         # the table for the README
    python benchmarks/compare.py --workloads calibrate   # only the calibration section (see calibration())

The ``lowbit`` workload (its own table, ``--workloads lowbit`` alone) times group-wise low-bit codes on one
thread: per block B = 32, 64, 128 along the last axis of 4096×4096 (aligned rows), 4096×4095 and 55924×300
(unaligned rows) float32, 8-bit and 4-bit codes, packed and unpacked, default and symmetric signed, quantize
and dequantize; per channel along the last axis against axis 0; the floor of one read of x plus the packed
write (dequantize: one read of the packed bytes plus the float write). Peers: ONNX Runtime's MatMulNBits
quantizer ``onnxruntime.capi._pybind_state.quantize_matmul_4bits`` (C++; blocks along the first axis of a
K×N weight, packed 4-bit with a zero point per block) and gguf-py's ``gguf.quants.quantize`` Q4_0 / Q4_1 / Q8_0
(NumPy; llama.cpp's rounding, not ONNX's: compared for time only). ``quantize_matmul_4bits`` takes no thread
count: it makes ONNX Runtime's default thread pool on every call (one thread per core; no environment variable
or session option reaches it). So it is timed twice: as it comes (the threads it kept busy, CPU time / wall
time, in the label), and, for the row with the ``≥ 12`` target, with the process pinned to one CPU
(``os.sched_setaffinity`` around the timed calls, restored after), where that pool shares one core, one
thread's worth of CPU time as qaffine's one thread; on platforms without ``sched_setaffinity`` that row is the
unpinned measurement again and its label says so.

Times are the minimum over repeats; the repeat count adapts to the size. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

import qaffine as qa
from qaffine import _core

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None  # type: ignore[assignment]

try:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
except ImportError:  # pragma: no cover - depends on the environment
    onnx = ort = None  # type: ignore[assignment]

# torch.quantize_per_tensor/_per_channel warn that quantized dtypes are deprecated; they are still the API.
warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*", category=UserWarning)

PEERS = ("qaffine", "qaffine_out", "qaffine_avx2", "numpy_seed", "numpy", "torch", "onnxruntime")
HEADERS = {
    "qaffine": "qaffine", "qaffine_out": "qa out=", "qaffine_avx2": "qa avx2", "numpy_seed": "numpy seed",
    "numpy": "numpy", "torch": "torch", "onnxruntime": "onnxruntime",
}
WORKLOADS = ("per-tensor", "dequantize", "per-axis", "per-block", "per-tensor-16bit", "lowbit", "calibrate")
DEFAULT_WORKLOADS = WORKLOADS[:6]  # the calibration section runs when asked for (--workloads calibrate)
CALIBRATION_SIZES = (10**5, 10**6, 10**7)
DEFAULT_SIZES = (10**3, 10**4, 10**5, 10**6, 10**7, 10**8)
QUICK_SIZES = (10**3, 10**5, 10**7)
BLOCK_COLS = 4096
FLOOR_MIN_S = 1e-6  # below this the floor is noise: qa/floor is not shown
ROW_CALL_N = 1000   # "the whole Python call of qa.quantize on 1,000 floats"
CALL_TARGET_US = 2.5


# ----------------------------------------------------------------------------------------------- timing
class Plan(NamedTuple):
    target_s: float     # time spent on one cell (all its samples)
    min_repeats: int
    max_repeats: int
    min_sample_s: float  # one sample loops the call until it takes at least this long
    repeats: Optional[int]  # fixed repeat count (--repeats)


class Timing(NamedTuple):
    seconds: float  # best time of one call
    repeats: int
    number: int     # calls per sample


def _loop(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - t0


def measure(fn: Callable[[], Any], plan: Plan) -> Timing:
    """Minimum time of one call of fn (already warmed up by the caller), repeats adapted to its length."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        first = _loop(fn, 1)
        number = 1 if first >= plan.min_sample_s else min(10**6, math.ceil(plan.min_sample_s / max(first, 1e-8)))
        best = first if number == 1 else math.inf
        if plan.repeats is not None:
            repeats = plan.repeats
        else:
            per_sample = max(first * number, 1e-9)
            repeats = max(plan.min_repeats, min(plan.max_repeats, int(plan.target_s / per_sample)))
        for _ in range(repeats - (1 if number == 1 else 0)):
            best = min(best, _loop(fn, number) / number)
        return Timing(best, repeats, number)
    finally:
        if gc_was_enabled:
            gc.enable()


# ----------------------------------------------------------------------------------------------- floor
class Floor:
    """Times of moving n elements: reads (np.max or qaffine's minmax, the faster) and writes (fill / np.copyto),
    call overhead subtracted."""

    PARTS = ("read_f32", "read_u8", "write_f32", "write_u8")
    TINY = 64

    def __init__(self, plan: Plan, max_threads: int) -> None:
        self.plan = plan
        self.pool = ThreadPoolExecutor(max_threads) if max_threads > 1 else None
        self.cache: Dict[Tuple[int, int], Dict[str, float]] = {}

    def _one(self, part: str, n: int, threads: int) -> float:
        dtype = np.float32 if part.endswith("f32") else np.uint8
        a = np.ones(n, dtype=dtype)  # written, so its pages are resident
        if part.startswith("read"):
            single: Callable[[np.ndarray], Any] = np.max
            chunk_op: Callable[[np.ndarray], Any] = np.max
        else:
            def single(b: np.ndarray) -> None:
                b.fill(1)

            def chunk_op(b: np.ndarray) -> None:
                np.copyto(b, 1)  # releases the GIL (fill does not)

        def t_single(arr: np.ndarray) -> float:
            single(arr)
            return measure(lambda: single(arr), self.plan).seconds

        best = max(0.0, t_single(a) - t_single(a[: self.TINY]))
        if part == "read_f32":  # qaffine's minmax: a streaming read with prefetch, on `threads` threads
            old_threads = qa.get_num_threads()
            qa.set_num_threads(threads)
            try:
                def t_qa(arr: np.ndarray) -> float:
                    _core.minmax(arr)
                    return measure(lambda: _core.minmax(arr), self.plan).seconds

                best = min(best, max(0.0, t_qa(a) - t_qa(a[: self.TINY])))
            finally:
                qa.set_num_threads(old_threads)
        if threads > 1 and self.pool is not None and n >= threads * self.TINY:
            pool = self.pool

            def t_split(arr: np.ndarray) -> float:
                chunks = np.array_split(arr, threads)

                def run() -> None:
                    for _ in pool.map(chunk_op, chunks):
                        pass
                run()
                return measure(run, self.plan).seconds

            best = min(best, max(0.0, t_split(a) - t_split(a[: self.TINY * threads])))
        return best

    def parts(self, n: int, threads: int) -> Dict[str, float]:
        key = (n, threads)
        if key not in self.cache:
            self.cache[key] = {p: self._one(p, n, threads) for p in self.PARTS}
        return self.cache[key]

    def of(self, workload: str, n: int, threads: int) -> Tuple[float, Dict[str, float]]:
        p = self.parts(n, threads)
        if workload == "per-tensor":
            total = 2 * p["read_f32"] + p["write_u8"]
        elif workload == "dequantize":
            total = p["read_u8"] + p["write_f32"]
        elif workload == "per-tensor-16bit":  # two reads of x, twice the 8-bit write
            total = 2 * p["read_f32"] + 2 * p["write_u8"]
        else:
            total = p["read_f32"] + p["write_u8"]
        return total, p


# ------------------------------------------------------------------------------------------------ peers
def onnx_params(lo: np.float32, hi: np.float32, qmax: int = 255) -> Tuple[np.float32, int]:
    """ONNX DynamicQuantizeLinear's scale (float32 arithmetic) and zero point for one range (codes [0, qmax])."""
    f = np.float32
    lo, hi = min(lo, f(0)), max(hi, f(0))
    s = (hi - lo) / f(qmax)
    return s, min(max(round(float(-lo / s)), 0), qmax)  # round(): half to even, as ONNX


def onnx_params_rows(lo: np.ndarray, hi: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The same for arrays of bounds (float32 arrays, the zero points as float32 integers)."""
    lo = np.minimum(lo, np.float32(0))
    hi = np.maximum(hi, np.float32(0))
    s = (hi - lo) / np.float32(255)
    return s, np.clip(np.rint(-lo / s), np.float32(0), np.float32(255))


def numpy_seed_quantize(x: np.ndarray) -> np.ndarray:
    beta, alpha = np.max(x), np.min(x)
    beta_q, alpha_q = 2**8 - 1, 0
    s = (beta - alpha) / (beta_q - alpha_q)
    z = round((beta * alpha_q - alpha * beta_q) / (beta - alpha))
    return np.clip((x / s) + z, alpha_q, beta_q).astype(np.uint8)


def numpy_seed_quantize_rows(x2: np.ndarray) -> np.ndarray:
    """The seed formulas with one (s, z) per row, broadcast."""
    beta, alpha = x2.max(axis=1, keepdims=True), x2.min(axis=1, keepdims=True)
    s = (beta - alpha) / 255
    z = np.round((beta * 0 - alpha * 255) / (beta - alpha))
    return np.clip((x2 / s) + z, 0, 255).astype(np.uint8)


def numpy_quantize(x: np.ndarray, qmax: int = 255, dtype: Any = np.uint8) -> np.ndarray:
    s, z = onnx_params(x.min(), x.max(), qmax)
    t = np.divide(x, s)
    np.rint(t, out=t)
    np.add(t, np.float32(z), out=t)
    np.clip(t, 0, qmax, out=t)
    return t.astype(dtype)


def numpy_quantize_rows(x2: np.ndarray) -> np.ndarray:
    s, z = onnx_params_rows(x2.min(axis=1), x2.max(axis=1))
    t = np.divide(x2, s[:, None])
    np.rint(t, out=t)
    np.add(t, z[:, None], out=t)
    np.clip(t, 0, 255, out=t)
    return t.astype(np.uint8)


def torch_quantize(t: Any) -> Any:
    lo, hi = torch.aminmax(t)
    s, z = onnx_params(np.float32(lo.item()), np.float32(hi.item()))
    return torch.quantize_per_tensor(t, float(s), z, torch.quint8)


def torch_quantize_rows(t2: Any) -> Any:
    lo, hi = torch.aminmax(t2, dim=1)
    lo = lo.clamp(max=0)
    hi = hi.clamp(min=0)
    s = (hi - lo) / 255
    z = torch.round(-lo / s).clamp(0, 255).to(torch.int64)
    return torch.quantize_per_channel(t2, s, z, 0, torch.quint8)


class OrtGraphs:
    """InferenceSessions built once per (graph, shape parameters, threads)."""

    def __init__(self) -> None:
        self.cache: Dict[Tuple[Any, ...], Any] = {}

    def session(self, key: Tuple[Any, ...], threads: int) -> Any:
        full = key + (threads,)
        if full not in self.cache:
            makers: Dict[str, Callable[..., Any]] = {"per-tensor": self._dynamic, "dequantize": self._dequantize,
                                                     "per-axis": self._rows, "per-block": self._blocks}
            model = makers[key[0]](*key[1:])
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self.cache[full] = ort.InferenceSession(model.SerializeToString(), so,
                                                    providers=["CPUExecutionProvider"])
        return self.cache[full]

    @staticmethod
    def _model(nodes: List[Any], inputs: List[Any], outputs: List[Any], inits: Sequence[Any] = ()) -> Any:
        graph = helper.make_graph(nodes, "bench", inputs, outputs, initializer=list(inits))
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)

    @staticmethod
    def _vi(name: str, elem: int, shape: Sequence[Optional[int]]) -> Any:
        return helper.make_tensor_value_info(name, elem, list(shape))

    def _dynamic(self) -> Any:
        return self._model([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])],
                           [self._vi("x", TensorProto.FLOAT, [None])],
                           [self._vi("y", TensorProto.UINT8, [None]), self._vi("s", TensorProto.FLOAT, []),
                            self._vi("z", TensorProto.UINT8, [])])

    def _dequantize(self) -> Any:
        return self._model([helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
                           [self._vi("q", TensorProto.UINT8, [None]), self._vi("s", TensorProto.FLOAT, []),
                            self._vi("z", TensorProto.UINT8, [])],
                           [self._vi("y", TensorProto.FLOAT, [None])])

    def _params_nodes(self, src: str) -> Tuple[List[Any], List[Any]]:
        """Nodes giving s and z (ONNX DynamicQuantizeLinear formula) per row of the 2-D tensor src."""
        inits = [helper.make_tensor("axes1", TensorProto.INT64, [1], [1]),
                 helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
                 helper.make_tensor("c255", TensorProto.FLOAT, [], [255.0])]
        nodes = [
            helper.make_node("ReduceMin", [src, "axes1"], ["lo"], keepdims=0),
            helper.make_node("ReduceMax", [src, "axes1"], ["hi"], keepdims=0),
            helper.make_node("Min", ["lo", "zero"], ["lo0"]),
            helper.make_node("Max", ["hi", "zero"], ["hi0"]),
            helper.make_node("Sub", ["hi0", "lo0"], ["span"]),
            helper.make_node("Div", ["span", "c255"], ["s"]),
            helper.make_node("Div", ["lo0", "s"], ["lo_s"]),
            helper.make_node("Neg", ["lo_s"], ["zf0"]),
            helper.make_node("Round", ["zf0"], ["zf1"]),
            helper.make_node("Clip", ["zf1", "zero", "c255"], ["zf"]),
            helper.make_node("Cast", ["zf"], ["z"], to=TensorProto.UINT8),
        ]
        return nodes, inits

    def _rows(self) -> Any:
        nodes, inits = self._params_nodes("x")
        nodes.append(helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=0))
        return self._model(nodes, [self._vi("x", TensorProto.FLOAT, [None, None])],
                           [self._vi("y", TensorProto.UINT8, [None, None]), self._vi("s", TensorProto.FLOAT, [None]),
                            self._vi("z", TensorProto.UINT8, [None])], inits)

    def _blocks(self, cols: int, block: int) -> Any:
        nodes, inits = self._params_nodes("xb")
        inits += [helper.make_tensor("shape_b", TensorProto.INT64, [2], [-1, block]),
                  helper.make_tensor("shape_p", TensorProto.INT64, [2], [-1, cols // block])]
        nodes = [helper.make_node("Reshape", ["x", "shape_b"], ["xb"])] + nodes + [
            helper.make_node("Reshape", ["s", "shape_p"], ["s2"]),
            helper.make_node("Reshape", ["z", "shape_p"], ["z2"]),
            helper.make_node("QuantizeLinear", ["x", "s2", "z2"], ["y"], axis=1, block_size=block),
        ]
        return self._model(nodes, [self._vi("x", TensorProto.FLOAT, [None, cols])],
                           [self._vi("y", TensorProto.UINT8, [None, cols]),
                            self._vi("s2", TensorProto.FLOAT, [None, cols // block]),
                            self._vi("z2", TensorProto.UINT8, [None, cols // block])], inits)


# -------------------------------------------------------------------------------------------- workloads
class Case(NamedTuple):
    workload: str
    shape: Tuple[int, ...]
    block_size: Optional[int]

    @property
    def n(self) -> int:
        return int(np.prod(self.shape))

    @property
    def label(self) -> str:
        return self.workload if self.block_size is None else f"{self.workload} B={self.block_size}"


def block_shape(n: int) -> Tuple[int, int]:
    """(rows, 4096) close to n elements; smaller n: one row, a multiple of 128 wide."""
    if n >= BLOCK_COLS:
        return n // BLOCK_COLS, BLOCK_COLS
    return 1, max(128, n // 128 * 128)


def fmt_n(case: Case) -> str:
    if len(case.shape) == 1:
        n = case.shape[0]
        e = round(math.log10(n)) if n > 0 else 0
        return f"1e{e}" if 10**e == n else str(n)
    return "×".join(str(d) for d in case.shape)


Callables = Dict[str, Callable[[], Any]]


def build(case: Case, x: np.ndarray, threads: int, ort_graphs: Optional[OrtGraphs],
          notes: Dict[str, str]) -> Tuple[Callables, Dict[str, Callable[[Any], np.ndarray]]]:
    """The timed callables of each available peer for this case, and how to read codes out of each result."""
    fns: Callables = {}
    codes_of: Dict[str, Callable[[Any], np.ndarray]] = {}
    as_np: Callable[[Any], np.ndarray] = np.asarray
    qa_codes: Callable[[Any], np.ndarray] = lambda r: r.values  # noqa: E731
    if torch is not None:
        torch_codes: Callable[[Any], np.ndarray] = lambda r: r.int_repr().numpy().reshape(x.shape)  # noqa: E731
    ort_first: Callable[[Any], np.ndarray] = lambda r: r[0].reshape(x.shape)  # noqa: E731

    if case.workload == "per-tensor":
        buf = np.empty(x.shape, dtype=np.uint8)
        fns["qaffine"] = lambda: qa.quantize(x)
        fns["qaffine_out"] = lambda: qa.quantize(x, out=buf)
        fns["numpy_seed"] = lambda: numpy_seed_quantize(x)
        fns["numpy"] = lambda: numpy_quantize(x)
        for k in ("qaffine", "qaffine_out"):
            codes_of[k] = qa_codes
        codes_of["numpy_seed"] = codes_of["numpy"] = as_np
        if torch is not None:
            t = torch.from_numpy(x)
            fns["torch"] = lambda: torch_quantize(t)
            codes_of["torch"] = torch_codes
        if ort_graphs is not None:
            sess = ort_graphs.session(("per-tensor",), threads)
            fns["onnxruntime"] = lambda: sess.run(None, {"x": x})
            codes_of["onnxruntime"] = ort_first
    elif case.workload == "per-tensor-16bit":  # torch and ONNX Runtime have no dynamic 16-bit quantizer
        buf16 = np.empty(x.shape, dtype=np.uint16)
        fns["qaffine"] = lambda: qa.quantize(x, bits=16)
        fns["qaffine_out"] = lambda: qa.quantize(x, bits=16, out=buf16)
        fns["numpy"] = lambda: numpy_quantize(x, 65535, np.uint16)
        for k in ("qaffine", "qaffine_out"):
            codes_of[k] = qa_codes
        codes_of["numpy"] = as_np
    elif case.workload == "dequantize":
        q = qa.quantize(x)
        codes, s, z = q.values, np.float32(q.scale), int(q.zero_point)
        fbuf = np.empty(x.shape, dtype=np.float32)
        fns["qaffine"] = lambda: qa.dequantize(q)
        fns["qaffine_out"] = lambda: qa.dequantize(q, out=fbuf)
        # The notebook's s * (q - z) with uint8 q: NumPy 1 promoted to int16 (value-based casting);
        # NumPy 2 would wrap around in uint8, so the int16 is spelled out.
        fns["numpy_seed"] = lambda: s * (codes - np.int16(z))

        def numpy_dequantize() -> np.ndarray:
            r = np.subtract(codes, np.float32(z), dtype=np.float32)
            np.multiply(r, s, out=r)
            return r

        fns["numpy"] = numpy_dequantize
        if torch is not None:
            tq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(codes), float(s), z)
            fns["torch"] = tq.dequantize
            codes_of["torch"] = lambda r: r.numpy()
        if ort_graphs is not None:
            sess = ort_graphs.session(("dequantize",), threads)
            feed = {"q": codes, "s": np.array(s, dtype=np.float32), "z": np.array(z, dtype=np.uint8)}
            fns["onnxruntime"] = lambda: sess.run(None, feed)
            codes_of["onnxruntime"] = lambda r: r[0]
        for k in ("qaffine", "qaffine_out", "numpy_seed", "numpy"):
            codes_of[k] = as_np
    else:  # per-axis (axis 0 of a 2-D array) or per-block (last axis)
        buf = np.empty(x.shape, dtype=np.uint8)
        block = case.block_size
        axis = 0 if block is None else None
        rows = x if block is None else x.reshape(-1, block)  # per block: a block is a row of this view
        fns["qaffine"] = lambda: qa.quantize(x, axis=axis, block_size=block)
        fns["qaffine_out"] = lambda: qa.quantize(x, axis=axis, block_size=block, out=buf)
        fns["numpy_seed"] = lambda: numpy_seed_quantize_rows(rows)
        fns["numpy"] = lambda: numpy_quantize_rows(rows)
        for k in ("qaffine", "qaffine_out"):
            codes_of[k] = qa_codes
        codes_of["numpy_seed"] = codes_of["numpy"] = lambda r: r.reshape(x.shape)
        if torch is not None:
            t_rows = torch.from_numpy(rows)
            fns["torch"] = lambda: torch_quantize_rows(t_rows)
            codes_of["torch"] = torch_codes
        if ort_graphs is not None:
            key = ("per-axis",) if block is None else ("per-block", x.shape[1], block)
            try:
                sess = ort_graphs.session(key, threads)
                sess.run(None, {"x": x[:1]})  # unsupported attributes may only fail at run time
            except Exception as e:  # noqa: BLE001 - any ORT failure is a note, not a crash
                notes["onnxruntime"] = f"unsupported: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
            else:
                fns["onnxruntime"] = lambda: sess.run(None, {"x": x})
                codes_of["onnxruntime"] = ort_first
    return fns, codes_of


def run_case(case: Case, x: np.ndarray, threads: int, plan: Plan, floor: Floor, ort_graphs: Optional[OrtGraphs],
             avx2: bool) -> Dict[str, Any]:
    qa.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    notes: Dict[str, str] = {}
    fns, codes_of = build(case, x, threads, ort_graphs, notes)
    times: Dict[str, Optional[float]] = {p: None for p in PEERS}
    repeats: Dict[str, int] = {}
    mismatches: Dict[str, int] = {}
    reference: Optional[np.ndarray] = None
    codes_of["qaffine_avx2"] = codes_of["qaffine_out"]

    def timed(name: str, fn: Callable[[], Any]) -> None:
        nonlocal reference
        result = fn()  # warm-up, and the result to check
        got = np.asarray(codes_of[name](result)) if name in codes_of else None
        if name == "qaffine":
            reference = None if got is None else got.copy()
        elif got is not None and reference is not None:
            mismatches[name] = int(np.count_nonzero(got.reshape(reference.shape) != reference))
        del result, got
        t = measure(fn, plan)
        times[name] = t.seconds * 1e3
        repeats[name] = t.repeats

    for name in PEERS:
        if name == "qaffine_avx2":
            if avx2 and case.workload in ("per-tensor", "dequantize", "per-tensor-16bit"):
                previous = _core.simd_level()
                _core._set_simd_level("avx2")
                try:
                    timed(name, fns["qaffine_out"])
                finally:
                    _core._set_simd_level(previous)
            continue
        if name in fns:
            timed(name, fns[name])
    if case.workload == "per-tensor" and "torch" in mismatches and mismatches["torch"]:
        notes.setdefault("torch", "rounds fma(x, 1/s, z), not x / s: codes can differ next to a tie")
    fns.clear()
    floor_s, parts = floor.of(case.workload, case.n, threads)
    base = times["qaffine"]
    ratios = {p: t / base for p in PEERS if p != "qaffine" and (t := times[p]) is not None and base}
    out_ms = times["qaffine_out"]
    return {
        "workload": case.workload,
        "block_size": case.block_size,
        "shape": list(case.shape),
        "n": case.n,
        "threads": threads,
        "times_ms": times,
        "ratios": ratios,
        "floor_ms": floor_s * 1e3,
        "floor_parts_ms": {k: v * 1e3 for k, v in parts.items()},
        "qaffine_over_floor": (out_ms / (floor_s * 1e3)) if out_ms is not None and floor_s >= FLOOR_MIN_S else None,
        "repeats": repeats,
        "mismatches": mismatches,
        "notes": notes,
    }


def call_overhead(plan: Plan) -> Dict[str, float]:
    """The whole Python call of qa.quantize on 1,000 float32, in microseconds (1 thread)."""
    qa.set_num_threads(1)
    x = np.random.default_rng(1).standard_normal(ROW_CALL_N, dtype=np.float32)
    buf = np.empty(ROW_CALL_N, dtype=np.uint8)
    q = qa.quantize(x)
    fbuf = np.empty(ROW_CALL_N, dtype=np.float32)
    calls: Dict[str, Callable[[], Any]] = {
        "quantize": lambda: qa.quantize(x),
        "quantize_out": lambda: qa.quantize(x, out=buf),
        "dequantize": lambda: qa.dequantize(q),
        "dequantize_out": lambda: qa.dequantize(q, out=fbuf),
    }
    # Tiny calls: many samples are cheap, and more samples beat the noise of a shared machine.
    fine = plan._replace(min_repeats=max(plan.min_repeats, 20), max_repeats=max(plan.max_repeats, 200))
    out = {}
    for name, fn in calls.items():
        fn()
        out[name] = measure(fn, fine).seconds * 1e6
    return out


# ---------------------------------------------------------------------------------------------- output
def fmt_ms(ms: Optional[float]) -> str:
    if ms is None:
        return "—"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 1:
        return f"{ms:.3g}"
    return f"{ms:.3f}" if ms >= 0.01 else f"{ms:.4f}"


def fmt_ratio(r: Optional[float]) -> str:
    if r is None:
        return ""
    return f"{r:.1f}×" if r < 100 else f"{r:.0f}×"


def table_rows(results: List[Dict[str, Any]], peers: Sequence[str]) -> Tuple[List[str], List[List[str]]]:
    head = ["workload", "n", "threads", "floor ms"] + [HEADERS[p] + " ms" for p in peers] + ["qa/floor"]
    rows = []
    for r in results:
        case = Case(r["workload"], tuple(r["shape"]), r["block_size"])
        cells = [case.label, fmt_n(case), str(r["threads"]), fmt_ms(r["floor_ms"])]
        for p in peers:
            ms = r["times_ms"][p]
            cell = fmt_ms(ms)
            ratio = r["ratios"].get(p)
            if ms is not None and ratio is not None and p not in ("qaffine_out", "qaffine_avx2"):
                cell += f" ({fmt_ratio(ratio)})"
            if ms is None and p in r["notes"]:
                cell = "n/a"
            cells.append(cell)
        qf = r["qaffine_over_floor"]
        cells.append("—" if qf is None else f"{qf:.2f}")
        rows.append(cells)
    return head, rows


def render(head: List[str], rows: List[List[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    lines = [fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def all_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def parse_sizes(text: str) -> List[int]:
    sizes = []
    for tok in text.split(","):
        tok = tok.strip()
        if tok:
            v = float(tok)
            if v < 1 or v != int(v):
                raise argparse.ArgumentTypeError(f"size {tok!r} is not a positive integer")
            sizes.append(int(v))
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given")
    return sizes


def parse_threads(text: str) -> List[int]:
    out: List[int] = []
    for tok in text.split(","):
        tok = tok.strip().lower()
        if not tok:
            continue
        v = all_cpus() if tok == "all" else int(tok)
        if v < 1:
            raise argparse.ArgumentTypeError(f"thread count {tok!r} must be >= 1")
        if v not in out:
            out.append(v)
    return out


def parse_shape(text: str) -> Tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS, got {text!r}")
    return int(parts[0]), int(parts[1])


def parse_list(text: str, allowed: Sequence[str]) -> List[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(allowed)}")
    return items


# ------------------------------------------------------------------------------------------- calibration
def calibration_data(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """The distributions of the calibration section (float32)."""
    if name == "normal":
        return rng.standard_normal(n, dtype=np.float32)
    if name == "student_t3":
        return rng.standard_t(3, n).astype(np.float32)
    if name == "laplace+outliers":
        x = rng.laplace(size=n)
        x[rng.choice(n, 10, replace=False)] = rng.uniform(-200, 200, 10)
        return x.astype(np.float32)
    return (np.maximum(rng.standard_normal(n), 0) * rng.lognormal(size=n)).astype(np.float32)  # relu_lognormal


CALIBRATION_DATA = ("normal", "student_t3", "laplace+outliers", "relu_lognormal")


def sqnr_db(x: np.ndarray, scale: float, zero_point: int) -> float:
    """SQNR of the 8-bit asymmetric round trip with these parameters (qaffine's static codes)."""
    p = qa.QParams(scale=np.float32(scale), zero_point=int(zero_point))
    y = qa.quantize(x, p).dequantize().astype(np.float64)
    x64 = x.astype(np.float64)
    return float(10 * np.log10((x64 * x64).sum() / max(((x64 - y) ** 2).sum(), 1e-300)))


def _best_time(fn: Callable[[], Any], repeats: int, budget_s: float = 0.3) -> Tuple[float, Any]:
    """Best of at least `repeats` calls, and of as many more (up to 200) as fit in about budget_s: a sub-millisecond
    call timed only 3 times measures the machine's noise, not the call."""
    best, out, spent, k = math.inf, None, 0.0, 0
    while k < repeats or (spent < budget_s and k < 200):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best, spent, k = min(best, dt), spent + dt, k + 1
    return best * 1e3, out


def calibration(sizes: Sequence[int], repeats: int, markdown: bool) -> List[Dict[str, Any]]:
    """Range methods, one thread each, on the four distributions: time (ms, one update + the parameters) and SQNR
    (dB, 8-bit asymmetric codes on the same data) of qaffine's Observer methods against PyTorch's MinMaxObserver,
    MovingAverageMinMaxObserver and HistogramObserver (forward + calculate_qparams) and ONNX Runtime's
    HistogramCollector (entropy: 2048 bins, 128 quantized bins as TensorRT; percentile 99.99, 2048 bins)."""
    rng = np.random.default_rng(0)
    qa.set_num_threads(1)
    methods: List[Tuple[str, Callable[[np.ndarray], Tuple[float, int]]]] = []
    for m in ("minmax", "percentile", "mse", "entropy"):
        def qa_method(x: np.ndarray, m: str = m) -> Tuple[float, int]:
            p = qa.Observer(m).update(x).params()
            return float(p.scale), int(p.zero_point)
        methods.append((f"qa {m}", qa_method))
    if torch is not None:
        from torch.ao.quantization import observer as tobs

        for name, cls in (("torch MinMax", tobs.MinMaxObserver), ("torch MovingAvg", tobs.MovingAverageMinMaxObserver),
                          ("torch Histogram", tobs.HistogramObserver)):
            def torch_method(x: np.ndarray, cls: Any = cls) -> Tuple[float, int]:
                o = cls()
                o(torch.from_numpy(x))
                s, z = o.calculate_qparams()
                return float(s), int(z)
            methods.append((name, torch_method))
    if ort is not None:
        from onnxruntime.quantization import calibrate as ocal

        for name, method, extra in (("ort entropy", "entropy", {}), ("ort percentile", "percentile", {})):
            def ort_method(x: np.ndarray, method: str = method) -> Tuple[float, int]:
                import contextlib
                import io

                c = ocal.HistogramCollector(method, False, 2048, 128, 99.99, "same")
                with contextlib.redirect_stdout(io.StringIO()):
                    c.collect({"x": x})
                    lo, hi = c.compute_collection_result()["x"][:2]
                p = qa.choose_qparams(np.float32(lo), np.float32(hi))
                return float(p.scale), int(p.zero_point)
            methods.append((name, ort_method))
    results: List[Dict[str, Any]] = []
    if torch is not None:
        torch.set_num_threads(1)
    for n in sizes:
        for dist in CALIBRATION_DATA:
            x = calibration_data(dist, n, rng)
            row: Dict[str, Any] = {"data": dist, "n": n, "cells": {}}
            for name, fn in methods:
                reps = repeats if not name.startswith("ort entropy") else 1
                ms, (scale, zp) = _best_time(lambda: fn(x), reps)
                row["cells"][name] = {"ms": ms, "sqnr_db": sqnr_db(x, scale, zp)}
                print(".", end="", file=sys.stderr, flush=True)
            # percentile bounds against np.percentile, in bin widths
            obs = qa.Observer("percentile").update(x)
            lo, hi = obs.range()
            w = obs._hists[0].width
            ref = np.percentile(x, [0.01, 99.99])
            row["percentile_err_bins"] = float(max(abs(lo - ref[0]), abs(hi - ref[1])) / w)
            results.append(row)
    print(file=sys.stderr)
    qa.set_num_threads(None)
    names = [name for name, _ in methods]
    head = ["data", "n"] + names
    rows = []
    for r in results:
        rows.append([r["data"], fmt_n(Case("calibrate", (r["n"],), None))] +
                    [f"{r['cells'][k]['sqnr_db']:.2f} dB {fmt_ms(r['cells'][k]['ms'])} ms" for k in names])
    print("calibration, one thread: SQNR of 8-bit asymmetric codes with each method's range, and the time of "
          "one update + parameters")
    print(render(head, rows, markdown))
    for r in results:
        c = r["cells"]
        better = max(c["qa minmax"]["sqnr_db"], c.get("torch Histogram", {"sqnr_db": -math.inf})["sqnr_db"])
        ok = "meets" if c["qa mse"]["sqnr_db"] >= better - 1e-9 else "misses"
        speed = ""
        if "torch Histogram" in c:
            speed = f"; HistogramObserver / qa mse time {c['torch Histogram']['ms'] / c['qa mse']['ms']:.1f}x"
        print(f"target {r['data']} n={r['n']}: mse {c['qa mse']['sqnr_db']:.2f} dB vs best of min/max and "
              f"HistogramObserver {better:.2f} dB ({ok}){speed}; percentile within "
              f"{r['percentile_err_bins']:.2f} bin widths of np.percentile")
    return results


# -------------------------------------------------------------------------------------------- low-bit
def lowbit_shapes(rows: int) -> Dict[str, Tuple[int, int]]:
    """rows×4096 (aligned rows), rows×4095 and the same element count in rows of 300 (unaligned)."""
    return {"aligned": (rows, 4096), "4095": (rows, 4095), "300": (rows * 4096 // 300, 300)}


def _ort_4bits(x: np.ndarray, block: int, symmetric: bool) -> Optional[Callable[[], Any]]:
    """ONNX Runtime's MatMulNBits quantizer on x as a K×N weight (blocks of `block` along K), or None."""
    try:
        from onnxruntime.capi._pybind_state import quantize_matmul_4bits
    except ImportError:
        return None
    k, n = x.shape
    k_blocks = -(-k // block)
    packed = np.zeros((n, k_blocks, block // 2), dtype=np.uint8)
    scales = np.zeros((n, k_blocks), dtype=np.float32)
    zp = np.zeros((n, -(-k_blocks // 2)), dtype=np.uint8)
    return lambda: quantize_matmul_4bits(packed, x, scales, zp, block, n, k, symmetric)


def _gguf(x: np.ndarray, kind: str) -> Optional[Callable[[], Any]]:
    try:
        from gguf import GGMLQuantizationType, quants
    except ImportError:
        return None
    qtype = getattr(GGMLQuantizationType, kind)
    return lambda: quants.quantize(x, qtype)


def _threads_used(fn: Callable[[], Any]) -> float:
    """CPU time / wall time of one call: about the number of threads it kept busy."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return (time.process_time() - c0) / max(time.perf_counter() - w0, 1e-9)


class _OneCpu:
    """Pins the calling thread, and so the threads it starts, to one CPU of those it may use, and restores its
    affinity on exit. quantize_matmul_4bits takes no thread count (it makes a default thread pool on every
    call, which neither an environment variable nor a session option reaches): pinned, that pool shares one
    CPU, one thread's worth of CPU time as qaffine's single thread. `cpu` is None (nothing pinned) where the
    platform has no sched_setaffinity."""

    def __init__(self) -> None:
        self.cpu: Optional[int] = None
        self._old: Optional[set] = None

    def __enter__(self) -> "_OneCpu":
        if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
            self._old = set(os.sched_getaffinity(0))
            self.cpu = min(self._old)
            os.sched_setaffinity(0, {self.cpu})
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            os.sched_setaffinity(0, self._old)


def lowbit(plan: Plan, floor: Floor, block_sizes: Sequence[int], markdown: bool,
           rows_of: int = 4096) -> List[Dict[str, Any]]:
    """The low-bit table (1 thread): each row a time and the ratio to what it is measured against."""
    old = qa.get_num_threads()
    qa.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows: List[Dict[str, Any]] = []
    times: Dict[str, float] = {}
    missing: Dict[str, str] = {}

    def add(key: str, label: str, fn: Callable[[], Any], against: Optional[str] = None, target: str = "",
            per_element: Optional[Tuple[int, int]] = None) -> None:
        fn()
        t = measure(fn, plan).seconds
        times[key] = t
        ratio = None
        if against is not None and against in times:
            ratio = t / times[against]
            if per_element is not None:
                ratio *= per_element[1] / per_element[0]
        rows.append({"case": label, "ms": t * 1e3, "against": against, "ratio": ratio, "target": target})
        print(".", end="", file=sys.stderr, flush=True)

    shapes = lowbit_shapes(rows_of)
    try:
        for name, shape in shapes.items():
            x = rng.standard_normal(shape, dtype=np.float32)
            n = x.size
            for b in block_sizes:
                tag = f"{name} B={b}"
                per_el = (n, shapes["aligned"][0] * shapes["aligned"][1])
                add(f"q8 {tag}", f"{shape[0]}×{shape[1]} B={b}: 8-bit per block", lambda: qa.quantize(x, block_size=b))
                add(f"q4 {tag}", f"  4-bit unpacked", lambda: qa.quantize(x, block_size=b, bits=4), f"q8 {tag}")
                add(f"p4 {tag}", f"  4-bit packed", lambda: qa.quantize(x, block_size=b, bits=4, packed=True),
                    f"q8 {tag}", "≤ 1.15")
                if name != "aligned":
                    rows[-1]["against"], rows[-1]["target"] = f"p4 aligned B={b}", "≤ 1.2 per element"
                    rows[-1]["ratio"] = times[f"p4 {tag}"] / times[f"p4 aligned B={b}"] * per_el[1] / per_el[0]
                    add(f"q8b {tag}", "  8-bit, per element vs the aligned rows",
                        lambda: qa.quantize(x, block_size=b), f"q8 aligned B={b}", "≤ 1.2 per element", per_el)
                fl = floor.parts(n, 1)["read_f32"] + floor.parts(-(-n // 2), 1)["write_u8"]
                times[f"floor {tag}"] = fl
                rows.append({"case": "  floor (read x + packed write)", "ms": fl * 1e3, "against": f"p4 {tag}",
                             "ratio": times[f"p4 {tag}"] / fl if fl else None, "target": "packed ≤ 1.2"})
                add(f"s4 {tag}", "  4-bit packed symmetric signed",
                    lambda: qa.quantize(x, block_size=b, bits=4, signed=True, symmetric=True, packed=True),
                    f"p4 {tag}", "≤ 1.15")
                add(f"s8 {tag}", "  8-bit symmetric signed",
                    lambda: qa.quantize(x, block_size=b, signed=True, symmetric=True), f"q8 {tag}", "≤ 1.15")
                q4 = qa.quantize(x, block_size=b, bits=4, signed=True, symmetric=True)
                p4 = qa.quantize(x, block_size=b, bits=4, signed=True, symmetric=True, packed=True)
                add(f"dq4 {tag}", "  dequantize 4-bit signed unpacked", q4.dequantize)
                add(f"dp4 {tag}", "  dequantize 4-bit signed packed", p4.dequantize, f"dq4 {tag}", "≤ 1.2")
                u4 = qa.quantize(x, block_size=b, bits=4)
                pu4 = qa.quantize(x, block_size=b, bits=4, packed=True)
                add(f"du4 {tag}", "  dequantize 4-bit unpacked", u4.dequantize)
                add(f"dpu4 {tag}", "  dequantize 4-bit packed", pu4.dequantize, f"du4 {tag}", "≤ 1.2")
                del q4, p4, u4, pu4
                if name == "aligned":
                    for sym in (False, True):
                        f = _ort_4bits(x, b, sym)
                        if f is None:
                            missing["onnxruntime"] = "no onnxruntime.capi._pybind_state.quantize_matmul_4bits"
                        else:
                            what = f"  onnxruntime quantize_matmul_4bits{' symmetric' if sym else ''}"
                            against = f"{'s4' if sym else 'p4'} {tag}"
                            used = _threads_used(f)
                            add(f"ort all {tag} {sym}", f"{what} ({used:.1f} threads busy)", f, against)
                            with _OneCpu() as one:
                                pinned = _threads_used(f)
                                label = (f"{what} on 1 CPU ({pinned:.1f} threads busy)" if one.cpu is not None else
                                         f"{what} (not pinned: no sched_setaffinity here; {used:.1f} threads busy)")
                                add(f"ort {tag} {sym}", label, f, against, "≥ 12")
                    if b == 32:
                        for kind in ("Q4_0", "Q4_1", "Q8_0"):
                            g = _gguf(x, kind)
                            if g is None:
                                missing["gguf-py"] = "not installed (pip install gguf)"
                            else:
                                add(f"gguf {kind}", f"  gguf-py quants.quantize {kind} (other rounding)", g,
                                    f"p4 {tag}", "")
            if name == "aligned":
                add("axis0", f"{shape[0]}×{shape[1]} per channel axis=0", lambda: qa.quantize(x, axis=0))
                add("axis-1", "  per channel axis=-1", lambda: qa.quantize(x, axis=-1), "axis0", "≤ 1.2")
                qt, pt = qa.quantize(x, bits=4), qa.quantize(x, bits=4, packed=True)
                add("dqt", "  dequantize per tensor 4-bit unpacked", qt.dequantize)
                add("dpt", "  dequantize per tensor 4-bit packed", pt.dequantize, "dqt", "≤ 1.2")
                qs, ps = qa.quantize(x, bits=4, signed=True), qa.quantize(x, bits=4, signed=True, packed=True)
                add("dqts", "  dequantize per tensor 4-bit signed unpacked", qs.dequantize)
                add("dpts", "  dequantize per tensor 4-bit signed packed", ps.dequantize, "dqts", "≤ 1.2")
                del qt, pt, qs, ps
            del x
    finally:
        qa.set_num_threads(old)
    print(file=sys.stderr)
    head = ["low-bit, 1 thread", "ms", "ratio", "against", "target"]
    table = [[r["case"], fmt_ms(r["ms"]), "" if r["ratio"] is None else f"{r['ratio']:.2f}",
              "" if r["against"] is None else r["against"], r["target"]] for r in rows]
    print(render(head, table, markdown))
    print("ratio: time / the 'against' row's time (per element where marked); for onnxruntime and gguf-py that is "
          "their time / qaffine's packed 4-bit (≥ 12: qaffine at least 12× faster). gguf-py rounds as llama.cpp does (Q4_0: scale from the "
          "value of largest magnitude / -8, Q4_1: min and (max - min) / 15, Q8_0: max|x| / 127), so its codes are not "
          "qaffine's: time only. onnxruntime's blocks run along the first axis of the same array (its K×N layout); "
          "its row with the target runs on one CPU (its thread pool pinned there), the row above it as it comes.")
    for peer, why in missing.items():
        print(f"skipped {peer} in the low-bit table: {why}")
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"about 30 s: sizes {', '.join(f'1e{round(math.log10(s))}' for s in QUICK_SIZES)}, fewer repeats")
    ap.add_argument("--sizes", type=parse_sizes,
                    help="comma-separated element counts, e.g. 1e3,1e6 (default 1e3..1e8). Per block runs on "
                         "those >= 1e6, or on all of them if none is")
    ap.add_argument("--threads", type=parse_threads, default=None, help="comma-separated, 'all' = every CPU "
                    "this process may use (default 1,all)")
    ap.add_argument("--workloads", type=lambda s: parse_list(s, WORKLOADS), default=list(DEFAULT_WORKLOADS),
                    help=f"comma-separated subset of {','.join(WORKLOADS)} (default all but calibrate)")
    ap.add_argument("--axis-shape", type=parse_shape, default=(4096, 4096),
                    help="shape of the per-axis workload (axis 0), default 4096x4096")
    ap.add_argument("--block-sizes", type=lambda s: [int(v) for v in s.split(",")], default=[32, 64, 128],
                    help="per-block block sizes along the last axis (default 32,64,128)")
    ap.add_argument("--lowbit-rows", type=int, default=4096,
                    help="rows of the low-bit workload's arrays (default 4096: 4096x4096, 4096x4095, 55924x300)")
    ap.add_argument("--repeats", type=int, default=None, help="fixed number of timed samples per cell")
    ap.add_argument("--json", metavar="PATH", help="also write every timing and the machine description here")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        ap.error("--repeats must be >= 1")

    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    threads_list = args.threads or parse_threads("1,all")
    if args.quick:
        plan = Plan(target_s=0.04, min_repeats=3, max_repeats=20, min_sample_s=5e-4, repeats=args.repeats)
    else:
        plan = Plan(target_s=0.4, min_repeats=3, max_repeats=200, min_sample_s=2e-3, repeats=args.repeats)

    skipped: Dict[str, str] = {}
    if torch is None:
        skipped["torch"] = "not installed (pip install -r benchmarks/requirements.txt)"
    if ort is None:
        skipped["onnxruntime"] = "onnxruntime and onnx not both installed (pip install -r benchmarks/requirements.txt)"
    levels = list(_core.supported_simd_levels())
    avx2 = "avx2" in levels and _core.simd_level() != "avx2" and hasattr(_core, "_set_simd_level")
    if not avx2:
        skipped["qaffine_avx2"] = f"SIMD level is {_core.simd_level()} (supported: {', '.join(levels)})"

    calibrated: Optional[List[Dict[str, Any]]] = None
    if "calibrate" in args.workloads:
        calibrated = calibration(args.sizes or CALIBRATION_SIZES, args.repeats or (2 if args.quick else 3),
                                 args.markdown)
        if args.json and args.workloads == ["calibrate"]:
            with open(args.json, "w") as f:
                json.dump({"calibration": calibrated}, f, indent=1)
                f.write("\n")
        args.workloads = [w for w in args.workloads if w != "calibrate"]
        if not args.workloads:
            return 0
        print()

    cases: List[Case] = []
    for w in args.workloads:
        if w == "lowbit":
            continue  # its own table, after the others
        if w in ("per-tensor", "dequantize", "per-tensor-16bit"):
            cases += [Case(w, (n,), None) for n in sizes]
        elif w == "per-axis":
            cases.append(Case(w, tuple(args.axis_shape), None))
        else:
            big = [n for n in sizes if n >= 10**6] or sizes
            for n in big:
                shape = block_shape(n)
                cases += [Case(w, shape, b) for b in args.block_sizes if shape[1] % b == 0]

    started = time.perf_counter()
    ort_graphs = OrtGraphs() if ort is not None else None
    floor = Floor(plan, max(threads_list))
    rng = np.random.default_rng(0)
    results: List[Dict[str, Any]] = []
    data: Dict[Tuple[int, ...], np.ndarray] = {}
    overhead = call_overhead(plan)
    for case in cases:
        if case.shape not in data:
            data.clear()  # one input alive at a time: 1e8 float32 is 400 MB
            data[case.shape] = rng.standard_normal(case.shape, dtype=np.float32)
        for t in threads_list:
            results.append(run_case(case, data[case.shape], t, plan, floor, ort_graphs, avx2))
            print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    data.clear()
    qa.set_num_threads(None)
    elapsed = time.perf_counter() - started

    peers = [p for p in PEERS if p not in skipped]
    head, rows = table_rows(results, peers)
    print(f"qaffine {qa.__version__} ({_core.simd_level()}), numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else "")
          + (f", onnxruntime {ort.__version__}" if ort is not None else "")
          + f" — {cpu_model()}, {all_cpus()} CPUs")
    print()
    if results:
        print(render(head, rows, args.markdown))
    print()
    print("ms: best of the repeats. (N×) = that peer's time / qaffine's (both allocate their result). "
          "qa out= writes into a preallocated buffer; qa avx2 is qa out= with the AVX2 kernels. "
          "qa/floor = qa out= / floor, shown where the floor is at least 1 µs. numpy is single-threaded.")
    for peer, why in skipped.items():
        print(f"skipped {HEADERS[peer]}: {why}")
    seen = set()
    for r in results:
        for peer, note in r["notes"].items():
            key = (r["workload"], peer, note)
            if key not in seen:
                seen.add(key)
                print(f"note {r['workload']} / {HEADERS[peer]}: {note}")
    checked = {p for r in results for p in r["mismatches"]} - {"qaffine_out", "qaffine_avx2", "numpy_seed"}
    differ = {p for r in results for p, m in r["mismatches"].items() if m and p in checked}
    if checked - differ:
        print(f"codes identical to qaffine's in every case: {', '.join(HEADERS[p] for p in PEERS if p in checked - differ)}")
    if differ:
        print(f"codes differing from qaffine's in some case (counts in --json): "
              f"{', '.join(HEADERS[p] for p in PEERS if p in differ)}")
    print("numpy seed: the notebook's tight range and truncation, so its codes differ (timed for speed only)")
    ok = "meets" if overhead["quantize"] <= CALL_TARGET_US else "misses"
    print(f"whole Python call, 1,000 float32, 1 thread: qa.quantize {overhead['quantize']:.2f} µs ({ok} the "
          f"≤ {CALL_TARGET_US} µs target), with out= {overhead['quantize_out']:.2f} µs; qa.dequantize "
          f"{overhead['dequantize']:.2f} µs, with out= {overhead['dequantize_out']:.2f} µs")
    print(f"total {elapsed:.1f} s")
    lowbit_rows: List[Dict[str, Any]] = []
    if "lowbit" in args.workloads:
        print()
        lowbit_rows = lowbit(plan, floor, args.block_sizes, args.markdown, args.lowbit_rows)

    if args.json:
        doc = {
            "meta": {
                "cpu": cpu_model(),
                "cpus": all_cpus(),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "versions": {
                    "qaffine": qa.__version__,
                    "numpy": np.__version__,
                    "torch": None if torch is None else torch.__version__,
                    "onnxruntime": None if ort is None else ort.__version__,
                    "onnx": None if onnx is None else onnx.__version__,
                },
                "simd_level": _core.simd_level(),
                "supported_simd_levels": levels,
                "threads": threads_list,
                "quick": bool(args.quick),
                "sizes": sizes,
                "elapsed_s": elapsed,
            },
            "call_overhead_us": overhead,
            "skipped": skipped,
            "results": results,
            "lowbit": lowbit_rows,
        }
        if calibrated is not None:
            doc["calibration"] = calibrated
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

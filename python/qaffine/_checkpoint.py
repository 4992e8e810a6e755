"""Checkpoints on the command line: ``quantize`` / ``dequantize`` / ``info`` of ``.safetensors`` files and of
sharded checkpoints (``*.safetensors.index.json``).

One tensor at a time, and each tensor in slices along its first axis (``--chunk-size`` values per slice), so
memory stays bounded by the slice, not by the tensor or the file. The codes equal ``qa.quantize`` on the
whole tensor bit for bit: per block, and per channel along axis 0, slices of whole rows are independent and
are quantized dynamically; per tensor, and per channel along another axis, the ranges come first (one pass
of ``qa.minmax``), then the codes with those static parameters (a second pass), which is what dynamic
quantization computes.

Selection of the tensors to quantize (``--include`` / ``--exclude``, shell-style globs on the full tensor
name, ``*`` matching dots too): a tensor matching an ``--exclude`` is copied; otherwise, if ``--include`` is
given, exactly the floating tensors (F16, BF16, F32, F64) matching one of them are quantized, whatever their
rank; without ``--include``, the floating tensors with at least 2 dimensions and at least one value. Every
other tensor (biases, norms, integer buffers, float8) is copied bit for bit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from . import _packing
from . import _safetensors as st
from ._api import QuantizedArray, choose_qparams, minmax, quantize
from ._finite import bad_value_error, first_bad, unravel
from ._io import Header, PathLike, atomic_output
from ._mode import FLAGS, Mode
from ._params import QParams
from ._stream import DEFAULT_CHUNK, Progress

__all__ = ["Report", "TensorRow", "checkpoint_info", "dequantize_checkpoint", "is_checkpoint",
           "quantize_checkpoint"]


# ----------------------------------------------------------------------------------------------- inputs
def is_checkpoint(path: str) -> bool:
    """Whether the command line treats ``path`` as a safetensors checkpoint (by its name)."""
    return path.endswith((".safetensors", ".json"))


@dataclass
class _Inputs:
    files: List[st.SafetensorsFile]
    index: Optional[Dict[str, Any]]  # the parsed index file of a sharded checkpoint
    name: str

    def close(self) -> None:
        for f in self.files:
            f.close()


def _open_inputs(src: PathLike) -> _Inputs:
    name = os.fspath(src)
    if not name.endswith(".json"):
        return _Inputs([st.SafetensorsFile(name)], None, name)
    if os.path.isdir(name):
        raise IsADirectoryError(21, "is a folder, not an index file", name)
    with open(name, "rb") as fh:
        raw = fh.read()
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{name} is not a safetensors index (not valid JSON: {e})") from None
    wm = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wm, dict) or not wm or not all(isinstance(k, str) and isinstance(v, str) for k, v in wm.items()):
        raise ValueError(f"{name} is not a safetensors index: it has no 'weight_map' of tensor names to shard files")
    shards = sorted(set(wm.values()))
    folder = os.path.dirname(os.path.abspath(name))
    files: List[st.SafetensorsFile] = []
    try:
        for s in shards:
            if os.path.isabs(s) or os.path.basename(s) != s:
                raise ValueError(f"{name} is damaged: the shard {s!r} is not a file name in the index's folder")
            files.append(st.SafetensorsFile(os.path.join(folder, s)))
        by_shard = dict(zip(shards, files))
        for tensor, s in wm.items():
            if tensor not in by_shard[s].by_name:
                raise ValueError(f"{name} is damaged: its weight_map puts {tensor!r} in {s}, which has no such tensor")
    except BaseException:
        for f in files:
            f.close()
        raise
    return _Inputs(files, index, name)


def _outputs(inp: _Inputs, dst: PathLike) -> Tuple[List[str], Optional[str]]:
    """The output file of each input file, and the output index (sharded checkpoints)."""
    out = os.fspath(dst)
    if inp.index is None:
        if out.endswith(".json"):
            raise ValueError(f"-o {out} names an index file, but {inp.name} is one .safetensors file; name the "
                             ".safetensors file to write")
        paths = [out]
        index = None
    else:
        if not out.endswith(".json"):
            raise ValueError(f"{inp.name} is a sharded checkpoint: -o names the new index file, e.g. "
                             f"{os.path.join(os.path.dirname(out), 'model.safetensors.index.json')}")
        base = os.path.basename(out)
        stem = re.sub(r"(\.safetensors)?(\.index)?\.json$", "", base) or "model"
        n = len(inp.files)
        folder = os.path.dirname(out)
        paths = [os.path.join(folder, f"{stem}-{i + 1:05d}-of-{n:05d}.safetensors") for i in range(n)]
        index = out
    for p in paths + ([index] if index else []):
        for f in inp.files:
            if os.path.exists(p) and os.path.samefile(p, f.name):
                raise ValueError(f"the output {p} is the input file {f.name}; choose another name")
        if index is not None and os.path.exists(p) and os.path.samefile(p, inp.name):
            raise ValueError(f"the output {p} is the input index; choose another name")
    return paths, index


# ---------------------------------------------------------------------------------------------- report
@dataclass
class TensorRow:
    """One line of the table: a tensor, how it is stored, its bytes before and after, its error."""

    name: str
    shape: Tuple[int, ...]
    dtype: str
    mode: Optional[Mode]  # None: copied as it is
    before: int
    after: int
    error: Optional["ErrorSums"] = None


@dataclass
class Report:
    source: str
    outputs: List[str] = field(default_factory=list)
    rows: List[TensorRow] = field(default_factory=list)

    @property
    def quantized(self) -> List[TensorRow]:
        return [r for r in self.rows if r.mode is not None]


def short_mode(m: Optional[Mode]) -> str:
    """A mode in a table cell: ``'axis 0, uint8'``, ``'block 32 (axis 1), uint4 packed'``, ``'copied'``."""
    if m is None:
        return "copied"
    if m.axis is None:
        where = "tensor"
    elif m.block_size is None:
        where = f"axis {m.axis}"
    else:
        where = f"block {m.block_size} (axis {m.axis})"
    extra = [w for w, on in (("packed", m.packed), ("symmetric", m.symmetric), ("tight", not m.include_zero)) if on]
    return f"{where}, {'int' if m.signed else 'uint'}{m.bits}" + (" " + " ".join(extra) if extra else "")


def _bytes(n: int) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


def _natural(name: str) -> List[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _square_sum(v: npt.NDArray[Any]) -> float:
    total = float(np.dot(v, v))
    if not math.isfinite(total):  # beyond the float32 range (values above ~1e19): in float64
        total = float(np.dot(v.astype(np.float64), v.astype(np.float64)))
    return total


class ErrorSums:
    """The error columns of a quantized tensor, summed slice by slice: max |x_hat - x| and the sums of
    x**2 and (x_hat - x)**2 (SQNR = 10 log10 of their ratio, as qa.error defines it). Leaner than
    qa.error's statistics (no float64 copies, no histogram): a slice costs five passes in its own dtype."""

    def __init__(self) -> None:
        self.max_abs = 0.0
        self.signal = 0.0
        self.sum_sq = 0.0

    def add(self, x: npt.NDArray[Any], x_hat: npt.NDArray[Any]) -> None:
        """A slice of data (float16/32/64) and its dequantized values (float32, or float64 for float64; a
        contiguous array this call may overwrite)."""
        xf = x.reshape(-1).astype(x_hat.dtype, copy=False)
        d = np.subtract(x_hat.reshape(-1), xf, out=x_hat.reshape(-1))  # x_hat is this slice's own: reused
        if d.size:
            self.max_abs = max(self.max_abs, float(d.max()), -float(d.min()))
        self.sum_sq += _square_sum(d)
        self.signal += _square_sum(xf)

    @property
    def sqnr_db(self) -> float:
        if self.sum_sq == 0.0:
            return math.inf
        return -math.inf if self.signal == 0.0 else 10.0 * math.log10(self.signal / self.sum_sq)


def _sqnr(signal: float, noise: float) -> str:
    if noise == 0.0:
        return "inf"
    if signal == 0.0:
        return "-inf"
    return f"{10.0 * math.log10(signal / noise):.1f}"


def table(report: Report, errors: bool) -> List[str]:
    """The per-tensor table (natural order of names) and its totals line."""
    head = ["tensor", "shape", "dtype", "mode", "before", "after"] + (["max |error|", "SQNR dB"] if errors else [])
    lines: List[List[str]] = []
    for r in sorted(report.rows, key=lambda r: _natural(r.name)):
        cells = [r.name, str(r.shape), st.dtype_name(r.dtype), short_mode(r.mode), _bytes(r.before), _bytes(r.after)]
        if errors:
            e = r.error
            cells += ["", ""] if e is None else [f"{e.max_abs:.4g}", _sqnr(e.signal, e.sum_sq)]
        lines.append(cells)
    q = report.quantized
    before, after = sum(r.before for r in report.rows), sum(r.after for r in report.rows)
    total = ["total", "", "", f"{len(q)} quantized, {len(report.rows) - len(q)} copied", _bytes(before),
             _bytes(after)]
    if errors:
        stats = [r.error for r in q if r.error is not None]
        total += [f"{max(s.max_abs for s in stats):.4g}", _sqnr(sum(s.signal for s in stats),
                                                               sum(s.sum_sq for s in stats))] if stats else ["", ""]
    numeric = {4, 5, 6, 7}
    rows = [head] + lines + [total]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]

    def fmt(row: List[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in numeric else c.ljust(widths[i])
                         for i, c in enumerate(row)).rstrip()

    out = [fmt(r) for r in rows]
    out.append(f"size: {before:,} -> {after:,} bytes, {before / max(after, 1):.2f}x smaller")
    return out


# --------------------------------------------------------------------------------------------- quantize
def _select(t: st.TensorInfo, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if any(fnmatchcase(t.name, g) for g in exclude):
        return False
    if t.dtype not in st.FLOATS:
        return False
    if include:
        return any(fnmatchcase(t.name, g) for g in include)
    return len(t.shape) >= 2 and t.size > 0


def _rows(shape: Tuple[int, ...]) -> Tuple[int, int]:
    """(rows along axis 0, values per row); a 0-d tensor is one row of one value."""
    return (shape[0], math.prod(shape[1:])) if shape else (1, 1)


def _step(h: Header, chunk: int) -> int:
    """Rows per slice: about ``chunk`` values, a multiple of the rows that start a block along axis 0 and
    of the rows that start a byte of packed codes, so that each slice is quantized (and packed) on its own."""
    unit = st.packed_rows_unit(h)
    if h.block_size is not None and h.axis == 0:
        unit = unit * h.block_size // math.gcd(unit, h.block_size)
    _, row = _rows(h.shape)
    step = max(1, chunk // max(row, 1))
    return max(unit, step - step % unit)


class _Tensor:
    """Slices of one tensor of an input file, and the error naming a bad value in it."""

    def __init__(self, f: st.SafetensorsFile, t: st.TensorInfo) -> None:
        self.f, self.t = f, t
        self.rows, self.row = _rows(t.shape)
        self.where = f"{f.name}: tensor {t.name!r}"

    def read(self, i: int, j: int) -> npt.NDArray[Any]:
        return self.f.read(self.t, i, j) if self.t.shape else self.f.read(self.t)

    def bad(self, x: npt.NDArray[Any], i: int, e: Optional[Exception]) -> ValueError:
        found = first_bad(x)
        if found is None:
            return ValueError(f"{self.where}: {e}")
        return bad_value_error(found[0], unravel(i * self.row + found[1], self.t.shape), name=self.where,
                               static_hint=False)


def _quantize_tensor(f: st.SafetensorsFile, t: st.TensorInfo, h: Header, w: st.Writer, chunk: int,
                     progress: bool) -> "ErrorSums":
    m = h.mode
    kw: Dict[str, Any] = dict(bits=m.bits, signed=m.signed, symmetric=m.symmetric, include_zero=m.include_zero)
    a, block = m.axis, m.block_size
    src = _Tensor(f, t)
    if t.size == 0:
        raise ValueError(f"{src.where} is empty (shape {t.shape}); there is nothing to quantize: --exclude it")
    step = _step(h, chunk)
    slices = [(i, min(src.rows, i + step)) for i in range(0, src.rows, step)]
    two_pass = block is None and a != 0  # per tensor, or per channel along axis > 0
    hat = np.dtype(np.float64 if t.dtype == "F64" else np.float32)
    stats = ErrorSums()
    codes = st.part(t.name, "codes")
    scale = np.empty(h.params_shape, dtype=np.float32)
    zero_point = np.empty(h.params_shape, dtype=np.int32)
    bar = Progress(t.nbytes * (2 if two_pass else 1), t.name, progress, leave=False)

    def emit(x: npt.NDArray[Any], q: QuantizedArray) -> None:
        # Quantized unpacked and packed here, not by quantize(packed=True): the error columns need the
        # dequantized values, and dequantizing packed codes would unpack them again.
        w.write_array(codes, _packing.pack(q.values, m.bits) if m.packed else q.values)
        stats.add(x, q.dequantize(dtype=hat))
        bar.update(x.size * st.itemsize(t.dtype))

    try:
        if two_pass:
            lo: Any = None
            hi: Any = None
            for i, j in slices:
                x = src.read(i, j)
                try:
                    plo, phi = minmax(x) if a is None else minmax(x, axis=a)
                except ValueError as e:
                    raise src.bad(x, i, e) from None
                if not (np.isfinite(plo).all() and np.isfinite(phi).all()):
                    raise src.bad(x, i, None)
                lo = plo if lo is None else np.minimum(lo, plo)
                hi = phi if hi is None else np.maximum(hi, phi)
                bar.update(x.size * st.itemsize(t.dtype))
            bound = np.float64 if t.dtype == "F64" else np.float32
            lo, hi = np.asarray(lo, dtype=bound)[()], np.asarray(hi, dtype=bound)[()]
            try:
                p = choose_qparams(lo, hi, axis=a, **kw)
            except ValueError as e:  # e.g. a float64 range whose scale does not fit float32
                raise ValueError(f"{src.where}: {e}") from None
            for i, j in slices:
                x = src.read(i, j)
                emit(x, quantize(x, p))
            scale[...] = p.scale
            zero_point[...] = p.zero_point
        else:
            for i, j in slices:
                x = src.read(i, j)
                try:
                    q = quantize(x, axis=a, block_size=block, **kw)
                except ValueError as e:
                    raise src.bad(x, i, e) from None
                rows = slice(i // block, -(-j // block)) if block is not None and a == 0 else slice(i, j)
                scale[rows] = q.scale
                zero_point[rows] = q.zero_point
                emit(x, q)
    finally:
        bar.close()
    w.write_array(st.part(t.name, "scale"), scale)
    w.write_array(st.part(t.name, "zero_point"), zero_point)
    return stats


def _plan(inp: _Inputs, mode: Mode, include: Sequence[str], exclude: Sequence[str]) -> List[List[Tuple[st.TensorInfo, Optional[Header]]]]:
    for f in inp.files:
        if st.MARK in f.metadata:
            raise ValueError(f"{f.name} is already quantized by qaffine; dequantize it first (qaffine dequantize)")
    names = [t.name for f in inp.files for t in f.tensors]
    for g in include:
        if not any(fnmatchcase(n, g) for n in names):
            raise ValueError(f"--include {g!r} matches no tensor of {inp.name} (qaffine info {inp.name} lists them)")
    plans = []
    taken = set(names)
    for f in inp.files:
        plan: List[Tuple[st.TensorInfo, Optional[Header]]] = []
        for t in f.tensors:
            if not _select(t, include, exclude):
                plan.append((t, None))
                continue
            try:
                h = Header(t.shape, mode.resolved(t.shape, FLAGS))
            except ValueError as e:
                raise ValueError(f"{f.name}: tensor {t.name!r} (shape {t.shape}): {e}; --exclude it or choose "
                                 "other options") from None
            for pname, _, _ in st.layout_entries(t.name, h):
                if pname in taken:
                    raise ValueError(f"{f.name}: quantized {t.name!r} would be stored as {pname!r}, which is also "
                                     f"the name of a tensor; --exclude one of them")
                taken.add(pname)
            plan.append((t, h))
        plans.append(plan)
    return plans


def quantize_checkpoint(src: PathLike, dst: PathLike, *, axis: Optional[int] = None, block_size: Optional[int] = None,
                        bits: Optional[int] = None, signed: bool = False, symmetric: bool = False, tight: bool = False,
                        packed: bool = False, include: Sequence[str] = (), exclude: Sequence[str] = (),
                        chunk: int = DEFAULT_CHUNK, progress: bool = False) -> Report:
    """Quantizes a ``.safetensors`` file (or every shard of an index) into the qaffine layout; see the module
    doc for the selection rules. Raises ValueError / OSError naming the problem; nothing is then written."""
    mode = Mode(axis, block_size, bits, signed, symmetric, not tight, None, None, packed, spell=FLAGS)
    inp = _open_inputs(src)
    try:
        plans = _plan(inp, mode, include, exclude)
        paths, index_path = _outputs(inp, dst)
        report = Report(inp.name, paths + ([index_path] if index_path else []))
        weight_map: Dict[str, str] = {}
        total = 0
        with contextlib.ExitStack() as stack:
            tmps = [stack.enter_context(atomic_output(p)) for p in report.outputs]
            for f, plan, tmp, path in zip(inp.files, plans, tmps, paths):
                entries: List[Tuple[str, str, Tuple[int, ...]]] = []
                meta = dict(f.metadata)
                sizes = {t.name: t.nbytes for t, h in plan if h is None}
                for t, h in plan:
                    if h is None:
                        entries.append((t.name, t.dtype, t.shape))
                    else:
                        entries += st.layout_entries(t.name, h)
                        meta[st.PREFIX + t.name] = st.describe_header(h, t.dtype)
                if any(h is not None for _, h in plan):
                    meta[st.MARK] = str(st.FORMAT)
                w = st.Writer(tmp, entries, meta, sizes)
                try:
                    for t, h in plan:
                        if h is None:
                            f.copy(t, w, 4 * chunk)
                            report.rows.append(TensorRow(t.name, t.shape, t.dtype, None, t.nbytes, t.nbytes))
                            continue
                        stats = _quantize_tensor(f, t, h, w, chunk, progress)
                        after = sum(math.prod(s) * st.itemsize(d) for _, d, s in st.layout_entries(t.name, h))
                        report.rows.append(TensorRow(t.name, t.shape, t.dtype, h.mode, t.nbytes, after,
                                                     stats))
                except BaseException:
                    w.abort()
                    raise
                w.close()
                total += w.data_bytes
                weight_map.update({name: os.path.basename(path) for name, _, _ in entries})
            if index_path is not None:
                assert inp.index is not None
                _write_index(tmps[-1], inp.index, weight_map, total)
        return report
    finally:
        inp.close()


def _write_index(tmp: str, old: Dict[str, Any], weight_map: Dict[str, str], total: int) -> None:
    meta = dict(old.get("metadata") or {}) if isinstance(old.get("metadata"), dict) else {}
    meta["total_size"] = total
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"metadata": meta, "weight_map": dict(sorted(weight_map.items()))}, fh, indent=2)
        fh.write("\n")


# ------------------------------------------------------------------------------------------- dequantize
def _dequantize_tensor(f: st.SafetensorsFile, qt: st.Quantized, out: str, w: st.Writer, chunk: int,
                       progress: bool) -> None:
    h = qt.header
    p = st.params_of(f, qt)
    a, block = h.axis, h.block_size
    rows, row = _rows(h.shape)
    step = _step(h, chunk)
    dtype = st.numpy_dtype(out)
    bar = Progress(h.size * dtype.itemsize, qt.name, progress, leave=False)
    per = 8 // _packing.container_bits(h.bits) if h.packed else 1
    try:
        for i in range(0, rows, step):
            j = min(rows, i + step)
            shape = ((j - i,) + h.shape[1:]) if h.shape else ()
            if a is None or (block is None and a != 0):
                cp = p
            else:
                sl = slice(i // block, -(-j // block)) if block is not None and a == 0 else slice(i, j)
                cp = QParams._trusted(p.scale[sl], p.zero_point[sl], p._mode)
            if h.packed:
                first, n = i * row // per, _packing.packed_size((j - i) * row, h.bits)
                q = QuantizedArray(np.array(f.read_bytes(qt.codes, first, n)), cp, shape=shape, packed=True)
            else:
                q = QuantizedArray(np.ascontiguousarray(f.read(qt.codes, i, j) if h.shape else f.read(qt.codes)), cp)
            w.write_array(qt.name, q.dequantize(dtype=dtype))
            bar.update(q.size * dtype.itemsize)
    finally:
        bar.close()


def dequantize_checkpoint(src: PathLike, dst: PathLike, *, dtype: Optional[str] = None, chunk: int = DEFAULT_CHUNK,
                          progress: bool = False) -> Report:
    """Writes every quantized tensor back under its own name, in the dtype it had (or ``dtype``: 'float16',
    'bfloat16', 'float32', 'float64'); every other tensor is copied bit for bit, and qaffine's metadata keys
    are dropped (the original ones are kept)."""
    inp = _open_inputs(src)
    try:
        found = [st.quantized_tensors(f) for f in inp.files]
        if not any(found):
            raise ValueError(f"{inp.name} holds no tensor quantized by qaffine (nothing to dequantize); "
                             "write one with qaffine quantize")
        paths, index_path = _outputs(inp, dst)
        report = Report(inp.name, paths + ([index_path] if index_path else []))
        weight_map: Dict[str, str] = {}
        total = 0
        with contextlib.ExitStack() as stack:
            tmps = [stack.enter_context(atomic_output(p)) for p in report.outputs]
            for f, quantized, tmp, path in zip(inp.files, found, tmps, paths):
                parts = {t.name for q in quantized.values() for t in (q.codes, q.scale, q.zero_point)}
                kept = [t for t in f.tensors if t.name not in parts]
                entries = [(t.name, t.dtype, t.shape) for t in kept]
                target = {name: st.cli_dtype(dtype) if dtype else q.source for name, q in quantized.items()}
                entries += [(name, target[name], q.header.shape) for name, q in quantized.items()]
                meta = {k: v for k, v in f.metadata.items() if k != st.MARK and not k.startswith(st.PREFIX)}
                w = st.Writer(tmp, entries, meta, {t.name: t.nbytes for t in kept})
                try:
                    for t in kept:
                        f.copy(t, w, 4 * chunk)
                        report.rows.append(TensorRow(t.name, t.shape, t.dtype, None, t.nbytes, t.nbytes))
                    for name, q in quantized.items():
                        _dequantize_tensor(f, q, target[name], w, chunk, progress)
                        stored = q.codes.nbytes + q.scale.nbytes + q.zero_point.nbytes
                        report.rows.append(TensorRow(name, q.header.shape, target[name], q.header.mode, stored,
                                                     q.header.size * st.itemsize(target[name])))
                except BaseException:
                    w.abort()
                    raise
                w.close()
                total += w.data_bytes
                weight_map.update({name: os.path.basename(path) for name, _, _ in entries})
            if index_path is not None:
                assert inp.index is not None
                _write_index(tmps[-1], inp.index, weight_map, total)
        return report
    finally:
        inp.close()


# ------------------------------------------------------------------------------------------------- info
def checkpoint_info(path: PathLike) -> Report:
    """The table of a checkpoint: each tensor with its source dtype, mode and bytes (before: in its source
    dtype; after: as stored)."""
    inp = _open_inputs(path)
    try:
        report = Report(inp.name)
        for f in inp.files:
            quantized = st.quantized_tensors(f)
            parts = {t.name for q in quantized.values() for t in (q.codes, q.scale, q.zero_point)}
            for t in f.tensors:
                if t.name not in parts:
                    report.rows.append(TensorRow(t.name, t.shape, t.dtype, None, t.nbytes, t.nbytes))
            for name, q in quantized.items():
                report.rows.append(TensorRow(name, q.header.shape, q.source, q.header.mode,
                                             q.header.size * st.itemsize(q.source),
                                             q.codes.nbytes + q.scale.nbytes + q.zero_point.nbytes))
        return report
    finally:
        inp.close()


# ------------------------------------------------------------------------------------- command line glue
def run_quantize(args: argparse.Namespace, progress: bool) -> int:
    r = quantize_checkpoint(args.input, args.output, axis=args.axis, block_size=args.block_size, bits=args.bits,
                            signed=args.signed, symmetric=args.symmetric, tight=args.tight, packed=args.packed,
                            include=args.include or (), exclude=args.exclude or (), chunk=args.chunk_size,
                            progress=progress)
    if not args.quiet:
        print(f"quantized {args.input} -> {', '.join(r.outputs)}")
        mode = Mode(args.axis, args.block_size, args.bits, args.signed, args.symmetric, not args.tight, None, None,
                    args.packed)
        print(f"mode: {mode.describe().replace('along axis -1', 'along the last axis')}")
        print("\n".join(table(r, errors=True)))
    return 0


def run_dequantize(args: argparse.Namespace, progress: bool) -> int:
    r = dequantize_checkpoint(args.input, args.output, dtype=args.dtype, chunk=args.chunk_size, progress=progress)
    if not args.quiet:
        q = r.quantized
        print(f"dequantized {args.input} -> {', '.join(r.outputs)}: {len(q)} tensors dequantized, "
              f"{len(r.rows) - len(q)} copied, {_bytes(sum(x.after for x in r.rows))}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    r = checkpoint_info(args.file)
    print(f"{args.file}: safetensors checkpoint, {len(r.quantized)} of {len(r.rows)} tensors quantized by qaffine")
    print("\n".join(table(r, errors=False)))
    return 0

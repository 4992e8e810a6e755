"""Streaming file quantization for the command line: a ``.npy`` of any size in, a qaffine ``.npz`` out.

Memory stays bounded by the chunk size whatever the file size: the input is read chunk by chunk into one
reused buffer (plain reads, no ``np.load`` and no memory map, whose pages would count in the resident set),
and the codes are streamed into the zip entry as they are made. The results equal the in-memory
``qa.quantize`` bit for bit, because dynamic quantization is ``minmax`` -> ``choose_qparams`` -> static
``quantize``:

* per tensor and per channel: two passes, the ranges first, then the codes with those (static) parameters;
* per block: blocks are independent, so whole blocks are quantized dynamically in one pass; a block row
  larger than the chunk (blocks along a leading axis of a wide array) is read twice, ranges then codes,
  with its parameters kept in a temporary file next to the output.

The data is handled in its physical order: a Fortran-ordered ``.npy`` is the C-ordered array of the
reversed shape, quantized along the mirrored axis, and written in Fortran order too.

Parameters: per channel they are held in memory (two numbers per channel); per block they go through
temporary files (8 bytes per block), so neither the data nor the parameters need to fit in memory.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Protocol, Tuple

import numpy as np
import numpy.typing as npt

from . import _calibrate, _packing
from ._api import QuantizedArray, choose_qparams, minmax, quantize
from ._finite import bad_value_error, first_bad
from ._io import (
    FORMAT_VERSION,
    Header,
    NpzWriter,
    PathLike,
    atomic_output,
    check_entries,
    read_header,
    read_npy_header,
    write_npy_header,
)
from ._mode import FLAGS, Mode
from ._params import QParams
from ._report import ErrorStats, QuantizationError
from ._tensors import out_dtype as out_dtype_of

__all__ = ["DEFAULT_CHUNK", "FileInfo", "Progress", "dequantize_file", "file_info", "quantize_file"]

#: Elements per chunk: 1 Mi (4 MiB of float32); the working memory is a small multiple of it.
DEFAULT_CHUNK = 1 << 20
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------------------------------- progress
class Progress:
    """A progress bar on stderr: tqdm if installed, else a plain percentage line; nothing if disabled."""

    def __init__(self, total: int, desc: str, enabled: bool, leave: bool = True) -> None:
        # leave=False: the bar is erased when closed (one bar per tensor of a checkpoint)
        self._bar: Any = None
        self._leave = leave
        self._plain = False
        self._done = 0
        self._total = max(total, 1)
        self._desc = desc
        self._last = 0.0
        if not enabled:
            return
        try:
            tqdm = importlib.import_module("tqdm")
            self._bar = tqdm.tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                                  file=sys.stderr, dynamic_ncols=True, mininterval=0.2, leave=leave)
        except ImportError:
            self._plain = True

    def update(self, nbytes: int) -> None:
        self._done += nbytes
        if self._bar is not None:
            self._bar.update(nbytes)
        elif self._plain:
            now = time.monotonic()
            if now - self._last >= 0.2 or self._done >= self._total:
                self._last = now
                sys.stderr.write(f"\r{self._desc}: {100 * self._done // self._total:3d}%")
                sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._plain:
            sys.stderr.write("\n" if self._leave else "\r" + " " * (len(self._desc) + 6) + "\r")
            sys.stderr.flush()


# ---------------------------------------------------------------------------------------------- pieces
@dataclass(frozen=True)
class _Piece:
    """A contiguous run of the (outer, channels, inner) view: outer [o, o+ko), channels [c, c+kc),
    inner [i, i+ki); either ko > 1 only with whole channels and inner, or kc > 1 only with whole inner."""

    o: int
    c: int
    i: int
    ko: int
    kc: int
    ki: int
    start: int

    @property
    def size(self) -> int:
        return self.ko * self.kc * self.ki

    @property
    def shape3(self) -> Tuple[int, int, int]:
        return (self.ko, self.kc, self.ki)


class _Grid:
    """The physical array as (outer, channels, inner) around the quantized axis, cut into pieces."""

    def __init__(self, shape: Tuple[int, ...], axis: Optional[int], budget: int) -> None:
        n = int(np.prod(shape, dtype=np.int64))
        if axis is None:
            self.outer, self.channels, self.inner = 1, 1, n
        else:
            self.outer = int(np.prod(shape[:axis], dtype=np.int64))
            self.channels = shape[axis]
            self.inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
        self.budget = max(1, budget)

    def piece(self, o: int, c: int, i: int, ko: int, kc: int, ki: int) -> _Piece:
        return _Piece(o, c, i, ko, kc, ki, (o * self.channels + c) * self.inner + i)

    def rows(self, o: int, c_lo: int, c_hi: int) -> Iterator[_Piece]:
        """Rows [c_lo, c_hi) of outer index o, in flat order: groups of rows, or segments of one row."""
        inner, budget = self.inner, self.budget
        if inner <= budget:
            k = budget // inner
            for c in range(c_lo, c_hi, k):
                yield self.piece(o, c, 0, 1, min(k, c_hi - c), inner)
        else:
            for c in range(c_lo, c_hi):
                for i in range(0, inner, budget):
                    yield self.piece(o, c, i, 1, 1, min(budget, inner - i))

    def pieces(self, unit: int = 1) -> Iterator[_Piece]:
        """All pieces in flat order; channel runs are whole multiples of ``unit`` (the block size) unless
        a run of ``unit`` rows does not fit the budget, in which case pieces stay inside one unit."""
        outer, channels, inner, budget = self.outer, self.channels, self.inner, self.budget
        if outer * channels * inner == 0:
            return
        if channels * inner <= budget:
            k = budget // (channels * inner)
            for o in range(0, outer, k):
                yield self.piece(o, 0, 0, min(k, outer - o), channels, inner)
        elif unit * inner <= budget:
            k = budget // (unit * inner) * unit
            for o in range(outer):
                for c in range(0, channels, k):
                    yield self.piece(o, c, 0, 1, min(k, channels - c), inner)
        else:
            for o in range(outer):
                for c in range(0, channels, unit):
                    yield from self.rows(o, c, min(channels, c + unit))

    def segments(self, o: int, c_lo: int, c_hi: int) -> Iterator[List[_Piece]]:
        """Rows [c_lo, c_hi) of outer index o, grouped by inner segment (all rows of one segment together)."""
        if self.inner <= self.budget:
            yield list(self.rows(o, c_lo, c_hi))
            return
        for i in range(0, self.inner, self.budget):
            ki = min(self.budget, self.inner - i)
            yield [self.piece(o, c, i, 1, 1, ki) for c in range(c_lo, c_hi)]


# ----------------------------------------------------------------------------------------- parameters
class _ParamFile:
    """Per-block parameters in two temporary files (scale float32, zero point int32), in physical order."""

    def __init__(self, folder: str) -> None:
        self._scale = tempfile.TemporaryFile(dir=folder, prefix=".qaffine-scale-")
        self._zp = tempfile.TemporaryFile(dir=folder, prefix=".qaffine-zp-")
        self.count = 0

    def close(self) -> None:
        self._scale.close()
        self._zp.close()

    def append(self, scale: npt.ArrayLike, zero_point: npt.ArrayLike) -> None:
        s = np.ascontiguousarray(scale, dtype=np.float32).reshape(-1)
        z = np.ascontiguousarray(zero_point, dtype=np.int32).reshape(-1)
        self._scale.seek(0, os.SEEK_END)
        self._zp.seek(0, os.SEEK_END)
        self._scale.write(s.view(np.uint8).data)
        self._zp.write(z.view(np.uint8).data)
        self.count += s.size

    def read(self, offset: int, count: int) -> Tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
        s = np.empty(count, dtype=np.float32)
        z = np.empty(count, dtype=np.int32)
        for f, a in ((self._scale, s), (self._zp, z)):
            f.seek(offset * 4)
            _read_exactly(f, a.view(np.uint8), "temporary parameter file")
        return s, z

    def copy_to(self, out: IO[bytes], which: str, chunk: int) -> None:
        f = self._scale if which == "scale" else self._zp
        f.seek(0)
        left = self.count * 4
        while left:
            data = f.read(min(left, chunk * 4))
            if not data:
                raise OSError("the temporary parameter file is shorter than written")
            out.write(data)
            left -= len(data)

    def stats(self, chunk: int) -> Tuple[float, float, float, int, int]:
        """(min, max, mean) of the scales, (min, max) of the zero points."""
        smin, smax, ssum, zmin, zmax = math.inf, -math.inf, 0.0, 1 << 30, -(1 << 30)
        for offset in range(0, self.count, chunk):
            s, z = self.read(offset, min(chunk, self.count - offset))
            smin, smax = min(smin, float(s.min())), max(smax, float(s.max()))
            ssum += float(s.sum(dtype=np.float64))
            zmin, zmax = min(zmin, int(z.min())), max(zmax, int(z.max()))
        return smin, smax, ssum / max(self.count, 1), zmin, zmax


class _Readable(Protocol):
    def readinto(self, buffer: Any, /) -> Optional[int]: ...


def _read_exactly(f: _Readable, view: npt.NDArray[np.uint8], name: str) -> None:
    mv = view.reshape(-1).data
    got = 0
    while got < len(mv):
        n = f.readinto(mv[got:])
        if not n:
            raise ValueError(f"{name} is truncated")
        got += n


# --------------------------------------------------------------------------------------------- input
class _NpyInput:
    """A .npy file opened for chunked reads into one reused buffer."""

    def __init__(self, path: PathLike, budget: int) -> None:
        self.name = os.fspath(path)
        if os.path.isdir(self.name):
            raise IsADirectoryError(21, "is a folder, not a .npy file", self.name)
        self._f = open(self.name, "rb")
        try:
            shape, fortran, dtype = read_npy_header(self._f, self.name)
            if dtype.kind != "f" or dtype.newbyteorder("=") not in _FLOATS:
                raise ValueError(
                    f"{self.name} holds {dtype} values; qaffine quantizes float16, float32 or float64 data "
                    "(convert it first, e.g. np.save(path, x.astype(np.float32)))"
                )
            self.shape, self.fortran, self.dtype = shape, fortran, dtype
            self.size = int(np.prod(shape, dtype=np.int64))
            self.offset = self._f.tell()
            have = os.fstat(self._f.fileno()).st_size - self.offset
            need = self.size * dtype.itemsize
            if have < need:
                raise ValueError(f"{self.name} is truncated: its header says {shape} {dtype} ({need:,} bytes of "
                                 f"data) but only {have:,} bytes follow")
        except BaseException:
            self._f.close()
            raise
        if fortran and sum(d > 1 for d in shape) <= 1:
            self.fortran = False  # at most one dimension > 1: Fortran order is C order
        self.physical = tuple(reversed(shape)) if self.fortran else shape
        self._buf = np.empty(min(max(self.size, 1), budget), dtype=dtype)

    def close(self) -> None:
        self._f.close()

    def read(self, piece: _Piece) -> npt.NDArray[Any]:
        """The piece's values, in the reused buffer (valid until the next read), shaped (ko, kc, ki)."""
        view = self._buf[:piece.size]
        self._f.seek(self.offset + piece.start * self.dtype.itemsize)
        _read_exactly(self._f, view.view(np.uint8), self.name)
        return view.reshape(piece.shape3)

    def index(self, flat: int) -> Tuple[int, ...]:
        """The logical index of physical flat position ``flat``."""
        if not self.shape:
            return ()
        idx = [int(i) for i in np.unravel_index(flat, self.physical)]
        if self.fortran:
            idx.reverse()
        return tuple(idx)

    def bad_values(self, x: npt.NDArray[Any], piece: _Piece) -> Optional[ValueError]:
        """A ValueError naming the first NaN (else infinity) of the piece, or None if all are finite."""
        found = first_bad(x)
        if found is None:
            return None
        return bad_value_error(found[0], self.index(piece.start + found[1]), name=self.name, static_hint=False)


# ------------------------------------------------------------------------------------------ quantize
@dataclass(frozen=True)
class QuantizeResult:
    header: Header
    input_bytes: int
    output_bytes: int
    error: QuantizationError
    scale_min: float
    scale_max: float
    zero_point: Optional[int]


def _normalize_options(shape: Tuple[int, ...], name: str, axis: Optional[int], block_size: Optional[int],
                       bits: Optional[int], signed: bool, symmetric: bool, tight: bool, packed: bool) -> Header:
    """The header of the output, or ValueError / TypeError naming the options (as flags) that do not fit."""
    mode = Mode(axis, block_size, bits, signed, symmetric, not tight, None, None, packed, spell=FLAGS)
    return Header(tuple(shape), mode.resolved(shape, FLAGS))


class _CodeSink:
    """Writes codes into the open zip entry, packing them (with a carry of < 8 codes) if needed. Pieces that
    start on a byte boundary of the fields and fill whole bytes (or end the array) come packed from the kernels
    (write_packed): then nothing is unpacked or packed here."""

    def __init__(self, f: IO[bytes], bits: Optional[int]) -> None:
        self._f = f
        self._bits = bits
        self._carry: Optional[npt.NDArray[Any]] = None

    def write(self, codes: npt.NDArray[Any]) -> None:
        flat = codes.reshape(-1)
        if self._bits is None:
            self._f.write(flat.view(np.uint8).data)
            return
        per = 8 // _packing.container_bits(self._bits)
        if self._carry is not None:
            flat = np.concatenate([self._carry, flat])
        whole = flat.size - flat.size % per
        if whole:
            self._f.write(_packing.pack(flat[:whole], self._bits).data)
        self._carry = flat[whole:].copy() if whole < flat.size else None

    def takes_packed(self, size: int, last: bool) -> bool:
        """Whether a piece of `size` codes can be written as the kernels' packed bytes."""
        if self._bits is None or self._carry is not None:
            return False
        return last or size % (8 // _packing.container_bits(self._bits)) == 0

    def write_packed(self, packed: npt.NDArray[Any]) -> None:
        assert self._carry is None
        self._f.write(packed.data)

    def close(self) -> None:
        if self._bits is not None and self._carry is not None:
            self._f.write(_packing.pack(self._carry, self._bits).data)
            self._carry = None


def _choose(h: Header, lo: Any, hi: Any, axis: Optional[int], block_size: Optional[int], name: str) -> QParams:
    try:
        return choose_qparams(lo, hi, axis=axis, block_size=block_size, bits=h.bits, signed=h.signed,
                              symmetric=h.symmetric, include_zero=h.include_zero)
    except ValueError as e:  # e.g. a float64 range whose scale does not fit float32
        raise ValueError(f"{name}: {e}") from None


def _slice_params(h: Header, scale: Any, zero_point: Any) -> QParams:
    """Parameters for a piece seen as (ko, kc, ki), quantized along its middle axis."""
    return QParams._of(scale, zero_point, h.mode.with_axis(1))


def quantize_file(
    src: PathLike,
    dst: PathLike,
    *,
    # The command line's options, one keyword each as in qa.quantize; Mode validates them (spelt as flags).
    axis: Optional[int] = None,
    block_size: Optional[int] = None,
    bits: Optional[int] = None,
    signed: bool = False,
    symmetric: bool = False,
    tight: bool = False,
    packed: bool = False,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = False,
    range: str = "minmax",
) -> QuantizeResult:
    """Quantizes the ``.npy`` at ``src`` into a qaffine ``.npz`` at ``dst``, streaming (see the module doc).

    ``range``: a method of :class:`qaffine.Observer`. Per tensor and per channel pass 1 observes every chunk with
    it (per channel one observer per channel, merged exactly; NaN is an error, infinities saturate) instead of
    taking the min/max; per block (``minmax``, ``moving_average``, ``mse``) each chunk's whole blocks are
    quantized with ``qa.quantize(..., range=...)`` in the one pass (blocks wider than a chunk: ``ValueError``).
    ``moving_average`` is the min/max, as in memory, where the whole array is one batch.

    Raises ValueError / OSError with a message naming the problem; ``dst`` is then left untouched.
    """
    src_name, dst_name = os.fspath(src), os.fspath(dst)
    inp = _NpyInput(src_name, chunk)
    try:
        if os.path.exists(dst_name) and os.path.samefile(src_name, dst_name):
            raise ValueError(f"the output {dst_name} is the input file; choose another name")
        _calibrate._check_method(range, "--range")
        if block_size is not None and range not in _calibrate.BLOCK_METHODS:
            raise ValueError(f"--range {range} is not defined per block: with --block-size, --range takes "
                             f"{', '.join(_calibrate.BLOCK_METHODS)}; {range} needs the distribution of many values "
                             "(use it per tensor or with --axis alone)")
        if range == "moving_average":
            range = "minmax"  # in memory the whole array is one batch, whose moving average is its min/max
        h = _normalize_options(inp.shape, src_name, axis, block_size, bits, signed, symmetric, tight, packed)
        h = Header(h.shape, h.mode, inp.dtype.newbyteorder("="))
        if inp.size == 0:
            raise ValueError(f"{src_name} is empty (shape {inp.shape}); there is nothing to quantize")
        if packed and inp.fortran:
            raise ValueError(f"{src_name} is stored in Fortran order, which --packed cannot stream; re-save it in "
                             "C order (np.save(path, np.ascontiguousarray(x))) or drop --packed")
        with atomic_output(dst_name) as tmp:
            result = _quantize_stream(inp, h, tmp, chunk, progress, range)
        return QuantizeResult(h, os.path.getsize(src_name), os.path.getsize(dst_name), *result)
    finally:
        inp.close()


def _quantize_stream(inp: _NpyInput, h: Header, tmp: str, chunk: int, progress: bool,
                     method: str = "minmax") -> Tuple[QuantizationError, float, float, Optional[int]]:
    ndim = len(inp.shape)
    paxis = None if h.axis is None else (ndim - 1 - h.axis if inp.fortran else h.axis)
    grid = _Grid(inp.physical, paxis, chunk)
    folder = os.path.dirname(os.path.abspath(tmp))
    block = h.block_size
    one_pass = block is not None and block * grid.inner <= grid.budget
    passes = 1 if one_pass else 2
    if block is not None and method != "minmax" and not one_pass:
        raise ValueError(f"--range {method} per block needs whole blocks in a chunk; a block here spans "
                         f"{block * grid.inner:,} values (--block-size {block} along an axis with {grid.inner:,} values "
                         f"after it): pass --chunk-size {block * grid.inner} or more, or quantize along the last axis")
    bar = Progress(passes * inp.size * inp.dtype.itemsize, f"quantize ({passes} pass{'es' if passes > 1 else ''})",
                   progress)
    stats = ErrorStats(h.bits)
    hat_dtype = np.float64 if inp.dtype.newbyteorder("=") == np.float64 else np.float32
    codes_buf = np.empty(min(inp.size, grid.budget), dtype=h.dtype)
    hat_buf = np.empty(min(inp.size, grid.budget), dtype=hat_dtype)
    params_file = _ParamFile(folder) if block is not None else None
    try:
        # ---- pass 1 (per tensor, per channel): the ranges
        p_all: Optional[QParams] = None
        if block is None:
            lo: Any = None
            hi: Any = None
            native = inp.dtype.newbyteorder("=")
            if paxis is not None:
                lo = np.full(grid.channels, np.inf, dtype=native)
                hi = np.full(grid.channels, -np.inf, dtype=native)
            observer = channel_obs = None
            if method != "minmax":
                options: Dict[str, Any] = dict(bits=h.bits, signed=h.signed, symmetric=h.symmetric,
                                               include_zero=h.include_zero)
                if paxis is None:
                    observer = _calibrate.Observer(method, **options)
                else:  # one observer per channel, fed that channel's part of every piece (merges are exact)
                    channel_obs = [_calibrate.Observer(method, **options) for _ in range(grid.channels)]
            for piece in grid.pieces():
                x = inp.read(piece)
                try:
                    if observer is not None:
                        observer.update(x)
                        bad = False
                    elif channel_obs is not None:
                        x3 = x.reshape(piece.shape3)
                        for k in range(piece.kc):
                            channel_obs[piece.c + k].update(x3[:, k, :])
                        bad = False
                    elif paxis is None:
                        plo, phi = minmax(x)
                        bad = not (np.isfinite(plo) and np.isfinite(phi))
                        lo = plo if lo is None else min(lo, plo)
                        hi = phi if hi is None else max(hi, phi)
                    else:
                        clo, chi = minmax(x, axis=1)
                        bad = not (np.isfinite(clo).all() and np.isfinite(chi).all())
                        sl = slice(piece.c, piece.c + piece.kc)
                        lo[sl] = np.minimum(lo[sl], clo)
                        hi[sl] = np.maximum(hi[sl], chi)
                except ValueError:
                    bad = True
                if bad:
                    raise inp.bad_values(x, piece) or ValueError(f"{inp.name}: bad values")
                bar.update(piece.size * inp.dtype.itemsize)
            if observer is not None:
                if observer.seen == observer.infinities:
                    raise ValueError(f"{inp.name} holds no finite value to choose a range from")
                p_all = observer.params()
            elif channel_obs is not None:
                # Observer(axis=k).params() in memory: each channel's range (that of the channel alone), then
                # choose_qparams of the bounds in the data's arithmetic.
                dt = np.float64 if native == np.float64 else np.float32
                try:
                    ranges = np.array([o.range() for o in channel_obs], dtype=np.float64).reshape(-1, 2)
                except ValueError as e:
                    raise ValueError(f"{inp.name}: {e}") from None
                p_all = _choose(h, ranges[:, 0].astype(dt), ranges[:, 1].astype(dt), 0, None, inp.name)
            elif paxis is None:
                p_all = _choose(h, lo, hi, None, None, inp.name)
            else:
                p_all = _choose(h, lo, hi, 0, None, inp.name)

        # ---- pass 2: the codes, streamed into the zip entry
        codes_fortran = inp.fortran and not h.packed
        with NpzWriter(tmp) as w:
            w.fields(h)
            with w.stream("codes", h.codes_shape, np.uint8 if h.packed else h.dtype, codes_fortran) as f:
                sink = _CodeSink(f, h.bits if h.packed else None)

                def emit(x: npt.NDArray[Any], q: QuantizedArray, piece: _Piece) -> None:
                    x_hat = q.dequantize(out=hat_buf[:piece.size].reshape(piece.shape3))
                    if q.packed:
                        sink.write_packed(q.values)
                        stats.add_packed(x, x_hat, q.values, h.signed)
                    else:
                        sink.write(q.values)
                        stats.add(x, x_hat, q.values)
                    bar.update(piece.size * inp.dtype.itemsize)

                def packed_here(piece: _Piece) -> bool:
                    return sink.takes_packed(piece.size, piece.start + piece.size == inp.size)

                def static(x: npt.NDArray[Any], p: QParams, piece: _Piece) -> None:
                    try:
                        if packed_here(piece):
                            q = quantize(x, p, packed=True)
                        else:
                            q = quantize(x, p, out=codes_buf[:piece.size].reshape(piece.shape3))
                    except ValueError as e:
                        raise inp.bad_values(x, piece) or ValueError(f"{inp.name}: {e}") from None
                    emit(x, q, piece)

                if block is None:
                    assert p_all is not None
                    for piece in grid.pieces():
                        x = inp.read(piece)
                        if paxis is None:
                            static(x, p_all, piece)
                        else:
                            sl = slice(piece.c, piece.c + piece.kc)
                            static(x, _slice_params(h, p_all.scale[sl], p_all.zero_point[sl]), piece)
                elif one_pass:
                    assert params_file is not None
                    for piece in grid.pieces(unit=block):
                        x = inp.read(piece)
                        try:
                            pk = packed_here(piece)
                            q = quantize(x, axis=1, block_size=block, bits=h.bits, signed=h.signed,
                                         symmetric=h.symmetric, include_zero=h.include_zero, packed=pk,
                                         out=None if pk else codes_buf[:piece.size].reshape(piece.shape3),
                                         range=method)
                        except ValueError as e:
                            raise inp.bad_values(x, piece) or ValueError(f"{inp.name}: {e}") from None
                        params_file.append(q.scale, q.zero_point)
                        emit(x, q, piece)
                else:
                    assert params_file is not None
                    _blocks_two_pass(inp, h, grid, block, params_file, static, bar)
                sink.close()
            _write_params(w, h, p_all, params_file, inp.fortran, grid.budget)
        scale_min, scale_max = _scale_range(p_all, params_file, grid.budget)
        zero_point = int(p_all.zero_point) if p_all is not None and p_all.axis is None else None
        return stats.result(), scale_min, scale_max, zero_point
    finally:
        bar.close()
        if params_file is not None:
            params_file.close()


def _blocks_two_pass(inp: _NpyInput, h: Header, grid: _Grid, block: int, params_file: _ParamFile,
                     static: Callable[[npt.NDArray[Any], QParams, _Piece], None], bar: Progress) -> None:
    """Blocks whose rows do not fit a chunk: per block row, ranges by inner segment, then the codes."""
    nb = -(-grid.channels // block)
    for o in range(grid.outer):
        for j in range(nb):
            c_lo, c_hi = j * block, min(grid.channels, (j + 1) * block)
            for group in grid.segments(o, c_lo, c_hi):
                lo: Any = None
                hi: Any = None
                for piece in group:
                    x = inp.read(piece)
                    x2 = x.reshape(piece.kc, piece.ki)
                    try:
                        glo, ghi = minmax(x2, axis=0, block_size=piece.kc)
                    except ValueError as e:
                        raise inp.bad_values(x, piece) or ValueError(f"{inp.name}: {e}") from None
                    if not (np.isfinite(glo).all() and np.isfinite(ghi).all()):
                        raise inp.bad_values(x, piece) or ValueError(f"{inp.name}: bad values")
                    lo = glo if lo is None else np.minimum(lo, glo)
                    hi = ghi if hi is None else np.maximum(hi, ghi)
                    bar.update(piece.size * inp.dtype.itemsize)
                p = _choose(h, lo.reshape(1, 1, -1), hi.reshape(1, 1, -1), 1, block, inp.name)
                params_file.append(p.scale, p.zero_point)
            base = (o * nb + j) * grid.inner
            for piece in grid.rows(o, c_lo, c_hi):
                x = inp.read(piece)
                s, z = params_file.read(base + piece.i, piece.ki)
                static(x, _slice_params(h, s.reshape(1, 1, -1), z.reshape(1, 1, -1)), piece)


def _write_params(w: NpzWriter, h: Header, p: Optional[QParams], params_file: Optional[_ParamFile],
                  fortran: bool, chunk: int) -> None:
    if params_file is None:
        assert p is not None
        w.array("scale", np.asarray(p.scale, dtype=np.float32))
        w.array("zero_point", np.asarray(p.zero_point, dtype=np.int32))
        return
    # Block parameters are in physical order: a Fortran-ordered entry of the logical shape.
    for which, dtype in (("scale", np.float32), ("zero_point", np.int32)):
        with w.stream(which, h.params_shape, np.dtype(dtype), fortran) as f:
            params_file.copy_to(f, which, chunk)


def _scale_range(p: Optional[QParams], params_file: Optional[_ParamFile], chunk: int) -> Tuple[float, float]:
    if params_file is not None:
        smin, smax, _, _, _ = params_file.stats(chunk)
        return smin, smax
    assert p is not None
    return float(np.min(p.scale)), float(np.max(p.scale))


# ---------------------------------------------------------------------------------------- dequantize
class _QFile:
    """An open qaffine .npz: header checked, parameters available piece by piece, codes streamed."""

    def __init__(self, path: PathLike, budget: int) -> None:
        self.name = os.fspath(path)
        if os.path.isdir(self.name):
            raise IsADirectoryError(21, "is a folder, not a .npz file", self.name)
        if not os.path.exists(self.name):
            raise FileNotFoundError(2, "no such file", self.name)
        try:
            self.zip = zipfile.ZipFile(self.name)
        except zipfile.BadZipFile:
            raise ValueError(f"{self.name} is not a qaffine file (not a .npz / zip archive)") from None
        self.params_file: Optional[_ParamFile] = None
        try:
            self.header = h = read_header(self.zip, self.name)
            self.fortran, params_fortran = check_entries(self.zip, h, self.name)
            if h.packed:
                self.fortran = False
            self.physical = tuple(reversed(h.shape)) if self.fortran else h.shape
            paxis = None if h.axis is None else (len(h.shape) - 1 - h.axis if self.fortran else h.axis)
            self.grid = _Grid(self.physical, paxis, budget)
            self.params: Optional[QParams] = None
            if h.block_size is None:
                scale = self._entry("scale")
                zp = self._entry("zero_point")
                self.params = h.params(scale, zp)
            else:
                self.params_file = _ParamFile(os.path.dirname(os.path.abspath(self.name)))
                self._copy_block_params(params_fortran != self.fortran, budget)
        except BaseException:
            self.close()
            raise

    def _entry(self, key: str) -> npt.NDArray[Any]:
        with self.zip.open(key + ".npy") as f:
            a = np.lib.format.read_array(f, allow_pickle=False)
        return a.astype(a.dtype.newbyteorder("="), copy=False)

    def _copy_block_params(self, transpose: bool, budget: int) -> None:
        assert self.params_file is not None
        if transpose:  # stored in the other order than the codes (not written by qaffine): read them whole
            s, z = self._entry("scale"), self._entry("zero_point")
            if self.fortran:  # physical order of Fortran-ordered codes: the transposed parameters, C order
                s, z = s.T, z.T
            self.params_file.append(np.ascontiguousarray(s), np.ascontiguousarray(z))
            return
        with self.zip.open("scale.npy") as fs, self.zip.open("zero_point.npy") as fz:
            _, _, ds = read_npy_header(fs, self.name)
            _, _, dz = read_npy_header(fz, self.name)
            total = int(np.prod(self.header.params_shape, dtype=np.int64))
            for offset in range(0, total, budget):
                k = min(budget, total - offset)
                s = np.frombuffer(_read_bytes(fs, k * 4, self.name), dtype=ds)
                z = np.frombuffer(_read_bytes(fz, k * 4, self.name), dtype=dz)
                self.params_file.append(s, z)

    def close(self) -> None:
        if self.params_file is not None:
            self.params_file.close()
        self.zip.close()

    def piece_params(self, piece: _Piece) -> QParams:
        h = self.header
        if h.block_size is None:
            assert self.params is not None
            if h.axis is None:
                return self.params
            sl = slice(piece.c, piece.c + piece.kc)
            return _slice_params(h, self.params.scale[sl], self.params.zero_point[sl])
        assert self.params_file is not None
        nb = -(-self.grid.channels // h.block_size)
        nbk = -(-piece.kc // h.block_size)
        offset = (piece.o * nb + piece.c // h.block_size) * self.grid.inner + piece.i
        s, z = self.params_file.read(offset, piece.ko * nbk * piece.ki)
        shape = (piece.ko, nbk, piece.ki)
        return _slice_params(h, s.reshape(shape), z.reshape(shape))

    def codes(self) -> Iterator[Tuple[_Piece, npt.NDArray[Any]]]:
        """(piece, codes shaped (ko, kc, ki)) in flat order."""
        h = self.header
        unit = h.block_size or 1
        with self.zip.open("codes.npy") as f:
            _, _, stored = read_npy_header(f, self.name)  # 16-bit codes may be stored in either byte order
            carry = np.empty(0, dtype=h.dtype)
            for piece in self.grid.pieces(unit=unit):
                if not h.packed:
                    data = _read_bytes(f, piece.size * stored.itemsize, self.name)
                    codes = np.frombuffer(data, dtype=stored).astype(h.dtype, copy=False)
                else:
                    per = 8 // _packing.container_bits(h.bits)
                    need = piece.size - carry.size
                    nbytes = max(0, -(-need // per))
                    raw = np.frombuffer(_read_bytes(f, nbytes, self.name), dtype=np.uint8)
                    fresh = _packing.unpack(raw, h.bits, h.signed, (nbytes * per,))
                    allc = np.concatenate([carry, fresh]) if carry.size else fresh
                    codes, carry = allc[:piece.size], allc[piece.size:]
                yield piece, codes.reshape(piece.shape3)


def _read_bytes(f: IO[bytes], n: int, name: str) -> bytes:
    data = f.read(n)
    while len(data) < n:
        more = f.read(n - len(data))
        if not more:
            raise ValueError(f"{name} is damaged: an entry ends early")
        data += more
    return data


def dequantize_file(src: PathLike, dst: PathLike, *, dtype: Optional[str] = None, chunk: int = DEFAULT_CHUNK,
                    progress: bool = False) -> Tuple[Header, np.dtype[Any]]:
    """Dequantizes the qaffine ``.npz`` at ``src`` into a ``.npy`` at ``dst``, streaming.

    ``dtype`` is ``'float32'``, ``'float64'``, ``'float16'`` or ``'bfloat16'`` (needs ml_dtypes; written
    as NumPy writes ml_dtypes arrays, descr ``'<V2'``: ``np.load(path).view(ml_dtypes.bfloat16)``); by
    default float64 if the file says the source was float64, else float32.
    """
    qf = _QFile(src, chunk)
    try:
        h = qf.header
        if dtype is None:
            out_dtype = np.dtype(np.float64 if h.source_dtype == np.float64 else np.float32)
        else:
            out_dtype = out_dtype_of(dtype)[0]
        dst_name = os.fspath(dst)
        if os.path.exists(dst_name) and os.path.samefile(qf.name, dst_name):
            raise ValueError(f"the output {dst_name} is the input file; choose another name")
        buf = np.empty(min(max(h.size, 1), qf.grid.budget), dtype=out_dtype)
        bar = Progress(h.size * out_dtype.itemsize, "dequantize", progress)
        try:
            with atomic_output(dst_name) as tmp, open(tmp, "wb") as f:
                write_npy_header(f, h.shape, out_dtype, qf.fortran)
                for piece, codes in qf.codes():
                    p = qf.piece_params(piece)
                    out = buf[:piece.size].reshape(piece.shape3)
                    QuantizedArray(np.ascontiguousarray(codes), p).dequantize(out=out)
                    f.write(out.reshape(-1).view(np.uint8).data)
                    bar.update(piece.size * out_dtype.itemsize)
        finally:
            bar.close()
        return h, out_dtype
    finally:
        qf.close()


# ------------------------------------------------------------------------------------------------ info
@dataclass(frozen=True)
class FileInfo:
    header: Header
    version: int
    file_bytes: int
    codes_bytes: int
    params_count: int
    scale_min: float
    scale_max: float
    scale_mean: float
    zero_point_min: int
    zero_point_max: int


def file_info(path: PathLike, chunk: int = DEFAULT_CHUNK) -> FileInfo:
    """The header and parameter statistics of a qaffine ``.npz``, reading the parameters in chunks."""
    qf = _QFile(path, chunk)
    try:
        h = qf.header
        if qf.params is not None:
            s = np.asarray(qf.params.scale, dtype=np.float64)
            z = np.asarray(qf.params.zero_point)
            stats = (float(s.min()), float(s.max()), float(s.mean()), int(z.min()), int(z.max()))
            count = int(s.size)
        else:
            assert qf.params_file is not None
            stats = qf.params_file.stats(chunk)
            count = qf.params_file.count
        codes_bytes = int(np.prod(h.codes_shape, dtype=np.int64))
        return FileInfo(h, FORMAT_VERSION, os.path.getsize(qf.name), codes_bytes, count, *stats)
    finally:
        qf.close()

"""The safetensors format, read and written by qaffine itself, one tensor (or one slice of it) at a time.

A ``.safetensors`` file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON (tensor name ->
``{"dtype", "shape", "data_offsets": [begin, end]}``, plus an optional ``"__metadata__"`` of strings), then the
tensors' little-endian bytes, back to back. qaffine reads it with plain reads into a reused buffer (no memory
map: the mapped pages of a whole checkpoint would stay in the resident set) and writes it by first laying out
the header, then filling each tensor's bytes in place, so neither needs the whole file in memory; the
``safetensors`` package is not needed for either.

The quantized layout (format 1), readable with plain ``safetensors``: a quantized tensor ``NAME`` becomes

=================== ============================ =====================================================
tensor              dtype, shape                 meaning
=================== ============================ =====================================================
``NAME.codes``      U8 / I8, the tensor's shape  the codes (I8 if signed); packed: 1-D U8, the packed bytes
``NAME.scale``      F32                          ``[]`` per tensor, ``[shape[axis]]`` per channel, the shape
                                                 with ``axis`` replaced by ``ceil(shape[axis] / block_size)``
                                                 per block
``NAME.zero_point`` I32                          the shape of ``NAME.scale``
=================== ============================ =====================================================

and ``__metadata__`` holds ``"qaffine_format": "1"`` and, per quantized tensor, ``"qaffine.NAME"``: a JSON
object with ``shape``, ``source_dtype`` (the safetensors dtype that was quantized, e.g. ``"BF16"``), ``axis``
and ``block_size`` (``null`` if absent), ``bits``, ``qmin``, ``qmax``, ``signed``, ``symmetric``,
``include_zero`` and ``packed``. Every other tensor keeps its name, dtype and bytes.

>>> import numpy as np, qaffine as qa, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
>>> w = np.float32([[0.5, -1.0, 2.0], [0.25, 4.0, -3.0]])
>>> qa.save_safetensors(path, {"fc.weight": qa.quantize(w, axis=0), "fc.bias": np.float32([0.1, 0.2])})
>>> t = qa.load_safetensors(path)
>>> sorted(t), t["fc.weight"].scale.shape, t["fc.bias"]
(['fc.bias', 'fc.weight'], (2,), array([0.1, 0.2], dtype=float32))
"""

from __future__ import annotations

import importlib
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import IO, Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _packing
from ._api import QuantizedArray
from ._io import Header, PathLike, atomic_output
from ._mode import Mode
from ._params import QParams

__all__ = ["FORMAT", "SafetensorsFile", "TensorInfo", "Writer", "load_safetensors", "save_safetensors"]

#: The version of the quantized layout written into ``__metadata__["qaffine_format"]``.
FORMAT = 1
MARK = "qaffine_format"
PREFIX = "qaffine."
PARTS = ("codes", "scale", "zero_point")
EXTRA = 'pip install "qaffine[safetensors]"'
_MAX_HEADER = 100_000_000  # the safetensors library's own limit on the JSON header

# safetensors dtype -> (NumPy dtype, or the ml_dtypes type's name; itemsize). Other dtypes are copied as bytes.
_DTYPES: Dict[str, Tuple[str, int]] = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("ml_dtypes.bfloat16", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U64": ("<u8", 8), "U32": ("<u4", 4), "U16": ("<u2", 2), "U8": ("u1", 1), "BOOL": ("?", 1),
    "F8_E4M3": ("ml_dtypes.float8_e4m3fn", 1), "F8_E5M2": ("ml_dtypes.float8_e5m2", 1), "C64": ("<c8", 8),
}
#: The dtypes qaffine quantizes.
FLOATS = ("F16", "BF16", "F32", "F64")
_CLI_DTYPES = {"float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64"}


def _ml_dtypes(what: str) -> Any:
    try:
        return importlib.import_module("ml_dtypes")
    except ImportError:
        raise ImportError(f"{what} needs ml_dtypes, an optional dependency: {EXTRA}") from None


def numpy_dtype(st_dtype: str) -> np.dtype[Any]:
    """The NumPy dtype of a safetensors dtype (bfloat16 and float8 from ml_dtypes, imported only then)."""
    spec = _DTYPES[st_dtype][0]
    if spec.startswith("ml_dtypes."):
        kind: Any = getattr(_ml_dtypes(f"a {st_dtype} tensor"), spec.split(".", 1)[1])
        dtype: np.dtype[Any] = np.dtype(kind)
        return dtype
    return np.dtype(spec)


def st_dtype(dtype: np.dtype[Any]) -> str:
    """The safetensors dtype of a NumPy dtype; TypeError if safetensors has none."""
    for name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        if dtype.name == name:
            return next(k for k, (spec, _) in _DTYPES.items() if spec == f"ml_dtypes.{name}")
    for key, (spec, _) in _DTYPES.items():
        if not spec.startswith("ml_dtypes.") and dtype.newbyteorder("<") == np.dtype(spec).newbyteorder("<"):
            return key
    raise TypeError(f"safetensors has no dtype for {dtype}")


def itemsize(st: str) -> int:
    """Bytes per element of a safetensors dtype (1 for dtypes this module does not know)."""
    return _DTYPES[st][1] if st in _DTYPES else 1


def cli_dtype(name: str) -> str:
    """``'bfloat16'`` -> ``'BF16'`` (the choices of ``dequantize --dtype``)."""
    return _CLI_DTYPES[name]


def dtype_name(st: str) -> str:
    """``'BF16'`` -> ``'bfloat16'`` for the floats, else the safetensors name."""
    return next((k for k, v in _CLI_DTYPES.items() if v == st), st)


# ---------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a file: its dtype (safetensors name), shape, and absolute byte range in the file."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _damaged(name: str, what: str) -> ValueError:
    return ValueError(f"{name} is damaged: {what}")


class SafetensorsFile:
    """An open ``.safetensors`` file, its header checked as the safetensors library checks it.

    ``tensors`` lists the tensors in the order of their bytes; ``metadata`` is ``__metadata__``. Raises
    ValueError naming the file and the problem: not a safetensors file, a truncated file, a damaged header.
    """

    def __init__(self, path: PathLike) -> None:
        self.name = os.fspath(path)
        if os.path.isdir(self.name):
            raise IsADirectoryError(21, "is a folder, not a .safetensors file", self.name)
        self._f = open(self.name, "rb")
        self._buf = np.empty(0, dtype=np.uint8)
        try:
            self.tensors, self.metadata = self._read_header()
        except BaseException:
            self._f.close()
            raise
        self.by_name = {t.name: t for t in self.tensors}

    def __enter__(self) -> "SafetensorsFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def _read_header(self) -> Tuple[List[TensorInfo], Dict[str, str]]:
        name = self.name
        size = os.fstat(self._f.fileno()).st_size
        head = self._f.read(8)
        if len(head) < 8:
            raise ValueError(f"{name} is not a safetensors file ({size} bytes: too short for its 8-byte header "
                             "length)")
        (n,) = struct.unpack("<Q", head)
        first = self._f.read(1)
        if n == 0 or n > _MAX_HEADER or first != b"{":
            raise ValueError(f"{name} is not a safetensors file (it does not start with a header length and a "
                             "JSON header)")
        if n > size - 8:
            raise ValueError(f"{name} is truncated: its header says {n:,} bytes of JSON but only {size - 8:,} "
                             "bytes follow")
        raw = first + self._f.read(n - 1)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _damaged(name, f"its header is not valid JSON ({e})") from None
        if not isinstance(header, dict):
            raise _damaged(name, "its header is not a JSON object")
        meta = header.pop("__metadata__", None)
        if meta is None:
            meta = {}
        if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise _damaged(name, "__metadata__ must map strings to strings")
        base = 8 + n
        tensors = [self._entry(key, value, base) for key, value in header.items()]
        tensors.sort(key=lambda t: (t.start, t.end))
        at = base
        for t in tensors:
            if t.start != at:
                raise _damaged(name, f"the bytes of tensor {t.name!r} {'overlap another' if t.start < at else 'leave a gap'}"
                               " (data_offsets must cover the data back to back)")
            at = t.end
        if at > size:
            raise ValueError(f"{name} is truncated: its tensors need {at - base:,} bytes of data but only "
                             f"{size - base:,} follow the header")
        if at < size:
            raise _damaged(name, f"{size - at:,} bytes follow the last tensor")
        return tensors, dict(meta)

    def _entry(self, key: str, value: Any, base: int) -> TensorInfo:
        where = f"tensor {key!r}"
        if not isinstance(value, dict):
            raise _damaged(self.name, f"{where} is not described by a JSON object")
        dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
        if not isinstance(dtype, str):
            raise _damaged(self.name, f"{where} has no dtype")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _damaged(self.name, f"{where} has a shape that is not a list of sizes: {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise _damaged(self.name, f"{where} has data_offsets that are not [begin, end]: {offsets!r}")
        t = TensorInfo(key, dtype, tuple(shape), base + offsets[0], base + offsets[1])
        if dtype in _DTYPES and t.nbytes != t.size * _DTYPES[dtype][1]:
            raise _damaged(self.name, f"{where} is {dtype} {tuple(shape)} ({t.size * _DTYPES[dtype][1]:,} bytes) "
                           f"but its data_offsets span {t.nbytes:,} bytes")
        return t

    def _bytes(self, start: int, nbytes: int) -> npt.NDArray[np.uint8]:
        """``nbytes`` bytes at ``start``, in the reused buffer (valid until the next read)."""
        if self._buf.size < nbytes:
            self._buf = np.empty(nbytes, dtype=np.uint8)
        view = self._buf[:nbytes]
        self._f.seek(start)
        mv = view.data
        got = 0
        while got < nbytes:
            k = self._f.readinto(mv[got:])
            if not k:
                raise ValueError(f"{self.name} is truncated (it changed while being read)")
            got += k
        return view

    def read(self, t: TensorInfo, first: int = 0, last: Optional[int] = None) -> npt.NDArray[Any]:
        """Rows ``[first, last)`` (along axis 0) of tensor ``t`` as a NumPy array in the reused buffer (valid
        until the next read); the whole tensor by default. bfloat16 comes as ``ml_dtypes.bfloat16``."""
        dtype = numpy_dtype(t.dtype)
        if not t.shape:
            return self._bytes(t.start, t.nbytes).view(dtype).reshape(())
        rows = t.shape[0]
        last = rows if last is None else last
        row_bytes = math.prod(t.shape[1:]) * dtype.itemsize
        data = self._bytes(t.start + first * row_bytes, (last - first) * row_bytes)
        return data.view(dtype).reshape((last - first,) + t.shape[1:])

    def read_bytes(self, t: TensorInfo, first: int, nbytes: int) -> npt.NDArray[np.uint8]:
        """``nbytes`` raw bytes of ``t`` from its byte ``first`` on (reused buffer)."""
        return self._bytes(t.start + first, nbytes)

    def copy(self, t: TensorInfo, out: "Writer", chunk_bytes: int) -> None:
        """The tensor's bytes, unchanged, into the entry of the same name of ``out``."""
        for offset in range(0, t.nbytes, chunk_bytes):
            out.write(t.name, self._bytes(t.start + offset, min(chunk_bytes, t.nbytes - offset)))


# ---------------------------------------------------------------------------------------------- writing
class Writer:
    """A new ``.safetensors`` file whose tensors (name, dtype, shape) are known up front.

    The header is written first; each tensor's bytes are then written with :meth:`write`, in any order of
    tensors, in order within a tensor. Tensors are laid out by decreasing item size (as the safetensors
    library does), so each one starts at a multiple of its item size. :meth:`close` checks that every byte
    was written.
    """

    def __init__(self, path: PathLike, entries: Iterable[Tuple[str, str, Tuple[int, ...]]],
                 metadata: Mapping[str, str], sizes: Optional[Mapping[str, int]] = None) -> None:
        # sizes: the byte counts of tensors of dtypes this module does not know (copied as they are)
        listed = list(entries)
        names = [e[0] for e in listed]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"two tensors would be named {dup!r} (a quantized tensor NAME is stored as NAME.codes, "
                             "NAME.scale and NAME.zero_point); rename or --exclude one of them")
        order = sorted(range(len(listed)), key=lambda i: -itemsize(listed[i][1]))
        header: Dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
        self._at: Dict[str, List[int]] = {}
        offset = 0
        for i in order:
            name, dtype, shape = listed[i]
            nbytes = sizes[name] if sizes and name in sizes else math.prod(shape) * itemsize(dtype)
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            self._at[name] = [offset, offset + nbytes]
            offset += nbytes
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
        self.data_bytes = offset
        self._base = 8 + len(text)
        self._f: IO[bytes] = open(os.fspath(path), "wb")
        self._f.write(struct.pack("<Q", len(text)) + text)
        self._f.truncate(self._base + offset)

    def write(self, name: str, data: Any) -> None:
        """Appends bytes (a buffer, e.g. an array's ``.data``) to tensor ``name``."""
        at = self._at[name]
        mv = memoryview(data).cast("B")
        if at[0] + mv.nbytes > at[1]:
            raise AssertionError(f"more bytes than tensor {name!r} holds")
        self._f.seek(self._base + at[0])
        self._f.write(mv)
        at[0] += mv.nbytes

    def write_array(self, name: str, a: npt.NDArray[Any]) -> None:
        """A whole array (or the next slice of one), written little-endian."""
        if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and np.little_endian is False):
            a = a.astype(a.dtype.newbyteorder("<"))
        self.write(name, np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)

    def close(self) -> None:
        try:
            short = [n for n, (a, b) in self._at.items() if a != b]
            if short:
                raise AssertionError(f"tensor {short[0]!r} was not written completely")
        finally:
            self._f.close()

    def abort(self) -> None:
        self._f.close()


# ---------------------------------------------------------------------------------- the quantized layout
def part(name: str, which: str) -> str:
    """The derived name of a quantized tensor's codes / scale / zero_point."""
    return f"{name}.{which}"


def describe_header(h: Header, source: str) -> str:
    """The metadata value of a quantized tensor (a JSON object as a string)."""
    m = h.mode
    return json.dumps({"shape": list(h.shape), "source_dtype": source, "axis": m.axis, "block_size": m.block_size,
                       "bits": m.bits, "qmin": m.qmin, "qmax": m.qmax, "signed": m.signed, "symmetric": m.symmetric,
                       "include_zero": m.include_zero, "packed": m.packed}, separators=(",", ":"))


def layout_entries(name: str, h: Header) -> List[Tuple[str, str, Tuple[int, ...]]]:
    """The three tensors a quantized tensor is stored as: (name, safetensors dtype, shape)."""
    codes = "U8" if h.packed or not h.signed else "I8"
    return [(part(name, "codes"), codes, h.codes_shape), (part(name, "scale"), "F32", h.params_shape),
            (part(name, "zero_point"), "I32", h.params_shape)]


@dataclass(frozen=True)
class Quantized:
    """A quantized tensor of a file: its header (shape and mode), source dtype and its three tensors."""

    name: str
    header: Header
    source: str
    codes: TensorInfo
    scale: TensorInfo
    zero_point: TensorInfo


_FIELDS = ("shape", "source_dtype", "axis", "block_size", "bits", "qmin", "qmax", "signed", "symmetric",
           "include_zero", "packed")


def quantized_tensors(f: SafetensorsFile) -> Dict[str, Quantized]:
    """The quantized tensors of an open file (by original name), their metadata and tensors checked; empty for
    a file qaffine did not quantize. ValueError naming the file and the problem otherwise."""
    keys = [k for k in f.metadata if k.startswith(PREFIX)]
    if MARK not in f.metadata:
        if keys:
            raise _damaged(f.name, f"it has {keys[0]!r} in its metadata but no {MARK!r}")
        return {}
    version = f.metadata[MARK]
    if not version.isdigit() or int(version) < 1:
        raise _damaged(f.name, f"{MARK} must be a format version, got {version!r}")
    if int(version) > FORMAT:
        raise ValueError(f"{f.name} has qaffine format version {version}, newer than this qaffine reads "
                         f"({FORMAT}); upgrade qaffine (pip install -U qaffine)")
    out: Dict[str, Quantized] = {}
    for key in keys:
        name = key[len(PREFIX):]
        where = f"the metadata {key!r}"
        try:
            d = json.loads(f.metadata[key])
        except json.JSONDecodeError as e:
            raise _damaged(f.name, f"{where} is not valid JSON ({e})") from None
        if not isinstance(d, dict) or set(d) != set(_FIELDS):
            raise _damaged(f.name, f"{where} must be an object with the fields {', '.join(_FIELDS)}")
        shape, source = d["shape"], d["source_dtype"]
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise _damaged(f.name, f"{where} has a shape that is not a list of sizes: {shape!r}")
        if source not in FLOATS:
            raise _damaged(f.name, f"{where} has source_dtype {source!r}; expected one of {', '.join(FLOATS)}")
        try:
            mode = Mode(**{k: d[k] for k in _FIELDS[2:]})
            if mode.axis is not None and mode.axis < 0:
                raise ValueError(f"axis {mode.axis} is out of range for shape {tuple(shape)}")
            h = Header(tuple(shape), mode.resolved(tuple(shape)))
        except (TypeError, ValueError) as e:
            raise _damaged(f.name, f"{where}: {e}") from None
        parts = []
        for (pname, dtype, pshape) in layout_entries(name, h):
            t = f.by_name.get(pname)
            if t is None:
                raise _damaged(f.name, f"the tensor {pname!r} of quantized {name!r} is missing")
            if t.dtype != dtype or t.shape != pshape:
                raise _damaged(f.name, f"{pname!r} should be {dtype} {pshape}, got {t.dtype} {t.shape}")
            parts.append(t)
        out[name] = Quantized(name, h, source, *parts)
    return out


def params_of(f: SafetensorsFile, qt: Quantized) -> QParams:
    """The whole scale and zero point of a quantized tensor, validated (ValueError: damaged)."""
    scale = np.array(f.read(qt.scale), dtype=np.float32)
    zp = np.array(f.read(qt.zero_point), dtype=np.int32)
    try:
        return qt.header.params(scale, zp)
    except (TypeError, ValueError) as e:
        raise _damaged(f.name, f"the parameters of {qt.name!r}: {e}") from None


def _check_names(names: Iterable[str]) -> None:
    for n in names:
        if not isinstance(n, str) or not n:
            raise TypeError(f"tensor names must be non-empty strings, got {n!r}")
        if n == "__metadata__":
            raise ValueError("'__metadata__' is reserved by the safetensors format; rename that tensor")


# ------------------------------------------------------------------------------------------ Python API
def save_safetensors(path: PathLike, tensors: Mapping[str, Union[npt.NDArray[Any], QuantizedArray]], *,
                     metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes NumPy arrays and :class:`QuantizedArray` s to a ``.safetensors`` file that plain ``safetensors``
    reads: arrays under their names, each QuantizedArray as ``NAME.codes`` / ``NAME.scale`` /
    ``NAME.zero_point`` with its mode in ``__metadata__`` (the layout in the README, "Checkpoints
    (safetensors)"). ``metadata`` (strings) is kept beside qaffine's keys. The file is written to a temporary
    name and renamed, so ``path`` never holds a partial file. A QuantizedArray is recorded as quantized from
    float32 (``qaffine dequantize`` then writes float32; the command line records the real source dtype).

    >>> import numpy as np, qaffine as qa, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "q.safetensors")
    >>> qa.save_safetensors(path, {"w": qa.quantize(np.float32([[1, 2], [3, 4]]), bits=4, packed=True)})
    >>> qa.load_safetensors(path)["w"].codes()
    array([[ 4,  7],
           [11, 15]], dtype=uint8)
    """
    _check_names(tensors)
    meta = dict(metadata or {})
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"metadata must map strings to strings, got {k!r}: {v!r}")
        if k == MARK or k.startswith(PREFIX):
            raise ValueError(f"the metadata key {k!r} is qaffine's own; choose another name")
    entries: List[Tuple[str, str, Tuple[int, ...]]] = []
    arrays: List[Tuple[str, npt.NDArray[Any]]] = []
    for name, value in tensors.items():
        if isinstance(value, QuantizedArray):
            h = Header.of(value)
            meta[PREFIX + name] = describe_header(h, "F32")
            p = value.params
            entries += layout_entries(name, h)
            arrays += [(part(name, "codes"), value.values), (part(name, "scale"), np.asarray(p.scale, np.float32)),
                       (part(name, "zero_point"), np.asarray(p.zero_point, np.int32))]
        else:
            a = value if isinstance(value, np.ndarray) else np.asarray(value)
            entries.append((name, st_dtype(a.dtype), a.shape))
            arrays.append((name, a))
    if any(isinstance(v, QuantizedArray) for v in tensors.values()):
        meta[MARK] = str(FORMAT)
    with atomic_output(path) as tmp:
        w = Writer(tmp, entries, meta)
        try:
            for name, a in arrays:
                w.write_array(name, a)
        except BaseException:
            w.abort()
            raise
        w.close()


def load_safetensors(path: PathLike) -> Dict[str, Union[npt.NDArray[Any], QuantizedArray]]:
    """Reads a ``.safetensors`` file: a :class:`QuantizedArray` for each tensor qaffine quantized (the
    command line or :func:`save_safetensors`), a NumPy array for every other tensor (bfloat16 and float8 as
    ``ml_dtypes`` arrays). Raises ValueError naming the file and the problem if it is not a safetensors file,
    is truncated or damaged, or was written by a newer qaffine.

    >>> import numpy as np, qaffine as qa, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.safetensors")
    >>> qa.save_safetensors(path, {"x": np.arange(3, dtype=np.int64)})
    >>> qa.load_safetensors(path)
    {'x': array([0, 1, 2])}
    """
    with SafetensorsFile(path) as f:
        quantized = quantized_tensors(f)
        parts = {t.name for q in quantized.values() for t in (q.codes, q.scale, q.zero_point)}
        out: Dict[str, Union[npt.NDArray[Any], QuantizedArray]] = {}
        for t in f.tensors:
            if t.name not in parts:
                out[t.name] = np.array(f.read(t))
        for name, qt in quantized.items():
            p = params_of(f, qt)
            values = np.array(f.read(qt.codes))
            try:
                if qt.header.packed:
                    out[name] = QuantizedArray(values, p, shape=qt.header.shape, packed=True)
                else:
                    out[name] = QuantizedArray(values, p)
            except (TypeError, ValueError) as e:
                raise _damaged(f.name, f"{name!r}: {e}") from None
    return out


def packed_rows_unit(h: Header) -> int:
    """Rows (along axis 0) per whole packed byte boundary: slices of a multiple of this many rows start on a
    byte of the packed codes."""
    if not h.packed:
        return 1
    per = 8 // _packing.container_bits(h.bits)
    row = math.prod(h.shape[1:]) if h.shape else 1
    return per // math.gcd(per, row) if row else 1

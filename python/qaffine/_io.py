"""``qa.save`` / ``qa.load``: a quantized array in a ``.npz`` file that plain ``np.load`` can read.

The layout (format version 1). Each entry is an ordinary ``.npy`` array inside the zip:

============== ======================= ==================================================================
entry          dtype, shape            meaning
============== ======================= ==================================================================
qaffine_format int64, ()               the format version, 1; marks the file as a qaffine file
codes          uint8 / int8, ``shape`` the codes (int8 if ``signed``; uint16 / int16 for bits 9 to 16); packed:
                                       1-D uint8, the packed bytes
scale          float32                 ``()`` per tensor, ``(shape[axis],)`` per channel, ``shape`` with
                                       ``axis`` replaced by ``ceil(shape[axis] / block_size)`` per block
zero_point     int32                   same shape as ``scale``
shape          int64, (ndim,)          the logical shape of the array
axis           int64, ()               the quantized axis (``0 <= axis < ndim``), or -1 per tensor
block_size     int64, ()               values per block along ``axis``, or 0 (per tensor or per channel)
bits           int64, ()               1 to 16
qmin, qmax     int64, ()               the code range
signed         bool, ()                int8 / int16 codes
symmetric      bool, ()                how the parameters were chosen (recorded, not needed to decode)
include_zero   bool, ()                False for the tight range (recorded, not needed to decode)
packed         bool, ()                1-, 2- or 4-bit fields, first code in the lowest bits (ONNX order)
source_dtype   str, ()                 optional: the dtype that was quantized (the command line writes it)
============== ======================= ==================================================================

The arrays may be stored in Fortran order (the command line keeps the order of its input); ``np.load``
handles that. Decoding needs only ``codes``, ``scale``, ``zero_point`` (and ``shape``, ``bits``,
``signed`` if packed): ``x_hat = scale * (codes - zero_point)``, with ``scale``/``zero_point`` broadcast
along ``axis`` (per channel) or repeated ``block_size`` times along it (per block).

>>> import numpy as np, qaffine as qa, tempfile, os
>>> q = qa.quantize(np.float32([[0.5, -1.0, 2.0], [0.25, 4.0, -3.0]]), axis=0)
>>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
>>> qa.save(path, q)
>>> with np.load(path) as f:          # no qaffine needed to read it
...     int(f["qaffine_format"]), f["codes"].dtype, f["scale"].shape, int(f["axis"])
(1, dtype('uint8'), (2,), 0)
>>> back = qa.load(path)
>>> bool(np.array_equal(back.values, q.values)) and back.params == q.params
True
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import zipfile
from typing import IO, Any, Dict, Iterator, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _packing
from ._api import QuantizedArray
from ._mode import Mode, ModeFields
from ._params import QParams

__all__ = ["FORMAT_VERSION", "load", "save"]

#: The version of the ``.npz`` layout written by :func:`save`; :func:`load` reads this version and older.
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]

_MARK = "qaffine_format"
_MODE_FIELDS = Mode._fields  # the entries of the mode, one per field
_BOOL_FIELDS = ("signed", "symmetric", "include_zero", "packed")
_FLOAT_DTYPES = ("float16", "float32", "float64")


# ------------------------------------------------------------------------------------ atomic outputs
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class _Interrupts:
    """Signals that arrive while a temporary file is being created are raised just afterwards (see
    :func:`interrupt`), so that the file's name is known to the cleanup when they are."""

    creating = 0
    pending: Optional[BaseException] = None


def interrupt(exc: BaseException) -> None:
    """Raises ``exc`` now, or, while :func:`atomic_output` creates its temporary file, just after.

    The command line's SIGINT/SIGTERM handlers call this instead of raising directly.
    """
    if _Interrupts.creating:
        _Interrupts.pending = exc
        return
    raise exc


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[str]:
    """Yields a temporary path in ``path``'s folder; renamed to ``path`` on success, removed on any error.

    Ctrl-C (KeyboardInterrupt) and SystemExit remove it too, so no partial file is ever left at ``path``.
    """
    target = os.fspath(path)
    if os.path.isdir(target) or target.endswith(("/", os.sep)):
        # Named before mkstemp, which would otherwise report its own temporary name inside the folder.
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file: give the name of the file to write, "
                                f"e.g. {os.path.join(target, 'out')}{os.path.splitext(target.rstrip('/' + os.sep))[1]}",
                                target)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(2, "the folder does not exist", folder)
    _Interrupts.creating += 1
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".part")
    finally:
        _Interrupts.creating -= 1
    try:
        os.close(fd)
        pending, _Interrupts.pending = _Interrupts.pending, None
        if pending is not None:
            raise pending
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------- .npy headers
def write_npy_header(f: IO[bytes], shape: Tuple[int, ...], dtype: np.dtype[Any], fortran: bool = False) -> None:
    """The ``.npy`` header (version 1.0, or 2.0 if the header is too long) for data that follows."""
    d: Dict[str, Any] = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": bool(fortran),
                         "shape": tuple(int(n) for n in shape)}
    try:
        np.lib.format.write_array_header_1_0(f, d)
    except ValueError:
        np.lib.format.write_array_header_2_0(f, d)


def read_npy_header(f: IO[bytes], name: str) -> Tuple[Tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) of the ``.npy`` stream ``f``, positioned at the data afterwards."""
    try:
        version = np.lib.format.read_magic(f)
    except ValueError:
        raise ValueError(f"{name} is not a .npy file (it does not start with the NumPy magic string)") from None
    try:
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
    except ValueError as e:
        raise ValueError(f"{name} has a damaged .npy header: {e}") from None
    raise ValueError(f"{name} is a .npy file of version {version[0]}.{version[1]}; versions 1.0 and 2.0 are supported")


class NpzWriter:
    """Writes ``.npy`` entries into a new ``.npz`` (uncompressed zip, ZIP64 for large entries)."""

    def __init__(self, path: PathLike) -> None:
        self._zip = zipfile.ZipFile(os.fspath(path), "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def __enter__(self) -> "NpzWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def array(self, name: str, value: npt.ArrayLike) -> None:
        """One whole array (small ones: fields, parameters, or codes already in memory)."""
        with self._zip.open(name + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)

    @contextlib.contextmanager
    def stream(self, name: str, shape: Tuple[int, ...], dtype: npt.DTypeLike,
               fortran: bool = False) -> Iterator[IO[bytes]]:
        """An entry open for writing, header written: write the data bytes (C order, or Fortran order)."""
        with self._zip.open(name + ".npy", "w", force_zip64=True) as f:
            write_npy_header(f, shape, np.dtype(dtype), fortran)
            yield f

    def fields(self, header: "Header") -> None:
        """The marker and the mode fields (everything but codes, scale and zero_point)."""
        self.array(_MARK, np.int64(FORMAT_VERSION))
        self.array("shape", np.array(header.shape, dtype=np.int64).reshape(len(header.shape)))
        self.array("axis", np.int64(-1 if header.axis is None else header.axis))
        self.array("block_size", np.int64(header.block_size or 0))
        m = header.mode
        for key, value in (("bits", m.bits), ("qmin", m.qmin), ("qmax", m.qmax)):
            self.array(key, np.int64(value))
        for key, flag in zip(_BOOL_FIELDS, (m.signed, m.symmetric, m.include_zero, m.packed)):
            self.array(key, np.bool_(flag))
        if header.source_dtype is not None:
            self.array("source_dtype", np.str_(header.source_dtype.name))


# --------------------------------------------------------------------------------------------- header
class Header(ModeFields):
    """The mode fields of a file (everything but the codes and the parameter values): the logical shape,
    the :class:`Mode` (its axis resolved against the shape) and, optionally, the dtype that was quantized."""

    __slots__ = ("shape", "_mode", "source_dtype")
    shape: Tuple[int, ...]
    source_dtype: Optional[np.dtype[Any]]

    def __init__(self, shape: Tuple[int, ...], mode: Mode, source_dtype: Optional[np.dtype[Any]] = None) -> None:
        # A holder of a Mode like DaskQuantizedArray (the same shape of __init__ and properties, other fields).
        self.shape = shape
        self._mode = mode
        self.source_dtype = source_dtype

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def packed(self) -> bool:
        return self._mode.packed

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def params_shape(self) -> Tuple[int, ...]:
        return self._mode.params_shape(self.shape)

    @property
    def codes_shape(self) -> Tuple[int, ...]:
        """The shape of the ``codes`` entry: the logical shape, or the packed byte count."""
        if self.packed:
            return (_packing.packed_size(self.size, self.bits),)
        return self.shape

    def describe(self) -> str:
        """E.g. ``'per channel (axis 0), 8-bit uint8, asymmetric, range includes 0'``."""
        return self._mode.describe()

    def params(self, scale: npt.ArrayLike, zero_point: npt.ArrayLike) -> QParams:
        if self.axis is None:  # per tensor: a float32 scalar and an int
            s, z = np.asarray(scale), np.asarray(zero_point)
            if s.shape != () or z.shape != () or z.dtype.kind not in "iu":
                raise ValueError("per-tensor parameters must be single values, zero_point an integer")
            scale, zero_point = np.float32(s[()]), int(z[()])
        return QParams._of(scale, zero_point, self._mode)

    @classmethod
    def of(cls, q: QuantizedArray, source_dtype: Optional[npt.DTypeLike] = None) -> "Header":
        return cls(q.shape, q._mode.resolved(q.shape), None if source_dtype is None else np.dtype(source_dtype))


def _scalar(zf: zipfile.ZipFile, key: str, name: str, kind: str) -> Any:
    try:
        with zf.open(key + ".npy") as f:
            a = np.lib.format.read_array(f, allow_pickle=False)
    except KeyError:
        raise ValueError(f"{name} is damaged: the entry {key!r} is missing") from None
    if a.shape != () or (kind and a.dtype.kind not in kind):
        raise ValueError(f"{name} is damaged: the entry {key!r} should be a single value, got {a.dtype} {a.shape}")
    return a[()]


def read_header(zf: zipfile.ZipFile, name: str) -> Header:
    """The mode fields of an open qaffine ``.npz``, checked; ValueError naming the problem otherwise."""
    names = set(zf.namelist())
    if _MARK + ".npy" not in names:
        raise ValueError(f"{name} is not a qaffine file (it has no {_MARK!r} entry); write it with qa.save "
                         "or python -m qaffine quantize")
    version = int(_scalar(zf, _MARK, name, "iu"))
    if version > FORMAT_VERSION:
        raise ValueError(f"{name} has format version {version}, newer than this qaffine reads "
                         f"({FORMAT_VERSION}); upgrade qaffine (pip install -U qaffine)")
    if version < 1:
        raise ValueError(f"{name} has an invalid format version {version}")
    fields = {key: _scalar(zf, key, name, "") for key in _MODE_FIELDS}
    try:
        with zf.open("shape.npy") as f:
            shape_a = np.lib.format.read_array(f, allow_pickle=False)
    except KeyError:
        raise ValueError(f"{name} is damaged: the entry 'shape' is missing") from None
    if shape_a.ndim != 1 or shape_a.dtype.kind not in "iu" or (shape_a < 0).any():
        raise ValueError(f"{name} is damaged: 'shape' must be a 1-D array of sizes")
    shape = tuple(int(n) for n in shape_a)
    source: Optional[np.dtype[Any]] = None
    if "source_dtype.npy" in names:
        with zf.open("source_dtype.npy") as f:
            s = np.lib.format.read_array(f, allow_pickle=False)
        if s.shape != () or s.dtype.kind != "U" or str(s[()]) not in _FLOAT_DTYPES:
            raise ValueError(f"{name} is damaged: 'source_dtype' must name a float dtype")
        source = np.dtype(str(s[()]))
    # Absent axis / block_size are written as -1 / 0; a bits entry of 8.0 is as wrong as bits=8.0 in Python.
    if _is_int(fields["axis"]) and fields["axis"] == -1:
        fields["axis"] = None
    if _is_int(fields["block_size"]) and fields["block_size"] == 0:
        fields["block_size"] = None
    if fields["block_size"] is not None and fields["axis"] is None:
        raise ValueError(f"{name} is damaged: block_size {fields['block_size']} needs an axis")
    try:
        mode = Mode(**fields)
        if mode.axis is not None and mode.axis < 0:
            raise ValueError(f"axis {mode.axis} is out of range for shape {shape}")
        return Header(shape, mode.resolved(shape), source)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is damaged: {e}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def entry_header(zf: zipfile.ZipFile, key: str, name: str) -> Tuple[Tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) of an entry, without reading its data."""
    try:
        with zf.open(key + ".npy") as f:
            return read_npy_header(f, f"{name}[{key!r}]")
    except KeyError:
        raise ValueError(f"{name} is damaged: the entry {key!r} is missing") from None


def check_entries(zf: zipfile.ZipFile, h: Header, name: str) -> Tuple[bool, bool]:
    """Checks the codes/scale/zero_point entries against the header; returns their Fortran flags
    (codes, params)."""
    shape, fortran, dtype = entry_header(zf, "codes", name)
    want = np.dtype(np.uint8) if h.packed else h.dtype
    if dtype.newbyteorder("=") != want or shape != h.codes_shape:
        raise ValueError(f"{name} is damaged: 'codes' should be {want} {h.codes_shape}, got {dtype} {shape}")
    orders = []
    for key, kind in (("scale", np.float32), ("zero_point", np.int32)):
        pshape, pfortran, pdtype = entry_header(zf, key, name)
        if pdtype.newbyteorder("=") != np.dtype(kind) or pshape != h.params_shape:
            raise ValueError(f"{name} is damaged: {key!r} should be {np.dtype(kind)} {h.params_shape}, "
                             f"got {pdtype} {pshape}")
        orders.append(pfortran)
    if orders[0] != orders[1]:
        raise ValueError(f"{name} is damaged: 'scale' and 'zero_point' are stored in different orders")
    return fortran, orders[0]


# ------------------------------------------------------------------------------------------- save/load
def save(path: PathLike, q: QuantizedArray) -> None:
    """Writes ``q`` (any mode, packed or not) to ``path`` as a ``.npz`` that plain ``np.load`` reads.

    The layout is documented in :mod:`qaffine._io` and the README ("Saving and loading"). The file is
    written to a temporary name in the same folder and renamed at the end, so ``path`` never holds a
    partial file. ``path`` is used as given (no ``.npz`` is appended).

    >>> import numpy as np, qaffine as qa, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> q = qa.quantize(np.float32([0.1, 0.9, -0.4, 0.7]), bits=4, signed=True, packed=True)
    >>> qa.save(path, q)
    >>> with np.load(path) as f:
    ...     sorted(f.files)[:5]
    ['axis', 'bits', 'block_size', 'codes', 'include_zero']
    >>> qa.load(path).codes()
    array([-2,  7, -8,  5], dtype=int8)
    """
    if not isinstance(q, QuantizedArray):
        raise TypeError(f"q must be a qaffine.QuantizedArray, got {type(q).__name__}")
    h = Header.of(q)
    p = q.params
    with atomic_output(path) as tmp, NpzWriter(tmp) as w:
        w.fields(h)
        w.array("codes", q.values)
        w.array("scale", np.asarray(p.scale, dtype=np.float32))
        w.array("zero_point", np.asarray(p.zero_point, dtype=np.int32))


def load(path: PathLike) -> QuantizedArray:
    """Reads a file written by :func:`save` (or by ``python -m qaffine quantize``).

    Raises ``ValueError`` naming the problem if the file is not a qaffine file, was written by a newer
    qaffine (a higher format version), or is damaged; ``FileNotFoundError`` if it does not exist.

    >>> import numpy as np, qaffine as qa, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> x = np.float32([[0.5, 1.5, -2.0, 0.25], [3.0, -1.0, 0.0, 2.0]])
    >>> qa.save(path, qa.quantize(x, block_size=2))
    >>> q = qa.load(path)
    >>> q.params.granularity, q.scale.shape
    ('block', (2, 2))
    >>> bool(np.all(np.abs(q.dequantize() - x) <= np.repeat(q.scale, 2, axis=1) / 2))
    True
    """
    name = os.fspath(path)
    try:
        zf = zipfile.ZipFile(name)
    except zipfile.BadZipFile:
        raise ValueError(f"{name} is not a qaffine file (not a .npz / zip archive)") from None
    with zf:
        h = read_header(zf, name)
        check_entries(zf, h, name)
        arrays = {}
        for key in ("codes", "scale", "zero_point"):
            with zf.open(key + ".npy") as f:
                arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
    try:
        params = h.params(arrays["scale"], arrays["zero_point"])
        codes = np.asarray(arrays["codes"], dtype=arrays["codes"].dtype.newbyteorder("="), order="C")
        if h.packed:
            return QuantizedArray(codes, params, shape=h.shape, packed=True)
        return QuantizedArray(codes, params)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is damaged: {e}") from None

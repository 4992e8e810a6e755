"""Quantize arrays larger than one machine: :mod:`dask.array` in, codes out, Zarr on disk.

``pip install "qaffine[dask]"`` (and ``"qaffine[zarr]"`` for :func:`to_zarr` / :func:`from_zarr`).
Every chunk is quantized by the same kernels as :func:`qaffine.quantize`, and the results are the
in-memory ones, byte for byte:

* **per tensor / per axis** (``axis=k``): one pass computes the range — ``qa.minmax`` per chunk, a tree
  reduction of the ``(lo, hi)`` pairs — then ``qa.choose_qparams`` runs on the client and a second pass
  (``map_blocks``, lazy) writes the codes. The parameters are therefore *computed* (a :class:`qaffine.QParams`
  in ``.params``) when :func:`quantize` returns; the codes are not.
* **per block** (``block_size=B`` along ``axis``): one pass, lazy: each chunk yields its codes and the
  parameters of its blocks, so chunk boundaries along ``axis`` must be multiples of ``B``
  (rechunk with ``a.rechunk({axis: k * B})``). ``.scale`` and ``.zero_point`` are dask arrays; compute
  them together with the codes (``.compute()``, :func:`to_zarr`, ``dask.compute``) to read the data once.
* **static** (``params=``): one lazy pass, like ``qa.quantize(x, params)``.

NaN raises the ``ValueError`` of :func:`qaffine.quantize`, naming the index in the whole array.

>>> import dask.array as da, numpy as np, qaffine as qa, qaffine.dask as qd
>>> x = np.linspace(-1, 3, 12, dtype=np.float32).reshape(3, 4)
>>> q = qd.quantize(da.from_array(x, chunks=(1, 2)))
>>> q.params == qa.quantize(x).params, bool((q.values.compute() == qa.quantize(x).values).all())
(True, True)
"""

from __future__ import annotations

import builtins
import itertools
import operator
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

try:
    import dask as _dask
    import dask.array as _dask_array
except ImportError as exc:
    raise ImportError(
        'qaffine.dask needs dask (dask.array); install it with: pip install "qaffine[dask]"'
    ) from exc

from . import _api, _calibrate
from ._api import QuantizedArray
from ._finite import bad_value_error, first_bad, unravel
from ._mode import Mode, ModeFields
from ._params import QParams
from ._tensors import is_bf16_dtype, out_dtype

__all__ = ["DaskQuantizedArray", "dequantize", "from_zarr", "observe", "quantize", "to_zarr"]

# Dask's API is untyped: it is used through these names, and a dask.array.Array is annotated _DaskArray.
dask: Any = _dask
da: Any = _dask_array
_DaskArray = Any
_SPLIT_EVERY = 8  # partial (lo, hi) results combined per reduction task
_FORMAT = 1  # version of the Zarr layout written by to_zarr
_ZARR_MODE = Mode._fields[:8]  # the Mode fields in the "qaffine" attribute (packed does not apply)


# --------------------------------------------------------------------------------------------- messages
def _offset(block_info: Optional[Dict[Any, Any]], ndim: int) -> Tuple[int, ...]:
    if not block_info or 0 not in block_info:
        return (0,) * ndim
    return tuple(int(start) for start, _ in block_info[0]["array-location"])


def _first_bad(x: np.ndarray, offset: Sequence[int], inf: bool = True) -> Optional[Tuple[bool, Tuple[int, ...]]]:
    """(is_nan, index in the whole array) of the chunk's first NaN (else infinity, if ``inf``), or None."""
    found = first_bad(x, inf=inf)
    if found is None:
        return None
    return found[0], tuple(int(o) + i for o, i in zip(offset, unravel(found[1], x.shape)))


def _raise_bad_values(x: np.ndarray, offset: Sequence[int], dynamic: bool) -> None:
    """Re-raises qaffine's NaN (and, for dynamic mode, infinity) error with the index in the whole array."""
    found = _first_bad(x, offset, inf=dynamic)
    if found is not None:
        raise bad_value_error(*found)


# ---------------------------------------------------------------------------------------------- helpers
def _as_dask_float(a: Any) -> _DaskArray:
    if not isinstance(a, da.Array):
        raise TypeError(
            f"qaffine.dask works on dask arrays, got {type(a).__name__}; wrap it first, e.g. "
            "dask.array.from_array(x, chunks=...) or dask.array.from_zarr(url); for in-memory data use qaffine.quantize"
        )
    if (a.dtype.kind != "f" or a.dtype.newbyteorder("=") not in _api._FLOAT_DTYPES) and not is_bf16_dtype(a.dtype):
        raise TypeError(
            f"x must hold float16, bfloat16, float32 or float64 values, got dtype {a.dtype}; "
            "convert it first, e.g. x.astype(np.float32)"
        )
    if any(np.isnan(c) for c in a.shape):
        raise ValueError("x has unknown chunk sizes; call x.compute_chunk_sizes() first")
    return a


def _meta(ndim: int, dtype: Any) -> np.ndarray:
    return np.empty((0,) * ndim, dtype=dtype)


def _params_chunks(chunks: Tuple[Tuple[int, ...], ...], axis: int, block_size: int) -> Tuple[Tuple[int, ...], ...]:
    along = tuple(-(-c // block_size) for c in chunks[axis])
    return chunks[:axis] + (along,) + chunks[axis + 1:]


def _check_block_chunks(a: _DaskArray, axis: int, block_size: int) -> None:
    """Per-block modes need every chunk boundary along axis on a block boundary."""
    chunks = a.chunks[axis]
    if all(c % block_size == 0 for c in chunks[:-1]):
        return
    k = max(1, round(max(chunks) / block_size))
    raise ValueError(
        f"per-block quantization with block_size={block_size} needs chunks along axis {axis} that are multiples "
        f"of {block_size} (the last one may be shorter), got chunks {chunks}; rechunk first, e.g. "
        f"a.rechunk({{{axis}: {k * block_size}}})"
    )


# ------------------------------------------------------------------------------------- chunk functions
def _native(x: np.ndarray) -> np.ndarray:
    """The same data with a '=' dtype: Zarr 3 hands out chunks typed '<f4', which qaffine's kernels refuse."""
    if x.dtype.byteorder in "<>" and x.dtype.isnative:
        return x.view(x.dtype.newbyteorder("="))
    return x


def _quantize_block(x: np.ndarray, scale: Any, zero_point: Any, *, mode: Mode, compat: str,
                    block_info: Optional[Dict[Any, Any]] = None) -> np.ndarray:
    """Static codes of one chunk; scale/zero_point are this chunk's parameters."""
    if mode.block_size is None and mode.axis is not None:
        scale, zero_point = np.reshape(scale, -1), np.reshape(zero_point, -1)
    x = _native(x)
    try:
        return _api.quantize(x, QParams._of(scale, zero_point, mode), compat=compat).values
    except ValueError:
        _raise_bad_values(x, _offset(block_info, x.ndim), dynamic=False)
        raise


def _quantize_block_dynamic(x: np.ndarray, *, mode: Mode, compat: str, method: str = "minmax",
                            block_info: Optional[Dict[Any, Any]] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block codes and parameters of one chunk (its boundaries along the axis are block boundaries), the
    range of each block chosen by ``method``."""
    assert mode.axis is not None and mode.block_size is not None
    if x.size == 0:
        pshape = mode.params_shape(x.shape)
        return (np.empty(x.shape, mode.dtype), np.empty(pshape, np.float32), np.empty(pshape, np.int32))
    x = _native(x)
    try:
        q = _api.quantize(x, axis=mode.axis, block_size=mode.block_size, bits=mode.bits, signed=mode.signed,
                          symmetric=mode.symmetric, include_zero=mode.include_zero, compat=compat, range=method)
    except ValueError:
        _raise_bad_values(x, _offset(block_info, x.ndim), dynamic=True)
        raise
    return q.values, np.asarray(q.scale), np.asarray(q.zero_point)


def _dequantize_block(q: np.ndarray, scale: Any, zero_point: Any, *, mode: Mode, out_dtype: np.dtype) -> np.ndarray:
    if mode.block_size is None and mode.axis is not None:
        scale, zero_point = np.reshape(scale, -1), np.reshape(zero_point, -1)
    return _api.dequantize(_native(q), QParams._of(scale, zero_point, mode), dtype=out_dtype)


# ----------------------------------------------------------------------------- the range: one pass, a tree
# A partial result: {"lo": {start: lo}, "hi": {start: hi}, "nan": index | None, "inf": index | None}, where
# start is the chunk's offset along the axis (0 per tensor) and index the first NaN / Inf seen, globally.
def _block_stats(x: np.ndarray, offset: Tuple[int, ...], axis: Optional[int]) -> Dict[str, Any]:
    part: Dict[str, Any] = {"lo": {}, "hi": {}, "nan": None, "inf": None}
    if x.size == 0:
        return part
    x = _native(x)
    try:
        lo, hi = _api.minmax(x, axis=axis)
    except ValueError:
        found = _first_bad(x, offset, inf=False)
        if found is None:
            raise
        part["nan"] = found[1]
        return part
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        found = _first_bad(x, offset)
        part["inf"] = None if found is None else found[1]
    key = 0 if axis is None else offset[axis]
    part["lo"][key], part["hi"][key] = lo, hi
    return part


def _first_index(a: Optional[Tuple[int, ...]], b: Optional[Tuple[int, ...]]) -> Optional[Tuple[int, ...]]:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)  # tuples compare in C order


def _combine_stats(parts: List[Dict[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"lo": {}, "hi": {}, "nan": None, "inf": None}
    for part in parts:
        for field, pick in (("lo", np.minimum), ("hi", np.maximum)):
            acc = out[field]
            for key, value in part[field].items():
                acc[key] = value if key not in acc else pick(acc[key], value)
        out["nan"] = _first_index(out["nan"], part["nan"])
        out["inf"] = _first_index(out["inf"], part["inf"])
    return out


def _range(a: _DaskArray, axis: Optional[int]) -> Tuple[Any, Any]:
    """``qa.minmax(a, axis=axis)`` of the whole dask array, computed on its scheduler (one pass)."""
    starts = [np.concatenate([[0], np.cumsum(c[:-1])]).astype(int) if c else [0] for c in a.chunks]
    blocks = a.to_delayed().ravel()
    offsets = itertools.product(*starts)
    parts = [dask.delayed(_block_stats, pure=True)(b, tuple(int(o) for o in off), axis)
             for b, off in zip(blocks, offsets)]
    while len(parts) > 1:
        parts = [dask.delayed(_combine_stats, pure=True)(parts[i:i + _SPLIT_EVERY])
                 for i in range(0, len(parts), _SPLIT_EVERY)]
    (stats,) = dask.compute(parts[0])
    if stats["nan"] is not None:
        raise bad_value_error(True, stats["nan"])
    if stats["inf"] is not None:
        raise bad_value_error(False, stats["inf"])
    t = a.dtype.type
    if axis is None:
        return t(stats["lo"][0]), t(stats["hi"][0])
    keys = sorted(stats["lo"])
    return (np.concatenate([stats["lo"][k] for k in keys]).astype(a.dtype),
            np.concatenate([stats["hi"][k] for k in keys]).astype(a.dtype))


# ---------------------------------------------------------------------------------------- parameters
def _params_args(mode: Mode, scale: Any, zero_point: Any, chunks: Tuple[Tuple[int, ...], ...]) -> Tuple[Any, Any]:
    """scale and zero point as map_blocks arguments lined up with arrays of these chunks."""
    if mode.axis is None:
        return scale, zero_point
    ndim = len(chunks)
    if mode.block_size is None:  # per axis: (1, ..., n, ..., 1), broadcast over the other axes' blocks
        shape = tuple(len(scale) if i == mode.axis else 1 for i in range(ndim))
        pchunks = tuple(chunks[i] if i == mode.axis else (1,) for i in range(ndim))
    else:
        pchunks = _params_chunks(chunks, mode.axis, mode.block_size)
        shape = tuple(sum(c) for c in pchunks)
    out = []
    for value in (scale, zero_point):
        if isinstance(value, da.Array):
            value = value.reshape(shape)
            if value.chunks != pchunks:
                value = value.rechunk(pchunks)
        else:
            value = da.from_array(np.reshape(value, shape), chunks=pchunks)
        out.append(value)
    return out[0], out[1]


def _map_with_params(func: Any, x: _DaskArray, mode: Mode, scale: Any, zero_point: Any, dtype: np.dtype,
                     **kwargs: Any) -> _DaskArray:
    s, z = _params_args(mode, scale, zero_point, x.chunks)
    if mode.axis is None:
        return x.map_blocks(func, scale=s, zero_point=z, mode=mode, dtype=dtype, meta=_meta(x.ndim, dtype),
                            **kwargs)
    return da.map_blocks(func, x, s, z, mode=mode, dtype=dtype, chunks=x.chunks, meta=_meta(x.ndim, dtype),
                         **kwargs)


# --------------------------------------------------------------------------------------------- result
class DaskQuantizedArray(ModeFields):
    """Codes as a dask array plus their parameters: what :func:`qaffine.dask.quantize` returns.

    ``values`` is a lazy dask array of codes (``uint8``, ``int8`` if signed; ``uint16`` / ``int16`` above 8
    bits) chunked like the input.
    Per tensor and per axis, ``params`` is a :class:`qaffine.QParams` (computed by ``quantize``), and
    ``scale`` / ``zero_point`` are its NumPy values. Per block they are lazy: ``scale`` (``float32``) and
    ``zero_point`` (``int32``) are dask arrays computed in the same tasks as the codes, and ``params``
    raises; ``compute()`` gives an in-memory :class:`qaffine.QuantizedArray` in one pass.
    """

    __slots__ = ("_mode", "_scale", "_values", "_zero_point")

    def __init__(self, values: _DaskArray, mode: Mode, scale: Any, zero_point: Any) -> None:
        self._values = values
        self._mode = mode
        self._scale = scale
        self._zero_point = zero_point

    # -- fields (the mode's are in ModeFields; scale and zero_point may be lazy, unlike QParams')
    @property
    def values(self) -> _DaskArray:
        """The codes, a lazy dask array in the input's shape and chunks."""
        return self._values

    @property
    def scale(self) -> Any:
        """``np.float32`` per tensor, a ``float32`` NumPy array per axis, a dask array per block."""
        return self._scale

    @property
    def zero_point(self) -> Any:
        """``int`` per tensor, an ``int32`` NumPy array per axis, a dask array per block."""
        return self._zero_point

    @property
    def params_are_lazy(self) -> bool:
        """True if scale and zero point are dask arrays (per block), False if they are computed."""
        return isinstance(self._scale, da.Array) or isinstance(self._zero_point, da.Array)

    @property
    def params(self) -> QParams:
        """The :class:`qaffine.QParams`; per block (lazy parameters) use ``compute()`` or ``scale``/``zero_point``."""
        if self.params_are_lazy:
            raise ValueError(
                "per-block parameters are lazy (dask arrays computed with the codes, in one pass): use .scale and "
                ".zero_point, .compute() for a qaffine.QuantizedArray, or qaffine.dask.to_zarr()"
            )
        return QParams._of(self._scale, self._zero_point, self._mode)

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self._values.shape)

    @property
    def chunks(self) -> Tuple[Tuple[int, ...], ...]:
        return tuple(tuple(int(c) for c in cs) for cs in self._values.chunks)

    # -- operations
    def dequantize(self, dtype: Any = None) -> _DaskArray:
        """``scale * (codes - zero_point)`` as a lazy dask array (float32, float64, float16 or bfloat16, as
        :func:`qaffine.dequantize`)."""
        dt = np.dtype(np.float32) if dtype is None else out_dtype(dtype)[0]
        return _map_with_params(_dequantize_block, self._values, self._mode, self._scale, self._zero_point, dt,
                                out_dtype=dt)

    def compute(self, **kwargs: Any) -> QuantizedArray:
        """Codes and parameters in memory, in one pass: a :class:`qaffine.QuantizedArray`."""
        values, scale, zero_point = dask.compute(self._values, self._scale, self._zero_point, **kwargs)
        if self._mode.axis is None:
            scale, zero_point = np.float32(scale), int(zero_point)
        return QuantizedArray(np.asarray(values), QParams._of(scale, zero_point, self._mode))

    def persist(self, **kwargs: Any) -> "DaskQuantizedArray":
        """The same result with codes (and lazy parameters) computed and kept in (cluster) memory."""
        values, scale, zero_point = dask.persist(self._values, self._scale, self._zero_point, **kwargs)
        return DaskQuantizedArray(values, self._mode, scale, zero_point)

    def to_zarr(self, url_or_group: Any, **kwargs: Any) -> Any:
        """:func:`qaffine.dask.to_zarr` (self, url_or_group, ...)."""
        return to_zarr(self, url_or_group, **kwargs)

    def __repr__(self) -> str:
        m = self._mode
        if self.params_are_lazy:
            params = "params=<lazy>"
        elif m.axis is None:
            params = f"scale={float(self._scale)!r}, zero_point={self._zero_point}"
        else:
            params = f"scale=<{np.shape(self._scale)}>, zero_point=<{np.shape(self._zero_point)}>"
        return f"DaskQuantizedArray(shape={self.shape}, chunks={self.chunks}, {', '.join([params] + m.keywords())})"


# ------------------------------------------------------------------------------------------------ API
def quantize(
    a: _DaskArray,
    params: Optional[QParams] = None,
    *,
    # The mode keywords are spelt out in every public signature (help(), IDEs, type checkers); the one
    # validator is Mode.
    axis: Optional[int] = None,
    block_size: Optional[int] = None,
    bits: Optional[int] = None,
    signed: Optional[bool] = None,
    symmetric: Optional[bool] = None,
    include_zero: Optional[bool] = None,
    compat: str = "onnx",
    range: str = "minmax",
) -> DaskQuantizedArray:
    """:func:`qaffine.quantize` for a :class:`dask.array.Array`, chunk by chunk, with the same bytes.

    The keywords mean what they mean for :func:`qaffine.quantize` (defaults: 8 bits, unsigned,
    asymmetric, range including 0, ``compat='onnx'``; ``packed`` and ``out`` do not apply). Without ``params``:

    * per tensor (default) or per axis (``axis=k``): the range is reduced over the cluster now (one pass
      over ``a``), the parameters are chosen on the client, and the codes are a lazy ``map_blocks``
      (the second pass) — ``result.params`` is a computed :class:`qaffine.QParams`;
    * per block (``block_size=B``, along ``axis``, default the last): one lazy pass; the chunks along
      ``axis`` must be multiples of ``B`` (``ValueError`` otherwise, saying how to rechunk), and
      ``result.scale`` / ``result.zero_point`` are dask arrays.

    With ``params`` (static), the codes are one lazy pass. NaN raises ``ValueError`` with the index of
    the NaN in ``a`` — when ``quantize`` runs (per tensor / per axis: the first NaN in C order, exactly
    the in-memory message), otherwise when the codes are computed; so do infinities in dynamic mode.

    ``range`` (a method of :class:`qaffine.Observer`): per tensor or per axis the parameters come from
    :func:`observe` (one pass, chunks observed in parallel and merged as a tree), then the codes are static;
    per block (``"minmax"``, ``"moving_average"``, ``"mse"``) each chunk's blocks are chosen in the one lazy pass.
    Either way the in-memory ``qa.quantize(x, range=...)`` result (``"moving_average"``: the whole array is one
    batch, so its min/max).
    """
    if range != "minmax":
        a = _as_dask_float(a)
        _calibrate._check_method(range, "range")
        if params is not None:
            raise ValueError("range= chooses the parameters from x; it cannot be combined with params=")
        if a.size == 0:
            raise ValueError(f"cannot choose a range={range!r} for an empty array")
        if block_size is not None:  # blocks are local: each chunk's blocks chosen in its own task, below
            _calibrate.check_block_method(range)
        else:
            m = Mode(axis, None, bits, signed, symmetric, include_zero)
            if range == "moving_average":  # in memory the whole array is one batch: its min/max
                range = "minmax"
            else:
                params = observe(a, range, bits=m.bits, signed=m.signed, symmetric=m.symmetric,
                                 include_zero=m.include_zero, axis=axis).params()
    a = _as_dask_float(a)
    mode = _api._mode(a.shape, params, axis, block_size, bits, signed, symmetric, include_zero)
    mode.kernel_rounding(compat)  # validates compat
    code_dtype = mode.dtype
    if mode.block_size is not None:
        assert mode.axis is not None
        _check_block_chunks(a, mode.axis, mode.block_size)
    if params is not None:
        _api._check_params_shape(params, mode.params_shape(a.shape))
        values = _map_with_params(_quantize_block, a, mode, params.scale, params.zero_point, code_dtype,
                                  compat=compat)
        return DaskQuantizedArray(values, mode, params.scale, params.zero_point)
    if a.size == 0:
        raise ValueError(_api._EMPTY_DYNAMIC)
    if mode.block_size is not None:  # one pass: codes and parameters from the same tasks
        assert mode.axis is not None
        pchunks = _params_chunks(a.chunks, mode.axis, mode.block_size)
        both = a.map_blocks(_quantize_block_dynamic, mode=mode, compat=compat, method=range, dtype=object,
                            meta=_meta(a.ndim, object))
        values = both.map_blocks(operator.itemgetter(0), dtype=code_dtype, meta=_meta(a.ndim, code_dtype))
        scale = both.map_blocks(operator.itemgetter(1), chunks=pchunks, dtype=np.float32,
                                meta=_meta(a.ndim, np.float32))
        zero_point = both.map_blocks(operator.itemgetter(2), chunks=pchunks, dtype=np.int32,
                                     meta=_meta(a.ndim, np.int32))
        return DaskQuantizedArray(values, mode, scale, zero_point)
    lo, hi = _range(a, mode.axis)  # pass one, computed
    kw: Dict[str, Any] = dict(bits=mode.bits, signed=mode.signed, symmetric=mode.symmetric,
                              include_zero=mode.include_zero)
    if mode.axis is None:
        p = _api.choose_qparams(lo, hi, **kw)
    else:
        p = _api.choose_qparams(lo, hi, axis=0, **kw)._with_axis(mode.axis)
    values = _map_with_params(_quantize_block, a, mode, p.scale, p.zero_point, code_dtype,  # pass two, lazy
                              compat=compat)
    return DaskQuantizedArray(values, mode, p.scale, p.zero_point)


def dequantize(q: Union[DaskQuantizedArray, _DaskArray], params: Optional[QParams] = None, *,
               dtype: Any = None) -> _DaskArray:
    """Lazy :func:`qaffine.dequantize`: a :class:`DaskQuantizedArray`, or dask codes with ``params``."""
    if isinstance(q, DaskQuantizedArray):
        if params is not None:
            raise TypeError("params is already part of a DaskQuantizedArray; pass one or the other")
        return q.dequantize(dtype)
    if not isinstance(q, da.Array):
        raise TypeError(f"q must be a DaskQuantizedArray or a dask array of codes, got {type(q).__name__}")
    if not isinstance(params, QParams):
        raise TypeError("dequantize(codes, params) needs params (a qaffine.QParams)")
    if q.dtype != params.dtype:
        raise TypeError(f"codes must have dtype {params.dtype} for these params, got {q.dtype}")
    mode = _api._mode(q.shape, params, None, None, None, None, None, None)
    if mode.block_size is not None:
        assert mode.axis is not None
        _check_block_chunks(q, mode.axis, mode.block_size)
    _api._check_params_shape(params, mode.params_shape(q.shape))
    return DaskQuantizedArray(q, mode, params.scale, params.zero_point).dequantize(dtype)


# ----------------------------------------------------------------------------------------------- Zarr
def _import_zarr() -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise ImportError('qaffine.dask.to_zarr/from_zarr need zarr; install it with: pip install "qaffine[zarr]"') \
            from exc
    return zarr


def _open_group(zarr: Any, url_or_group: Any, mode: str, storage_options: Optional[Dict[str, Any]]) -> Any:
    if isinstance(url_or_group, zarr.Group):
        return url_or_group
    kwargs = {} if storage_options is None else {"storage_options": storage_options}
    return zarr.open_group(url_or_group, mode=mode, **kwargs)


def _create_array(group: Any, name: str, shape: Tuple[int, ...], chunks: Tuple[int, ...], dtype: Any,
                  overwrite: bool) -> Any:
    if hasattr(group, "create_array"):  # zarr 3
        return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, overwrite=overwrite)
    return group.create_dataset(name, shape=shape, chunks=chunks, dtype=dtype, overwrite=overwrite)


def _zarr_chunks(chunks: Tuple[Tuple[int, ...], ...], what: str) -> Tuple[int, ...]:
    """Zarr's chunk shape for dask chunks that are regular (all equal but a shorter last one)."""
    for c in chunks:
        if len(c) > 1 and (len(set(c[:-1])) > 1 or c[-1] > c[0]):
            regular = tuple(max(cs) for cs in chunks)
            raise ValueError(
                f"{what} has irregular chunks {chunks}; Zarr needs equal chunks (a shorter last one is fine): "
                f"rechunk the input first, e.g. a.rechunk({regular})"
            )
    return tuple(max(1, c[0]) for c in chunks)


def to_zarr(result: DaskQuantizedArray, url_or_group: Any, *, overwrite: bool = False, compute: bool = True,
            storage_options: Optional[Dict[str, Any]] = None) -> Any:
    """Writes codes and parameters to a Zarr group (a path / URL, or a ``zarr.Group``); ``qaffine[zarr]``.

    The group gets arrays ``codes`` (chunked like ``result.values``), ``scale`` (float32) and
    ``zero_point`` (int32) — shape ``()`` per tensor, ``(n,)`` per axis, the parameter shape per block —
    and the mode in the attribute ``"qaffine"`` (granularity, axis, block_size, bits, signed, symmetric,
    include_zero, qmin, qmax, shape). Codes and lazy per-block parameters are written by the workers in one
    ``dask.array.store`` (one pass over the input); nothing passes through the client. With
    ``compute=False`` the delayed store is returned instead. A path that exists raises unless ``overwrite``.
    """
    zarr = _import_zarr()
    if not isinstance(result, DaskQuantizedArray):
        raise TypeError(f"result must be a qaffine.dask.DaskQuantizedArray, got {type(result).__name__}")
    group = _open_group(zarr, url_or_group, "w" if overwrite else "w-", storage_options)
    values = result.values
    codes = _create_array(group, "codes", result.shape, _zarr_chunks(values.chunks, "the codes array"),
                          result.dtype, overwrite)
    sources: List[Any] = [values]
    targets: List[Any] = [codes]
    for name, value, dtype in (("scale", result.scale, np.float32), ("zero_point", result.zero_point, np.int32)):
        shape = tuple(np.shape(value))
        if isinstance(value, da.Array):
            target = _create_array(group, name, shape, _zarr_chunks(value.chunks, f"the {name} array"), dtype,
                                   overwrite)
            sources.append(value.astype(dtype))
            targets.append(target)
        else:
            target = _create_array(group, name, shape, tuple(max(1, n) for n in shape), dtype, overwrite)
            target[...] = np.asarray(value, dtype=dtype)
    attrs: Dict[str, Any] = {"format": _FORMAT, "granularity": result.granularity}
    attrs.update(zip(_ZARR_MODE, result._mode))
    attrs["shape"] = list(result.shape)
    group.attrs["qaffine"] = attrs
    return da.store(sources, targets, lock=False, compute=compute)


def from_zarr(url_or_group: Any, *, chunks: Any = None,
              storage_options: Optional[Dict[str, Any]] = None) -> DaskQuantizedArray:
    """Reads what :func:`to_zarr` wrote, lazily: codes (and per-block parameters) as dask arrays from Zarr.

    Per tensor and per axis the (small) parameters are read now; ``chunks`` rechunks the codes
    (per block, keep the chunks along the axis multiples of the block size).
    """
    zarr = _import_zarr()
    group = _open_group(zarr, url_or_group, "r", storage_options)
    meta = dict(group.attrs.get("qaffine", {}))
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{url_or_group!r} is not a group written by qaffine.dask.to_zarr (format {_FORMAT})")
    values = da.from_zarr(group["codes"], chunks=chunks) if chunks is not None else da.from_zarr(group["codes"])
    try:
        mode = Mode(*(meta.get(key) for key in _ZARR_MODE)).resolved(tuple(values.shape))
    except (TypeError, ValueError) as e:
        raise ValueError(f"the qaffine attributes of {url_or_group!r} are damaged: {e}") from None
    if values.dtype != mode.dtype or list(values.shape) != list(meta["shape"]):
        raise ValueError(f"codes of dtype {values.dtype} and shape {values.shape} do not match the attributes {meta}")
    if mode.block_size is None:
        scale: Any = np.asarray(group["scale"][...])
        zero_point: Any = np.asarray(group["zero_point"][...])
        if mode.axis is None:
            scale, zero_point = np.float32(scale), int(zero_point)
        p = QParams._of(scale, zero_point, mode)  # validates
        if mode.axis is not None:
            _api._check_params_shape(p, (values.shape[mode.axis],))
        return DaskQuantizedArray(values, mode, p.scale, p.zero_point)
    assert mode.axis is not None
    _check_block_chunks(values, mode.axis, mode.block_size)
    pchunks = _params_chunks(values.chunks, mode.axis, mode.block_size)
    scale, zero_point = da.from_zarr(group["scale"]), da.from_zarr(group["zero_point"])  # lazy
    expected = mode.params_shape(values.shape)
    if scale.shape != expected or zero_point.shape != expected:
        raise ValueError(f"scale/zero_point of shape {scale.shape} do not match codes of shape {values.shape}")
    return DaskQuantizedArray(values, mode, scale.rechunk(pchunks), zero_point.rechunk(pchunks))


# ------------------------------------------------------------------------------------------- calibration
def _observe_block(x: np.ndarray, offset: Tuple[int, ...], empty: "_calibrate.Observer") -> "_calibrate.Observer":
    obs = empty.empty_like()
    try:
        return obs.update(x)
    except ValueError:
        _raise_bad_values(np.asarray(x), offset, dynamic=False)  # NaN: the index in the whole array
        raise


def _merge_observers(parts: Sequence["_calibrate.Observer"]) -> "_calibrate.Observer":
    out = parts[0]
    for p in parts[1:]:
        out = out.merge(p)
    return out


def observe(a: _DaskArray, method: str = "minmax", **options: Any) -> "_calibrate.Observer":
    """A :class:`qaffine.Observer` of a whole dask array: every chunk is observed in its own task, and the
    observers are merged as a tree (8 per task). For the histogram methods and minmax the merge is exact, so the
    result equals ``qa.Observer(method, **options).update(a.compute())``. ``options`` are the Observer's; with
    ``axis=k`` the array must be one chunk along k (``a.rechunk({k: -1})``). ``moving_average`` depends on the
    order of the batches and is not merged: ``ValueError``.

    >>> import dask.array as da, numpy as np, qaffine as qa, qaffine.dask as qd
    >>> x = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    >>> qd.observe(da.from_array(x, chunks=1_000), "mse").params() == qa.Observer("mse").update(x).params()
    True
    """
    a = _as_dask_float(a)
    empty = _calibrate.Observer(method, **options)
    if method == "moving_average":
        raise ValueError("moving_average depends on the order of the batches, so chunks cannot be observed in "
                         "parallel; use 'minmax' or a histogram method, or qa.Observer on the batches in order")
    axis = empty._mode.axis
    if axis is not None:
        k = Mode(axis).resolved(a.shape).axis
        assert k is not None
        if len(a.chunks[k]) > 1:
            raise ValueError(f"observe(axis={axis}) needs one chunk along axis {k}; rechunk with "
                             f"x.rechunk({{{k}: -1}})")
    blocks = a.to_delayed().ravel()
    starts = [np.cumsum((0,) + c[:-1]) for c in a.chunks]
    offsets = [tuple(int(starts[d][i]) for d, i in enumerate(idx)) for idx in np.ndindex(*a.numblocks)]
    parts = [dask.delayed(_observe_block)(b, off, empty) for b, off in zip(blocks, offsets)]
    if not parts:
        return empty
    while len(parts) > 1:
        parts = [dask.delayed(_merge_observers)(parts[i:i + _SPLIT_EVERY])
                 for i in builtins.range(0, len(parts), _SPLIT_EVERY)]
    merged: _calibrate.Observer = parts[0].compute()
    return merged


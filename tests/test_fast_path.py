"""qa.quantize(x)'s fast path: taken exactly when the call allows it (one ``_core`` call, quantize_dynamic on x
itself, parameters built on first use), and its result indistinguishable from the general path's.

Which path ran is seen through the ``core_calls`` fixture (tests/conftest.py), which counts the calls into
``qaffine._core``, and through the result's deferred parameters (``QuantizedArray._params`` is None until
``params`` is first read). The codes are checked against tests/reference.py.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import qaffine as qa
import reference as R
from conftest import CoreCalls


def _took_fast_path(core_calls: CoreCalls, x: Any, q: qa.QuantizedArray) -> bool:
    """One kernel call, dynamic quantization of the caller's array itself (no copy, no conversion), and no
    QParams built yet."""
    return (core_calls.names() == ["quantize_dynamic"] and core_calls.calls[0][1][0] is x
            and q._params is None)


def _misaligned(x: np.ndarray) -> np.ndarray:
    buf = bytearray(x.nbytes + 1)
    v = np.frombuffer(buf, dtype=x.dtype, offset=1, count=x.size).reshape(x.shape)
    v[...] = x
    return v


FAST_LAYOUTS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "contiguous": lambda a: a,
    "strided": lambda a: a[::3],
    "reversed": lambda a: a[::-1],
    "fortran": lambda a: np.asfortranarray(a.reshape(20, 50)),
    "transposed": lambda a: a.reshape(20, 50).T,
    "broadcast": lambda a: np.broadcast_to(a[:50], (4, 50)),
    "misaligned": _misaligned,
    "read-only": lambda a: np.frombuffer(a.tobytes(), dtype=a.dtype),
    "0-d": lambda a: a[7, ...],
}


@pytest.mark.parametrize("layout", list(FAST_LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16], ids=["f32", "f64", "f16"])
def test_plain_quantize_of_a_native_float_array_makes_one_core_call(
    core_calls: CoreCalls, dtype: Any, layout: str
) -> None:
    """Any native-endian float16/32/64 ndarray with elements, in any memory layout, with or without a fitting
    out=: the fast path, whose codes and parameters are the reference's."""
    x = FAST_LAYOUTS[layout](np.random.default_rng(3).standard_normal(1000).astype(dtype))
    codes, s, z = R.quantize_dynamic(np.array(x))
    q = qa.quantize(x)
    assert _took_fast_path(core_calls, x, q), core_calls.names()
    assert np.array_equal(q.values, codes) and q.values.shape == x.shape
    assert R.same_float32(q.scale, s) and q.zero_point == z
    core_calls.clear()
    out = np.empty(x.shape, dtype=np.uint8)
    q = qa.quantize(x, out=out)
    assert _took_fast_path(core_calls, x, q), core_calls.names()
    assert q.values is out and np.array_equal(out, codes)


class _Subclass(np.ndarray):
    pass


def _general_cases() -> List[Tuple[str, Callable[[np.ndarray], Any], Dict[str, Any]]]:
    """(name, input made from a float32 array, keywords): every way a call leaves the fast path's condition."""
    return [
        ("big-endian", lambda a: a.astype(">f4"), {}),
        ("list", lambda a: a.tolist(), {}),
        ("ndarray subclass", lambda a: a.view(_Subclass), {}),
        ("bits=8", lambda a: a, {"bits": 8}),
        ("signed=False", lambda a: a, {"signed": False}),
        ("symmetric=False", lambda a: a, {"symmetric": False}),
        ("include_zero=True", lambda a: a, {"include_zero": True}),
        ("axis", lambda a: a, {"axis": 0}),
        ("block_size", lambda a: a, {"block_size": 64}),
        ("compat=torch", lambda a: a, {"compat": "torch"}),
        ("packed", lambda a: a, {"bits": 4, "packed": True}),
        ("params", lambda a: a, {"params": qa.QParams(np.float32(0.02), 128)}),
        ("out= an ndarray subclass", lambda a: a, {"out": np.empty(1000, np.uint8).view(_Subclass)}),
        ("out= of another dtype", lambda a: a, {"out": np.empty(1000, np.int8), "signed": True}),
    ]


@pytest.mark.parametrize("name,make,kw", _general_cases(), ids=[c[0] for c in _general_cases()])
def test_calls_outside_the_fast_path_condition_take_the_general_path(
    core_calls: CoreCalls, name: str, make: Callable[[np.ndarray], Any], kw: Dict[str, Any]
) -> None:
    """The general path runs (a copy, another kernel, or parameters built at once) and gives the result the
    same call gives on ``np.asarray(x)`` in native byte order; per tensor, the reference's codes."""
    a = np.random.default_rng(4).standard_normal(1000).astype(np.float32)
    x = make(a)
    kw = dict(kw)
    params = kw.pop("params", None)
    out = kw.pop("out", None)
    q = qa.quantize(x, params, out=out, **kw)
    assert core_calls.calls, "the counter saw no kernel call"
    assert not _took_fast_path(core_calls, x, q), core_calls.names()
    native = np.array(x, dtype=np.asarray(x).dtype.newbyteorder("="))  # as np.asarray would, native-endian
    expected = qa.quantize(native, params, **kw)
    assert np.array_equal(q.values, expected.values) and q.params == expected.params
    if params is None and set(kw) <= {"bits", "signed", "symmetric", "include_zero"}:
        codes, s, z = R.mode_quantize(native, **kw)
        assert np.array_equal(q.values, codes) and R.same_float32(q.scale, s) and q.zero_point == z


def test_empty_and_overlapping_out_leave_the_fast_path_and_raise(core_calls: CoreCalls) -> None:
    with pytest.raises(ValueError, match="empty"):
        qa.quantize(np.empty(0, np.float32))
    x = np.linspace(-1, 1, 100, dtype=np.float32)
    with pytest.raises(ValueError, match="overlap"):
        qa.quantize(x, out=x.view(np.uint8)[:100])
    assert core_calls.names() == []  # both refused before any kernel ran


def test_fast_path_params_equal_the_general_ones(core_calls: CoreCalls) -> None:
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    q = qa.quantize(x)
    assert _took_fast_path(core_calls, x, q)
    fast = q.params
    for general in (qa.choose_qparams(*qa.minmax(x)), qa.quantize(x, bits=8).params):
        assert fast == general and hash(fast) == hash(general) and repr(fast) == repr(general)
    assert isinstance(fast, qa.QParams)
    assert (fast.qmin, fast.qmax, fast.axis, fast.block_size, fast.bits, fast.signed, fast.symmetric,
            fast.include_zero, fast.dtype) == (0, 255, None, None, 8, False, False, True, np.dtype(np.uint8))
    assert type(fast.scale) is np.float32 and type(fast.zero_point) is int


def test_fast_path_params_are_immutable_and_pickle_as_qparams(core_calls: CoreCalls) -> None:
    x = np.float32([0.5, -1.0, 2.0])
    q = qa.quantize(x)
    assert _took_fast_path(core_calls, x, q)
    p = q.params
    with pytest.raises(AttributeError):
        p._qmin = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.scale = np.float32(1)  # type: ignore[misc]
    r = pickle.loads(pickle.dumps(p))
    assert type(r) is qa.QParams and r == p
    q2 = p.replace(zero_point=7)
    assert q2.zero_point == 7 and q2.scale == p.scale and type(q2) is qa.QParams


def test_fast_path_result_builds_its_params_once_and_pickles(core_calls: CoreCalls) -> None:
    x = np.random.default_rng(1).standard_normal(300).astype(np.float32)
    q = qa.quantize(x)
    assert _took_fast_path(core_calls, x, q)
    first = q.params
    assert q.params is first  # built on first use, then kept
    assert q.scale == q.params.scale and q.zero_point == q.params.zero_point
    unbuilt = qa.quantize(x)
    assert unbuilt._params is None
    r = pickle.loads(pickle.dumps(unbuilt))  # pickled before its params were ever built
    assert r.params == q.params and np.array_equal(r.values, q.values)
    np.testing.assert_array_equal(qa.dequantize(qa.quantize(x)), q.dequantize())
    assert repr(qa.quantize(x)) == repr(q)

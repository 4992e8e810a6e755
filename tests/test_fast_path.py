"""qa.quantize(x)'s fast path returns parameters indistinguishable from the general path's."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import qaffine as qa


def test_fast_path_params_equal_the_general_ones():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    fast = qa.quantize(x).params
    general = qa.choose_qparams(*qa.minmax(x))
    assert fast == general and hash(fast) == hash(general) and repr(fast) == repr(general)
    assert isinstance(fast, qa.QParams)
    assert (fast.qmin, fast.qmax, fast.axis, fast.block_size, fast.bits, fast.signed, fast.symmetric,
            fast.include_zero, fast.dtype) == (0, 255, None, None, 8, False, False, True, np.dtype(np.uint8))
    assert type(fast.scale) is np.float32 and type(fast.zero_point) is int


def test_fast_path_params_are_immutable_and_pickle_as_qparams():
    p = qa.quantize(np.float32([0.5, -1.0, 2.0])).params
    with pytest.raises(AttributeError):
        p._qmin = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.scale = np.float32(1)  # type: ignore[misc]
    r = pickle.loads(pickle.dumps(p))
    assert type(r) is qa.QParams and r == p
    q = p.replace(zero_point=7)
    assert q.zero_point == 7 and q.scale == p.scale and type(q) is qa.QParams


def test_fast_path_result_builds_its_params_once_and_pickles():
    x = np.random.default_rng(1).standard_normal(300).astype(np.float32)
    q = qa.quantize(x)
    assert q.params is q.params  # built on first use, then kept
    assert q.scale == q.params.scale and q.zero_point == q.params.zero_point
    r = pickle.loads(pickle.dumps(qa.quantize(x)))  # pickled before its params were ever built
    assert r.params == q.params and np.array_equal(r.values, q.values)
    np.testing.assert_array_equal(qa.dequantize(qa.quantize(x)), q.dequantize())
    assert repr(qa.quantize(x)) == repr(q)

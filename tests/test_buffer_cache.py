"""The buffer cache of large results (csrc/bindings/buffers.hpp): reuse without aliasing, limits, errors."""

from __future__ import annotations

import gc
import multiprocessing as mp
import pickle
import threading

import numpy as np
import pytest

import qaffine as qa
from qaffine import _core

BIG = _core.BUFFER_CACHE_MIN_BYTES  # results of at least this many bytes come from the cache


def _addr(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


@pytest.fixture(autouse=True)
def _fresh_cache():
    old = qa.set_buffer_cache(0)  # start empty
    qa.set_buffer_cache(1 << 30)
    yield
    qa.set_buffer_cache(old)


def test_large_results_come_from_the_cache_and_small_ones_do_not():
    x = np.linspace(-1, 1, BIG, dtype=np.float32)
    q = qa.quantize(x)
    assert q.values.base is not None and q.values.flags.writeable and q.values.flags.c_contiguous
    assert q.values.dtype == np.uint8 and q.values.shape == x.shape
    small = qa.quantize(x[: BIG // 8])
    assert small.values.base is None  # plain np.empty
    back = qa.dequantize(q)
    assert back.dtype == np.float32 and back.base is not None


def test_a_dropped_result_is_reused_and_a_live_one_never_is():
    x = np.random.default_rng(1).standard_normal(BIG + 12345).astype(np.float32)
    x2, x3 = x * 2, x * 3
    expect_b = qa.quantize(x2).values.copy()
    qa.set_buffer_cache(0)  # empty again
    qa.set_buffer_cache(1 << 30)
    a = qa.quantize(x).values
    b = qa.quantize(x2).values
    assert not np.shares_memory(a, b)
    addr_a = _addr(a)
    del a
    gc.collect()
    assert _core.buffer_cache_held() > 0
    c = qa.quantize(x3).values
    assert _addr(c) == addr_a  # the dropped buffer, not a fresh mapping
    # b is untouched by the reuse of a's buffer
    np.testing.assert_array_equal(b, expect_b)


def test_reused_buffers_give_the_same_bytes_as_fresh_ones():
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal(BIG + k).astype(np.float32) for k in (0, 1000, 77)]
    qa.set_buffer_cache(0)
    fresh = [qa.quantize(x).values.copy() for x in xs]
    fresh_back = [qa.dequantize(qa.quantize(x)).copy() for x in xs]
    qa.set_buffer_cache(1 << 30)
    for _ in range(3):
        for x, f, fb in zip(xs, fresh, fresh_back):
            np.testing.assert_array_equal(qa.quantize(x).values, f)
            np.testing.assert_array_equal(qa.dequantize(qa.quantize(x)), fb)


def test_limit_zero_frees_everything_and_keeps_nothing():
    x = np.ones(BIG, dtype=np.float32)
    for _ in range(3):
        qa.quantize(x)
    gc.collect()
    assert _core.buffer_cache_held() > 0
    assert qa.set_buffer_cache(0) == 1 << 30
    assert _core.buffer_cache_held() == 0
    qa.quantize(x)
    gc.collect()
    assert _core.buffer_cache_held() == 0


def test_the_limit_bounds_what_is_kept():
    qa.set_buffer_cache(BIG * 3)
    arrays = [qa.quantize(np.full(BIG * 2, k, dtype=np.float32)).values for k in range(4)]
    del arrays
    gc.collect()
    assert 0 < _core.buffer_cache_held() <= BIG * 3


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (1.5, TypeError), ("1", TypeError), (True, TypeError)])
def test_set_buffer_cache_rejects_bad_limits(bad, exc):
    with pytest.raises(exc, match="max_bytes"):
        qa.set_buffer_cache(bad)


def test_none_restores_the_default():
    qa.set_buffer_cache(5)
    assert qa.set_buffer_cache(None) == 5
    assert qa.set_buffer_cache(None) == 1 << 30


def test_cached_results_pickle_save_and_outlive_the_call(tmp_path):
    x = np.random.default_rng(3).standard_normal(BIG).astype(np.float32)
    q = qa.quantize(x)
    r = pickle.loads(pickle.dumps(q))
    np.testing.assert_array_equal(r.values, q.values)
    qa.save(tmp_path / "q.npz", q)
    np.testing.assert_array_equal(qa.load(tmp_path / "q.npz").values, q.values)
    view = q.values[::2]
    expected = view.copy()
    del q, r
    gc.collect()
    qa.quantize(x * 5)  # may not reuse the buffer behind `view`
    np.testing.assert_array_equal(view, expected)


def test_threads_allocating_and_dropping_concurrently_get_correct_results():
    x = np.random.default_rng(4).standard_normal(BIG + 999).astype(np.float32)
    expected = qa.quantize(x).values.copy()
    errors: list[str] = []

    def work() -> None:
        for _ in range(15):
            q = qa.quantize(x)
            if not np.array_equal(q.values, expected):
                errors.append("mismatch")
            del q

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _child(x: np.ndarray, expected: np.ndarray, conn) -> None:
    ok = all(np.array_equal(qa.quantize(x).values, expected) for _ in range(3))
    conn.send(ok)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_reuses_inherited_buffers_safely():
    x = np.random.default_rng(5).standard_normal(BIG).astype(np.float32)
    expected = qa.quantize(x).values.copy()
    for _ in range(2):
        qa.quantize(x)  # leave dropped buffers in the cache
    gc.collect()
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_child, args=(x, expected, child))
    p.start()
    assert parent.recv() is True
    p.join(60)
    assert p.exitcode == 0

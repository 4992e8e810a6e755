"""Concurrency under load: 8 Python threads x 500 calls of mixed sizes, dtypes, layouts and modes at once,
while another thread keeps changing qa.set_num_threads. Every result (or error message) must equal the one
computed beforehand on a single thread, and every thread must finish (no deadlock in the pool, whose single
run slot makes concurrent calls fall back to their own thread). tests/test_threads.py has the small version.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

import numpy as np
import pytest

import qaffine as qa

THREADS = 8
CALLS = 500


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    qa.set_num_threads(None)


def _outcome(r: Any) -> Any:
    if isinstance(r, qa.QuantizedArray):
        return (r.values.tobytes(), r.values.shape, r.packed, np.asarray(r.scale, np.float32).tobytes(),
                np.asarray(r.zero_point).astype(np.int64).tobytes())
    if isinstance(r, qa.QParams):
        return np.asarray(r.scale).tobytes(), np.asarray(r.zero_point).tobytes()
    if isinstance(r, tuple):
        return tuple(np.asarray(v).tobytes() for v in r)
    return np.asarray(r).tobytes(), np.asarray(r).dtype.str, np.shape(r)


def _run(call: Callable[[], Any]) -> Any:
    try:
        return _outcome(call())
    except ValueError as e:
        return "ValueError", str(e)


def _cases() -> List[Tuple[str, Callable[[], Any]]]:
    rng = np.random.default_rng(11)
    cases: List[Tuple[str, Callable[[], Any]]] = []
    sizes = [1, 17, 1000, 4097, 70_000, 300_032]  # the last is split across threads (2 x 128 Ki per thread)
    for size in sizes:
        for dtype in (np.float32, np.float64, np.float16):
            x = (rng.standard_normal(size) * 3).astype(dtype)
            x2 = x.reshape(-1, 64) if size % 64 == 0 else x.reshape(1, -1)
            views: Dict[str, np.ndarray] = {"c": x2, "rev": x2[::-1, ::-1], "be": x2.astype(x2.dtype.newbyteorder(">"))}
            if size >= 1000:
                views["strided"] = np.repeat(x, 2)[::2].reshape(x2.shape)
            for vname, v in views.items():
                tag = f"{size} {np.dtype(dtype).name} {vname}"
                cases.append((f"{tag} dynamic", lambda v=v: qa.quantize(v)))
                cases.append((f"{tag} static", lambda v=v: qa.quantize(v, qa.QParams(np.float32(0.02), 120))))
                cases.append((f"{tag} minmax", lambda v=v: qa.minmax(v)))
            modes: List[Dict[str, Any]] = [{"axis": 0}, {"axis": -1}, {"block_size": 32},
                                           {"bits": 4, "signed": True, "symmetric": True, "packed": True},
                                           {"include_zero": False, "compat": "torch"}]
            for mode in modes:
                cases.append((f"{size} {np.dtype(dtype).name} {mode}", lambda m=mode, v=x2: qa.quantize(v, **m)))
            q = qa.quantize(x2, block_size=16)
            cases.append((f"{size} {np.dtype(dtype).name} dequantize", lambda q=q: q.dequantize()))
            cases.append((f"{size} {np.dtype(dtype).name} dequantize f64", lambda q=q: q.dequantize(dtype=np.float64)))
        bad = rng.standard_normal(size).astype(np.float32)
        bad[size // 2] = np.nan
        bad[-1] = np.inf
        cases.append((f"{size} NaN", lambda b=bad: qa.quantize(b)))
        cases.append((f"{size} NaN static", lambda b=bad: qa.quantize(b, qa.QParams(np.float32(0.1), 0))))
    lo, hi = qa.minmax(rng.standard_normal((8, 33)).astype(np.float32), axis=0)
    cases.append(("choose_qparams", lambda: qa.choose_qparams(lo, hi, axis=0, bits=5)))
    return cases


def test_eight_threads_mixed_calls_equal_single_thread_results_while_thread_count_changes(
    restore_threads: None,
) -> None:
    cases = _cases()
    qa.set_num_threads(1)
    expected = [_run(call) for _, call in cases]
    qa.set_num_threads(None)
    big = [i for i, (name, _) in enumerate(cases) if name.startswith("300032")]
    errors: List[str] = []
    done = [0] * THREADS
    stop = threading.Event()
    start = threading.Barrier(THREADS + 1)

    def worker(k: int) -> None:
        rng = np.random.default_rng(100 + k)
        start.wait()
        try:
            for _ in range(CALLS):
                # a quarter of the calls on the 300k-element cases, which use the pool
                i = int(rng.choice(big)) if rng.random() < 0.25 else int(rng.integers(len(cases)))
                got = _run(cases[i][1])
                if got != expected[i]:
                    errors.append(f"thread {k}: {cases[i][0]} differs from its single-thread result")
                done[k] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(f"thread {k}: {type(e).__name__}: {e}")

    def flipper() -> None:
        n = 0
        settings = [1, 2, 3, 4, None, 2, 7]
        while not stop.is_set():
            qa.set_num_threads(settings[n % len(settings)])
            assert qa.get_num_threads() >= 1
            n += 1
            time.sleep(0.0005)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(THREADS)]
    flip = threading.Thread(target=flipper, daemon=True)
    for t in threads:
        t.start()
    flip.start()
    start.wait()
    deadline = time.monotonic() + 300
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stop.set()
    flip.join(timeout=10)
    hung = [k for k, t in enumerate(threads) if t.is_alive()]
    assert not hung, f"threads {hung} did not finish in 300 s (deadlock?); calls done per thread: {done}"
    assert not errors, f"{len(errors)} errors, first ones:\n" + "\n".join(errors[:10])
    assert done == [CALLS] * THREADS

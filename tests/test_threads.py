"""Threads: qa.set_num_threads / get_num_threads, QAFFINE_NUM_THREADS, bytes independent of the count, and
concurrent Python threads: a small case, and 8 threads x 500 calls of mixed sizes, dtypes, layouts and modes at
once while another thread keeps changing qa.set_num_threads (every result or error message must equal the one
computed beforehand on a single thread, and every thread must finish: the pool's single run slot makes
concurrent calls fall back to their own thread)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import qaffine as qa

# Large enough to be split into several ranges (the grain is 128 Ki elements per thread).
N = 5 * (1 << 17) + 77


@pytest.fixture
def restore_threads() -> Iterator[None]:
    yield
    qa.set_num_threads(None)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    x = np.random.default_rng(7).standard_normal(N).astype(np.float32)
    x[-5] = 50.0  # the maximum in the last range
    return x


# Every granularity, code type and rounding; per tensor on a 1-D array whose length is no multiple of 64 (a
# tail in the last range) and on its (-1, 64) prefix, the others on that prefix.
THREAD_MODES: List[Dict[str, Any]] = [
    {},
    {"axis": 1},
    {"axis": 0},
    {"axis": -1},
    {"block_size": 64},
    {"block_size": 32},
    {"block_size": 32, "bits": 4, "signed": True},
    {"axis": 0, "block_size": 8},
    {"axis": 0, "block_size": 3},
    {"bits": 4, "signed": True, "symmetric": True},
    {"compat": "torch"},
    {"include_zero": False, "axis": -1},
]


def _outcome(call: Callable[[], Any]) -> Any:
    """The bytes of a quantize / minmax result with its parameters and both dequantizations, or its error."""
    try:
        r = call()
    except ValueError as e:
        return "ValueError", str(e)
    if isinstance(r, qa.QuantizedArray):
        return (r.values.tobytes(), r.values.shape, np.asarray(r.scale, np.float32).tobytes(),
                np.asarray(r.zero_point).astype(np.int64).tobytes(), r.dequantize().tobytes(),
                qa.dequantize(r, dtype=np.float64).tobytes())
    return tuple((np.asarray(v).tobytes(), np.asarray(v).dtype.str) for v in r)


def _view(x: np.ndarray, layout: str) -> np.ndarray:
    if layout == "reversed":
        rev = (slice(None, None, -1),) * x.ndim
        return x[rev].copy()[rev]
    if layout == "big-endian":
        return x.astype(x.dtype.newbyteorder(">"))
    return x


@pytest.mark.slow
@pytest.mark.parametrize("mode", THREAD_MODES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "tensor")
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(300_000, 700_000),
    dtype=st.sampled_from([np.float32, np.float64, np.float16]),
    layout=st.sampled_from(["contiguous", "reversed", "big-endian"]),
    special=st.sampled_from([None, "inf", "nan"]),
)
@example(seed=7, n=N, dtype=np.float32, layout="contiguous", special=None)
@example(seed=129862, n=625216, dtype=np.float16, layout="contiguous", special=None)  # overflowed float16
def test_thread_count_never_changes_the_bytes(
    restore_threads: None, mode: Dict[str, Any], seed: int, n: int, dtype: Any, layout: str, special: Optional[str]
) -> None:
    """1, 2, 3 and 5 threads give the same bytes for quantize (dynamic and static), its parameters, dequantize
    (float32 and float64) and minmax, or the same error message (a NaN or Inf is named by the same index),
    on 300k-700k elements whose maximum lies in the last range."""
    rng = np.random.default_rng(seed)
    # Clipped inside the dtype's range: float16 overflowed on about one draw in twelve (a RuntimeWarning
    # from NumPy's cast, an error under this suite's warning filter).
    limit = float(np.finfo(dtype).max) / 2
    flat = np.clip(rng.standard_normal(n) * np.exp(rng.normal(0, 2, n)), -limit, limit)
    flat[-5] = min(2 * float(np.abs(flat).max()), limit)  # the maximum in the last range
    flat = flat.astype(dtype)
    if special is not None:
        flat[rng.integers(0, n, 3)] = np.inf if special == "inf" else np.nan
    grouped = _view(flat[: n - n % 64].reshape(-1, 64), layout)
    inputs = [grouped] if mode else [_view(flat, layout), grouped]
    p = qa.QParams(np.float32(0.01), 7)
    minmax_kw = {k: mode[k] for k in ("axis", "block_size") if k in mode}
    for x in inputs:
        results = []
        for threads in (1, 2, 3, 5):
            qa.set_num_threads(threads)
            results.append((_outcome(lambda: qa.quantize(x, **mode)), _outcome(lambda: qa.quantize(x, p)),
                            _outcome(lambda: qa.minmax(x, **minmax_kw))))
        assert all(r == results[0] for r in results[1:]), (x.shape, threads)


def test_minmax_equal_for_any_thread_count(data: np.ndarray, restore_threads: None) -> None:
    found = set()
    for threads in (1, 2, 4):
        qa.set_num_threads(threads)
        found.add(tuple(float(v) for v in qa.minmax(data)))
    assert found == {(float(data.min()), float(data.max()))}


def test_nan_reported_with_any_thread_count(data: np.ndarray, restore_threads: None) -> None:
    x = data.copy()
    x[N - 10] = np.inf
    x[N // 2] = np.nan
    for threads in (1, 2, 3):
        qa.set_num_threads(threads)
        with pytest.raises(ValueError, match=f"NaN at index {N // 2}"):
            qa.quantize(x)
        with pytest.raises(ValueError, match="NaN at index"):
            qa.quantize(x.reshape(-1, 1)[: N - N % 64].reshape(-1, 64), block_size=16)


def test_set_and_get_num_threads(restore_threads: None) -> None:
    qa.set_num_threads(3)
    assert qa.get_num_threads() == 3
    qa.set_num_threads(None)
    assert qa.get_num_threads() >= 1
    for bad in (0, -1, 5000):
        with pytest.raises(ValueError, match="between 1 and 1024"):
            qa.set_num_threads(bad)
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError):
            qa.set_num_threads(bad)  # type: ignore[arg-type]


def test_env_var_sets_the_default() -> None:
    code = "import qaffine as qa; print(qa.get_num_threads())"
    env = dict(os.environ, QAFFINE_NUM_THREADS="3")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert r.stdout.strip() == "3"
    env["QAFFINE_NUM_THREADS"] = "lots"  # ignored: the CPU count
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(r.stdout.strip()) == len(os.sched_getaffinity(0))


def test_concurrent_python_threads_and_set_num_threads(data: np.ndarray, restore_threads: None) -> None:
    """8 Python threads quantizing at once while another changes the thread count: same bytes, no deadlock."""
    expected = qa.quantize(data).values.copy()
    block = qa.quantize(data[: N - N % 64], block_size=64).values.copy()
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        try:
            for _ in range(20):
                assert np.array_equal(qa.quantize(data).values, expected)
                assert np.array_equal(qa.quantize(data[: N - N % 64], block_size=64).values, block)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def flipper() -> None:
        k = 0
        while not stop.is_set():
            qa.set_num_threads(1 + k % 3)
            k += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    flip = threading.Thread(target=flipper)
    flip.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    flip.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors, errors[0]


# ------------------------------------------------------------------ many Python threads at once, under load
STRESS_THREADS = 8


STRESS_CALLS = 500


def _result_bytes(r: Any) -> Any:
    if isinstance(r, qa.QuantizedArray):
        return (r.values.tobytes(), r.values.shape, r.packed, np.asarray(r.scale, np.float32).tobytes(),
                np.asarray(r.zero_point).astype(np.int64).tobytes())
    if isinstance(r, qa.QParams):
        return np.asarray(r.scale).tobytes(), np.asarray(r.zero_point).tobytes()
    if isinstance(r, tuple):
        return tuple(np.asarray(v).tobytes() for v in r)
    return np.asarray(r).tobytes(), np.asarray(r).dtype.str, np.shape(r)


def _result_or_error(call: Callable[[], Any]) -> Any:
    try:
        return _result_bytes(call())
    except ValueError as e:
        return "ValueError", str(e)


def _stress_cases() -> List[Tuple[str, Callable[[], Any]]]:
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
    cases = _stress_cases()
    qa.set_num_threads(1)
    expected = [_result_or_error(call) for _, call in cases]
    qa.set_num_threads(None)
    big = [i for i, (name, _) in enumerate(cases) if name.startswith("300032")]
    errors: List[str] = []
    done = [0] * STRESS_THREADS
    stop = threading.Event()
    start = threading.Barrier(STRESS_THREADS + 1)

    def worker(k: int) -> None:
        rng = np.random.default_rng(100 + k)
        start.wait()
        try:
            for _ in range(STRESS_CALLS):
                # a quarter of the calls on the 300k-element cases, which use the pool
                i = int(rng.choice(big)) if rng.random() < 0.25 else int(rng.integers(len(cases)))
                got = _result_or_error(cases[i][1])
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

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(STRESS_THREADS)]
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
    assert done == [STRESS_CALLS] * STRESS_THREADS


def test_forked_child_does_not_hang(data: np.ndarray) -> None:
    """The pool's threads stay in the parent; a forked child runs on its own thread."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    code = (
        "import os, numpy as np, qaffine as qa\n"
        f"x = np.random.default_rng(1).standard_normal({N}).astype(np.float32)\n"
        "a = qa.quantize(x).values\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if np.array_equal(qa.quantize(x).values, a) else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "0", r.stderr

"""Threads: qa.set_num_threads / get_num_threads, QAFFINE_NUM_THREADS, and bytes independent of the count."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional

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
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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

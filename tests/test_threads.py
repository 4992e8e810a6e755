"""Threads: qa.set_num_threads / get_num_threads, QAFFINE_NUM_THREADS, and bytes independent of the count."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any, Iterator

import numpy as np
import pytest

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


CASES: list[dict[str, Any]] = [
    {},
    {"axis": 1},
    {"axis": 0},
    {"block_size": 64},
    {"block_size": 32, "bits": 4, "signed": True},
    {"axis": 0, "block_size": 8},
]


def _shape(case: dict[str, Any]) -> tuple[int, ...]:
    return (N // 64, 64)


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "tensor")
def test_thread_count_never_changes_the_bytes(data: np.ndarray, case: dict[str, Any], restore_threads: None) -> None:
    x = data if not case else data[: int(np.prod(_shape(case)))].reshape(_shape(case))
    results = []
    for threads in (1, 2, 3, 5):
        qa.set_num_threads(threads)
        q = qa.quantize(x, **case)
        results.append((q.values.tobytes(), np.asarray(q.scale).tobytes(), np.asarray(q.zero_point).tobytes(),
                        q.dequantize().tobytes(), qa.dequantize(q, dtype=np.float64).tobytes()))
    assert all(r == results[0] for r in results[1:])


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

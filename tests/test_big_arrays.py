"""More than 2**31 elements end to end (size_t indexing in minmax, quantize, dequantize and the thread split).

One float32 array of 2**31 + 4099 elements (8.6 GB): constant chunks, then a known ramp over the last
4099 + 128 elements that crosses index 2**31 and holds both the minimum and (in the very last element) the
maximum, so a kernel that stops early, wraps an index at 2**31 or drops the tail gets the range, the
parameters or the last codes wrong. The input is freed before dequantizing: peak ~10.8 GB (input + codes,
then codes + output). Skipped when /proc/meminfo's MemAvailable is below 14 GB.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import qaffine as qa
import reference as R

N = 2**31 + 4099
TAIL = 4099 + 128  # the ramp starts at 2**31 - 128
CHUNK = 1 << 26
LO, HI = -2.0, 3.0


def _mem_available_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _chunk_value(start: int) -> float:
    return ((start // CHUNK) % 7 - 3) * 0.25  # -0.75 .. 0.75: inside [LO, HI], different from chunk to chunk


@pytest.mark.slow
def test_quantize_and_dequantize_more_than_2_to_the_31_elements() -> None:
    if _mem_available_bytes() < 14 * 2**30:
        pytest.skip(f"needs 14 GB of available memory, have {_mem_available_bytes() / 2**30:.1f} GB")
    tail = np.linspace(LO, HI, TAIL, dtype=np.float32)
    tail[: TAIL // 2] = tail[: TAIL // 2][::-1]  # the minimum in the middle of the ramp, the maximum last
    x = np.empty(N, dtype=np.float32)
    for start in range(0, N, CHUNK):
        x[start : start + CHUNK] = _chunk_value(start)
    x[N - TAIL :] = tail
    assert x[-1] == HI and tail.min() == LO and N - TAIL + int(np.argmin(tail)) > 2**31  # the minimum past 2**31
    samples = np.arange(0, N, CHUNK // 3 + 17)
    x_samples = x[samples].copy()

    lo, hi = qa.minmax(x)
    assert (lo, hi) == (np.float32(LO), np.float32(HI))
    q = qa.quantize(x)
    s, z = R.choose_qparams_f32(np.float32(LO), np.float32(HI))
    assert R.same_float32(q.scale, s) and q.zero_point == z, (q.scale, q.zero_point, s, z)
    codes = q.values
    assert codes.shape == (N,)
    expected_tail = R.quantize_static(tail, s, z)
    assert np.array_equal(codes[N - TAIL :], expected_tail)
    assert codes[-1] == 255 and codes[2**31] == expected_tail[128] and codes[2**31 - 1] == expected_tail[127]
    assert np.array_equal(codes[samples], R.quantize_static(x_samples, s, z))
    del x
    gc.collect()

    back = q.dequantize()  # float32, 8.6 GB
    assert back.shape == (N,) and back.dtype == np.float32
    assert R.same_bits(back[N - TAIL :], R.dequantize(expected_tail, s, z))
    assert np.all(np.abs(back[N - TAIL :].astype(np.float64) - tail) <= float(s) * (0.5 + 2.0**-12))
    assert R.same_bits(back[samples], R.dequantize(codes[samples], s, z))
    del back, q, codes
    gc.collect()

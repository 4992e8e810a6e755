"""Leaks: 100,000 calls of each public function on small arrays — success and error paths — leave the
resident set within 2 MiB of where it was after a 10,000-call warm-up, and the reference counts of every
argument (arrays, params, out buffers) unchanged.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import pytest

import qaffine as qa

WARM_UP = 10_000
CALLS = 100_000
MAX_GROWTH = 2 * 2**20
PAGE = os.sysconf("SC_PAGESIZE")

X = np.linspace(-1, 2, 64, dtype=np.float32)
X2 = np.linspace(-1, 2, 96, dtype=np.float32).reshape(6, 16)
X64_BE = np.linspace(-1, 2, 33).astype(">f8")
X16_STRIDED = np.linspace(-1, 2, 80).astype(np.float16)[::2]
XNAN = X.copy()
XNAN[40] = np.nan
OUT = np.empty(64, dtype=np.uint8)
P = qa.QParams(np.float32(0.02), 50)
Q = qa.quantize(X2, axis=0)
CODES = Q.values
F_OUT = np.empty(X2.shape, dtype=np.float32)
LO, HI = qa.minmax(X2, axis=1)
SCALES = np.full(6, 0.1, dtype=np.float32)
ZPS = np.arange(6)


def _expect(error: type, call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> None:
        try:
            call()
        except error:
            return
        raise AssertionError("expected an exception")

    return run


CASES: Dict[str, Tuple[Callable[[], Any], List[Any]]] = {
    "quantize": (lambda: qa.quantize(X), [X]),
    "quantize_out": (lambda: qa.quantize(X, out=OUT), [X, OUT]),
    "quantize_static": (lambda: qa.quantize(X, P), [X, P]),
    "quantize_modes": (lambda: qa.quantize(X2, block_size=8, bits=4, signed=True, packed=True), [X2]),
    "quantize_layouts": (lambda: (qa.quantize(X64_BE, axis=0), qa.quantize(X16_STRIDED)), [X64_BE, X16_STRIDED]),
    "quantize_nan_error": (_expect(ValueError, lambda: qa.quantize(XNAN)), [XNAN]),
    "quantize_type_error": (_expect(TypeError, lambda: qa.quantize(CODES)), [CODES]),
    "dequantize": (lambda: (qa.dequantize(CODES, Q.params), Q.dequantize(out=F_OUT)), [CODES, Q, F_OUT]),
    "dequantize_error": (_expect(ValueError, lambda: Q.dequantize(out=F_OUT[:, ::2])), [Q, F_OUT]),
    "minmax": (lambda: (qa.minmax(X), qa.minmax(X2, axis=1)), [X, X2]),
    "minmax_error": (_expect(ValueError, lambda: qa.minmax(XNAN)), [XNAN]),
    "choose_qparams": (lambda: (qa.choose_qparams(np.float32(-1), np.float32(2)),
                                qa.choose_qparams(LO, HI, axis=0, symmetric=True)), [LO, HI]),
    "choose_qparams_error": (_expect(ValueError, lambda: qa.choose_qparams(np.float32(3), np.float32(2))), []),
    "QParams": (lambda: (qa.QParams(0.1, 3), qa.QParams(SCALES, ZPS, axis=0)), [SCALES, ZPS]),
    "QParams_error": (_expect(ValueError, lambda: qa.QParams(SCALES, ZPS, axis=0, bits=17)), [SCALES, ZPS]),
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
@pytest.mark.parametrize("name", list(CASES))
def test_repeated_calls_do_not_leak(name: str) -> None:
    call, args = CASES[name]
    for _ in range(WARM_UP):
        call()
    gc.collect()
    refs = [sys.getrefcount(a) for a in args]
    before = _rss()
    for _ in range(CALLS):
        call()
    gc.collect()
    growth = _rss() - before
    assert [sys.getrefcount(a) for a in args] == refs, f"{name}: reference counts changed"
    assert growth < MAX_GROWTH, f"{name}: resident set grew by {growth / 2**20:.2f} MiB over {CALLS} calls"

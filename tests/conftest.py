"""Shared fixtures: run a test at every SIMD level this CPU supports; count the calls into qaffine._core;
hypothesis profiles."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import Any, Callable, Iterator, List, Tuple

import numpy as np

import pytest
from hypothesis import HealthCheck, settings

with warnings.catch_warnings():
    # An unknown QAFFINE_SIMD value warns once, at import (tests/test_simd_dispatch.py checks that in a new
    # process); here it must not stop the suite, which runs at the level chosen without it.
    warnings.simplefilter("ignore", RuntimeWarning)
    from qaffine import _core

    import qaffine as qa

SIMD_LEVELS = list(_core.supported_simd_levels())


def result_key(q: "qa.QuantizedArray") -> Tuple[Any, ...]:
    """Everything that makes two QuantizedArrays equal: code bytes, shapes, dtype, packing, parameters, mode."""
    return (q.values.tobytes(), q.values.shape, q.values.dtype.str, q.packed, q.shape,
            np.asarray(q.scale, dtype=np.float32).tobytes(), np.asarray(q.zero_point).astype(np.int64).tobytes(),
            q.params.axis, q.params.block_size)


def outcome(call: Callable[[], Any]) -> Any:
    """Comparable bytes of a call's result (QuantizedArray, array, tuple), or its ValueError / TypeError."""
    try:
        r = call()
    except (ValueError, TypeError) as e:
        return type(e), str(e)
    if isinstance(r, qa.QuantizedArray):
        return result_key(r)
    if isinstance(r, tuple):
        return tuple((np.asarray(v).tobytes(), np.asarray(v).dtype.str, np.shape(v)) for v in r)
    return np.asarray(r).tobytes(), np.asarray(r).dtype.str, np.shape(r)

settings.register_profile("default", deadline=None, max_examples=200)
settings.register_profile(
    "ci", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@contextlib.contextmanager
def simd(level: str) -> Iterator[None]:
    """Runs the block with the kernels of `level` ('scalar', 'avx2', 'avx512', 'neon'), then restores the previous one."""
    previous = _core.simd_level()
    _core._set_simd_level(level)
    try:
        yield
    finally:
        _core._set_simd_level(previous)


@pytest.fixture(params=SIMD_LEVELS)
def simd_level(request: pytest.FixtureRequest) -> Iterator[str]:
    """Forces each supported SIMD level in turn ('scalar', 'avx2', 'avx512', 'neon'), then restores."""
    with simd(request.param):
        yield request.param


class CoreCalls:
    """Stands in for ``qaffine._core`` and records every call of one of its functions: ``calls`` lists
    (name, positional arguments) in call order. Types and constants are handed through uncounted."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self.calls: List[Tuple[str, Tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._core, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return attr(*args, **kwargs)

        return counted

    def names(self) -> List[str]:
        return [name for name, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def core_calls(monkeypatch: pytest.MonkeyPatch) -> CoreCalls:
    """Routes every loaded ``qaffine`` module's ``_core`` through one CoreCalls, wherever the Python code
    that calls the kernels lives. (A test that expects calls sees a bypass as a count of zero.)"""
    proxy = CoreCalls(_core)
    patched = []
    for name, module in list(sys.modules.items()):
        if (name == "qaffine" or name.startswith("qaffine.")) and getattr(module, "_core", None) is _core:
            monkeypatch.setattr(module, "_core", proxy)
            patched.append(name)
    assert patched, "no qaffine module holds _core"
    return proxy

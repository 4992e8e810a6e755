"""Shared fixtures: run a test at every SIMD level this CPU supports; hypothesis profiles."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import pytest
from hypothesis import HealthCheck, settings

from qaffine import _core

SIMD_LEVELS = list(_core.supported_simd_levels())

settings.register_profile("default", deadline=None, max_examples=200)
settings.register_profile(
    "ci", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@contextlib.contextmanager
def simd(level: str) -> Iterator[None]:
    """Runs the block with the kernels of `level` ('scalar', 'avx2', 'avx512'), then restores the previous one."""
    previous = _core.simd_level()
    _core._set_simd_level(level)
    try:
        yield
    finally:
        _core._set_simd_level(previous)


@pytest.fixture(params=SIMD_LEVELS)
def simd_level(request: pytest.FixtureRequest) -> Iterator[str]:
    """Forces each supported SIMD level in turn ('scalar', 'avx2', 'avx512'), then restores."""
    with simd(request.param):
        yield request.param

"""Runtime dispatch: QAFFINE_SIMD lowers the level, never raises it; unknown values warn."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import qaffine as qa
from qaffine import _core

SIMD_LEVELS = list(_core.supported_simd_levels())

ALL_LEVELS = ["scalar", "avx2", "avx512"]


def _level_in_subprocess(value: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QAFFINE_SIMD=value)
    code = "import warnings; warnings.simplefilter('default'); import qaffine as qa; print(qa.simd_level())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)


def test_default_level_is_the_highest_supported() -> None:
    assert qa.simd_level() == _core.max_simd_level() == SIMD_LEVELS[-1]
    assert SIMD_LEVELS[0] == "scalar"
    assert SIMD_LEVELS == ALL_LEVELS[: len(SIMD_LEVELS)]


@pytest.mark.parametrize("wanted", ALL_LEVELS)
def test_env_var_forces_a_level_no_higher_than_the_cpu(wanted: str) -> None:
    got = _level_in_subprocess(wanted).stdout.strip()
    expected = wanted if wanted in SIMD_LEVELS else SIMD_LEVELS[-1]
    assert got == expected


def test_env_var_unknown_value_warns_and_keeps_detected_level() -> None:
    r = _level_in_subprocess("sse9")
    assert r.stdout.strip() == SIMD_LEVELS[-1]
    assert "QAFFINE_SIMD='sse9' is not a SIMD level" in r.stderr


def test_set_level_rejects_unknown_and_unsupported_levels() -> None:
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _core._set_simd_level("sse9")
    for level in ALL_LEVELS:
        if level not in SIMD_LEVELS:
            with pytest.raises(ValueError, match="not supported"):
                _core._set_simd_level(level)
    assert qa.simd_level() == SIMD_LEVELS[-1]


def test_fixture_really_switches_level(simd_level: str) -> None:
    assert qa.simd_level() == simd_level

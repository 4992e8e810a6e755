"""Runtime dispatch: QAFFINE_SIMD lowers the level, never raises it; unknown values warn."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from typing import Optional

import numpy as np
import pytest

import qaffine as qa
from qaffine import _core

from conftest import simd

SIMD_LEVELS = list(_core.supported_simd_levels())

ALL_LEVELS = ["scalar", "avx2", "avx512", "neon"]
# The levels of this machine's architecture, lowest first: a CPU that supports one supports those before it.
ARCH_LEVELS = ["scalar", "neon"] if platform.machine().lower() in ("aarch64", "arm64") else ["scalar", "avx2", "avx512"]


def _level_in_subprocess(value: Optional[str], code: str = "") -> subprocess.CompletedProcess[str]:
    """A new interpreter with QAFFINE_SIMD=value (unset if None): prints qa.simd_level(), then runs `code`."""
    env = {k: v for k, v in os.environ.items() if k != "QAFFINE_SIMD"}
    if value is not None:
        env["QAFFINE_SIMD"] = value
    program = "import warnings; warnings.simplefilter('default'); import qaffine as qa; print(qa.simd_level())\n" + code
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, check=True)


def _expected_level(env_value: Optional[str]) -> str:
    """The level QAFFINE_SIMD=env_value selects: min(that level, the highest supported); unset, unknown or of
    another architecture, the highest supported."""
    if env_value not in ARCH_LEVELS:
        return SIMD_LEVELS[-1]
    return ARCH_LEVELS[min(ARCH_LEVELS.index(env_value), len(SIMD_LEVELS) - 1)]


def test_default_level_is_the_highest_supported() -> None:
    assert _core.max_simd_level() == SIMD_LEVELS[-1]
    assert SIMD_LEVELS[0] == "scalar"
    assert SIMD_LEVELS == ARCH_LEVELS[: len(SIMD_LEVELS)]
    assert _level_in_subprocess(None).stdout.strip() == SIMD_LEVELS[-1]


def test_level_in_use_is_the_env_level_capped_at_the_highest_supported() -> None:
    """Whatever QAFFINE_SIMD this test process was started with."""
    assert qa.simd_level() == _expected_level(os.environ.get("QAFFINE_SIMD"))


@pytest.mark.parametrize("wanted", ALL_LEVELS)
def test_env_var_forces_a_level_no_higher_than_the_cpu(wanted: str) -> None:
    got = _level_in_subprocess(wanted).stdout.strip()
    expected = wanted if wanted in SIMD_LEVELS else SIMD_LEVELS[-1]
    assert got == expected == _expected_level(wanted)


@pytest.mark.parametrize("wanted", SIMD_LEVELS[:-1] or ["scalar"])
def test_env_var_lowers_the_level_the_kernels_run_at(wanted: str) -> None:
    """A new process started with QAFFINE_SIMD below the highest level runs below it: simd_level() says so,
    _set_simd_level() can still raise it to the highest (so the CPU was not the limit), and the codes equal
    those of the same level in this process."""
    code = (
        "import numpy as np\n"
        "x = np.random.default_rng(9).standard_normal(4099).astype(np.float32)\n"
        "print(qa.quantize(x).values.tobytes().hex())\n"
        "from qaffine import _core\n"
        f"_core._set_simd_level({SIMD_LEVELS[-1]!r}); print(qa.simd_level())\n"
    )
    level, codes, raised = _level_in_subprocess(wanted, code).stdout.split()
    assert level == wanted
    assert raised == SIMD_LEVELS[-1]
    if len(SIMD_LEVELS) > 1:
        assert ARCH_LEVELS.index(level) < ARCH_LEVELS.index(raised)
    x = np.random.default_rng(9).standard_normal(4099).astype(np.float32)
    with simd(wanted):
        assert codes == qa.quantize(x).values.tobytes().hex()


def test_env_var_unknown_value_warns_and_keeps_detected_level() -> None:
    r = _level_in_subprocess("sse9")
    assert r.stdout.strip() == SIMD_LEVELS[-1]
    assert "QAFFINE_SIMD='sse9' is not a SIMD level" in r.stderr


def test_set_level_rejects_unknown_levels_and_keeps_the_level() -> None:
    before = qa.simd_level()
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _core._set_simd_level("sse9")
    assert qa.simd_level() == before


def test_set_level_rejects_levels_the_cpu_lacks_and_keeps_the_level() -> None:
    """Always some: the levels of the other architecture, and those above this CPU's highest."""
    before = qa.simd_level()
    lacking = [level for level in ALL_LEVELS if level not in SIMD_LEVELS]
    assert lacking
    for level in lacking:
        with pytest.raises(ValueError, match="not supported"):
            _core._set_simd_level(level)
    assert qa.simd_level() == before


def test_fixture_really_switches_level(simd_level: str) -> None:
    assert qa.simd_level() == simd_level

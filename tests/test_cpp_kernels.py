"""Builds and runs the C++ kernel tests (tests/cpp): every SIMD level against the scalar loop.

Once as shipped (-O3) and once under AddressSanitizer + UndefinedBehaviorSanitizer, with
-Wall -Wextra -Wconversion -pedantic -Werror, so the headers stay warning-free too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from build_tools import tool

CPP_TESTS = Path(__file__).parent / "cpp"

def _build_and_run(build_dir: Path, *, sanitize: bool) -> str:
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        pytest.skip("no C++ compiler on this machine")
    cmake = tool("cmake")
    ninja = tool("ninja")
    configure = [
        cmake, "-S", str(CPP_TESTS), "-B", str(build_dir), "-G", "Ninja",
        f"-DCMAKE_MAKE_PROGRAM={ninja}",
        "-DCMAKE_BUILD_TYPE=" + ("Debug" if sanitize else "Release"),
        "-DQAFFINE_SANITIZE=" + ("ON" if sanitize else "OFF"),
    ]
    for cmd in (configure, [cmake, "--build", str(build_dir)]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1")
    r = subprocess.run([str(build_dir / "test_kernels")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, f"C++ kernel tests failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert " passed, 0 failed" in r.stdout
    return r.stdout


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="the C++ tests are built with GCC/Clang flags")
def test_cpp_kernels_every_level_equals_scalar(tmp_path: Path) -> None:
    out = _build_and_run(tmp_path / "release", sanitize=False)
    passed = int(out.strip().splitlines()[-1].split()[0])
    assert passed > 100_000  # the suite really ran its checks
    # Every SIMD level ran the same checks (tests/test_cpp_aarch64.py compares neon's count with this rule).
    line = next(ln for ln in out.splitlines() if ln.startswith("checks per level:")).split(":", 1)[1].split()
    simd_counts = {line[k]: int(line[k + 1]) for k in range(0, len(line), 2) if line[k] != "scalar"}
    assert len(set(simd_counts.values())) <= 1, simd_counts


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sanitizer runtimes checked on Linux")
def test_cpp_kernels_clean_under_address_and_ub_sanitizers(tmp_path: Path) -> None:
    _build_and_run(tmp_path / "asan", sanitize=True)

"""The C++ core on aarch64, cross-compiled here and run under qemu-user: the kernel tests (tests/cpp) at the
neon and scalar levels, and examples/cpp, which must print what the Python API computes on this machine.

Needs Debian's g++-aarch64-linux-gnu and qemu-user (.ci/run installs them); skipped without them. Binaries are
linked -static, so qemu needs no aarch64 sysroot. Each is built once per session.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest

from test_cpp_package import expected_output, formula_input, parse_output

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "csrc" / "include"
CXX = "aarch64-linux-gnu-g++"
QEMU = "qemu-aarch64"
WARNINGS = ["-Wall", "-Wextra", "-Wconversion", "-pedantic", "-Werror"]

pytestmark = pytest.mark.skipif(
    shutil.which(CXX) is None or shutil.which(QEMU) is None,
    reason=f"needs {CXX} and {QEMU} (Debian: apt-get install g++-aarch64-linux-gnu qemu-user)",
)


def cross_build(source: Path, exe: Path, *flags: str) -> Path:
    """A plain static aarch64 build of one C++17 source against the headers of this tree."""
    cmd = [CXX, "-std=c++17", "-O2", "-static", *flags, f"-I{INCLUDE}", str(source), "-o", str(exe), "-pthread"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stderr[-4000:]}"
    return exe


@pytest.fixture(scope="session")
def aarch64_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aarch64")


@pytest.fixture(scope="session")
def kernel_tests(aarch64_dir: Path) -> Path:
    return cross_build(ROOT / "tests" / "cpp" / "test_kernels.cpp", aarch64_dir / "test_kernels", *WARNINGS)


def checks_per_level(stdout: str) -> Dict[str, int]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("checks per level:"))
    words = line.split(":", 1)[1].split()
    return {words[k]: int(words[k + 1]) for k in range(0, len(words), 2)}


@pytest.mark.slow
def test_kernel_tests_pass_under_qemu_at_neon_and_scalar(kernel_tests: Path) -> None:
    """The whole C++ kernel suite in two shards run side by side (about a minute of emulated CPU)."""
    shards = 2
    procs = [subprocess.Popen([QEMU, str(kernel_tests), f"{k}/{shards}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(shards)]
    outputs: List[str] = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, f"C++ kernel tests failed under qemu:\n{out[-4000:]}\n{err[-4000:]}"
        assert re.search(r"^\d+ passed, 0 failed$", out, re.M), out[-2000:]
        assert "highest SIMD level here: neon" in out
        outputs.append(out)
    per_level: Dict[str, int] = {}
    for out in outputs:
        for level, n in checks_per_level(out).items():
            per_level[level] = per_level.get(level, 0) + n
    # Only scalar and neon exist on aarch64, and every check of a SIMD level's bytes ran at neon: as many as
    # at each x86-64 level (tests/test_cpp_kernels.py), where the same checks run per level.
    assert set(per_level) == {"scalar", "neon"}
    assert per_level["neon"] > 100_000


@pytest.mark.slow
def test_level_detection_and_override_under_qemu(aarch64_dir: Path) -> None:
    """getauxval finds NEON; QAFFINE_SIMD=scalar lowers it, an x86 level or an unknown name keeps it."""
    src = aarch64_dir / "level.cpp"
    src.write_text(
        "#include <qaffine/qaffine.hpp>\n#include <cstdio>\n"
        "int main() { std::printf(\"%s %s %d %d\\n\", qaffine::to_string(qaffine::max_supported_level()),\n"
        "  qaffine::to_string(qaffine::active_level()), int(qaffine::is_supported(qaffine::simd_level::avx2)),\n"
        "  int(qaffine::is_supported(qaffine::simd_level::neon))); }\n"
    )
    exe = cross_build(src, aarch64_dir / "level", *WARNINGS)

    def run(value: Optional[str]) -> List[str]:
        env = {k: v for k, v in os.environ.items() if k != "QAFFINE_SIMD"}
        if value is not None:
            env["QAFFINE_SIMD"] = value
        return subprocess.run([QEMU, str(exe)], capture_output=True, text=True, env=env, check=True).stdout.split()

    assert run(None) == ["neon", "neon", "0", "1"]
    assert run("scalar") == ["neon", "scalar", "0", "1"]
    assert run("neon") == ["neon", "neon", "0", "1"]
    assert run("avx2") == ["neon", "neon", "0", "1"]
    assert run("sse9") == ["neon", "neon", "0", "1"]


@pytest.mark.slow
def test_example_prints_the_same_on_aarch64(aarch64_dir: Path, tmp_path: Path) -> None:
    """A plain `g++ -std=c++17 -O2 -static` build of examples/cpp under qemu prints the scale, zero point and
    checksum that the Python API computes here (x86-64), on its built-in input and on an odd-length file."""
    exe = cross_build(ROOT / "examples" / "cpp" / "main.cpp", aarch64_dir / "quantize_example")
    got = parse_output(subprocess.run([QEMU, str(exe)], capture_output=True, text=True, check=True).stdout)
    assert got.pop("simd_level") == "neon"
    assert got == expected_output(formula_input())
    x = (np.random.default_rng(17).standard_normal(100_003) * 3).astype(np.float32)
    data = tmp_path / "x.f32"
    x.astype("<f4").tofile(data)  # qemu-aarch64 runs little-endian, as x86-64 is
    got = parse_output(subprocess.run([QEMU, str(exe), str(data)], capture_output=True, text=True, check=True).stdout)
    got.pop("simd_level")
    assert got == expected_output(x)

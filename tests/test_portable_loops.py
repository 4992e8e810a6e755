"""The portable loops (namespace portable in the family headers: what the scalar level runs, and all that a
build without a SIMD level has) are vectorised by the compilers: a -O2 build with QAFFINE_DISABLE_SIMD and no
target flags, disassembled, has packed instructions in each loop, on x86-64 (SSE2) and on aarch64 (cross).
Their bytes are checked against the specification by the C++ kernel tests (tests/cpp, level scalar).
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[1]

SOURCE = """
#include <qaffine/dequantize.hpp>
#include <qaffine/minmax.hpp>
#include <qaffine/quantize.hpp>
// One instantiation of each portable loop; GCC keeps them out of line (QAFFINE_PORTABLE_LOOP), Clang inlines
// them into these wrappers.
extern "C" bool loop_quantize(const float* x, std::size_t n, float s, std::int32_t z, std::uint8_t* out) {
    return qaffine::portable::quantize<qaffine::rounding::divide>(x, n, s, z, 0, 255, out);
}
extern "C" float loop_minmax(const float* x, std::size_t n) { return qaffine::portable::minmax(x, n).lo; }
extern "C" void loop_dequantize(const std::uint8_t* q, std::size_t n, float s, std::int32_t z, float* out) {
    qaffine::portable::dequantize(q, n, s, z, out);
}
"""

# A packed instruction each loop cannot do without (its division, its selects, its int-to-float conversion).
X86 = {"quantize": r"\bdivps\b", "minmax": r"\b(minps|cmpltps)\b", "dequantize": r"\bcvtdq2ps\b"}
AARCH64 = {"quantize": r"\bfdiv\s+v\d+\.4s", "minmax": r"\bfcm(gt|ge|lt)\s+v\d+\.4s",
           "dequantize": r"\bscvtf\s+v\d+\.4s"}


def functions(disassembly: str) -> Dict[str, str]:
    """objdump -d -C output split by symbol."""
    out: Dict[str, str] = {}
    name = None
    for line in disassembly.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def loop_code(compiler: List[str], objdump: str, tmp_path: Path) -> Dict[str, str]:
    """The machine code of each portable kernel and of its wrapper, by kernel name."""
    src = tmp_path / "loops.cpp"
    src.write_text(SOURCE)
    obj = tmp_path / "loops.o"
    cmd = [*compiler, "-std=c++17", "-O2", "-DQAFFINE_DISABLE_SIMD", f"-I{ROOT / 'csrc' / 'include'}", "-c",
           str(src), "-o", str(obj)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}"
    dis = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", str(obj)], capture_output=True, text=True,
                         check=True).stdout
    fns = functions(dis)
    code = {}
    for kernel in X86:
        code[kernel] = "".join(body for name, body in fns.items()
                               if name == f"loop_{kernel}" or re.search(rf"qaffine::portable::{kernel}<", name))
        assert code[kernel], f"no code for {kernel} in {sorted(fns)}"
    return code


TOOLCHAINS = [
    pytest.param(["g++"], "objdump", X86, id="x86_64-gcc",
                 marks=pytest.mark.skipif(shutil.which("g++") is None or shutil.which("objdump") is None,
                                          reason="needs g++ and objdump")),
    pytest.param(["clang++"], "objdump", X86, id="x86_64-clang",
                 marks=pytest.mark.skipif(shutil.which("clang++") is None or shutil.which("objdump") is None,
                                          reason="needs clang++ and objdump")),
    pytest.param(["aarch64-linux-gnu-g++"], "aarch64-linux-gnu-objdump", AARCH64, id="aarch64-gcc",
                 marks=pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None
                                          or shutil.which("aarch64-linux-gnu-objdump") is None,
                                          reason="needs g++-aarch64-linux-gnu (Debian)")),
]


@pytest.mark.slow
@pytest.mark.parametrize("compiler, objdump, patterns", TOOLCHAINS)
def test_portable_loops_are_vectorised(compiler: List[str], objdump: str, patterns: Dict[str, str],
                                       tmp_path: Path) -> None:
    if compiler[0] in ("g++", "clang++") and platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the x86-64 patterns need an x86-64 host compiler")
    code = loop_code(compiler, objdump, tmp_path)
    for kernel, pattern in patterns.items():
        assert re.search(pattern, code[kernel]), f"{kernel}: no packed instruction ({pattern}) in:\n{code[kernel][:3000]}"

"""The C++ headers reused natively, from the installed package and from a plain CMake install.

* ``python -m qaffine --includedir / --cmakedir`` and ``qa.get_include() / qa.get_cmake_dir()``;
* examples/cpp built against the *installed* package with CMake (CMAKE_PREFIX_PATH, qaffine_DIR, and
  qaffine_ROOT as scikit-build-core sets it from the ``cmake.root`` entry point), and with a bare compiler
  command; its output (scale, zero point, FNV-1a 64 of the codes) must equal the Python API's on the same
  bytes of input;
* ``cmake -S . -B build`` (C++ only), ctest, ``cmake --install`` to a prefix, and a consumer of that prefix;
* the headers compile warning-free (-Wall -Wextra -Wconversion -pedantic -Werror) with g++ and clang++.
"""

from __future__ import annotations

import doctest
import importlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
from build_tools import tool

import qaffine as qa
from qaffine import _paths
from qaffine.__main__ import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cpp"
EXE = ".exe" if sys.platform == "win32" else ""
WARNING_FLAGS = ["-Wall", "-Wextra", "-Wconversion", "-pedantic", "-Werror"]
gcc_clang_only = pytest.mark.skipif(sys.platform == "win32", reason="GCC/Clang command lines")


# ---------------------------------------------------------------------------------------------- helpers

def _cxx() -> str:
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        pytest.skip("no C++ compiler on this machine")
    return cxx


def _run(cmd: List[str], *, ok: bool = True, env: Optional[Dict[str, str]] = None,
         cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd)
    if ok:
        assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def _cmake_configure(src: Path, build: Path, *defs: str) -> None:
    _cxx()
    cmake = tool("cmake")
    ninja = tool("ninja")
    _run([cmake, "-S", src, "-B", build, "-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}", *defs])


def _cmake_build(build: Path) -> None:
    _run([tool("cmake"), "--build", build])


def _cache_value(build: Path, name: str) -> str:
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} not in {build / 'CMakeCache.txt'}")


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def formula_input(n: int = 1000) -> np.ndarray:
    """main.cpp's input without a file: x[i] = float(((i * 2654435761) mod 2001) - 500) / 256, exact."""
    k = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2001)
    return (k.astype(np.int64) - 500).astype(np.float32) / np.float32(256)


def expected_output(x: np.ndarray) -> Dict[str, str]:
    """What main.cpp prints for x, computed with the Python API."""
    q = qa.quantize(x)
    err = np.max(np.abs(q.dequantize() - x))
    return {
        "count": str(x.size),
        "scale": repr(float(q.scale)),
        "zero_point": str(q.zero_point),
        "fnv1a64": f"0x{fnv1a64(q.values.tobytes()):016x}",
        "max_abs_error": repr(float(err)),
    }


def parse_output(stdout: str) -> Dict[str, str]:
    out = dict(line.split(" ", 1) for line in stdout.strip().splitlines())
    # %.9g gives back the exact float32; compare as Python floats of those float32 values.
    for key in ("scale", "max_abs_error"):
        out[key] = repr(float(np.float32(out[key])))
    return out


def check_example(exe: Path, data_file: Path, x: np.ndarray) -> None:
    """Runs the example on the file and on its built-in formula; compares with the Python API."""
    got = parse_output(_run([exe, data_file]).stdout)
    assert got.pop("simd_level") == qa.simd_level()
    assert got == expected_output(x)
    got = parse_output(_run([exe]).stdout)
    got.pop("simd_level")
    assert got == expected_output(formula_input())


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> "tuple[Path, np.ndarray]":
    """float32 data (odd length: SIMD bodies and tails), written as raw native float32 for main.cpp."""
    x = np.random.default_rng(20240601).standard_normal(100_003).astype(np.float32) * np.float32(3)
    x[17] = np.float32(-7.25)  # some exact values too
    x[18] = np.float32(0.0)
    path = tmp_path_factory.mktemp("data") / "x.f32"
    x.tofile(path)
    assert path.stat().st_size == 4 * x.size
    return path, x


# ------------------------------------------------------------------------------------------- Python side
def test_get_include_and_get_cmake_dir_point_into_the_installed_package() -> None:
    pkg = Path(qa.__file__).resolve().parent
    inc, cmk = Path(qa.get_include()), Path(qa.get_cmake_dir())
    assert inc == pkg / "include" and cmk == pkg / "share" / "cmake" / "qaffine"
    headers = {p.name for p in (inc / "qaffine").glob("*.hpp")}
    assert headers == {p.name for p in (ROOT / "csrc" / "include" / "qaffine").glob("*.hpp")}
    assert {"qaffineConfig.cmake", "qaffineConfigVersion.cmake", "qaffineTargets.cmake"} <= {
        p.name for p in cmk.iterdir()}
    # Header-only: the version file must not pin the pointer size of the machine that built the wheel.
    assert "CMAKE_SIZEOF_VOID_P" not in (cmk / "qaffineConfigVersion.cmake").read_text()


def test_cli_prints_the_paths() -> None:
    for flag, expected in (("--includedir", qa.get_include()), ("--cmakedir", qa.get_cmake_dir())):
        r = _run([sys.executable, "-m", "qaffine", flag])
        assert r.stdout == expected + "\n" and r.stderr == ""
    r = _run([sys.executable, "-m", "qaffine", "--includedir", "--cmakedir"])
    assert r.stdout.splitlines() == [qa.get_include(), qa.get_cmake_dir()]


def test_cli_without_arguments_prints_usage_and_succeeds() -> None:
    r = _run([sys.executable, "-m", "qaffine"])
    assert r.stdout.startswith("usage: python -m qaffine")
    assert "--includedir" in r.stdout and "--cmakedir" in r.stdout
    assert _run([sys.executable, "-m", "qaffine", "--version"]).stdout.strip() == f"qaffine {qa.__version__}"
    r = _run([sys.executable, "-m", "qaffine", "--bogus"], ok=False)
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr


def test_missing_files_give_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_paths, "_PACKAGE_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="C\\+\\+ headers are not installed at .*pip install"):
        qa.get_include()
    with pytest.raises(FileNotFoundError, match="CMake package files are not installed"):
        qa.get_cmake_dir()
    assert cli_main(["--cmakedir"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "python -m qaffine: error: the qaffine CMake package" in captured.err


@pytest.mark.parametrize("module", ["qaffine._paths", "qaffine.__main__"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_cmake_root_entry_point_leads_to_the_config() -> None:
    # scikit-build-core sets <name>_ROOT to the entry point's package folder; find_package then looks in
    # <root>/share/cmake/<name>*/ (configured for real in test_cmake_finds_the_installed_package).
    eps = metadata.entry_points()
    group = eps.select(group="cmake.root") if hasattr(eps, "select") else eps.get("cmake.root", [])
    values = {ep.name: ep.value for ep in group}
    assert values.get("qaffine") == "qaffine"
    root = Path(importlib.import_module(values["qaffine"]).__file__).resolve().parent
    assert (root / "share" / "cmake" / "qaffine" / "qaffineConfig.cmake").is_file()


# ---------------------------------------------------------------------------------- the example, natively
@pytest.mark.slow
@gcc_clang_only
def test_example_built_with_cmake_against_the_installed_package(tmp_path: Path, data) -> None:
    data_file, x = data
    build = tmp_path / "build"
    cmake_dir = _run([sys.executable, "-m", "qaffine", "--cmakedir"]).stdout.strip()
    _cmake_configure(EXAMPLE, build, f"-DCMAKE_PREFIX_PATH={cmake_dir}",
                     "-DCMAKE_CXX_FLAGS=" + " ".join(WARNING_FLAGS))
    assert Path(_cache_value(build, "qaffine_DIR")).resolve() == Path(qa.get_cmake_dir()).resolve()
    _cmake_build(build)
    exe = build / f"quantize_example{EXE}"
    check_example(exe, data_file, x)

    # Forcing the scalar level changes nothing but the level.
    env = dict(os.environ, QAFFINE_SIMD="scalar")
    got = parse_output(_run([exe, data_file], env=env).stdout)
    assert got.pop("simd_level") == "scalar"
    assert got == expected_output(x)

    # Bad input: a message and exit status 1, as the C++ API throws.
    nan_file, empty_file = tmp_path / "nan.f32", tmp_path / "empty.f32"
    np.float32([1.0, np.nan, 2.0]).tofile(nan_file)
    empty_file.write_bytes(b"")
    r = _run([exe, nan_file], ok=False)
    assert r.returncode == 1 and "NaN" in r.stderr and r.stdout == ""
    r = _run([exe, empty_file], ok=False)
    assert r.returncode == 1 and "empty" in r.stderr


@gcc_clang_only
@pytest.mark.parametrize("how", ["qaffine_DIR", "qaffine_ROOT"])
def test_cmake_finds_the_installed_package(tmp_path: Path, how: str) -> None:
    # qaffine_ROOT=<package folder> is what scikit-build-core passes for the cmake.root entry point.
    value = qa.get_cmake_dir() if how == "qaffine_DIR" else str(Path(qa.__file__).resolve().parent)
    _cmake_configure(EXAMPLE, tmp_path / "build", f"-D{how}={value}")
    assert Path(_cache_value(tmp_path / "build", "qaffine_DIR")).resolve() == Path(qa.get_cmake_dir()).resolve()


@gcc_clang_only
def test_example_compiled_with_a_bare_compiler_command(tmp_path: Path, data) -> None:
    data_file, x = data
    include = _run([sys.executable, "-m", "qaffine", "--includedir"]).stdout.strip()
    exe = tmp_path / f"quantize_example{EXE}"
    _run([_cxx(), "-std=c++17", "-O2", *WARNING_FLAGS, f"-I{include}", EXAMPLE / "main.cpp", "-o", exe])
    check_example(exe, data_file, x)


@pytest.mark.slow
@gcc_clang_only
def test_cmake_build_ctest_install_and_consume(tmp_path: Path, data) -> None:
    data_file, x = data
    build, prefix = tmp_path / "build", tmp_path / "prefix"
    _cmake_configure(ROOT, build, "-DQAFFINE_BUILD_PYTHON=OFF", "-DCMAKE_BUILD_TYPE=Release")
    _cmake_build(build)
    ctest = tool("ctest")
    r = _run([ctest, "--test-dir", build, "--output-on-failure"])
    assert "100% tests passed" in r.stdout
    _run([tool("cmake"), "--install", build, "--prefix", prefix])

    installed = {p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file()}
    headers = {f"include/qaffine/{p.name}" for p in (ROOT / "csrc" / "include" / "qaffine").glob("*.hpp")}
    cmake_files = {f"share/cmake/qaffine/{n}" for n in
                   ("qaffineConfig.cmake", "qaffineConfigVersion.cmake", "qaffineTargets.cmake")}
    assert "include/qaffine/qaffine.hpp" in headers
    assert installed == headers | cmake_files  # no Python module, no tests

    consumer = tmp_path / "consumer"
    _cmake_configure(EXAMPLE, consumer, f"-DCMAKE_PREFIX_PATH={prefix}")
    assert Path(_cache_value(consumer, "qaffine_DIR")).resolve() == (prefix / "share" / "cmake" / "qaffine").resolve()
    _cmake_build(consumer)
    check_example(consumer / f"quantize_example{EXE}", data_file, x)


# ------------------------------------------------------------------------------------ warning-free headers
INSTANTIATE_ALL = r"""
#include <qaffine/qaffine.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <type_traits>
#include <vector>

// Every template at one level; returns a checksum of everything computed.
template <class T, class Q>
static unsigned long long exercise(qaffine::simd_level level, std::int32_t qmin, std::int32_t qmax) {
    std::vector<T> x(133), y(133);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(static_cast<int>(i) - 60) / T(8);
    std::vector<Q> q(x.size());
    const qaffine::minmax_result<T> mm = qaffine::minmax(x.data(), x.size(), level);
    const qaffine::qparams p = qaffine::choose_qparams(mm.lo, mm.hi, qmin, qmax);
    unsigned long long sum = qaffine::quantize(x.data(), x.size(), p, q.data(), level) ? 1u : 0u;
    qaffine::dequantize(q.data(), q.size(), p, y.data(), level);
    sum += static_cast<unsigned long long>(static_cast<long long>(y[5] * T(1000)));
    const qaffine::qparams d = qaffine::quantize_dynamic(x.data(), x.size(), q.data(), qmin, qmax, level);
    sum += static_cast<unsigned long long>(d.zero_point);
    const qaffine::qparams e = qaffine::quantize_dynamic(x.data(), x.size(), q.data(),
                                                         qaffine::scheme{qmin, qmax, true, true},
                                                         qaffine::rounding::multiply, level);
    sum += static_cast<unsigned long long>(e.zero_point);
    qaffine::strided_view v;  // every other element, from the last one down
    v.data = reinterpret_cast<const char*>(x.data() + (x.size() - 1));
    v.shape = {67};
    v.strides = {-2 * static_cast<std::ptrdiff_t>(sizeof(T))};
    v.size = 67;
    v.itemsize = sizeof(T);
    const qaffine::dynamic_result r = qaffine::quantize_dynamic_status<T, T>(
        v, qaffine::scheme{qmin, qmax, false, true}, qaffine::rounding::divide, q.data(), level);
    sum += static_cast<unsigned long long>(r.params.zero_point) + static_cast<unsigned long long>(r.status);
    sum += qaffine::quantize_unchecked(x.data(), x.size(), p, q.data(), level) ? 1u : 0u;
    qaffine::dequantize_unchecked(q.data(), q.size(), p, y.data(), level);
    for (Q c : q) sum = sum * 31u + static_cast<std::make_unsigned_t<Q>>(c);  // wraps: unsigned
    return sum;
}

static unsigned long long exercise_all(qaffine::simd_level level) {
    return exercise<float, std::uint8_t>(level, 0, 255) + exercise<float, std::int8_t>(level, -128, 127) +
           exercise<double, std::uint8_t>(level, 0, 255) + exercise<double, std::int8_t>(level, -128, 127) +
           exercise<float, std::uint16_t>(level, 0, 65535) + exercise<float, std::int16_t>(level, -32768, 32767) +
           exercise<double, std::uint16_t>(level, 0, 65535) + exercise<double, std::int16_t>(level, -32768, 32767);
}

int main() {
    const unsigned long long reference = exercise_all(qaffine::simd_level::scalar);
    for (int lv = 0; lv <= static_cast<int>(qaffine::max_supported_level()); ++lv)
        if (exercise_all(static_cast<qaffine::simd_level>(lv)) != reference) return 1;
    qaffine::set_active_level(qaffine::parse_simd_level("scalar"));
    const float one = qaffine::half_to_float(0x3C00);
    std::printf("%llu %s %g %s\n", reference, qaffine::version, static_cast<double>(one),
                qaffine::to_string(qaffine::active_level()));
    return 0;
}
"""


@pytest.mark.slow
@gcc_clang_only
@pytest.mark.parametrize("compiler", ["g++", "clang++"])
def test_headers_compile_warning_free(tmp_path: Path, compiler: str) -> None:
    cxx = shutil.which(compiler)
    if cxx is None:
        pytest.skip(f"{compiler} is not on PATH")
    src = tmp_path / "all.cpp"
    src.write_text(INSTANTIATE_ALL)
    outputs = set()
    # As shipped (SIMD kernels, run at every level this CPU has), the portable scalar-only build (what
    # MSVC and other architectures get), and C++20.
    for i, extra in enumerate(([], ["-DQAFFINE_DISABLE_SIMD"], ["-std=c++20"])):
        exe = tmp_path / f"all{i}{EXE}"
        r = _run([cxx, "-std=c++17", "-O2", *WARNING_FLAGS, *extra, f"-I{ROOT / 'csrc' / 'include'}", src,
                  "-o", exe])
        assert "warning" not in r.stderr, r.stderr
        outputs.add(_run([exe]).stdout)  # exit status 1 if a level disagreed with the scalar loop
    assert len(outputs) == 1, outputs
    assert outputs.pop().split()[1:] == [qa.__version__, "1", "scalar"]

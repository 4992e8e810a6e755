"""What the wheel ships: the Python package, the extension, the C++ headers and the CMake package — no more.

Builds the wheel from this checkout (``pip wheel <repo> --no-deps``, in a temporary build folder), lists it
with zipfile and checks every file against what the source tree says should be there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, Set

import pytest
from build_tools import tool

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_SRC = ROOT / "python" / "qaffine"
HEADERS_SRC = ROOT / "csrc" / "include" / "qaffine"

CMAKE_FILES = {
    "qaffine/share/cmake/qaffine/qaffineConfig.cmake",
    "qaffine/share/cmake/qaffine/qaffineConfigVersion.cmake",
    "qaffine/share/cmake/qaffine/qaffineTargets.cmake",
}
EXTENSION = re.compile(r"qaffine/_core\.[A-Za-z0-9_.-]+\.(so|pyd)$|qaffine/_core\.(so|pyd)$")
DIST_INFO = re.compile(r"qaffine-[^/]+\.dist-info/")
# Nothing from the build or the rest of the repository.
STRAY = re.compile(r"(^|/)(build|tests?|examples|csrc|bindings|__pycache__|CMakeFiles)(/|$)|"
                   r"\.(cpp|cc|c|h|o|a|pyc|ninja|txt)$|CMakeLists|CMakeCache")

@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pip is not available in this environment")
    tmp = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--disable-pip-version-check",
           "-w", str(tmp / "dist"),
           # a private build folder: no reuse of (or interference with) <repo>/build
           f"--config-settings=build-dir={tmp / 'build'}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    (whl,) = (tmp / "dist").glob("qaffine-*.whl")
    return whl


@pytest.fixture(scope="module")
def files(wheel: Path) -> Dict[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        return {name: z.read(name) for name in z.namelist() if not name.endswith("/")}


def _expected_python_files() -> Set[str]:
    """Every module, stub and marker of python/qaffine, as the wheel names them."""
    return {
        "qaffine/" + p.relative_to(PACKAGE_SRC).as_posix()
        for p in PACKAGE_SRC.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix in (".py", ".pyi") or p.name == "py.typed")
    }


@pytest.mark.slow
def test_wheel_holds_exactly_the_package_headers_and_cmake_files(files: Dict[str, bytes]) -> None:
    names = set(files)
    headers = {f"qaffine/include/qaffine/{p.name}" for p in HEADERS_SRC.glob("*.hpp")}
    python = _expected_python_files()

    for required in ("qaffine/__init__.py", "qaffine/__main__.py", "qaffine/_paths.py", "qaffine/py.typed",
                     "qaffine/_core.pyi", "qaffine/include/qaffine/qaffine.hpp"):
        assert required in names, f"{required} missing from the wheel"
    assert headers <= names, f"headers missing: {sorted(headers - names)}"
    assert CMAKE_FILES <= names, f"CMake files missing: {sorted(CMAKE_FILES - names)}"
    assert python <= names, f"Python files missing: {sorted(python - names)}"
    extensions = [n for n in names if EXTENSION.match(n)]
    assert len(extensions) == 1, extensions

    stray = sorted(n for n in names - headers - CMAKE_FILES - python - set(extensions) if not DIST_INFO.match(n))
    assert stray == [], f"unexpected files in the wheel: {stray}"
    assert [n for n in names if not DIST_INFO.match(n) and STRAY.search(n)] == []
    (dist_info,) = {n.split("/")[0] for n in names if DIST_INFO.match(n)}
    for f in ("METADATA", "WHEEL", "RECORD", "entry_points.txt"):
        assert f"{dist_info}/{f}" in names


@pytest.mark.slow
def test_wheel_cmake_package_is_relocatable_and_found_through_the_entry_point(
        wheel: Path, files: Dict[str, bytes], tmp_path: Path) -> None:
    (entry_points,) = [v for n, v in files.items() if n.endswith(".dist-info/entry_points.txt")]
    assert re.search(r"\[cmake\.root\]\s*\nqaffine\s*=\s*qaffine\s*(\n|$)", entry_points.decode())

    version_file = files["qaffine/share/cmake/qaffine/qaffineConfigVersion.cmake"].decode()
    assert "CMAKE_SIZEOF_VOID_P" not in version_file  # ARCH_INDEPENDENT: header-only
    targets = files["qaffine/share/cmake/qaffine/qaffineTargets.cmake"].decode()
    assert "add_library(qaffine::qaffine INTERFACE IMPORTED)" in targets
    assert '"${_IMPORT_PREFIX}/qaffine/include"' in targets
    build_dir = wheel.parent.parent / "build"
    for name in CMAKE_FILES:  # no path of the machine that built the wheel
        text = files[name].decode()
        assert str(ROOT) not in text and str(build_dir) not in text and "site-packages" not in text, name

    # Unpacked anywhere, the package folder works as qaffine_ROOT (what scikit-build-core passes).
    cmake, ninja = tool("cmake"), tool("ninja")
    site = tmp_path / "somewhere else"
    for name, data in files.items():
        if name.startswith("qaffine/"):
            (site / name).parent.mkdir(parents=True, exist_ok=True)
            (site / name).write_bytes(data)
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18...3.31)\n"
        "project(probe LANGUAGES NONE)\n"
        "find_package(qaffine 0.1 CONFIG REQUIRED)\n"
        "get_target_property(inc qaffine::qaffine INTERFACE_INCLUDE_DIRECTORIES)\n"
        'message(STATUS "qaffine include: ${inc}")\n'
    )
    r = subprocess.run([cmake, "-S", str(probe), "-B", str(probe / "build"), "-G", "Ninja",
                        f"-DCMAKE_MAKE_PROGRAM={ninja}", f"-Dqaffine_ROOT={site / 'qaffine'}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"qaffine include: {(site / 'qaffine' / 'include').as_posix()}" in r.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux policies are Linux's")
def test_wheel_meets_a_manylinux_policy(wheel: Path) -> None:
    """`auditwheel show` finds the extension consistent with a manylinux policy (which one depends on the
    glibc and libstdc++ of the machine that built it; README, "Wheels")."""
    auditwheel = shutil.which("auditwheel") or shutil.which("auditwheel", path=str(Path(sys.executable).parent))
    if auditwheel is None:
        pytest.skip("auditwheel is not installed (pip install auditwheel)")
    r = subprocess.run([auditwheel, "show", str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r'consistent with the\s+following platform tag:\s+"(manylinux_\d+_\d+_\w+)"', r.stdout)
    assert m, f"no manylinux policy fits the wheel:\n{r.stdout}"

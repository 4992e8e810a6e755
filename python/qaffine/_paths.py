"""Where the installed package keeps the C++ headers and the CMake package, for native builds.

The wheel installs the header-only C++17 core next to the Python code::

    qaffine/include/qaffine/*.hpp                 -> get_include()
    qaffine/share/cmake/qaffine/qaffineConfig.cmake -> get_cmake_dir()

From a shell, ``python -m qaffine --includedir`` and ``python -m qaffine --cmakedir`` print the same paths.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["get_cmake_dir", "get_include"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _existing(path: Path, marker: str, what: str) -> str:
    if not (path / marker).is_file():
        raise FileNotFoundError(
            f"the qaffine {what} are not installed at {path} (no {marker} there). They come with the wheel: "
            "reinstall with `pip install qaffine` (or `pip install .` in a checkout). Importing qaffine from a "
            "source tree or an editable install does not provide them; the headers of a checkout are in "
            "csrc/include, and `cmake --install build --prefix P` installs headers and CMake package to P."
        )
    return str(path)


def get_include() -> str:
    """The directory to put on the compiler's include path: it holds ``qaffine/qaffine.hpp``.

    Raises FileNotFoundError if the headers are not installed there (e.g. a source-tree import).

    >>> import os, qaffine as qa
    >>> os.path.isfile(os.path.join(qa.get_include(), "qaffine", "qaffine.hpp"))
    True
    """
    return _existing(_PACKAGE_DIR / "include", "qaffine/qaffine.hpp", "C++ headers")


def get_cmake_dir() -> str:
    """The directory holding ``qaffineConfig.cmake``: pass it as ``-Dqaffine_DIR=`` or in ``CMAKE_PREFIX_PATH``,
    then ``find_package(qaffine CONFIG REQUIRED)`` provides the target ``qaffine::qaffine``.

    Raises FileNotFoundError if the CMake package is not installed there (e.g. a source-tree import).

    >>> import os, qaffine as qa
    >>> sorted(f for f in os.listdir(qa.get_cmake_dir()) if f.startswith("qaffineConfig"))
    ['qaffineConfig.cmake', 'qaffineConfigVersion.cmake']
    """
    return _existing(_PACKAGE_DIR / "share" / "cmake" / "qaffine", "qaffineConfig.cmake", "CMake package files")

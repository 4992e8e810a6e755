"""Build tools for the tests that compile C++: cmake, ctest and ninja from the test extra's PyPI packages."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest


def tool(name: str) -> str:
    """The `cmake`, `ctest` or `ninja` executable of the PyPI package (test extra), else from PATH."""
    module, attr = ("ninja", "BIN_DIR") if name == "ninja" else ("cmake", "CMAKE_BIN_DIR")
    try:
        path = Path(getattr(importlib.import_module(module), attr)) / name
        if path.exists():
            return str(path)
    except (ImportError, AttributeError):
        pass
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the test extra (pip install '.[test]')")
    return found

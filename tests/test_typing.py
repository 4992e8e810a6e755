"""``mypy --strict`` passes on the package (python/qaffine, with the _core.pyi stubs).

mypy is part of the ``test`` extra: a missing mypy is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "python" / "qaffine"
# The modules of the command line, save/load and the error report (their own test, so that a failure
# elsewhere in the package does not hide a regression here).
CLI_MODULES = ["__main__.py", "_cli.py", "_demo.py", "_io.py", "_report.py", "_stream.py"]


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> List[str]:
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("mypy is not installed: pip install '.[test]' (the test extra includes it)")
    cache = tmp_path_factory.mktemp("mypy_cache")
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), "--no-error-summary",
         "--hide-error-context", "--show-error-codes", str(PACKAGE)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "MYPY_FORCE_COLOR": "0"},
    )
    assert r.returncode in (0, 1), f"mypy crashed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return [line for line in r.stdout.splitlines() if re.search(r": error: ", line)]


@pytest.mark.slow
def test_mypy_strict_cli_modules(mypy_errors: List[str]) -> None:
    mine = [e for e in mypy_errors if Path(e.split(":", 1)[0]).name in CLI_MODULES]
    assert not mine, "\n".join(mine)


@pytest.mark.slow
def test_mypy_strict_whole_package(mypy_errors: List[str]) -> None:
    assert not mypy_errors, f"{len(mypy_errors)} mypy --strict errors:\n" + "\n".join(mypy_errors)

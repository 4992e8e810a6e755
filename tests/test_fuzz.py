"""Runs the atheris fuzz target tests/fuzz_api.py for 60 s (QAFFINE_FUZZ_SECONDS) in a subprocess.

The target checks: no crash, no exception but ValueError / TypeError, no warning, results equal across SIMD
levels and memory layouts, inputs never modified. A finding ends the run with a non-zero status and the
input that triggered it (printed base64; the file is written to the test's tmp_path); replay it with
``python tests/fuzz_api.py <file>``. Skips where atheris is not installed (the test extra installs it on
Linux x86-64 with Python < 3.13).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_TARGET = Path(__file__).with_name("fuzz_api.py")
SECONDS = int(os.environ.get("QAFFINE_FUZZ_SECONDS", "60"))
SEED = int(os.environ.get("QAFFINE_FUZZ_SEED", "20261128"))  # 0: libFuzzer picks one


@pytest.mark.slow
def test_fuzz_python_api(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    # libFuzzer's RSS limit reads getrusage's peak, which on Linux a child inherits from its parent: after the
    # >2^31-element test the pytest process's 10 GB peak made every run "out of memory" at once
    # (regression: test_fuzz_not_fooled_by_the_parents_peak_rss). The allocation limit checks this process's
    # own mallocs instead; tests/test_leaks.py covers growth.
    cmd = [sys.executable, str(FUZZ_TARGET), f"-max_total_time={SECONDS}", f"-seed={SEED}", "-rss_limit_mb=0",
           "-malloc_limit_mb=3072", "-timeout=60", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=SECONDS + 240)
    log = r.stdout + r.stderr
    findings = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    tail = "\n".join(line for line in log.splitlines() if not line.startswith(("#", "INFO:", "WARNING:")))[-6000:]
    assert r.returncode == 0 and not findings, f"fuzzer exit status {r.returncode}, findings {findings}:\n{tail}"
    assert "Done" in log, log[-3000:]


def test_fuzz_not_fooled_by_the_parents_peak_rss() -> None:
    """The fuzzer command must not use libFuzzer's RSS limit (see test_fuzz_python_api)."""
    import inspect

    source = inspect.getsource(test_fuzz_python_api)
    assert '"-rss_limit_mb=0"' in source and "-malloc_limit_mb=" in source

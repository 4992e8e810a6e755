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
    cmd = [sys.executable, str(FUZZ_TARGET), f"-max_total_time={SECONDS}", f"-seed={SEED}", "-rss_limit_mb=3072",
           "-timeout=60", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=SECONDS + 240)
    log = r.stdout + r.stderr
    findings = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    tail = "\n".join(line for line in log.splitlines() if not line.startswith(("#", "INFO:", "WARNING:")))[-6000:]
    assert r.returncode == 0 and not findings, f"fuzzer exit status {r.returncode}, findings {findings}:\n{tail}"
    assert "Done" in log, log[-3000:]

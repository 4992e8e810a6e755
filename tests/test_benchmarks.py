"""The benchmark scripts run: tiny sizes, in subprocesses. No time is asserted, only that they work."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{script} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


@pytest.mark.slow
def test_compare_runs_every_workload_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = run("compare.py", "--sizes", "1000", "--repeats", "2", "--threads", "1,2", "--axis-shape", "16x64",
            "--lowbit-rows", "16", "--json", str(out))
    header = next(line for line in r.stdout.splitlines() if line.startswith("workload"))
    for column in ("n", "threads", "floor ms", "qaffine ms", "qa out= ms", "numpy seed ms", "numpy ms", "qa/floor"):
        assert column in header
    assert "whole Python call, 1,000 float32" in r.stdout

    doc: Dict[str, Any] = json.loads(out.read_text())
    assert {"meta", "call_overhead_us", "skipped", "results"} <= doc.keys()
    meta = doc["meta"]
    assert {"cpu", "cpus", "date", "versions", "simd_level", "supported_simd_levels", "threads"} <= meta.keys()
    assert {"qaffine", "numpy", "torch", "onnxruntime"} <= meta["versions"].keys()
    assert meta["simd_level"] in ("scalar", "avx2", "avx512", "neon")
    assert meta["threads"] == [1, 2]
    assert {"quantize", "quantize_out", "dequantize", "dequantize_out"} <= doc["call_overhead_us"].keys()
    for why in doc["skipped"].values():  # a missing peer is a note, not a failure
        assert why and "skipped" in r.stdout and why in r.stdout

    results: List[Dict[str, Any]] = doc["results"]
    assert {row["workload"] for row in results} == {"per-tensor", "dequantize", "per-axis", "per-block", "per-tensor-16bit"}
    assert {row["block_size"] for row in results if row["workload"] == "per-block"} == {32, 64, 128}
    assert {row["threads"] for row in results} == {1, 2}
    for row in results:
        assert {"n", "shape", "threads", "times_ms", "ratios", "floor_ms", "floor_parts_ms", "qaffine_over_floor",
                "repeats", "mismatches", "notes"} <= row.keys()
        times = row["times_ms"]
        assert times["qaffine"] > 0 and times["qaffine_out"] > 0 and times["numpy"] > 0
        for peer, ms in times.items():
            assert (ms is None) == (peer not in row["ratios"] and peer != "qaffine")
        # Same-run oracles: NumPy done right and ONNX Runtime give qaffine's codes exactly.
        assert row["mismatches"]["numpy"] == 0
        assert row["mismatches"].get("onnxruntime", 0) == 0
        assert row["mismatches"]["qaffine_out"] == 0
        if "torch" in doc["skipped"]:
            assert times["torch"] is None
    lowbit = doc["lowbit"]  # the low-bit table: every block size, packed and unpacked, the floor
    assert "low-bit, 1 thread" in r.stdout
    assert {f"B={b}" in row["case"] for row in lowbit for b in (32, 64, 128)} >= {True}
    assert all(row["ms"] > 0 for row in lowbit)
    assert any("4-bit packed" in row["case"] and row["ratio"] is not None for row in lowbit)
    assert any(row["case"].strip().startswith("floor") for row in lowbit)
    # ONNX Runtime's quantizer takes no thread count: its target row runs pinned to one CPU (or says it is not),
    # next to the row as it comes; both labels carry the threads it kept busy.
    ort = [row for row in lowbit if "quantize_matmul_4bits" in row["case"]]
    targeted = [row for row in ort if row["target"]]
    assert len(targeted) * 2 == len(ort)
    assert all(("on 1 CPU" in row["case"] or "not pinned" in row["case"]) and row["target"] == "≥ 12"
               for row in targeted)
    assert all("threads busy" in row["case"] and row["ratio"] is not None for row in ort)


def test_compare_markdown_table() -> None:
    r = run("compare.py", "--sizes", "1000", "--repeats", "1", "--threads", "1", "--workloads", "per-tensor",
            "--markdown")
    lines = r.stdout.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("| workload |"))
    assert lines[i + 1].startswith("|---|")
    assert lines[i + 2].startswith("| per-tensor | 1e3 | 1 |")
    assert lines[i].count("|") == lines[i + 2].count("|")


@pytest.mark.slow
def test_memory_reports_every_case(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    r = run("memory.py", "--n", "300000", "--threads", "2", "--json", str(out))
    assert "overhead MiB" in r.stdout
    doc = json.loads(out.read_text())
    cases = {row["case"] for row in doc["rows"]}
    assert cases == {"quantize", "quantize out=", "dequantize", "per-axis", "per-block B=32", "per-block B=128",
                     "packed 4-bit B=32", "packed 4-bit B=32 dequantize"}
    for row in doc["rows"]:
        assert {"n", "threads", "input_bytes", "output_bytes", "baseline_bytes", "maxrss_bytes", "overhead_bytes",
                "ok"} <= row.keys()
        assert row["threads"] == 2
        # the input is resident at the peak; the resident set moves by a few pages between the two readings
        # (allocator pages given back after the baseline), hence 64 KiB of slack
        assert row["maxrss_bytes"] >= row["baseline_bytes"] + row["input_bytes"] - 64 * 1024
        assert row["case"] in r.stdout


@pytest.mark.slow
def test_checkpoint_benchmark_prints_its_table(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    pytest.importorskip("ml_dtypes")
    out = tmp_path / "checkpoint.json"
    r = run("checkpoint.py", "--mib", "4", "--tensor-mib", "1", "--repeats", "1", "--dir", str(tmp_path),
            "--json", str(out))
    assert "safetensors read + write (peer)" in r.stdout and "qaffine quantize" in r.stdout
    doc = json.loads(out.read_text())
    assert doc["tensors"] == 4 and doc["largest_tensor_bytes"] == 1 << 20
    assert {"safetensors read + write (peer)", "qaffine quantize", "qaffine dequantize (bf16 out)"} == doc["results"].keys()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json"]  # the temporary folder is gone


def test_compare_calibration_section_runs_alone(tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    r = run("compare.py", "--workloads", "calibrate", "--sizes", "20000", "--repeats", "1", "--json", str(out))
    assert "calibration, one thread" in r.stdout and "qa mse" in r.stdout
    assert sum(line.startswith("target ") for line in r.stdout.splitlines()) == 4
    rows = json.loads(out.read_text())["calibration"]
    assert {row["data"] for row in rows} == {"normal", "student_t3", "laplace+outliers", "relu_lognormal"}
    for row in rows:
        assert {"qa minmax", "qa percentile", "qa mse", "qa entropy"} <= row["cells"].keys()
        assert all(c["ms"] > 0 and math.isfinite(c["sqnr_db"]) for c in row["cells"].values())

#!/usr/bin/env python3
"""Peak memory of qaffine calls on 1e8 float32, each in a fresh subprocess.

Each case runs in its own interpreter: imports, a warm-up call on a small array (so code, thread pool and
allocator arenas are in place), then the resident set size is read (the baseline), the input is allocated
and filled in place (no temporaries), and the call runs once. Then

    overhead = ru_maxrss − baseline − (input bytes + output bytes)

is the memory the call needed beyond its input and its result (codes plus parameters). The target is at most
16 MiB, whatever n: the kernels stream, they do not copy.

    python benchmarks/memory.py                 # n = 1e8: 400 MB of float32 in, 100 MB of codes out
    python benchmarks/memory.py --n 1e6 --json memory.json

Linux (ru_maxrss in KiB, /proc/self/status); elsewhere ru_maxrss units are handled, the baseline is
approximate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

MIB = 1 << 20
LIMIT_MIB = 16.0
CASES = ("quantize", "quantize out=", "dequantize", "per-axis", "per-block B=32", "per-block B=128",
         "packed 4-bit B=32", "packed 4-bit B=32 dequantize")
BLOCK_COLS = 4096


def _maxrss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024


def _rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return _maxrss_bytes()


def _shape_2d(n: int) -> Tuple[int, int]:
    if n >= BLOCK_COLS:
        return n // BLOCK_COLS, BLOCK_COLS
    return 1, max(128, n // 128 * 128)


def child(case: str, n: int, threads: Optional[int]) -> Dict[str, Any]:
    """Runs one case in this (fresh) process and measures it."""
    import gc

    import numpy as np

    import qaffine as qa

    qa.set_num_threads(threads)
    chunk = 1 << 20
    rng = np.random.default_rng(0)

    def floats(shape: Tuple[int, ...]) -> np.ndarray:
        a = np.empty(shape, dtype=np.float32)
        flat = a.reshape(-1)
        for i in range(0, flat.size, chunk):
            rng.standard_normal(out=flat[i:i + chunk], dtype=np.float32)
        return a

    def codes(size: int) -> np.ndarray:
        a = np.empty(size, dtype=np.uint8)
        for i in range(0, size, chunk):
            j = min(size, i + chunk)
            a[i:j] = rng.integers(0, 256, size=j - i, dtype=np.uint8)
        return a

    params = qa.QParams(scale=np.float32(0.02), zero_point=128)
    # Each case: (make its input of m elements, run the call on it); the call returns the arrays it produced.
    ops: Dict[str, Tuple[Callable[[int], Any], Callable[[Any], Tuple[np.ndarray, ...]]]] = {}

    def per_tensor(x: np.ndarray) -> Tuple[np.ndarray, ...]:
        q = qa.quantize(x)
        return (q.values,)

    def per_tensor_out(inp: Tuple[np.ndarray, np.ndarray]) -> Tuple[np.ndarray, ...]:
        x, buf = inp
        qa.quantize(x, out=buf)
        return (buf,)

    def dequantize(c: np.ndarray) -> Tuple[np.ndarray, ...]:
        return (qa.dequantize(c, params),)

    def grouped(axis: Optional[int] = None, block_size: Optional[int] = None
                ) -> Callable[[np.ndarray], Tuple[np.ndarray, ...]]:
        def run(x: np.ndarray) -> Tuple[np.ndarray, ...]:
            q = qa.quantize(x, axis=axis, block_size=block_size)
            return q.values, np.asarray(q.scale), np.asarray(q.zero_point)
        return run

    def touched_codes(shape: Tuple[int, ...]) -> np.ndarray:
        b = np.empty(shape, dtype=np.uint8)
        b.fill(0)
        return b

    ops["quantize"] = (lambda m: floats((m,)), per_tensor)
    ops["quantize out="] = (lambda m: (floats((m,)), touched_codes((m,))), per_tensor_out)
    ops["dequantize"] = (codes, dequantize)
    ops["per-axis"] = (lambda m: floats(_shape_2d(m)), grouped(axis=0))
    ops["per-block B=32"] = (lambda m: floats(_shape_2d(m)), grouped(block_size=32))
    ops["per-block B=128"] = (lambda m: floats(_shape_2d(m)), grouped(block_size=128))

    # Packed 4-bit per block: the kernels write / read the packed bytes (n / 2) directly.
    def packed_quantize(x: np.ndarray) -> Tuple[np.ndarray, ...]:
        q = qa.quantize(x, block_size=32, bits=4, packed=True)
        return q.values, np.asarray(q.scale), np.asarray(q.zero_point)

    def packed_input(m: int) -> Any:
        rows, cols = _shape_2d(m)
        pshape = (rows, -(-cols // 32))
        p = qa.QParams(np.full(pshape, 0.02, dtype=np.float32), np.full(pshape, 8, dtype=np.int32), block_size=32,
                       bits=4)
        return qa.QuantizedArray(codes(-(-rows * cols // 2)), p, shape=(rows, cols), packed=True)

    def packed_dequantize(q: Any) -> Tuple[np.ndarray, ...]:
        return (q.dequantize(),)

    ops["packed 4-bit B=32"] = (lambda m: floats(_shape_2d(m)), packed_quantize)
    ops["packed 4-bit B=32 dequantize"] = (packed_input, packed_dequantize)
    make, run = ops[case]

    def nbytes(obj: Any) -> int:
        if isinstance(obj, tuple):
            return sum(nbytes(o) for o in obj)
        if isinstance(obj, qa.QuantizedArray):  # packed bytes and parameters
            return int(obj.nbytes) + int(np.asarray(obj.scale).nbytes) + int(np.asarray(obj.zero_point).nbytes)
        return int(obj.nbytes)

    # Warm-up on a small input of the same kind: above the per-thread split size, so the pool starts.
    warm = make(min(n, 2 * (1 << 17) * qa.get_num_threads()))
    run(warm)
    del warm
    gc.collect()

    baseline = _rss_bytes()
    inp = make(n)
    in_bytes = nbytes(inp)
    if case == "quantize out=":
        in_bytes = nbytes(inp[0])  # the preallocated codes buffer is the output
    before = _maxrss_bytes()
    out = run(inp)
    peak = _maxrss_bytes()
    out_bytes = nbytes(out)
    return {
        "case": case,
        "n": int(np.prod(inp[0].shape if isinstance(inp, tuple) else inp.shape)),  # logical shape if packed
        "threads": qa.get_num_threads(),
        "simd_level": qa.simd_level(),
        "baseline_bytes": baseline,
        "maxrss_before_call_bytes": before,
        "maxrss_bytes": peak,
        "input_bytes": in_bytes,
        "output_bytes": out_bytes,
        "overhead_bytes": peak - baseline - in_bytes - out_bytes,
    }


def run_case(case: str, n: int, threads: Optional[int]) -> Dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case, "--n", str(n)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    # A fixed mmap threshold (glibc): large arrays are mapped afresh, never carved from heap pages the warm-up
    # freed, which would hide the input's pages from the peak (and make the overhead negative at small n).
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=os.environ.get("MALLOC_MMAP_THRESHOLD_", "131072"))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"case {case!r} failed (exit {r.returncode}):\n{r.stderr}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def render(rows: List[Dict[str, Any]], limit_mib: float, markdown: bool) -> str:
    head = ["case", "n", "threads", "input MiB", "output MiB", "baseline MiB", "ru_maxrss MiB", "overhead MiB",
            f"≤ {limit_mib:g} MiB"]
    body = []
    for r in rows:
        body.append([r["case"], f"{r['n']:,}", str(r["threads"])] + [
            f"{r[k] / MIB:.1f}" for k in ("input_bytes", "output_bytes", "baseline_bytes", "maxrss_bytes",
                                          "overhead_bytes")] + ["yes" if r["ok"] else "NO"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths)] + [fmt(b) for b in body])


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=float, default=1e8, help="elements (default 1e8)")
    ap.add_argument("--threads", type=int, default=None, help="qaffine threads (default: qaffine's default)")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of: {', '.join(CASES)}")
    ap.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help="overhead allowed (default 16)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any case is over the limit")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    n = int(args.n)
    if n < 1 or n != args.n:
        ap.error("--n must be a positive integer")
    if args.child:
        print(json.dumps(child(args.child, n, args.threads)))
        return 0
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    bad = [c for c in cases if c not in CASES]
    if bad:
        ap.error(f"unknown case(s) {bad}; choose from {', '.join(CASES)}")

    rows = []
    for case in cases:
        r = run_case(case, n, args.threads)
        r["ok"] = r["overhead_bytes"] <= args.limit_mib * MIB
        rows.append(r)
    print(f"peak memory beyond input + output, one fresh process per case ({rows[0]['simd_level']})")
    print(render(rows, args.limit_mib, args.markdown))
    print("overhead = ru_maxrss − baseline (RSS before the input existed) − input − output "
          "(codes + scales + zero points).")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"limit_mib": args.limit_mib, "rows": rows}, f, indent=1)
            f.write("\n")
    if args.strict and not all(r["ok"] for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

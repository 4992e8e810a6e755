#!/usr/bin/env python3
"""A bfloat16 safetensors checkpoint through ``qaffine quantize`` against safetensors alone.

The checkpoint (default 1 GiB: 16 tensors of 4096 x 8192 bfloat16) is quantized per block (B = 64), 4-bit,
packed, by the command line in a fresh process; the peer is the I/O alone, with the safetensors library: read
every tensor of the checkpoint (``safe_open(...).get_tensor``) and write a file of the result's tensors
(codes, scales, zero points of the same dtypes and shapes) with ``safetensors.numpy.save_file``. Each run is a
fresh subprocess timed from before its imports, the file warm in the page cache (one read before the runs),
the minimum of ``--repeats`` runs is kept. Targets: qaffine within 1.5x of the peer's time, peak RSS (VmHWM, the child's own) at most
3x the largest tensor + 64 MiB.

    python benchmarks/checkpoint.py                     # 1 GiB in a temporary folder
    python benchmarks/checkpoint.py --mib 64 --repeats 1 --json checkpoint.json

Needs safetensors and ml_dtypes (``pip install ".[test]"``). Linux (VmHWM in /proc/self/status).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

MIB = 1 << 20
COLS = 8192

_PEAK = """
def _peak_mib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
"""

_MAKE = """
import sys, numpy as np, ml_dtypes
from qaffine._safetensors import Writer
path, rows, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
names = [f"model.layers.{i}.weight" for i in range(count)]
w = Writer(path, [(n, "BF16", (rows, %d)) for n in names], {"format": "pt"})
for n in names:  # a tensor at a time, in slices: the file never is in memory
    for r in range(0, rows, 256):
        k = min(256, rows - r)
        w.write_array(n, (rng.standard_normal((k, %d), dtype=np.float32) * 0.02).astype(ml_dtypes.bfloat16))
w.close()
""" % (COLS, COLS)

# Each child's clock starts before its imports: both pay for NumPy, ml_dtypes (1-2 s here) and their own.
_PEER = "import time; t0 = time.perf_counter()" + _PEAK + """
import sys, numpy as np, ml_dtypes  # ml_dtypes first: safetensors then knows bfloat16
from safetensors import safe_open
from safetensors.numpy import save_file
src, dst = sys.argv[1], sys.argv[2]
t1 = time.perf_counter()
out = {}
with safe_open(src, framework="np") as f:
    for name in f.keys():
        x = f.get_tensor(name)
        rows, cols = x.shape
        codes = np.empty(x.size // 2, np.uint8)
        codes[:] = 7  # the output's bytes are made, as a quantizer makes them
        out[name + ".codes"] = codes
        out[name + ".scale"] = np.full((rows, cols // 64), 0.01, np.float32)
        out[name + ".zero_point"] = np.full((rows, cols // 64), 8, np.int32)
        del x
save_file(out, dst, metadata={"format": "pt"})
print(time.perf_counter() - t1, time.perf_counter() - t0, _peak_mib())
"""

_QAFFINE = "import time; t0 = time.perf_counter()" + _PEAK + """
import sys, ml_dtypes  # imported by the command for bfloat16 tensors anyway: here, before the work clock
from qaffine.__main__ import main
args = sys.argv[1:]
t1 = time.perf_counter()
status = main(args)
assert status == 0
print(time.perf_counter() - t1, time.perf_counter() - t0, _peak_mib())
"""


def _child(code: str, *args: str) -> List[float]:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"a benchmark child failed:\n{r.stdout}\n{r.stderr}")
    return [float(v) for v in r.stdout.split()[-3:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=1024, help="checkpoint size in MiB (default 1024)")
    ap.add_argument("--tensor-mib", type=int, default=64, help="size of each tensor in MiB (default 64)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each command; the minimum is kept")
    ap.add_argument("--dir", help="folder for the files (default: a temporary one, removed afterwards)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    rows = max(1, args.tensor_mib * MIB // (2 * COLS))
    count = max(1, args.mib // max(args.tensor_mib, 1))
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        src = os.path.join(d, "model.safetensors")
        subprocess.run([sys.executable, "-c", _MAKE, src, str(rows), str(count)], check=True)
        size = os.path.getsize(src)
        largest = rows * COLS * 2
        with open(src, "rb") as f:  # warm the page cache for every run alike
            while f.read(64 * MIB):
                pass
        cases: Dict[str, List[str]] = {
            "safetensors read + write (peer)": [_PEER, src, os.path.join(d, "peer.safetensors")],
            "qaffine quantize": [_QAFFINE, "quantize", src, "-o", os.path.join(d, "q.safetensors"), "--block-size",
                                 "64", "--bits", "4", "--packed", "-q"],
        }
        cases["qaffine dequantize (bf16 out)"] = [_QAFFINE, "dequantize", os.path.join(d, "q.safetensors"), "-o",
                                                  os.path.join(d, "back.safetensors"), "-q"]
        results: Dict[str, Dict[str, float]] = {}
        for _ in range(args.repeats):  # interleaved, so that a busy moment of the machine hits every command
            for name, cmd in cases.items():
                work, whole, peak = _child(*cmd)
                r = results.setdefault(name, {"seconds": work, "with_imports": whole, "peak_mib": peak})
                r["seconds"], r["with_imports"] = min(r["seconds"], work), min(r["with_imports"], whole)
                r["peak_mib"] = min(r["peak_mib"], peak)

    peer = results["safetensors read + write (peer)"]
    limit = 3 * largest / MIB + 64
    print(f"checkpoint: {count} bfloat16 tensors of ({rows}, {COLS}) = {size / MIB:,.0f} MiB; per block B = 64, "
          f"4-bit, packed; minimum of {args.repeats} runs, each a fresh process, file in the page cache")
    print(f"{'command':34} {'seconds':>8} {'x peer':>7} {'s + imports':>12} {'x peer':>7} {'peak RSS MiB':>13} "
          f"{'RSS target MiB':>15}")
    for name, r in results.items():
        print(f"{name:34} {r['seconds']:8.2f} {r['seconds'] / peer['seconds']:7.2f} {r['with_imports']:12.2f} "
              f"{r['with_imports'] / peer['with_imports']:7.2f} {r['peak_mib']:13.0f} {limit:15.0f}")
    print("seconds: the work, after the imports; s + imports: from before the imports (ml_dtypes, safetensors, "
          "qaffine). Targets: qaffine quantize <= 1.50x peer; peak RSS <= 3 x largest tensor + 64 MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoint_bytes": size, "largest_tensor_bytes": largest, "tensors": count,
                       "repeats": args.repeats, "rss_target_mib": limit, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()

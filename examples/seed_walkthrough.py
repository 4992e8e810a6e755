"""The "How to quantize" notebook, step by step, with qaffine doing each step.

    python examples/seed_walkthrough.py            # prints every step; writes no file
    python examples/seed_walkthrough.py --out DIR  # also writes DIR/quantization.png, the demo's picture

The data are the notebook's own ten values, the same as ``python -m qaffine demo`` uses; the picture is the
one the demo draws (it needs matplotlib: pip install "qaffine[plot]").
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

import qaffine as qa
from qaffine._demo import NOTEBOOK_VALUES, PNG_NAME, notebook_formulas, run_demo, write_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help=f"also write the demo's picture to DIR/{PNG_NAME}")
    args = parser.parse_args()

    print("The notebook's ten values (its unseeded np.random.uniform(0, 5, 10), kept as it printed them):")
    print(NOTEBOOK_VALUES)
    x = NOTEBOOK_VALUES.astype(np.float32)
    print("x = their float32 copy, the dtype qaffine quantizes (as ONNX DynamicQuantizeLinear does)\n")

    alpha, beta = qa.minmax(x)
    print(f"1. alpha, beta = qa.minmax(x)              -> alpha = {alpha}, beta = {beta}")
    print("   alpha_q, beta_q = 0, 255 (uint8 codes)")
    p = qa.choose_qparams(alpha, beta)
    print("2. p = qa.choose_qparams(alpha, beta)       -> the range is widened to contain 0: "
          "[min(0, alpha), max(0, beta)]")
    print(f"   s = (beta' - alpha') / (beta_q - alpha_q) = {p.scale}")
    print(f"   z = round(alpha_q - alpha' / s)           = {p.zero_point}")
    q = qa.quantize(x, p)
    print(f"3. q = qa.quantize(x, p).values             -> {q.values}")
    print("   (q = clip(round_half_even(x / s) + z, 0, 255); qa.quantize(x) does steps 1-3 in one call)")
    xh = q.dequantize()
    print(f"4. x_hat = q.dequantize()                   -> {np.round(xh, 4)}")
    err = xh.astype(np.float64) - x
    print(f"   max |x_hat - x| = {np.abs(err).max():.6f} <= s/2 = {p.scale / 2:.6f}\n")

    nb = notebook_formulas(NOTEBOOK_VALUES)
    assert nb is not None
    err_nb = nb.x_hat - NOTEBOOK_VALUES
    print(f"The notebook's formulas (tight range, truncation): s = {nb.scale:.9f}, z = {nb.zero_point}")
    print(f"   codes {nb.codes}, max |error| = {np.abs(err_nb).max():.6f} (truncation: up to a whole step)")
    t = qa.quantize(x, include_zero=False)
    err_t = t.dequantize().astype(np.float64) - x
    print(f"qa.quantize(x, include_zero=False):               s = {t.scale:.9f}, z = {t.zero_point}")
    print(f"   codes {t.values}, max |error| = {np.abs(err_t).max():.6f} <= s/2 = {t.scale / 2:.6f}")

    print(f"\n{'x':>10} {'code':>5} {'x_hat':>10} {'error':>10} | {'notebook':>8} {'error':>10}")
    for xi, qi, xhi, ei, qn, en in zip(x, q.values, xh, err, nb.codes, err_nb):
        print(f"{xi:10.6f} {qi:5d} {xhi:10.6f} {ei:+10.6f} | {qn:8d} {en:+10.6f}")

    if args.out is None:
        print(f"\nNo file written: python -m qaffine demo draws these values into {PNG_NAME}, "
              f"or run this with --out DIR.")
        return
    try:
        path = write_png(run_demo(out_dir=None, stream=io.StringIO()), args.out / PNG_NAME)
    except ImportError as e:
        print(f"\n(no picture: {e})")
        return
    print(f"\nwrote {path} (the picture of python -m qaffine demo)")


if __name__ == "__main__":
    main()

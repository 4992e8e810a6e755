"""The "How to quantize" notebook, step by step, with qaffine doing each step.

    python examples/seed_walkthrough.py            # prints every step, writes quantization.png
    python examples/seed_walkthrough.py --out DIR  # puts the picture in DIR

The plot needs matplotlib (pip install "qaffine[plot]"); without it the steps are still printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import qaffine as qa

# The notebook's ten values (np.sort(np.random.uniform(0, 5, 10)) as printed in its second cell).
SEED_VALUES = np.array(
    [0.28301402, 0.77873235, 1.12233709, 1.39843439, 1.6999251,
     1.74000648, 2.00392207, 3.13781879, 3.16970945, 3.34183501],
    dtype=np.float32,
)


def seed_codes(x: np.ndarray) -> tuple[float, int, np.ndarray]:
    """The notebook's own formulas: tight range [min, max], then truncation by astype(uint8)."""
    beta, alpha = float(np.max(x)), float(np.min(x))
    beta_q, alpha_q = 255, 0
    s = (beta - alpha) / (beta_q - alpha_q)
    z = round((beta * alpha_q - alpha * beta_q) / (beta - alpha))
    q = np.clip((x / s) + z, alpha_q, beta_q).astype(np.uint8)
    return s, z, q


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for quantization.png")
    args = parser.parse_args()

    x = SEED_VALUES
    print(f"x (float32, {x.size} values):\n  {x}")
    print(f"SIMD level in use: {qa.simd_level()}\n")

    alpha, beta = qa.minmax(x)
    print(f"1. alpha, beta = qa.minmax(x)              -> alpha = {alpha}, beta = {beta}")
    print("   alpha_q, beta_q = 0, 255 (uint8 codes)")
    p = qa.choose_qparams(alpha, beta)
    print("2. p = qa.choose_qparams(alpha, beta)       -> the range is widened to contain 0: [min(0, alpha), max(0, beta)]")
    print(f"   s = (beta' - alpha') / (beta_q - alpha_q) = {p.scale}")
    print(f"   z = round(alpha_q - alpha' / s)           = {p.zero_point}")
    q = qa.quantize(x, p)
    print(f"3. q = qa.quantize(x, p).values             -> {q.values}")
    print("   (q = clip(round_half_even(x / s) + z, 0, 255); qa.quantize(x) does steps 1-3 in one call)")
    xh = q.dequantize()
    print(f"4. x_hat = q.dequantize()                   -> {np.round(xh, 4)}")
    err = xh - x
    print(f"   max |x_hat - x| = {np.abs(err).max():.6f} <= s/2 = {p.scale / 2:.6f}\n")

    s_seed, z_seed, q_seed = seed_codes(x)
    err_seed = s_seed * (q_seed.astype(np.int64) - z_seed) - x
    print(f"The notebook's formulas (tight range, truncation): s = {s_seed:.9f}, z = {z_seed}")
    print(f"   codes {q_seed}, max |error| = {np.abs(err_seed).max():.6f} (truncation: up to a whole step)")
    print(f"\n{'x':>10} {'code':>5} {'x_hat':>10} {'error':>10} {'seed code':>10}")
    for xi, qi, xhi, ei, qs in zip(x, q.values, xh, err, q_seed):
        print(f"{xi:10.6f} {qi:5d} {xhi:10.6f} {ei:+10.6f} {qs:10d}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('\n(no plot: install matplotlib, e.g. pip install "qaffine[plot]")')
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    idx = np.arange(x.size)
    axes[0].scatter(x, q.values, color="tab:blue")
    for xi, qi in zip(x, q.values):
        axes[0].annotate(str(qi), (xi, qi), textcoords="offset points", xytext=(4, -10), fontsize=8)
    axes[0].set(title="fp32 -> uint8 mapping", xlabel="x (float32)", ylabel="code q")
    axes[1].scatter(idx, x, label="x", marker="o")
    axes[1].scatter(idx, xh, label="dequantized x_hat", marker="x")
    axes[1].set(title="fp32 and dequantized", xlabel="index", ylabel="value")
    axes[1].legend()
    axes[2].bar(idx - 0.2, err, width=0.4, label="qaffine (round half to even)")
    axes[2].bar(idx + 0.2, err_seed, width=0.4, label="notebook (truncation)")
    axes[2].axhline(p.scale / 2, color="gray", ls="--", lw=0.8)
    axes[2].axhline(-p.scale / 2, color="gray", ls="--", lw=0.8)
    axes[2].set(title="error x_hat - x (dashed: ±s/2)", xlabel="index")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "quantization.png"
    fig.savefig(path, dpi=110)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

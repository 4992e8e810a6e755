"""Regenerates docs/quantization.png, the picture in the README: ``python -m qaffine demo`` with no options
(the notebook's ten values).

    python docs/make_demo_png.py            # writes docs/quantization.png
    python docs/make_demo_png.py --out DIR  # writes DIR/quantization.png

Needs qaffine installed with the plot extra (pip install ".[plot]").
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from qaffine._demo import run_demo

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="folder for quantization.png (default: docs/)")
    args = parser.parse_args()
    result = run_demo(out_dir=args.out, stream=io.StringIO())  # the defaults of `python -m qaffine demo`
    if result.png is None:
        raise SystemExit('matplotlib is missing: pip install "qaffine[plot]"')
    print(f"wrote {result.png}")


if __name__ == "__main__":
    main()

"""``python -m qaffine demo``: the "How to quantize" notebook end to end, with qaffine doing each step."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import IO, Any, Optional, Tuple

import numpy as np
import numpy.typing as npt

from ._api import QuantizedArray, choose_qparams, minmax, quantize
from ._io import PathLike, atomic_output
from ._report import QuantizationError, _display_available, _matplotlib, draw, error

__all__ = ["DemoResult", "demo_values", "run_demo", "seed_codes"]

PNG_NAME = "quantization.png"


@dataclass(frozen=True)
class DemoResult:
    """What the demo computed: the data, both parameter choices, and the figure (None without matplotlib)."""

    x: npt.NDArray[np.float32]
    q: QuantizedArray
    tight: QuantizedArray
    error: QuantizationError
    tight_error: QuantizationError
    figure: Any
    png: Optional[str]


def demo_values(n: int = 10, low: float = 0.0, high: float = 5.0, seed: int = 0) -> npt.NDArray[np.float32]:
    """The notebook's data: ``n`` uniform values in [low, high), sorted, as float32.

    >>> from qaffine._demo import demo_values
    >>> demo_values(4, 0, 5, seed=0)
    array([0.08263817, 0.20486762, 1.3489336 , 3.1848085 ], dtype=float32)
    """
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"--low and --high must be finite with low <= high, got {low} and {high}")
    return np.sort(np.random.default_rng(seed).uniform(low, high, n)).astype(np.float32)


def seed_codes(x: npt.NDArray[Any]) -> Optional[Tuple[float, int, npt.NDArray[np.uint8]]]:
    """The notebook's own formulas (in float64): tight range [min, max], truncation by ``astype(uint8)``.

    None for constant data, where they divide by zero.

    >>> import numpy as np
    >>> from qaffine._demo import seed_codes
    >>> s, z, q = seed_codes(np.float32([0.28301402, 1.6999251, 3.34183501]))
    >>> round(s, 9), z, q
    (0.011995376, -24, array([  0, 117, 254], dtype=uint8))
    """
    v = np.asarray(x, dtype=np.float64)
    beta, alpha = float(np.max(v)), float(np.min(v))
    if beta == alpha:
        return None
    beta_q, alpha_q = 255, 0
    s = (beta - alpha) / (beta_q - alpha_q)
    z = round((beta * alpha_q - alpha * beta_q) / (beta - alpha))
    q = np.clip((v / s) + z, alpha_q, beta_q).astype(np.uint8)
    return s, int(z), q


class _Printer:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        try:
            "αβx̂│".encode(getattr(stream, "encoding", None) or "ascii")
            self.fancy = True
        except (UnicodeEncodeError, LookupError):
            self.fancy = False

    def __call__(self, text: str = "") -> None:
        if not self.fancy:
            for a, b in (("α_q", "alpha_q"), ("β_q", "beta_q"), ("α", "alpha"), ("β", "beta"), ("x̂", "x_hat"),
                         ("│", "|"), ("·", "*"), ("−", "-"), ("→", "->"), ("≤", "<=")):
                text = text.replace(a, b)
        print(text, file=self.stream)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def run_demo(
    x: Optional[npt.ArrayLike] = None,
    *,
    n: int = 10,
    low: float = 0.0,
    high: float = 5.0,
    seed: int = 0,
    out_dir: Optional[PathLike] = ".",
    show: bool = False,
    stream: Optional[IO[str]] = None,
) -> DemoResult:
    """Runs the notebook on ``x`` (default :func:`demo_values` ``(n, low, high, seed)``): prints every step
    and a table, writes ``quantization.png`` into ``out_dir`` (None: no file), opens a window if ``show``.

    >>> import io
    >>> from qaffine._demo import run_demo
    >>> r = run_demo(out_dir=None, stream=io.StringIO())
    >>> int(r.q.zero_point), int(r.tight.zero_point), len(r.figure.axes) if r.figure else 3
    (0, -5, 3)
    """
    out = _Printer(stream if stream is not None else sys.stdout)
    if x is None:
        data = demo_values(n, low, high, seed)
        origin = f"np.sort(np.random.default_rng({seed}).uniform({low}, {high}, {n})).astype(np.float32)"
    else:
        data = np.asarray(x, dtype=np.float32).reshape(-1)
        origin = "given"
    out(f"qaffine demo: {data.size} values, {origin}")
    with np.printoptions(precision=4, suppress=True, linewidth=100, threshold=40):
        out(f"x = {data}")
    out()

    alpha, beta = minmax(data)
    p = choose_qparams(alpha, beta)
    pt = choose_qparams(alpha, beta, include_zero=False)
    q = quantize(data, p)
    tight = quantize(data, pt)
    lo, hi = min(0.0, float(alpha)), max(0.0, float(beta))
    out(f"1. α, β = qa.minmax(x)                 α = {_fmt(float(alpha))}, β = {_fmt(float(beta))}")
    out(f"   α_q, β_q = 0, 255                   8-bit uint8 codes")
    out(f"2. p = qa.choose_qparams(α, β)         s = {float(p.scale):.9f}, z = {p.zero_point:<4d}"
        f"  range [min(0, α), max(0, β)] = [{_fmt(lo)}, {_fmt(hi)}]")
    out(f"   tight: include_zero=False           s = {float(pt.scale):.9f}, z = {pt.zero_point:<4d}"
        f"  range [α, β] (the notebook's choice)")
    notebook = seed_codes(data)
    if notebook is not None:
        s_seed, z_seed, q_seed = notebook
        out(f"   the notebook's formulas (float64)   s = {s_seed:.9f}, z = {z_seed:<4d}"
            f"  then truncation: q = uint8(clip(x / s + z))")
    else:
        out("   the notebook's formulas divide by zero here: all values are equal")
    out("3. q = qa.quantize(x, p)               q = clip(round_half_even(x / s) + z, α_q, β_q)")
    out("4. x̂ = q.dequantize()                  x̂ = s · (q − z)")
    out()

    x_hat = q.dequantize()
    t_hat = tight.dequantize()
    x64 = data.astype(np.float64)
    head = f"{'x':>10} {'code':>5} {'x̂':>10} {'error':>10} │ {'tight':>5} {'x̂':>10} {'error':>10}"
    if notebook is not None:
        seed_hat = s_seed * (q_seed.astype(np.int64) - z_seed)
        head += f" │ {'seed':>5} {'error':>10}"
    out(head)
    limit = 40
    for i in range(min(data.size, limit)):
        row = (f"{data[i]:10.6f} {int(q.values[i]):5d} {x_hat[i]:10.6f} {x_hat[i] - x64[i]:+10.6f} │ "
               f"{int(tight.values[i]):5d} {t_hat[i]:10.6f} {t_hat[i] - x64[i]:+10.6f}")
        if notebook is not None:
            row += f" │ {int(q_seed[i]):5d} {seed_hat[i] - x64[i]:+10.6f}"
        out(row)
    if data.size > limit:
        out(f"... ({data.size - limit} more rows)")
    out()
    e, et = error(data, q), error(data, tight)
    out(f"range includes 0 (default): {e}")
    out(f"   max |error| {e.max_abs:.6f} ≤ s/2 = {float(p.scale) / 2:.6f}")
    out(f"tight range:                {et}")
    out(f"   max |error| {et.max_abs:.6f} ≤ s/2 = {float(pt.scale) / 2:.6f}")
    if notebook is not None:
        seed_err = float(np.max(np.abs(seed_hat - x64)))
        out(f"the notebook (truncation):  max |error| {seed_err:.6f}, up to a whole step s = {s_seed:.6f}")
        with np.printoptions(linewidth=100, threshold=40):
            out(f"   The notebook's formulas (tight range, truncation): s = {s_seed:.9f}, z = {z_seed}")
            out(f"   codes {q_seed}")

    figure = None
    png = None
    try:
        mfig = _matplotlib("the demo's plot")
    except ImportError as err:
        out(f"\n(no plot: {err})")
        return DemoResult(data, q, tight, e, et, None, None)
    if show and _display_available():
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(15, 4.5))
    else:
        if show:
            print("qaffine demo: no display found (DISPLAY is not set); not opening a window", file=sys.stderr)
        figure = mfig.Figure(figsize=(15, 4.5))
    draw(figure, data, q)
    if out_dir is not None:
        os.makedirs(os.fspath(out_dir), exist_ok=True)
        png = os.path.join(os.fspath(out_dir), PNG_NAME)
        with atomic_output(png) as tmp:
            figure.savefig(tmp, dpi=110, format="png", metadata={"Software": None})  # reproducible bytes
        out(f"\nwrote {png} (three panels: x → code, x and x̂, error histogram)")
    if show and _display_available():
        import matplotlib.pyplot as plt

        plt.show()
    return DemoResult(data, q, tight, e, et, figure, png)

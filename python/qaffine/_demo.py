"""``python -m qaffine demo``: the "How to quantize" notebook end to end, its numbers beside qaffine's."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import IO, Any, Optional

import numpy as np
import numpy.typing as npt

from ._api import QuantizedArray, choose_qparams, minmax, quantize
from ._io import PathLike, atomic_output
from ._report import QuantizationError, _display_available, _matplotlib, _sample, error

__all__ = ["NOTEBOOK_VALUES", "DemoResult", "NotebookResult", "demo_values", "draw_demo", "notebook_formulas",
           "run_demo", "write_png"]

PNG_NAME = "quantization.png"

# The notebook's data. Its generator was unseeded (np.sort(np.random.uniform(0.0, 5.0, 10))), so what it
# printed is the only record of it: the smallest and largest value as its third cell prints them in full
# (print(beta, alpha): 0.28301401533430914 and 3.341835014788046), the eight others as its second cell
# prints the array (8 significant digits). float64, as the notebook computed.
NOTEBOOK_VALUES: npt.NDArray[np.float64] = np.array(
    [0.28301401533430914, 0.77873235, 1.12233709, 1.39843439, 1.6999251,
     1.74000648, 2.00392207, 3.13781879, 3.16970945, 3.341835014788046],
    dtype=np.float64,
)
NOTEBOOK_DATA = "the notebook's ten values, as it printed them (its random generator was unseeded)"
DEFAULT_N, DEFAULT_LOW, DEFAULT_HIGH, DEFAULT_SEED = 10, 0.0, 5.0, 0


@dataclass(frozen=True)
class NotebookResult:
    """The notebook's formulas on the data (float64): tight range [α, β], truncation by ``astype(uint8)``."""

    alpha: float
    beta: float
    alpha_q: int
    beta_q: int
    scale: float
    zero_point: int
    codes: npt.NDArray[np.uint8]
    x_hat: npt.NDArray[np.float64]


@dataclass(frozen=True)
class DemoResult:
    """What the demo computed: the data (float64 ``values``, float32 ``x`` that qaffine quantizes), qaffine's
    default (``q``) and tight (``tight``) codes, the notebook's (None for constant data, where its formulas
    divide by zero), and the figure (None without matplotlib) with the path it was written to."""

    values: npt.NDArray[np.float64]
    x: npt.NDArray[np.float32]
    q: QuantizedArray
    tight: QuantizedArray
    error: QuantizationError
    tight_error: QuantizationError
    notebook: Optional[NotebookResult]
    figure: Any
    png: Optional[str]


def demo_values(n: int = DEFAULT_N, low: float = DEFAULT_LOW, high: float = DEFAULT_HIGH,
                seed: int = DEFAULT_SEED) -> npt.NDArray[np.float64]:
    """Random data the notebook's way: ``n`` uniform values in [low, high), sorted, float64.

    >>> from qaffine._demo import demo_values
    >>> demo_values(4, 0, 5, seed=0)
    array([0.08263818, 0.20486762, 1.34893357, 3.18480844])
    """
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"--low and --high must be finite with low <= high, got {low} and {high}")
    return np.sort(np.random.default_rng(seed).uniform(low, high, n))


def notebook_formulas(values: npt.ArrayLike) -> Optional[NotebookResult]:
    """The notebook's cells 3 to 10 on ``values``, in float64. None for constant data (they divide by zero).

    >>> from qaffine._demo import NOTEBOOK_VALUES, notebook_formulas
    >>> r = notebook_formulas(NOTEBOOK_VALUES)
    >>> r.beta, r.alpha, r.beta_q, r.alpha_q
    (3.341835014788046, 0.28301401533430914, 255, 0)
    >>> r.scale, r.zero_point
    (0.011995376468446027, -24)
    >>> r.codes
    array([  0,  40,  69,  92, 117, 121, 143, 237, 240, 254], dtype=uint8)
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    beta, alpha = float(np.max(v)), float(np.min(v))
    if beta == alpha:
        return None
    beta_q, alpha_q = 2 ** 8 - 1, 0
    s = (beta - alpha) / (beta_q - alpha_q)
    z = round((beta * alpha_q - alpha * beta_q) / (beta - alpha))
    q = np.clip((v / s) + z, alpha_q, beta_q).astype(np.uint8)
    # The notebook's s*(q_values - z) relies on NumPy 1's promotion of uint8 - (negative int) to int16.
    x_hat = (s * (q.astype(np.int64) - z)).astype(np.float64)
    return NotebookResult(alpha, beta, alpha_q, beta_q, s, int(z), q, x_hat)


class _Printer:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        try:
            "αβx̂│·−≤".encode(getattr(stream, "encoding", None) or "ascii")
            self.fancy = True
        except (UnicodeEncodeError, LookupError):
            self.fancy = False

    def __call__(self, text: str = "") -> None:
        if not self.fancy:
            for a, b in (("α_q", "alpha_q"), ("β_q", "beta_q"), ("α", "alpha"), ("β", "beta"), ("x̂", "x_hat"),
                         ("│", "|"), ("·", "*"), ("−", "-"), ("→", "->"), ("≤", "<=")):
                text = text.replace(a, b)
        print(text, file=self.stream)


def _errors(result: DemoResult) -> "dict[str, npt.NDArray[np.float64]]":
    """Per-value x̂ − x, in float64: the notebook's against its float64 data, qaffine's against float32 x."""
    x64 = result.x.astype(np.float64)
    errs = {}
    if result.notebook is not None:
        errs["notebook"] = result.notebook.x_hat - result.values
    errs["tight"] = result.tight.dequantize().astype(np.float64) - x64
    errs["default"] = result.q.dequantize().astype(np.float64) - x64
    return errs


_LABELS = {
    "notebook": "the notebook: truncation, range [α, β]",
    "tight": "qaffine include_zero=False: rounding, range [α, β]",
    "default": "qaffine default (ONNX): rounding, range [min(0, α), max(0, β)]",
}
_STYLE = {
    "notebook": dict(color="tab:red", marker="s"),
    "tight": dict(color="tab:green", marker="^"),
    "default": dict(color="tab:blue", marker="o"),
}


def draw_demo(fig: Any, result: DemoResult) -> None:
    """The demo's four panels on ``fig``: the notebook's three (the values by index, the codes, the
    dequantized values) and the per-value error x̂ − x of the notebook's truncation beside qaffine's rounding."""
    n = result.x.size
    idx = _sample(n)
    few = n <= 20
    size = 36 if few else 4
    nb = result.notebook
    ax_x, ax_q, ax_hat, ax_err = fig.subplots(2, 2, sharex=True).reshape(-1)

    # 1. The values by index (the notebook's left panels).
    ax_x.scatter(idx, result.values[idx], s=size, color="black", label="x")
    if few:
        for i in idx:
            ax_x.annotate(f"{result.values[i]:.2f}", (i, result.values[i]), textcoords="offset points",
                          xytext=(-6, 6), ha="right", fontsize=8)
    ax_x.set(title="the data x (fp32 values)", ylabel="value")

    # 2. The codes by index: the notebook's truncated codes beside qaffine's.
    code_series = [("default", result.q.codes().reshape(-1))]
    if nb is not None:
        code_series.insert(0, ("notebook", nb.codes))
    for (name, codes), dy in zip(code_series, (-12, 6)):
        ax_q.scatter(idx, codes[idx], s=size, label=_LABELS[name], **_STYLE[name])
        if few:
            for i in idx:
                ax_q.annotate(str(int(codes[i])), (i, codes[i]), textcoords="offset points",
                              xytext=(6 if dy < 0 else -6, dy), ha="left" if dy < 0 else "right",
                              fontsize=8, color=_STYLE[name]["color"])
    ax_q.set(title="codes q (uint8)", ylabel="code", ylim=(-25, 280))
    ax_q.legend(fontsize=8, loc="lower right")

    # 3. The dequantized values x̂ = s·(q − z) over the data.
    ax_hat.scatter(idx, result.values[idx], s=size * 3, facecolors="none", edgecolors="gray", label="x")
    hats = [("default", result.q.dequantize().reshape(-1))]
    if nb is not None:
        hats.insert(0, ("notebook", nb.x_hat))
    for name, hat in hats:
        ax_hat.scatter(idx, hat[idx], s=size / 2, label=_LABELS[name].split(":")[0] + " x̂", **_STYLE[name])
    ax_hat.set(title="dequantized x̂ = s·(q − z) and x", xlabel="index", ylabel="value")
    ax_hat.legend(fontsize=8, loc="upper left")

    # 4. The error x̂ − x, on its own axis: about s/2 = 0.006 here, invisible on the 0-to-5 axes above.
    errs = _errors(result)
    width = 0.8 / len(errs)
    for k, (name, err) in enumerate(errs.items()):
        if few:
            ax_err.bar(idx + (k - (len(errs) - 1) / 2) * width, err[idx], width=width, label=_LABELS[name],
                       color=_STYLE[name]["color"])
        else:
            ax_err.scatter(idx, err[idx], s=size, label=_LABELS[name], **_STYLE[name])
    s = float(result.tight.scale)
    ax_err.axhline(0, color="black", lw=0.6)
    ax_err.axhline(s / 2, color="gray", ls="--", lw=0.8, label=f"±s/2 of the range [α, β] (s = {s:.4g})")
    ax_err.axhline(-s / 2, color="gray", ls="--", lw=0.8)
    ax_err.set(title="error x̂ − x per value (its own axis)", xlabel="index", ylabel="error")
    biggest = max(float(np.max(np.abs(e))) for e in errs.values())
    top = max(biggest, s / 2) * 1.25 or 1.0
    ax_err.set_ylim(-top, top * 1.6)  # headroom for the legend above the bars
    ax_err.legend(fontsize=7, loc="upper left")
    if few:
        ax_err.set_xticks(np.arange(n))

    fig.suptitle(f"{n:,} values: the notebook's quantization beside qaffine's" if nb is not None
                 else f"{n:,} values quantized by qaffine")
    fig.tight_layout()


FIGSIZE = (13, 8.5)


def write_png(result: DemoResult, path: PathLike, figure: Any = None) -> str:
    """Writes the demo's figure for ``result`` (``figure`` if already drawn) to ``path`` as a PNG with
    reproducible bytes; returns the path."""
    if figure is None:
        figure = _matplotlib("the demo's plot").Figure(figsize=FIGSIZE)
        draw_demo(figure, result)
    target = os.fspath(path)
    folder = os.path.dirname(target)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with atomic_output(target) as tmp:
        figure.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    return target


def _compute(values: npt.NDArray[np.float64]) -> DemoResult:
    x = values.astype(np.float32)
    alpha, beta = minmax(x)
    q = quantize(x, choose_qparams(alpha, beta))
    tight = quantize(x, choose_qparams(alpha, beta, include_zero=False))
    return DemoResult(values, x, q, tight, error(x, q), error(x, tight), notebook_formulas(values), None, None)


def run_demo(
    x: Optional[npt.ArrayLike] = None,
    *,
    random: bool = False,
    n: Optional[int] = None,
    low: Optional[float] = None,
    high: Optional[float] = None,
    seed: Optional[int] = None,
    out_dir: Optional[PathLike] = ".",
    show: bool = False,
    stream: Optional[IO[str]] = None,
) -> DemoResult:
    """Runs the notebook on :data:`NOTEBOOK_VALUES` (or on ``x``; or, if ``random`` or any of ``n``, ``low``,
    ``high``, ``seed`` is given, on :func:`demo_values` with 10, 0, 5, 0 for the ones not given): prints the
    notebook's numbers beside qaffine's and a table, writes ``quantization.png`` into ``out_dir`` (None: no
    file), opens a window if ``show``.

    >>> import io
    >>> from qaffine._demo import run_demo
    >>> r = run_demo(out_dir=None, stream=io.StringIO())
    >>> r.notebook.scale, r.notebook.zero_point, int(r.q.zero_point), int(r.tight.zero_point)
    (0.011995376468446027, -24, 0, -24)
    """
    out = _Printer(stream if stream is not None else sys.stdout)
    if x is not None:
        values = np.asarray(x, dtype=np.float64).reshape(-1)
        origin = f"{values.size} given values"
    elif random or any(v is not None for v in (n, low, high, seed)):
        n_, low_, high_, seed_ = (DEFAULT_N if n is None else n, DEFAULT_LOW if low is None else low,
                                  DEFAULT_HIGH if high is None else high, DEFAULT_SEED if seed is None else seed)
        values = demo_values(n_, low_, high_, seed_)
        origin = f"{n_} random values, np.sort(np.random.default_rng({seed_}).uniform({low_:g}, {high_:g}, {n_}))"
    else:
        values = NOTEBOOK_VALUES
        origin = NOTEBOOK_DATA
    r = _compute(values)
    _print(out, r, origin)

    try:
        mfig = _matplotlib("the demo's plot")
    except ImportError as err:
        out(f"\n(no plot: {err})")
        return r
    window = show and _display_available()
    if show and not window:
        print("qaffine demo: no display found (DISPLAY is not set); not opening a window", file=sys.stderr)
    if window:
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=FIGSIZE)
    else:
        figure = mfig.Figure(figsize=FIGSIZE)
    draw_demo(figure, r)
    png = None
    if out_dir is not None:
        png = write_png(r, os.path.join(os.fspath(out_dir), PNG_NAME), figure)
        out(f"\nwrote {png}: the values, codes and dequantized values by index (the notebook's plots) and the "
            "error of each value")
    if window:
        plt.show()
    return DemoResult(r.values, r.x, r.q, r.tight, r.error, r.tight_error, r.notebook, figure, png)


def _pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded to ``width`` columns on screen (a combining circumflex takes none)."""
    fill = " " * max(0, width - len(text.replace("\u0302", "")))
    return fill + text if right else text + fill


def _num(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".") if v != 0 else "0"


def _print(out: _Printer, r: DemoResult, origin: str) -> None:
    nb = r.notebook
    out(f"qaffine demo: {origin}")
    with np.printoptions(precision=8, linewidth=75, threshold=40):  # NumPy's defaults, as the notebook printed
        out(f"x = {r.values}")
    out("qaffine quantizes x as float32 (the input of ONNX DynamicQuantizeLinear); the notebook's formulas run "
        "in float64.")
    out()
    p, pt = r.q.params, r.tight.params
    alpha, beta = minmax(r.x)
    lo, hi = min(0.0, float(alpha)), max(0.0, float(beta))
    w = 26

    def row(label: str, notebook: str, default: str, tight: str) -> None:
        out((_pad(label, 14) + _pad(notebook, w) + _pad(default, w) + tight).rstrip())

    row("", "the notebook", "qaffine default (ONNX)", "qaffine include_zero=False")
    qa_ab = f"{float(alpha):.6f}, {float(beta):.6f}"
    if nb is not None:
        row("1. α, β", f"{nb.alpha:.6f}, {nb.beta:.6f}", qa_ab, qa_ab)
        row("   α_q, β_q", f"{nb.alpha_q}, {nb.beta_q}", f"{p.qmin}, {p.qmax}", f"{pt.qmin}, {pt.qmax}")
    else:
        row("1. α, β", "(all values equal:", qa_ab, qa_ab)
        row("   α_q, β_q", " its s is 0 and", f"{p.qmin}, {p.qmax}", f"{pt.qmin}, {pt.qmax}")
    row("   range", "[α, β]" if nb is not None else " z divides by 0)", f"[{_num(lo)}, {_num(hi)}]", "[α, β]")
    row("2. s", f"{nb.scale:.9f}" if nb is not None else "", f"{float(p.scale):.9f}", f"{float(pt.scale):.9f}")
    row("   z", str(nb.zero_point) if nb is not None else "", str(p.zero_point), str(pt.zero_point))
    row("3. q", "clip(x/s + z), truncated" if nb is not None else "", "clip(round(x/s) + z)",
        "clip(round(x/s) + z)")
    row("4. x̂", "s·(q − z)" if nb is not None else "", "s·(q − z)", "s·(q − z)")
    out("qaffine's steps: α, β = qa.minmax(x); p = qa.choose_qparams(α, β) (or include_zero=False);")
    out("q = qa.quantize(x, p), rounding half to even and clipping to [α_q, β_q]; x̂ = q.dequantize()")
    out()
    with np.printoptions(linewidth=100, threshold=40):
        if nb is not None:
            out(f"codes, the notebook          {nb.codes}")
        out(f"codes, qaffine default       {r.q.codes()}")
        out(f"codes, include_zero=False    {r.tight.codes()}")
    out()

    errs = _errors(r)
    names = [k for k in ("notebook", "default", "tight") if k in errs]
    codes = {"notebook": nb.codes if nb is not None else None, "default": r.q.codes(), "tight": r.tight.codes()}
    hats = {"notebook": nb.x_hat if nb is not None else None, "default": r.q.dequantize(),
            "tight": r.tight.dequantize()}
    titles = {"notebook": "the notebook", "default": "qaffine default", "tight": "include_zero=False"}
    out((" " * 10 + "".join(f" │ {titles[k]:^27}" for k in names)).rstrip())
    out(_pad("x", 10, True) + "".join(f" │ {'code':>5} {_pad('x̂', 10, True)} {'error':>10}" for _ in names))
    limit = 40
    for i in range(min(r.x.size, limit)):
        line = f"{r.values[i]:10.6f}"
        for k in names:
            c, h = codes[k], hats[k]
            assert c is not None and h is not None
            line += f" │ {int(c[i]):5d} {float(h[i]):10.6f} {errs[k][i]:+10.6f}"
        out(line)
    if r.x.size > limit:
        out(f"... ({r.x.size - limit} more rows)")
    out()
    w = 46
    if nb is not None:
        head = f"the notebook (s = {nb.scale:.9f}, z = {nb.zero_point}):"
        out(f"{head:<{w}} max |error| {np.max(np.abs(errs['notebook'])):.6f} (truncation: up to a whole step s)")
    head = f"qaffine default (s = {float(p.scale):.9f}, z = {p.zero_point}):"
    out(f"{head:<{w}} max |error| {r.error.max_abs:.6f} ≤ s/2 = {float(p.scale) / 2:.6f}")
    out(f"   {r.error}")
    head = f"include_zero=False (s = {float(pt.scale):.9f}, z = {pt.zero_point}):"
    out(f"{head:<{w}} max |error| {r.tight_error.max_abs:.6f} ≤ s/2 = {float(pt.scale) / 2:.6f}")
    out(f"   {r.tight_error}")

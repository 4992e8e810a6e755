"""``qa.error`` (how far the dequantized values are from the data) and ``qa.plot`` (the three panels)."""

from __future__ import annotations

import importlib
import math
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import numpy.typing as npt

from . import _tensors
from . import _packing
from ._api import QuantizedArray, _as_float_array, quantize

if TYPE_CHECKING:  # matplotlib is optional: imported lazily, at run time only inside plot()
    from matplotlib.figure import Figure

__all__ = ["QuantizationError", "error", "plot"]

_SLICE = 1 << 16  # elements per step of the statistics: bounded float64 temporaries
_PLOT_EXTRA = 'pip install "qaffine[plot]"'


@dataclass(frozen=True)
class QuantizationError:
    """How far ``x_hat = dequantize(quantize(x))`` is from ``x`` (computed in float64).

    ``mse``, ``rmse``, ``max_abs`` and ``mean_abs`` are the mean squared, root mean squared, largest and
    mean absolute error ``|x_hat - x|``; ``sqnr_db`` is the signal-to-quantization-noise ratio
    ``10 * log10(sum(x**2) / sum((x_hat - x)**2))`` (``inf`` when the round trip is exact);
    ``codes_used`` counts the distinct codes that occur and ``code_usage`` is
    ``codes_used / 2**bits``, the fraction of the code range in use.

    >>> import numpy as np, qaffine as qa
    >>> e = qa.QuantizationError(mse=0.25, rmse=0.5, max_abs=1.0, mean_abs=0.5, sqnr_db=20.0, codes_used=64,
    ...                          bits=8, count=4)
    >>> e.code_usage
    0.25
    >>> print(e)
    rmse 0.5, max |error| 1, mean |error| 0.5, SQNR 20.0 dB, 64 of 256 codes used (25.0%)
    """

    mse: float
    rmse: float
    max_abs: float
    mean_abs: float
    sqnr_db: float
    codes_used: int
    bits: int
    count: int

    @property
    def code_usage(self) -> float:
        """``codes_used / 2**bits``: the fraction of the code range that occurs."""
        return self.codes_used / float(1 << self.bits)

    def __str__(self) -> str:
        sqnr = "inf dB (exact)" if math.isinf(self.sqnr_db) and self.sqnr_db > 0 else f"{self.sqnr_db:.1f} dB"
        return (f"rmse {self.rmse:.4g}, max |error| {self.max_abs:.4g}, mean |error| {self.mean_abs:.4g}, "
                f"SQNR {sqnr}, {self.codes_used} of {1 << self.bits} codes used ({100 * self.code_usage:.1f}%)")


class ErrorStats:
    """Accumulates :class:`QuantizationError` over chunks (used by ``error`` and the command line)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.count = 0
        self.sum_sq = 0.0
        self.sum_abs = 0.0
        self.max_abs = 0.0
        self.signal = 0.0
        self.histogram = np.zeros(256 if bits <= 8 else 65536, dtype=np.int64)  # one bin per code bit pattern

    def add(self, x: npt.NDArray[Any], x_hat: npt.NDArray[Any], codes: npt.NDArray[Any]) -> None:
        """One chunk: data, its dequantized values and its (unpacked) codes, any matching shapes."""
        self._add_errors(x, x_hat)
        flat = np.ascontiguousarray(codes).reshape(-1)
        patterns = flat.view(np.uint8 if flat.dtype.itemsize == 1 else np.uint16)
        self.histogram += np.bincount(patterns, minlength=self.histogram.size)

    def add_packed(self, x: npt.NDArray[Any], x_hat: npt.NDArray[Any], packed: npt.NDArray[Any], signed: bool) -> None:
        """One chunk whose codes are packed bytes (fields of container_bits(bits), the last byte zero-padded):
        the histogram counts the fields of each position in the byte, without unpacking them."""
        self._add_errors(x, x_hat)
        w = _packing.container_bits(self.bits)
        per, mask = 8 // w, (1 << w) - 1
        counts = np.zeros(1 << w, dtype=np.int64)
        for j in range(per):
            counts += np.bincount((packed >> np.uint8(j * w)) & np.uint8(mask), minlength=1 << w)
        counts[0] -= packed.size * per - x.size  # the padding fields of the last byte
        field = np.arange(1 << w)
        code = np.where(field >= 1 << (w - 1), field - (1 << w), field) if signed else field
        self.histogram[code & 0xFF] += counts

    def _add_errors(self, x: npt.NDArray[Any], x_hat: npt.NDArray[Any]) -> None:
        xf, hf = x.reshape(-1), x_hat.reshape(-1)
        for i in range(0, xf.size, _SLICE):
            xs = xf[i:i + _SLICE].astype(np.float64)
            d = hf[i:i + _SLICE].astype(np.float64)
            d -= xs
            self.sum_sq += float(np.square(d).sum())  # not np.dot: BLAS threads can be slow on small calls
            np.abs(d, out=d)
            self.sum_abs += float(d.sum())
            self.max_abs = max(self.max_abs, float(d.max()))
            self.signal += float(np.square(xs, out=xs).sum())
        self.count += xf.size

    def result(self) -> QuantizationError:
        n = max(self.count, 1)
        mse = self.sum_sq / n
        if self.sum_sq == 0.0:
            sqnr = math.inf
        elif self.signal == 0.0:
            sqnr = -math.inf
        else:
            sqnr = 10.0 * math.log10(self.signal / self.sum_sq)
        return QuantizationError(mse=mse, rmse=math.sqrt(mse), max_abs=self.max_abs, mean_abs=self.sum_abs / n,
                                 sqnr_db=sqnr, codes_used=int(np.count_nonzero(self.histogram)), bits=self.bits,
                                 count=self.count)


def _dequantized(x: npt.NDArray[Any], q: QuantizedArray) -> npt.NDArray[Any]:
    return q.dequantize(dtype=np.float64 if x.dtype == np.float64 else np.float32)


def _check_pair(x: npt.ArrayLike, q: QuantizedArray) -> npt.NDArray[Any]:
    if not isinstance(q, QuantizedArray):
        raise TypeError(f"q must be a qaffine.QuantizedArray (from qa.quantize), got {type(q).__name__}")
    a = _as_float_array(x)
    if type(a) is _tensors.Bf16Bits:  # the statistics are float arithmetic: bfloat16 widened (exact)
        a = _tensors.widen(a)
    if a.shape != q.shape:
        raise ValueError(f"x has shape {a.shape} but q has shape {q.shape}; pass the data that was quantized")
    return a


def error(x: npt.ArrayLike, q: QuantizedArray) -> QuantizationError:
    """The quantization error of ``q = qa.quantize(x, ...)``: a :class:`QuantizationError`.

    ``x_hat`` is ``q.dequantize()`` (float64 for float64 ``x``, else float32, as you would use it); the
    statistics are computed in float64, in slices, so the extra memory stays small.

    >>> import numpy as np, qaffine as qa
    >>> x = np.float32([0.283, 0.779, 1.122, 3.342])
    >>> e = qa.error(x, qa.quantize(x))
    >>> bool(e.max_abs <= qa.quantize(x).scale / 2), e.codes_used, e.code_usage
    (True, 4, 0.015625)
    >>> round(e.sqnr_db, 1)
    51.8
    """
    a = _check_pair(x, q)
    stats = ErrorStats(q.params.bits)
    if a.size:
        stats.add(a, _dequantized(a, q), q.codes())
    return stats.result()


# ---------------------------------------------------------------------------------------------- plots
def _display_available() -> bool:
    """Whether a window can be opened: a DISPLAY / WAYLAND_DISPLAY on Linux and other X11 systems."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _matplotlib(feature: str) -> Any:
    try:
        return importlib.import_module("matplotlib.figure")
    except ImportError:
        raise ImportError(f"{feature} needs matplotlib, an optional dependency: {_PLOT_EXTRA}") from None


def _sample(n: int, limit: int = 20_000) -> npt.NDArray[np.intp]:
    """Indices of at most ``limit`` points to draw (all of them for small arrays)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def draw(fig: Any, x: npt.NDArray[Any], q: QuantizedArray) -> None:
    """The three panels on ``fig``: x -> code, x vs x_hat, histogram of the error."""
    p = q.params
    xf = x.reshape(-1)
    codes = q.codes().reshape(-1)
    x_hat = _dequantized(x, q).reshape(-1)
    err = x_hat.astype(np.float64) - xf.astype(np.float64)
    idx = _sample(xf.size)
    xs, cs, hs = xf[idx].astype(np.float64), codes[idx], x_hat[idx].astype(np.float64)
    half_step = float(np.max(p.scale)) / 2
    per_tensor = p.axis is None
    few = xf.size <= 20

    ax_map, ax_back, ax_err = fig.subplots(1, 3)
    ax_map.scatter(xs, cs, s=24 if few else 4, color="tab:blue", label="codes")
    if per_tensor and xs.size:
        grid = np.linspace(xs.min(), xs.max(), 200)
        ideal = np.clip(grid / float(p.scale) + p.zero_point, p.qmin, p.qmax)
        ax_map.plot(grid, ideal, color="gray", lw=0.8, ls="--", label="x / s + z")
        ax_map.legend(fontsize=8, loc="upper left")
    if few:
        for xi, ci in zip(xs, cs):
            ax_map.annotate(str(int(ci)), (xi, ci), textcoords="offset points", xytext=(4, -10), fontsize=8)
    kind = p.dtype.name
    ax_map.set(title=f"x → {p.bits}-bit {kind} code", xlabel="x", ylabel="code q")

    ax_back.scatter(xs, hs, s=24 if few else 4, color="tab:orange", marker="x", label=r"$\hat{x} = s\,(q - z)$")
    if xs.size:
        lims = [min(xs.min(), hs.min()), max(xs.max(), hs.max())]
        ax_back.plot(lims, lims, color="gray", lw=0.8, ls="--", label=r"$\hat{x} = x$")
    ax_back.set(title=r"x and dequantized $\hat{x}$", xlabel="x", ylabel=r"$\hat{x}$")
    ax_back.legend(fontsize=8, loc="upper left")

    bins = min(60, max(5, xf.size // 2))
    ax_err.hist(err, bins=bins, color="tab:green")
    label = r"$\pm s/2$" if per_tensor else r"$\pm \max(s)/2$"
    ax_err.axvline(half_step, color="gray", ls="--", lw=0.8, label=label)
    ax_err.axvline(-half_step, color="gray", ls="--", lw=0.8)
    ax_err.set(title=r"error $\hat{x} - x$", xlabel="error", ylabel="count")
    ax_err.locator_params(axis="x", nbins=5)
    ax_err.locator_params(axis="y", integer=True)
    ax_err.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
    ax_err.legend(fontsize=8)

    rmse = math.sqrt(float(np.mean(err * err))) if err.size else 0.0
    fig.suptitle(f"{xf.size:,} values, per-{p.granularity} parameters: rmse {rmse:.3g}, "
                 f"max |error| {float(np.max(np.abs(err))) if err.size else 0.0:.3g}")
    fig.tight_layout()


def plot(
    x: npt.ArrayLike,
    q: Optional[QuantizedArray] = None,
    *,
    path: Union[str, "os.PathLike[str]", None] = None,
) -> "Figure":
    """A matplotlib Figure with three panels: x -> code, x against the dequantized x_hat, the error histogram.

    ``q`` defaults to ``qa.quantize(x)``. With ``path``, the figure is also saved there (PNG, SVG, PDF by
    the file's suffix). The figure is built without pyplot, so saving needs no display (Agg rendering)
    and nothing accumulates in pyplot's figure list; show it in a notebook by returning it from a cell.
    Large arrays are drawn from a sample of 20,000 points (the histogram uses all of them).
    matplotlib is an optional dependency: without it this raises ImportError naming the extra,
    ``pip install "qaffine[plot]"``.

    >>> import numpy as np, qaffine as qa
    >>> x = np.sort(np.random.default_rng(0).uniform(0, 5, 10)).astype(np.float32)
    >>> fig = qa.plot(x)
    >>> len(fig.axes), fig.axes[0].get_title()
    (3, 'x → 8-bit uint8 code')
    """
    mfig = _matplotlib("qa.plot")
    a = _as_float_array(x)
    if q is None:
        q = quantize(a)
    a = _check_pair(a, q)
    fig: Figure = mfig.Figure(figsize=(15, 4.5))
    draw(fig, a, q)
    if path is not None:
        fig.savefig(os.fspath(path), dpi=110)
    return fig

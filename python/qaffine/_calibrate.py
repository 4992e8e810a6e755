"""Calibration: choosing the quantization range from the data (:class:`Observer`, ``qa.quantize(x, range=...)``).

Range methods (``METHODS``):

``"minmax"``
    The smallest and largest finite value seen (the default; what ``qa.quantize(x)`` uses).
``"moving_average"``
    PyTorch's ``MovingAverageMinMaxObserver``: the first batch sets (lo, hi), each later batch moves them by
    ``lo += c * (batch_min - lo)``, ``hi += c * (batch_max - hi)``, ``c = averaging_constant`` (0.01).
``"percentile"``
    ``hi`` = the ``percentile``-th percentile (default 99.99), ``lo`` = the ``(100 - percentile)``-th, by
    ``np.percentile``'s linear rule on the histogram's cumulative counts, each order statistic placed inside its
    bin (so within one bin width of ``np.percentile``); with ``symmetric=True`` the ``percentile``-th percentile ``t`` of ``|x|`` and ``[-t, t]``
    (ONNX Runtime's ``PercentileCalibrater``, symmetric and not).
``"mse"``
    The clipping range minimising the modelled squared round-trip error for the mode's ``qmax - qmin`` steps:
    values outside cost their squared distance to the range, values inside ``step**2 / 12``
    (uniform rounding error; exact zeros cost nothing), found by an exhaustive search over every pair of
    histogram edges (``qaffine/histogram.hpp``, ``histogram_mse_range``). Symmetric modes search ``[-t, t]``.
``"entropy"``
    The KL-divergence threshold of TensorRT's entropy calibration as ONNX Runtime computes it
    (``HistogramCollector.get_entropy_threshold``: the histogram folded symmetric about 0, ``num_quantized_bins``
    = 128), on qaffine's histogram coarsened to at most ``bins`` bins over [-max |x|, max |x|]; constant data
    give their value.

The histogram (``bins``, default 2048, counters of uint64) has bins of width ``2**k`` anchored at 0 and grows by
whole doublings, so ``merge`` is exact: observing batches a, b, c in any split and order, on any number of threads,
gives the same histogram, hence the same range and parameters, as observing their concatenation. Memory is
``O(bins)`` per tensor (per channel with ``axis``), whatever the number of batches.

Bad values: NaN raises ``ValueError`` naming its index (in the batch); ±Inf are counted (``seen``) but never
stretch the range — static quantization saturates them at qmin / qmax.

Per block (``qa.quantize(x, range=..., block_size=B)``, :func:`block_ranges`): ``"minmax"``, ``"moving_average"``
(one batch: the same) and ``"mse"``, each block from its own values; ``"mse"`` is then not the histogram search but
a direct one (``qaffine/clip_search.hpp``): the block's [lo, hi] shrunk towards 0 (the midpoint for the tight range)
by i / 50, i = 0 .. 39, the candidate whose real round trip has the least squared error. Percentile and entropy
need more values than a block holds and raise ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _kernels
from ._finite import bad_value_error, first_bad, unravel
from ._mode import Mode
from ._params import QParams

__all__ = ["METHODS", "Observer"]

METHODS = ("minmax", "moving_average", "percentile", "mse", "entropy")
_HISTOGRAM_METHODS = frozenset(("percentile", "mse", "entropy"))


def _check_method(method: Any, name: str = "method") -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"{name} must be one of {', '.join(repr(m) for m in METHODS)}, got {method!r}")
    return method


def _finite_part(a: np.ndarray, where: Tuple[int, ...]) -> Tuple[np.ndarray, float, float, int, int]:
    """(finite values, their lo, hi, count of -Inf, count of +Inf) of a 1-D contiguous float32/64 array; NaN raises
    naming its index in an array of shape ``where``."""
    lo, hi, has_nan = _kernels.minmax(a)
    if has_nan:
        found = first_bad(a, inf=False)
        assert found is not None
        raise bad_value_error(True, unravel(found[1], where))
    neg = pos = 0
    if math.isinf(lo) or math.isinf(hi):
        neg, pos = int(np.count_nonzero(a == -np.inf)), int(np.count_nonzero(a == np.inf))
        a = a[np.isfinite(a)]
        if a.size:
            lo, hi, _ = _kernels.minmax(a)
    return a, float(lo), float(hi), neg, pos


class _Histogram:
    """The histogram of one tensor or channel: counts of the window (k, base), finite range, exact zeros."""

    __slots__ = ("base", "bins", "counts", "hi", "k", "lo", "n", "zeros")

    def __init__(self, bins: int) -> None:
        self.bins = bins
        self.counts = np.zeros(bins, dtype=np.uint64)
        self.k = _kernels.HISTOGRAM_MIN_EXPONENT
        self.base = 0
        self.lo = math.inf
        self.hi = -math.inf
        self.n = 0  # finite values counted
        self.zeros = 0

    def __getstate__(self) -> Dict[str, Any]:
        return {s: getattr(self, s) for s in self.__slots__}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        for s in self.__slots__:
            setattr(self, s, state[s])

    def _widen(self, lo: float, hi: float, k_floor: int) -> None:
        """Grows the window to hold [lo, hi] (and what it holds), coarsening the counts by whole doublings."""
        new_lo, new_hi = min(self.lo, lo), max(self.hi, hi)
        k = _kernels.histogram_exponent(new_lo, new_hi, self.bins, max(self.k, k_floor))
        base = _kernels.histogram_bin(new_lo, k)
        if self.n and (k != self.k or base != self.base):
            self.counts = _kernels.histogram_rebin(self.counts, self.k, self.base, k, base, self.bins)
        self.k, self.base, self.lo, self.hi = k, base, new_lo, new_hi

    def add(self, finite: np.ndarray, lo: float, hi: float) -> None:
        if finite.size == 0:
            return
        self._widen(lo, hi, self.k)
        self.zeros += _kernels.histogram_count(finite, self.k, self.base, self.counts)
        self.n += int(finite.size)

    def merge(self, other: "_Histogram") -> None:
        if other.n == 0:
            return
        self._widen(other.lo, other.hi, other.k)
        self.counts = self.counts + _kernels.histogram_rebin(other.counts, other.k, other.base, self.k, self.base,
                                                             self.bins)
        self.n += other.n
        self.zeros += other.zeros

    # -- ranges
    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.k)

    def _quantile(self, counts: np.ndarray, first: int, q: float, lo: float, hi: float) -> float:
        """np.percentile's linear rule on the histogram: rank r = q (N - 1) between the order statistics floor(r)
        and floor(r) + 1, each placed at its position among the values of its bin, spread uniformly over the part
        of the bin inside [lo, hi] (the data's range); ``first`` is the index of counts[0]. Each order statistic
        is then within one bin width of the true one, and so is the result."""
        cum = np.cumsum(counts.astype(np.int64))
        n = int(cum[-1])
        r = q * (n - 1)
        i0 = min(int(math.floor(r)), n - 1)
        w = self.width

        def order_stat(i: int) -> float:
            j = int(np.searchsorted(cum, i + 1, side="left"))  # the bin holding the i-th smallest value
            before = int(cum[j - 1]) if j else 0
            left = max((first + j) * w, lo)
            right = max(min((first + j + 1) * w, hi), left)
            return left + (i - before + 0.5) / float(counts[j]) * (right - left)

        v0 = order_stat(i0)
        v1 = order_stat(min(i0 + 1, n - 1))
        return v0 + (r - i0) * (v1 - v0)

    def percentile(self, p: float, symmetric: bool) -> Tuple[float, float]:
        if symmetric:
            # |x| in (b w, (b + 1) w] for bin b >= 0 and bin -1 - b: fold the negative bins onto the positive.
            top = max(self.base + self.bins, -self.base)
            folded = np.zeros(top, dtype=np.float64)
            idx = np.arange(self.base, self.base + self.bins)
            pos = idx >= 0
            np.add.at(folded, idx[pos], self.counts[pos].astype(np.float64))
            np.add.at(folded, -1 - idx[~pos], self.counts[~pos].astype(np.float64))
            amin = 0.0 if self.lo <= 0 <= self.hi else min(abs(self.lo), abs(self.hi))
            t = self._quantile(folded, 0, p / 100.0, amin, max(-self.lo, self.hi))
            return -t, t
        hi = self._quantile(self.counts, self.base, p / 100.0, self.lo, self.hi)
        lo = self._quantile(self.counts, self.base, 1.0 - p / 100.0, self.lo, self.hi)
        return lo, hi

    def mse(self, mode: Mode) -> Tuple[float, float]:
        lo, hi, _ = _kernels.histogram_mse_range(self.counts, self.k, self.base, self.lo, self.hi, self.zeros,
                                                 float(mode.qmax - mode.qmin), mode.symmetric, mode.include_zero)
        return lo, hi

    def symmetric_view(self) -> Tuple[np.ndarray, np.ndarray]:
        """The counts on at most ``bins`` bins symmetric about 0, [-M w, M w], and their edges (ONNX Runtime's
        entropy layout): the histogram coarsened by whole doublings until [-max |x|, max |x|] fits."""
        used = self.bins
        while used > 1 and self.counts[used - 1] == 0:
            used -= 1
        k, base, counts = self.k, self.base, self.counts[:used]
        top = base + used  # one past the last bin
        while max(top, -base) > self.bins // 2:
            k += 1
            base, top = base >> 1, -((-top) >> 1)  # floor and ceiling of halves
        if k != self.k:
            counts = _kernels.histogram_rebin(self.counts, self.k, self.base, k, base, top - base)
        m = max(top, -base, 1)
        hist = np.zeros(2 * m, dtype=np.int64)
        hist[m + base: m + base + counts.size] = counts.astype(np.int64)
        edges = np.arange(-m, m + 1, dtype=np.float64) * math.ldexp(1.0, k)
        return hist, edges

    def entropy(self, num_quantized_bins: int) -> Tuple[float, float]:
        if self.lo == self.hi:  # constant data: no distribution to compare; its value is its range
            return self.lo, self.hi
        hist, edges = self.symmetric_view()
        lo, hi = entropy_threshold(hist, edges, num_quantized_bins)
        return max(lo, self.lo), min(hi, self.hi)


def _smooth(p: np.ndarray, eps: float = 0.0001) -> Optional[np.ndarray]:
    """ONNX Runtime's ``smooth_distribution``: zeros become eps, taken off the non-zero entries (float32)."""
    is_zeros = (p == 0).astype(np.float32)
    is_nonzeros = (p != 0).astype(np.float32)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    hist = p.astype(np.float32)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    return hist


def _kl(p: np.ndarray, q: np.ndarray) -> np.float32:
    """ONNX Runtime's ``entropy(p, q)``: the KL divergence of the normalised float32 distributions."""
    p = p.astype(np.float32)
    p = p / np.sum(p)
    q = q.astype(np.float32)
    q = q / np.sum(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = p * np.log(p / q)
    res[(p == 0) & (q >= 0)] = 0
    res[~((p > 0) & (q > 0))] = np.inf
    return np.float32(np.sum(res))


def entropy_threshold(hist: np.ndarray, edges: np.ndarray, num_quantized_bins: int = 128) -> Tuple[float, float]:
    """The KL-optimal threshold (edges[start], edges[end]) of a histogram symmetric about 0: for each window of
    2i + 1 bins about the centre (i >= num_quantized_bins // 2), p = the window with the outside counts added to
    its end bins, q = the window merged into num_quantized_bins bins and spread back over its non-empty bins
    (integer division, as ONNX Runtime does), both smoothed; the window with the smallest KL(p || q) wins.
    Source: Migacz, "8-bit Inference with TensorRT" (GTC 2017); ONNX Runtime ``calibrate.py``."""
    num_bins = hist.size
    zero = num_bins // 2
    half = num_quantized_bins // 2
    best, best_div = None, np.float32(np.inf)
    first = True
    total_left = np.concatenate(([0], np.cumsum(hist)))
    for i in range(half, zero + 1):
        start, end = zero - i, min(zero + i + 1, num_bins)
        sliced = hist[start:end]
        p = sliced.copy()
        p[0] += total_left[start]
        p[-1] += total_left[-1] - total_left[end]
        nonzeros = (p != 0).astype(np.int64)
        merged = sliced.size // num_quantized_bins
        body = num_quantized_bins * merged
        quantized = sliced[:body].reshape(num_quantized_bins, merged).sum(axis=1)
        quantized[-1] += sliced[body:].sum()
        norm = nonzeros[:body].reshape(num_quantized_bins, merged).sum(axis=1)
        q = np.zeros(p.size, dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(norm != 0, quantized / np.where(norm == 0, 1, norm), 0.0)
        q[:body] = np.repeat(np.where(norm != 0, spread, 0.0), merged).astype(np.int64)
        q[:body][np.repeat(norm == 0, merged)] = 0
        ps, qs = _smooth(p), _smooth(q)
        div = np.float32(np.inf) if ps is None or qs is None else _kl(ps, qs)
        if first or div < best_div:  # np.argmin: the first minimum
            best, best_div, first = (float(edges[start]), float(edges[end])), div, False
    assert best is not None
    return best


def _as_batch(x: Any) -> np.ndarray:
    from ._api import _as_float_array  # the one dtype rule of qa.quantize

    a = _as_float_array(x)
    if a.dtype == np.float16:
        a = a.astype(np.float32)
    return a


class Observer:
    """Collects the range of data seen in any number of batches and turns it into :class:`QParams`.

    ``method`` is one of ``METHODS`` (see :mod:`qaffine._calibrate` for their formulas): ``"minmax"`` (default),
    ``"moving_average"``, ``"percentile"``, ``"mse"``, ``"entropy"``. The mode keywords are those of
    :func:`qaffine.quantize`; ``axis=k`` keeps one range per index along axis k (per channel). Options:
    ``averaging_constant`` (moving_average, 0.01), ``percentile`` (99.99), ``bins`` (histogram counters,
    a power of two from 256 to 65536, default 2048), ``num_quantized_bins`` (entropy, 128).

    ``update(x)`` takes anything :func:`qaffine.quantize` takes; ``merge(other)`` folds in an observer of the same
    configuration (exact for the histogram methods and minmax; not defined for moving_average, which depends on
    the order of the batches); ``range()`` gives (lo, hi); ``params()`` the :class:`QParams` for
    ``qa.quantize(x, params)``. Observers pickle.

    >>> import numpy as np, qaffine as qa
    >>> rng = np.random.default_rng(0)
    >>> obs = qa.Observer("percentile", percentile=99.0)
    >>> for _ in range(3):
    ...     obs = obs.update(rng.standard_normal(10_000).astype(np.float32))
    >>> lo, hi = obs.range()
    >>> bool(2.2 < hi < 2.5 and -2.5 < lo < -2.2)
    True
    >>> q = qa.quantize(rng.standard_normal(5).astype(np.float32), obs.params())
    """

    def __init__(
        self,
        method: str = "minmax",
        *,
        bits: int = 8,
        signed: bool = False,
        symmetric: bool = False,
        include_zero: bool = True,
        axis: Optional[int] = None,
        averaging_constant: float = 0.01,
        percentile: float = 99.99,
        bins: int = 2048,
        num_quantized_bins: int = 128,
    ) -> None:
        self.method = _check_method(method)
        self._mode = Mode(axis, None, bits, signed, symmetric, include_zero)
        if isinstance(averaging_constant, bool) or not isinstance(averaging_constant, (int, float, np.floating, np.integer)) \
                or not 0 < float(averaging_constant) <= 1:
            raise ValueError(f"averaging_constant must be a number in (0, 1], got {averaging_constant!r}")
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float, np.floating, np.integer)) \
                or not 50 < float(percentile) <= 100:
            raise ValueError(f"percentile must be a number in (50, 100], got {percentile!r}")
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 256 <= int(bins) <= 65536 \
                or int(bins) & (int(bins) - 1):
            raise ValueError(f"bins must be a power of two from 256 to 65536, got {bins!r}")
        if isinstance(num_quantized_bins, bool) or not isinstance(num_quantized_bins, (int, np.integer)) \
                or not 2 <= int(num_quantized_bins) <= int(bins) // 2:
            raise ValueError(f"num_quantized_bins must be an integer from 2 to bins / 2, got {num_quantized_bins!r}")
        self.averaging_constant = float(averaging_constant)
        self.percentile = float(percentile)
        self.bins = int(bins)
        self.num_quantized_bins = int(num_quantized_bins)
        self._channels: Optional[int] = None  # per channel: fixed by the first batch
        self._axis: Optional[int] = None  # resolved
        self._hists: List[_Histogram] = []
        self._lo: Optional[np.ndarray] = None  # minmax / moving average per channel (or shape (1,))
        self._hi: Optional[np.ndarray] = None
        self._double = False
        self.batches = 0
        self.seen = 0  # values, infinities included
        self.infinities = 0

    # ------------------------------------------------------------------------------------------ options
    def _options(self) -> Dict[str, Any]:
        m = self._mode
        return dict(bits=m.bits, signed=m.signed, symmetric=m.symmetric, include_zero=m.include_zero, axis=m.axis,
                    averaging_constant=self.averaging_constant, percentile=self.percentile, bins=self.bins,
                    num_quantized_bins=self.num_quantized_bins)

    def empty_like(self) -> "Observer":
        """A new observer of the same configuration that has seen nothing."""
        return Observer(self.method, **self._options())

    # ------------------------------------------------------------------------------------------ update
    def _rows(self, a: np.ndarray) -> np.ndarray:
        """The batch as (channels, values) rows, C-contiguous."""
        if self._mode.axis is None:
            return np.ascontiguousarray(a.reshape(1, -1))
        axis = self._mode.resolved(a.shape).axis
        assert axis is not None
        if self._channels is None:
            self._channels, self._axis = a.shape[axis], axis
        elif a.shape[axis] != self._channels or axis != self._axis:
            raise ValueError(f"this observer holds {self._channels} channels along axis {self._axis}; the batch has "
                             f"shape {a.shape}")
        return np.ascontiguousarray(np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1))

    def update(self, x: npt.ArrayLike) -> "Observer":
        """Observes one batch; returns self (so ``obs = obs.update(x)`` chains)."""
        a = _as_batch(x)
        rows = self._rows(a)
        self._double = self._double or a.dtype == np.float64
        c = rows.shape[0]
        lo = np.empty(c)
        hi = np.empty(c)
        finite_any = np.zeros(c, dtype=bool)
        parts = []
        for r in range(c):
            # NaN is reported at its index in the batch: the row's position back in x's shape.
            try:
                part, lo[r], hi[r], neg, pos = _finite_part(rows[r], rows[r].shape)
            except ValueError:
                found = first_bad(a, inf=False)
                assert found is not None
                raise bad_value_error(True, unravel(found[1], a.shape)) from None
            self.infinities += neg + pos
            finite_any[r] = part.size > 0
            parts.append(part)
        if self.method in _HISTOGRAM_METHODS:
            if not self._hists:
                self._hists = [_Histogram(self.bins) for _ in range(c)]
            for r in range(c):
                self._hists[r].add(parts[r], lo[r], hi[r])
        else:
            self._fold_range(lo, hi, finite_any)
        self.seen += int(a.size)
        self.batches += 1
        return self

    def _fold_range(self, lo: np.ndarray, hi: np.ndarray, valid: np.ndarray) -> None:
        lo = np.where(valid, lo, np.inf)
        hi = np.where(valid, hi, -np.inf)
        if self._lo is None or self._hi is None:
            self._lo, self._hi = lo, hi
            return
        if self.method == "minmax":
            self._lo, self._hi = np.minimum(self._lo, lo), np.maximum(self._hi, hi)
            return
        c = self.averaging_constant
        first = ~np.isfinite(self._lo)  # channels that had no finite value yet start at this batch's range
        use = valid & ~first
        self._lo = np.where(first, lo, np.where(use, self._lo + c * (lo - self._lo), self._lo))
        self._hi = np.where(first, hi, np.where(use, self._hi + c * (hi - self._hi), self._hi))

    def merge(self, other: "Observer") -> "Observer":
        """Folds in what ``other`` (same method and options) has seen; returns self. Exact: a merge of observers
        of batches equals one observer of all the batches."""
        if not isinstance(other, Observer):
            raise TypeError(f"can only merge another qaffine.Observer, got {type(other).__name__}")
        if other.method != self.method or other._options() != self._options():
            raise ValueError(f"cannot merge {other!r} into {self!r}: the method and options must be the same")
        if self.method == "moving_average":
            raise ValueError("moving_average depends on the order of the batches, so observers of it cannot be "
                             "merged; use 'minmax' or a histogram method, or update one observer in order")
        if other.batches == 0:
            return self
        if self._channels is not None and other._channels is not None and \
                (self._channels, self._axis) != (other._channels, other._axis):
            raise ValueError(f"cannot merge observers of {other._channels} and {self._channels} channels")
        if self._channels is None:
            self._channels, self._axis = other._channels, other._axis
        if self.method in _HISTOGRAM_METHODS:
            if not self._hists:
                self._hists = [_Histogram(self.bins) for _ in other._hists]
            for mine, theirs in zip(self._hists, other._hists):
                mine.merge(theirs)
        elif other._lo is not None and other._hi is not None:
            self._fold_range(other._lo, other._hi, np.isfinite(other._lo))
        self._double = self._double or other._double
        self.batches += other.batches
        self.seen += other.seen
        self.infinities += other.infinities
        return self

    # ------------------------------------------------------------------------------------------ results
    def _ranges(self) -> Tuple[np.ndarray, np.ndarray]:
        if self.batches == 0:
            raise ValueError("the observer has seen no data; call update(x) first")
        if self.method in _HISTOGRAM_METHODS:
            if any(h.n == 0 for h in self._hists):
                raise ValueError("the observer has seen no finite values" +
                                 (" in some channel" if self._mode.axis is not None else ""))
            out = []
            for h in self._hists:
                if self.method == "percentile":
                    out.append(h.percentile(self.percentile, self._mode.symmetric))
                elif self.method == "mse":
                    out.append(h.mse(self._mode))
                else:
                    out.append(h.entropy(self.num_quantized_bins))
            arr = np.array(out, dtype=np.float64).reshape(-1, 2)
            return arr[:, 0], arr[:, 1]
        assert self._lo is not None and self._hi is not None
        if not np.all(np.isfinite(self._lo)):
            raise ValueError("the observer has seen no finite values" +
                             (" in some channel" if self._mode.axis is not None else ""))
        return self._lo, self._hi

    def range(self) -> Tuple[Any, Any]:
        """(lo, hi): floats per tensor, float64 arrays per channel."""
        lo, hi = self._ranges()
        if self._mode.axis is None:
            return float(lo[0]), float(hi[0])
        return lo.copy(), hi.copy()

    def params(self) -> QParams:
        """The :class:`QParams` of ``range()`` for this observer's mode (as ``qa.choose_qparams``)."""
        from ._api import choose_qparams

        lo, hi = self._ranges()
        m = self._mode
        # float64 data: the parameters in float64 arithmetic, as qa.quantize chooses them for float64 input
        dt = np.float64 if self._double else np.float32
        if m.axis is None:
            # The range is already checked (finite, lo <= hi): choose_qparams' kernel directly, without the
            # public function's validation of its arguments (a quarter of the Python time of update + params).
            mode = m.resolved((1,))
            scale, zero_point = _kernels.choose_qparams(float(dt(lo[0])), float(dt(hi[0])), mode, self._double)
            return QParams._trusted(np.float32(scale), int(zero_point), mode)
        return choose_qparams(lo.astype(dt), hi.astype(dt), axis=self._axis, bits=m.bits, signed=m.signed,
                              symmetric=m.symmetric, include_zero=m.include_zero)

    # ------------------------------------------------------------------------------------------ dunder
    def __repr__(self) -> str:
        opts = [f"{self.method!r}"] + self._mode.keywords(scheme=True)
        if self.method == "moving_average":
            opts.append(f"averaging_constant={self.averaging_constant}")
        if self.method == "percentile":
            opts.append(f"percentile={self.percentile}")
        if self.method in _HISTOGRAM_METHODS and self.bins != 2048:
            opts.append(f"bins={self.bins}")
        seen = f"seen={self.seen} values in {self.batches} batches"
        if self.infinities:
            seen += f" ({self.infinities} infinite)"
        try:
            lo, hi = self._ranges()
            rng = f", range=({lo[0]:.6g}, {hi[0]:.6g})" if self._mode.axis is None else f", channels={lo.size}"
        except ValueError:
            rng = ""
        return f"Observer({', '.join(opts)}; {seen}{rng})"


def observe_params(a: np.ndarray, method: str, mode: Mode) -> QParams:
    """The one-shot parameters of ``qa.quantize(x, range=method, ...)`` for a resolved per-tensor/per-channel
    mode."""
    obs = Observer(method, bits=mode.bits, signed=mode.signed, symmetric=mode.symmetric,
                   include_zero=mode.include_zero, axis=mode.axis)
    return obs.update(a).params()


# ---------------------------------------------------------------------------------------------- per block
#: The methods ``range=`` takes per block (``block_size=``). Blocks are small (tens of values) and quantized
#: independently: min/max, its one-batch moving average (the same), and the MSE clip search on each block's own
#: values. Percentile and entropy need a distribution of many values, which a block does not have.
BLOCK_METHODS = ("minmax", "moving_average", "mse")

#: The candidate grid of the per-block MSE search: shrink factors i / grid, i = 0 .. steps - 1 (qaffine/clip_search.hpp).
CLIP_SEARCH_GRID = int(_kernels.CLIP_SEARCH_GRID)
CLIP_SEARCH_STEPS = int(_kernels.CLIP_SEARCH_STEPS)


def check_block_method(method: str) -> None:
    if method not in BLOCK_METHODS:
        raise ValueError(f"range={method!r} is not defined per block: per block (block_size=) range= takes "
                         f"{', '.join(repr(m) for m in BLOCK_METHODS)}; {method!r} needs the distribution of many "
                         "values, so use it per tensor or per channel (axis=)")


def block_ranges(a: np.ndarray, method: str, mode: Mode) -> Tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per block of ``a`` (any float input ``qa.quantize`` takes) for a resolved per-block ``mode``:
    arrays of the parameters' shape, in the data's arithmetic dtype (float64 for float64 data, else float32), so
    that ``qa.choose_qparams(lo, hi, ...)`` gives the parameters. ``"mse"``: each block's range by the direct search
    of ``qaffine/clip_search.hpp`` (the real round-trip error of each shrunk min/max range). NaN and infinities
    raise ``ValueError`` naming the first (as dynamic per-block quantization)."""
    from ._api import _bad_values, minmax
    from ._tensors import Bf16Bits, widen

    check_block_method(method)
    assert mode.axis is not None and mode.block_size is not None
    lo, hi = minmax(a, axis=mode.axis, block_size=mode.block_size)  # NaN raises naming its index
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise _bad_values(a, nan=False)
    dt = np.float64 if a.dtype == np.float64 else np.float32
    if method != "mse":
        return np.asarray(lo).astype(dt), np.asarray(hi).astype(dt)
    x = widen(a) if type(a) is Bf16Bits else np.asarray(a)
    x = np.moveaxis(x.astype(dt, copy=False), mode.axis, -1)
    n = x.shape[-1]
    rows = np.ascontiguousarray(x).reshape(-1, n)
    lo_b, hi_b = _kernels.clip_search_groups(rows, min(mode.block_size, max(n, 1)), mode)
    shape = x.shape[:-1] + (lo_b.shape[1],)
    return (np.moveaxis(lo_b.reshape(shape), -1, mode.axis), np.moveaxis(hi_b.reshape(shape), -1, mode.axis))


def block_params(a: np.ndarray, method: str, mode: Mode) -> QParams:
    """The parameters of ``qa.quantize(x, range=method, block_size=...)``: ``choose_qparams`` of
    :func:`block_ranges`."""
    from ._api import choose_qparams

    lo, hi = block_ranges(a, method, mode)
    return choose_qparams(lo, hi, axis=mode.axis, block_size=mode.block_size, bits=mode.bits, signed=mode.signed,
                          symmetric=mode.symmetric, include_zero=mode.include_zero)

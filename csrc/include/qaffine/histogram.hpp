// qaffine/histogram.hpp — integer histograms of float data on a power-of-two grid anchored at 0, exact to merge,
// and the range searches of calibration over them.
//
// The binning. A histogram with exponent k counts value x in bin floor(x * 2^-k): bins of width w = 2^k whose
// edges are the multiples of w. It holds `bins` counters for the bins base .. base + bins - 1 with
// base = bin(lo), lo the smallest value counted. Coarsening to k + 1 maps bin i to floor(i / 2): two whole bins
// become one, so a histogram coarsened from k to k' equals the histogram counted directly at k' (the product
// x * 2^-k is exact: x is a double, 2^-k a power of two, and the product never underflows or overflows by the
// choice of k below). The exponent of a set S of finite values is the smallest k with
//     k >= max(k_floor, exponent(max |x|) - 23)       (indices stay below 2^24 in magnitude: exact in float)
//     bin(max S) - bin(min S) < bins                    (the data fit the window)
// Both conditions are monotone in S, so the exponent of a union is the smallest k >= the exponents of its
// parts at which the union fits: merging histograms (coarsen both, add the counters) gives exactly the
// histogram of the concatenated data, in any order, for any split, and counts are uint64 that cannot saturate.
// A histogram always has between bins / 2 and bins occupied bins once its data span more than one bin.
//
// NaN and infinities are not counted: callers check for them first (the kernel clamps any index into the
// window, so bad input can never write out of bounds). Subnormals are ordinary values; a zero of either sign
// is in bin 0.
// Thread safety: pure functions of their arguments (histogram_count writes only its counts).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "cpu.hpp"
#include "parallel.hpp"

namespace qaffine {

/// The smallest exponent a histogram takes: 2^-k stays a (normal) double.
constexpr int histogram_min_exponent = -1022;
/// Indices stay below 2^24 in magnitude: exact in float as in double.
constexpr int histogram_index_bits = 23;

namespace detail {

// x86's minpd / maxpd: the second operand when either is NaN (the ops layer's min / max).
inline double hmin(double a, double b) noexcept { return a < b ? a : b; }
inline double hmax(double a, double b) noexcept { return a > b ? a : b; }

/// floor(a / 2^s) for an integer a and s >= 0 (an arithmetic shift, exact for negative a too).
inline std::int64_t floor_shift(std::int64_t a, int s) noexcept {
    if (s >= 62) return a < 0 ? -1 : 0;
    return a >= 0 ? (a >> s) : -((-a - 1) >> s) - 1;
}

}  // namespace detail

/// The bin of a finite x at exponent k: floor(x * 2^-k), also for a negative x whose product underflows.
inline std::int64_t histogram_bin(double x, int k) noexcept {
    double f = std::floor(x * std::ldexp(1.0, -k));
    if (x < 0 && !(f < 0)) f = -1;  // x * 2^-k rounded to -0: the bin of a tiny negative value is -1
    return static_cast<std::int64_t>(f);
}

/// The exponent of data whose finite range is [lo, hi] (see the header comment), at least k_floor.
inline int histogram_exponent(double lo, double hi, std::size_t bins, int k_floor) {
    if (!(lo <= hi) || !std::isfinite(lo) || !std::isfinite(hi)) throw std::invalid_argument("histogram range must be finite, lo <= hi");
    if (bins < 2) throw std::invalid_argument("a histogram needs at least 2 bins");
    const double amax = std::max(std::fabs(lo), std::fabs(hi));
    int k = std::max(k_floor, histogram_min_exponent);
    if (amax > 0) k = std::max(k, std::ilogb(amax) - histogram_index_bits);
    while (histogram_bin(hi, k) - histogram_bin(lo, k) >= static_cast<std::int64_t>(bins)) ++k;
    return k;
}

/// Adds counts of the window (k, base) into the window (k2 >= k, base2): out[bin of k2 - base2] += counts[i].
/// Every bin must land inside out's window (true when (k2, base2) is the window of a superset of the data).
inline void histogram_rebin(const std::uint64_t* counts, std::size_t bins, int k, std::int64_t base, int k2,
                            std::int64_t base2, std::uint64_t* out, std::size_t bins2) {
    if (k2 < k) throw std::invalid_argument("histogram_rebin can only coarsen");
    for (std::size_t i = 0; i < bins; ++i) {
        if (counts[i] == 0) continue;
        const std::int64_t j = detail::floor_shift(base + static_cast<std::int64_t>(i), k2 - k) - base2;
        if (j < 0 || j >= static_cast<std::int64_t>(bins2)) throw std::invalid_argument("histogram_rebin: bin outside the window");
        out[j] += counts[i];
    }
}

namespace scalar {

/// The specification of the index pass: idx[i] = clamp(bin(x[i]) - base, 0, top), except that an exact zero (either
/// sign) gets `slot` (= bins: a counter of its own, so the zeros are counted by the same increments), in the
/// operations the SIMD bodies use (top = bins - 1; nbase = -base; fix = whether the -0 case of histogram_bin can
/// arise, double input).
template <class T>
inline void histogram_index(const T* x, std::size_t n, double scale, double nbase, double top, double slot, bool fix,
                            std::int32_t* idx) noexcept {
    constexpr double big = 0x1p1023;
    for (std::size_t i = 0; i < n; ++i) {
        const double v = static_cast<double>(x[i]);
        double f = std::floor(v * scale);
        // min(f, max(v * 2^2046, -1)): -1 caps the bin of every negative v (a rounded -0 included) and leaves the
        // others alone, with the ops of the SIMD bodies.
        if (fix) f = detail::hmin(f, detail::hmax(v * big * big, -1.0));
        f = detail::hmin(detail::hmax(f + nbase, 0.0), top);
        if (v == 0) f = slot;
        idx[i] = static_cast<std::int32_t>(f);
    }
}

template <class T>
inline void histogram_index(isa, const T* x, std::size_t n, double scale, double nbase, double top, double slot,
                            bool fix, bool, std::int32_t* idx) noexcept {
    histogram_index(x, n, scale, nbase, top, slot, fix, idx);
}

}  // namespace scalar

}  // namespace qaffine

#include "ops.hpp"
#define QAFFINE_KERNELS "histogram-inl.hpp"
#include "foreach_isa.hpp"

namespace qaffine {

namespace detail {

/// Counts x[0 .. n) (finite, inside the window) into counts[bins] on one thread. Four interleaved uint32 copies
/// of the counters take the increments, so runs of one value (zeros after a ReLU, constant data) do not wait on
/// the store of the previous increment; they are added into the uint64 counts every block. Each copy has one
/// counter more, at index bins, for the exact zeros (the index pass sends them there): they are the return value
/// and are added to the bin of 0 at the flush, so no separate pass over the data counts them.
template <class T>
inline std::uint64_t histogram_count_serial(const T* x, std::size_t n, int k, std::int64_t base,
                                            std::uint64_t* counts, std::size_t bins, simd_level level) {
    constexpr std::size_t block = 1024;
    const double scale = std::ldexp(1.0, -k), nbase = -static_cast<double>(base), top = static_cast<double>(bins - 1);
    const double slot = static_cast<double>(bins);
    // Only a double input can have products below the smallest normal (a float's are at least 2^-279 here).
    const bool fix = sizeof(T) == sizeof(double) && k > -52;
    // A float input whose products x * 2^-k can neither underflow (k <= 0) nor need a 2^-k beyond float's range
    // runs the index pass in float, twice the lanes: the same indices, as both forms are exact.
    const bool narrow = sizeof(T) == sizeof(float) && k >= -126 && k <= 0;
    // The bin of a zero: clamped into the window as the index pass clamps every other value.
    const std::size_t zero_bin = static_cast<std::size_t>(std::min<std::int64_t>(
        std::max<std::int64_t>(-base, 0), static_cast<std::int64_t>(bins - 1)));
    // The copies start 84 bytes past a multiple of 4 KiB apart: the same bin of two copies would otherwise alias
    // in the load-store unit's 4 KiB address check and serialise the increments.
    const std::size_t stride = bins + 21;
    std::vector<std::uint32_t> sub(4 * stride, 0);
    std::uint32_t* c0 = sub.data();
    std::uint32_t* c1 = c0 + stride;
    std::uint32_t* c2 = c1 + stride;
    std::uint32_t* c3 = c2 + stride;
    std::int32_t idx[block];
    std::size_t since_flush = 0;
    std::uint64_t zeros = 0;
    for (std::size_t i = 0; i < n; i += block) {
        const std::size_t m = std::min(block, n - i);
        dispatch(level, [&](auto isa) { histogram_index(isa, x + i, m, scale, nbase, top, slot, fix, narrow, idx); });
        std::size_t j = 0;
        for (; j + 4 <= m; j += 4) {
            ++c0[idx[j]];
            ++c1[idx[j + 1]];
            ++c2[idx[j + 2]];
            ++c3[idx[j + 3]];
        }
        for (; j < m; ++j) ++c0[idx[j]];
        since_flush += m;
        if (since_flush >= (std::size_t(1) << 30) || i + block >= n) {  // a uint32 copy holds < 2^32
            for (std::size_t b = 0; b < bins; ++b) {
                counts[b] += std::uint64_t(c0[b]) + c1[b] + c2[b] + c3[b];
                c0[b] = c1[b] = c2[b] = c3[b] = 0;
            }
            const std::uint64_t z = std::uint64_t(c0[bins]) + c1[bins] + c2[bins] + c3[bins];
            c0[bins] = c1[bins] = c2[bins] = c3[bins] = 0;
            counts[zero_bin] += z;
            zeros += z;
            since_flush = 0;
        }
    }
    return zeros;
}

}  // namespace detail

/// Adds the finite values x[0 .. n), all inside the window (k, base, bins), to counts[bins]; several threads for
/// large n. Returns how many of them are exactly zero (either sign). The counts are integer sums, so they are
/// the same for every SIMD level and thread count.
template <class T>
inline std::uint64_t histogram_count(const T* x, std::size_t n, int k, std::int64_t base, std::uint64_t* counts,
                            std::size_t bins, simd_level level = active_level()) {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "histogram_count takes float or double");
    if (bins == 0) throw std::invalid_argument("a histogram needs bins");
    if (n < 2 * parallel_grain || get_num_threads() <= 1)
        return detail::histogram_count_serial(x, n, k, base, counts, bins, level);
    std::mutex m;
    std::uint64_t zeros = 0;
    parallel_ranges(n, [&](std::size_t b, std::size_t e) {
        std::vector<std::uint64_t> part(bins, 0);
        const std::uint64_t z = detail::histogram_count_serial(x + b, e - b, k, base, part.data(), bins, level);
        std::lock_guard<std::mutex> lock(m);
        for (std::size_t i = 0; i < bins; ++i) counts[i] += part[i];
        zeros += z;
    });
    return zeros;
}

// ---- range searches over a histogram ------------------------------------------------------------------------

/// A histogram as the searches read it: counts[bins] of the window (k, base), the finite data range [lo, hi],
/// and how many of the counted values are exactly zero (they round trip without error whenever 0 is a code).
struct histogram_view {
    const std::uint64_t* counts;
    std::size_t bins;
    int k;
    std::int64_t base;
    double lo, hi;
    std::uint64_t zeros;
};

namespace detail {

/// The candidate edges of a histogram: the bin edges strictly inside (lo, hi), with lo and hi themselves at the
/// ends; count[t] is the count between edge t and t + 1. Values are taken as spread uniformly inside each bin.
struct edges {
    std::vector<double> at;
    std::vector<double> count;
};

inline edges histogram_edges(const histogram_view& h) {
    edges e;
    const double w = std::ldexp(1.0, h.k);
    std::size_t used = h.bins;
    while (used > 0 && h.counts[used - 1] == 0) --used;
    e.at.push_back(h.lo);
    for (std::size_t i = 0; i < used; ++i) {
        if (i > 0) e.at.push_back(static_cast<double>(h.base + static_cast<std::int64_t>(i)) * w);
        e.count.push_back(static_cast<double>(h.counts[i]));
    }
    if (used == 0) throw std::invalid_argument("the histogram is empty");
    e.at.push_back(h.hi);
    return e;
}

}  // namespace detail

struct range_choice {
    double lo, hi, error;  // error: the modelled sum of squared round-trip errors
};

/// The clipping range [lo, hi] that minimises the modelled squared error of the round trip of the histogram's
/// values through `levels` = qmax - qmin steps: every value outside the range costs its squared distance to
/// the nearer end (exact for values spread uniformly in their bins), every value inside costs step^2 / 12
/// (uniform rounding error; exact zeros cost nothing when `include_zero`), step = (hi - lo) / levels.
/// Candidates: every pair of candidate edges (histogram_edges) with lo <= 0 <= hi when `include_zero`;
/// `symmetric`: ranges [-t, t] for every edge magnitude t. The search is exhaustive: it skips only candidates
/// whose error provably exceeds the best found (outwards the clipping terms fall and the rounding term grows:
/// a lower bound for a whole block of candidates).
/// Ties go to the first candidate met, so the result depends only on the histogram.
inline range_choice histogram_mse_range(const histogram_view& h, double levels, bool symmetric, bool include_zero) {
    if (!(levels > 0)) throw std::invalid_argument("levels must be positive");
    const detail::edges e = detail::histogram_edges(h);
    const std::size_t ne = e.at.size();
    const double kappa = 1.0 / (12.0 * levels * levels);
    double total = 0;
    for (double c : e.count) total += c;
    // below[t]: squared error of clipping every value under edge t to edge t; nb[t]: how many values that is.
    std::vector<double> below(ne, 0.0), nb(ne, 0.0), above(ne, 0.0), na(ne, 0.0);
    {
        double a = 0, d = 0, n = 0;  // d: sum of (edge - x) over the values below
        for (std::size_t t = 1; t < ne; ++t) {
            const double step = e.at[t] - e.at[t - 1], c = e.count[t - 1];
            a += 2 * step * d + n * step * step + c * step * step / 3;
            d += n * step + c * step / 2;
            n += c;
            below[t] = a;
            nb[t] = n;
        }
    }
    {
        double a = 0, d = 0, n = 0;
        for (std::size_t t = ne - 1; t-- > 0;) {
            const double step = e.at[t + 1] - e.at[t], c = e.count[t];
            a += 2 * step * d + n * step * step + c * step * step / 3;
            d += n * step + c * step / 2;
            n += c;
            above[t] = a;
            na[t] = n;
        }
    }
    const double zeros = static_cast<double>(h.zeros);
    auto inner = [&](std::size_t t, std::size_t u, double lo, double hi) {
        double n = total - nb[t] - na[u];
        if (include_zero || (lo <= 0 && 0 <= hi)) n -= zeros;
        const double width = hi - lo;
        return kappa * (n > 0 ? n : 0.0) * width * width;
    };
    range_choice best{h.lo, h.hi, std::numeric_limits<double>::infinity()};
    if (symmetric) {
        // Thresholds t: the magnitudes of the edges and max |x|. The clip below -t and above t, by edge lookup.
        std::vector<double> ts;
        for (double v : e.at) ts.push_back(std::fabs(v));
        std::sort(ts.begin(), ts.end());
        ts.erase(std::unique(ts.begin(), ts.end()), ts.end());
        for (double t : ts) {
            if (t == 0 && !(h.lo == 0 && h.hi == 0)) continue;
            // lo edge index: the edge equal to -t if inside, else 0 (no clipping below); likewise above.
            std::size_t tl = 0, tu = ne - 1;
            double cl = 0, cu = 0;
            if (-t > e.at[0]) {
                tl = static_cast<std::size_t>(std::lower_bound(e.at.begin(), e.at.end(), -t) - e.at.begin());
                cl = below[tl];
            }
            if (t < e.at[ne - 1]) {
                tu = static_cast<std::size_t>(std::lower_bound(e.at.begin(), e.at.end(), t) - e.at.begin());
                cu = above[tu];
            }
            const double err = cl + cu + inner(tl, tu, -t, t);
            if (err < best.error) best = {-t, t, err};
        }
        return best;
    }
    if (!include_zero) {
        // Any lo < hi: for each lo edge t, hi edges u > t; the rounding term grows with u and clipping below is
        // fixed, so a row ends once those two exceed the best.
        for (std::size_t t = 0; t + 1 < ne; ++t)
            for (std::size_t u = t + 1; u < ne; ++u) {
                const double part = below[t] + inner(t, u, e.at[t], e.at[u]);
                if (part > best.error) break;
                const double err = part + above[u];
                if (err < best.error) best = {e.at[t], e.at[u], err};
            }
        return best;
    }
    // 0 inside: lo candidates are the edges <= 0 from 0 outward (just 0 when every value is positive), hi
    // candidates the edges >= 0 outward. Outward, the clipping terms fall and the rounding term grows, so a block
    // of candidates [i1, i2] x [j1, j2] (i1, j1 innermost) costs at least below(i2) + above(j2) + inner(i1, j1):
    // blocks whose bound exceeds the best are skipped whole (floating-point rounding is monotone, so the bound is
    // below every candidate's error as computed), the others searched row by row.
    struct cand {
        double v, clip;
        std::size_t edge;
    };
    std::vector<cand> lows;
    for (std::size_t t = ne; t-- > 0;)
        if (e.at[t] <= 0) lows.push_back({e.at[t], below[t], t});
    if (lows.empty()) lows.push_back({0.0, 0.0, 0});  // nothing below 0: clip nothing, widen to 0
    const bool no_low = !(e.at[0] <= 0), no_high = !(e.at[ne - 1] >= 0);
    // The high candidates as arrays (the row loop below reads them as vectors): value, clip above, and the count
    // above. With no edge on a side, its candidate stands for 0 and clips nothing: every value counts as inside.
    std::vector<double> hv, hc, hn;
    for (std::size_t u = 0; u < ne; ++u)
        if (e.at[u] >= 0) hv.push_back(e.at[u]), hc.push_back(above[u]), hn.push_back(no_high ? 0.0 : na[u]);
    if (hv.empty()) hv.push_back(0.0), hc.push_back(0.0), hn.push_back(0.0);
    const std::size_t nh = hv.size();
    auto inner2 = [&](const cand& l, std::size_t j) {
        double n = total - (no_low ? 0.0 : nb[l.edge]) - hn[j] - zeros;
        const double width = hv[j] - l.v;
        return kappa * (n > 0 ? n : 0.0) * width * width;
    };
    {
        const cand& l = lows.back();
        best = {l.v, hv[nh - 1], l.clip + inner2(l, nh - 1) + hc[nh - 1]};
    }
    constexpr std::size_t B = 16;
    for (std::size_t i1 = 0; i1 < lows.size(); i1 += B) {
        const std::size_t i2 = std::min(lows.size(), i1 + B) - 1;
        if (inner2(lows[i1], 0) > best.error) break;  // and it grows with i
        for (std::size_t j1 = 0; j1 < nh; j1 += B) {
            const std::size_t j2 = std::min(nh, j1 + B) - 1;
            const double bound = inner2(lows[i1], j1);
            if (bound > best.error) break;  // the rounding term alone only grows with j
            if (lows[i2].clip + hc[j2] + bound > best.error) continue;
            // Row by row: a row whose innermost rounding term and outermost clip above exceed the best is skipped
            // (a bound in the association of the error itself, (clip below + rounding) + clip above, so it is
            // below every error of the row as computed); the others are computed whole, a loop without branches
            // the compiler vectorises, then scanned in order for the first that beats the best.
            const std::size_t m = j2 - j1 + 1;
            for (std::size_t i = i1; i <= i2; ++i) {
                const cand& l = lows[i];
                if (l.clip + inner2(l, j1) + hc[j2] > best.error) continue;
                const double t = total - (no_low ? 0.0 : nb[l.edge]), lv = l.v, lc = l.clip;
                double err[B];
                for (std::size_t j = 0; j < m; ++j) {
                    const double n = t - hn[j1 + j] - zeros;
                    const double width = hv[j1 + j] - lv;
                    err[j] = lc + kappa * (n > 0 ? n : 0.0) * width * width + hc[j1 + j];
                }
                for (std::size_t j = 0; j < m; ++j)
                    if (err[j] < best.error) best = {lv, hv[j1 + j], err[j]};
            }
        }
    }
    return best;
}

}  // namespace qaffine

// qaffine/clip_search.hpp — range="mse" per block: each block's clipping range by a direct search on its own values.
//
// A block holds a few dozen values, too few for the histogram model of the per-tensor search (histogram.hpp), and
// few enough to measure the real round trip of every candidate. For a block with finite values in [lo, hi] the
// candidates are the ranges shrunk towards a centre c (0 when the range contains 0, the midpoint (lo + hi) / 2 for
// the tight range, include_zero = false) by f = i / grid, i = 0 .. steps - 1, in double arithmetic and rounded once
// to T:
//   lo_i = T(lo + f (c - lo)),   hi_i = T(hi - f (hi - c))          (i = 0: [lo, hi] itself, min/max)
// Each candidate's parameters are choose_qparams<T>(lo_i, hi_i, scheme) (symmetric modes thus use max |.| of the
// shrunk range); its error is the sum, in double and in the order of the values, of (x_hat - x)^2 with
// x_hat = T(s) * (round_half_even(clamp(x / s, qmin - z, qmax - z))), the value qa.quantize(block, params)
// .dequantize() gives (dequantize's dtype: float32 for float, float64 for double). The first candidate with the
// least error wins, so ties keep the least clipping and the result is never worse than min/max on that error.
// A candidate whose parameters do not exist (a tight range whose zero point would pass 2^23) is skipped.
//
// The values must be finite (the caller checks). The error loop is written once and compiled for the baseline and,
// on x86, for AVX2 and AVX-512 (the candidates are its inner loop: independent sums the compiler runs side by side,
// each in the values' order, with the same IEEE operations in every lane), and blocks are split over threads, so
// the result is the same at every SIMD level and for any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "cpu.hpp"
#include "parallel.hpp"
#include "qparams.hpp"
#include "quantize.hpp"

// The error sums must not be contracted into FMAs (GCC contracts across statements by default where FMA exists;
// Clang's default contracts only within one expression): the sums are then the reference's, bit for bit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__GNUC__) || defined(__clang__)
#define QAFFINE_CLIP_INLINE __attribute__((always_inline)) inline
#else
#define QAFFINE_CLIP_INLINE inline
#endif

namespace qaffine {

/// The default candidate grid of clip_search_groups: shrink factors 0, 0.02, ..., 0.78 (GPTQ's MSE grid searches
/// 1 - i/100 of the range for i < 80; steps of 0.02 lose under 0.01 dB of SQNR against it on Student-t blocks of 32
/// at 2 to 8 bits, at half the work).
constexpr std::size_t clip_search_grid = 50;
constexpr std::size_t clip_search_steps = 40;

namespace detail {

/// Scratch space for one thread's blocks: per candidate the scale, clamp bounds and error.
template <class T>
struct clip_work {
    std::vector<T> s, lo, hi, cand_lo, cand_hi;
    std::vector<std::int32_t> z;
    std::vector<double> err;
    std::vector<unsigned char> ok;
    explicit clip_work(std::size_t steps)
        : s(steps), lo(steps), hi(steps), cand_lo(steps), cand_hi(steps), z(steps), err(steps), ok(steps) {}
};

/// e[i] += the squared round-trip errors of x[0 .. n) for candidate i (scale s[i], clamp bounds ql[i], qh[i]), the
/// candidates side by side (each sum in the order of the values); |bounds| < 2^(digits - 2), so the magic-number
/// rounding is round-half-even exactly. Compiled for the baseline and, on x86, for AVX2 and AVX-512: the same
/// IEEE operations lane by lane, so the same sums at every level.
template <class T>
QAFFINE_CLIP_INLINE void clip_errors(const T* x, std::size_t n, std::size_t steps, const T* s, const T* ql,
                                     const T* qh, T magic, double* e) {
    for (std::size_t j = 0; j < n; ++j) {
        const T v = x[j];
        const double dv = static_cast<double>(v);
        for (std::size_t i = 0; i < steps; ++i) {
            T y = v / s[i];
            y = y > ql[i] ? y : ql[i];
            y = y < qh[i] ? y : qh[i];
            const T r = (y + magic) - magic;
            const double d = static_cast<double>(s[i] * r) - dv;
            const double sq = d * d;
            e[i] += sq;
        }
    }
}

#if QAFFINE_X86_SIMD
template <class T>
__attribute__((target("avx2"))) void clip_errors_avx2(const T* x, std::size_t n, std::size_t steps, const T* s,
                                                      const T* ql, const T* qh, T magic, double* e) {
    clip_errors(x, n, steps, s, ql, qh, magic, e);
}
template <class T>
__attribute__((target("avx512f"))) void clip_errors_avx512(const T* x, std::size_t n, std::size_t steps, const T* s,
                                                           const T* ql, const T* qh, T magic, double* e) {
    clip_errors(x, n, steps, s, ql, qh, magic, e);
}
#endif

/// The first candidate with the least error.
template <class T>
inline void pick(const clip_work<T>& w, std::size_t steps, T& lo_out, T& hi_out) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < steps; ++i)
        if (w.ok[i] && (!w.ok[best] || w.err[i] < w.err[best])) best = i;
    lo_out = w.cand_lo[best];
    hi_out = w.cand_hi[best];
}

template <class T>
inline void clip_search_one(const T* x, std::size_t n, const scheme& sc, std::size_t grid, std::size_t steps,
                            clip_work<T>& w, simd_level level, T& lo_out, T& hi_out) {
    T lo = x[0], hi = x[0];
    for (std::size_t j = 1; j < n; ++j) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    const double dlo = static_cast<double>(lo), dhi = static_cast<double>(hi);
    const double c = sc.include_zero ? 0.0 : 0.5 * dlo + 0.5 * dhi;
    // Rounding by adding and subtracting 1.5 * 2^(digits - 1): exact round-half-even for |y| < 2^(digits - 2),
    // which the clamp guarantees whenever both clamp bounds are that small (otherwise quantize_one is used).
    constexpr T magic = T(1.5) / std::numeric_limits<T>::epsilon();  // epsilon = 2^(1 - digits)
    constexpr T small = T(0.5) / std::numeric_limits<T>::epsilon();
    bool all_small = true;
    for (std::size_t i = 0; i < steps; ++i) {
        const double f = static_cast<double>(i) / static_cast<double>(grid);
        // Products and sums as separate statements: never one FMA (see the pragma above; Clang contracts only
        // within an expression).
        const double dl = f * (c - dlo), dh = f * (dhi - c);
        const T l = i == 0 ? lo : static_cast<T>(dlo + dl);
        const T h = i == 0 ? hi : static_cast<T>(dhi - dh);
        w.cand_lo[i] = l;
        w.cand_hi[i] = h;
        w.err[i] = 0.0;
        w.ok[i] = 0;
        w.s[i] = T(1);
        w.lo[i] = w.hi[i] = T(0);
        w.z[i] = 0;
        if (!(l <= h)) continue;
        qparams p;
        try {
            p = choose_qparams_checked<T>(l, h, sc);
        } catch (const std::domain_error&) {
            continue;  // no parameters for this candidate (the zero point of a tight range passes 2^23)
        }
        w.ok[i] = 1;
        w.z[i] = p.zero_point;
        w.s[i] = static_cast<T>(p.scale);
        w.lo[i] = static_cast<T>(sc.qmin - p.zero_point);
        w.hi[i] = static_cast<T>(sc.qmax - p.zero_point);
        all_small = all_small && std::fabs(w.lo[i]) < small && std::fabs(w.hi[i]) < small;
    }
    T* const s = w.s.data();
    T* const ql = w.lo.data();
    T* const qh = w.hi.data();
    double* const e = w.err.data();
    if (all_small) {
#if QAFFINE_X86_SIMD
        if (level == simd_level::avx512)
            clip_errors_avx512(x, n, steps, s, ql, qh, magic, e);
        else if (level == simd_level::avx2)
            clip_errors_avx2(x, n, steps, s, ql, qh, magic, e);
        else
#endif
            clip_errors(x, n, steps, s, ql, qh, magic, e);
        (void)level;
    } else {
        for (std::size_t i = 0; i < steps; ++i) {
            const std::int32_t z = w.z[i];
            for (std::size_t j = 0; j < n; ++j) {
                const std::int32_t q = scalar::quantize_one<rounding::divide, T>(x[j], s[i], z, sc.qmin, sc.qmax);
                const double d = static_cast<double>(s[i] * static_cast<T>(q - z)) - static_cast<double>(x[j]);
                const double sq = d * d;
                e[i] += sq;
            }
        }
    }
    pick(w, steps, lo_out, hi_out);
}

}  // namespace detail

/// For x[rows][n] (C order) in blocks of `block` values along each row (the last block of a row may be short):
/// the clipping range of every block by the search of the file comment, into lo[rows][ceil(n / block)] and hi.
/// The values must be finite; `steps` >= 1 and `grid` >= 1. Every `level` gives the same result.
template <class T>
inline void clip_search_groups(const T* x, std::size_t rows, std::size_t n, std::size_t block, const scheme& sc,
                               T* lo, T* hi, std::size_t grid = clip_search_grid,
                               std::size_t steps = clip_search_steps, simd_level level = active_level()) {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "float or double data");
    if (block == 0 || steps == 0 || grid == 0) throw std::invalid_argument("block, grid and steps must be positive");
    validate(sc);
    if (rows == 0 || n == 0) return;
    const std::size_t nb = (n + block - 1) / block;
    const std::size_t groups = rows * nb;
    const std::size_t unit = std::min(block, n) * steps;  // work of one block, in value-candidate pairs
    parallel_ranges(
        groups,
        [&](std::size_t b, std::size_t e) {
            detail::clip_work<T> w(steps);
            for (std::size_t g = b; g < e; ++g) {
                const std::size_t r = g / nb, j = g % nb;
                const std::size_t start = j * block, len = std::min(block, n - start);
                detail::clip_search_one(x + r * n + start, len, sc, grid, steps, w, level, lo[g], hi[g]);
            }
        },
        std::max<std::size_t>(1, parallel_grain / 16 / std::max<std::size_t>(1, unit)), 1);
}

}  // namespace qaffine

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
